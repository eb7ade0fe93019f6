"""Counting the reads of tensor values into Python, each of which makes the host wait for the GPU.

`.item()`, `float(t)`, `bool(t)` (an `if` on a tensor), `.tolist()`, `.cpu()` and `.numpy()` all
copy a value to the host: on a CUDA tensor the host first waits for every kernel queued so far. A
`HostReads` block records each such call (through a torch function mode, so it works on the CPU
too, where the same calls would be syncs on a GPU). Used by the tests and by the GPU check.
"""

from __future__ import annotations

from typing import Callable

from torch.overrides import TorchFunctionMode

READS = frozenset({"item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__", "__format__"})


class HostReads(TorchFunctionMode):
    """`with HostReads() as reads: ...`, then `reads.calls`: the name of each read, in order. `when`, if
    given, is called at each read and its value kept beside the name (e.g. the current step)."""

    def __init__(self, when: Callable[[], object] | None = None):
        super().__init__()
        self.when = when
        self.calls: list[tuple[str, object]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in READS:
            self.calls.append((name, self.when() if self.when is not None else None))
        return func(*args, **(kwargs or {}))

    @property
    def count(self) -> int:
        return len(self.calls)
