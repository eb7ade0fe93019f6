"""Content digests of model and objective state, to prove a resumed run continues from its checkpoint."""

from __future__ import annotations

import hashlib
from typing import Any

import torch


def state_digest(obj: Any) -> str:
    """SHA-256 over every tensor and scalar in a nested dict/list, in key order (device and dtype kept)."""
    digest = hashlib.sha256()
    _feed(digest, obj)
    return digest.hexdigest()


def _feed(digest, obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        tensor = obj.detach().cpu().contiguous()
        digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    elif isinstance(obj, dict):
        for key in sorted(obj, key=str):
            digest.update(str(key).encode())
            _feed(digest, obj[key])
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            _feed(digest, item)
    else:
        digest.update(repr(obj).encode())
