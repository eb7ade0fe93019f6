"""The one exception a normalizer raises for a bad input, so callers can record it instead of crashing."""

from __future__ import annotations


class Rejection(Exception):
    """An input refused at `stage` ("read", "probe", "decode", ...) for a human-readable `reason`."""

    def __init__(self, stage: str, reason: str):
        super().__init__(f"{stage}: {reason}")
        self.stage = stage
        self.reason = reason
