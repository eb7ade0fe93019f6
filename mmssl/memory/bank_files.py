"""A bank shard's rows on disk: one .npy file per saved rank and bank, read a slice at a time, opened only if needed.

At YFCC scale the bank is 51 GB (100M x 128 float32), so a restore must not read it whole on every
rank. A checkpoint keeps each rank's rows in a .npy file beside its small method state, which names
that file in place of the rows. On restore the name becomes a `SavedRows`, which opens its file
only when sliced: a new rank slices only the saved shards whose row range overlaps its own rows, so
it opens only those files and reads only the rows it keeps.

Slices are read with positioned reads, not through a memory map: the pages of a mapped file count in
the process's resident memory as long as the map lives, so restoring a 2.56 GB shard through one
grew a rank's peak by 2.56 GB beyond the bank itself. A read copies just the slice. A checkpoint on
an object store is read the same way, by byte range (`filesystem`): a rank fetches its header and
the rows it keeps, never a whole shard's file.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow.fs as pafs
import torch

BANK_STATE_KEYS = frozenset({"num_rows", "dim", "row_start", "row_stop", "rows"})  # ShardedMemoryBank.state()


def is_bank_state(value: object) -> bool:
    """Is `value` a `ShardedMemoryBank.state()` (wherever a method nests it in its checkpoint state)?"""
    return isinstance(value, dict) and BANK_STATE_KEYS <= value.keys()


class SavedRows:
    """Rows [row_start, row_stop) of a bank, as one saved rank wrote them; `rows[a:b]` reads just those.

    Indexed like the saved tensor (0 is the shard's first row). Nothing is opened until the first slice.
    With `filesystem` (a store's), `path` is that filesystem's path and slices are byte-range requests.
    """

    def __init__(self, path: Path | str, row_start: int, row_stop: int, dim: int,
                 filesystem: pafs.FileSystem | None = None):
        self.path = Path(path) if filesystem is None else str(path)
        self.row_start, self.row_stop, self.dim, self.filesystem = row_start, row_stop, dim, filesystem
        self._layout: tuple[np.dtype, int] | None = None  # (row dtype, byte offset of row 0), once checked
        self._handle = None  # the store's open file, for range reads

    @property
    def shape(self) -> tuple[int, int]:
        return self.row_stop - self.row_start, self.dim

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice) -> torch.Tensor:
        """A copy of the rows `rows` (float16 or float32, as saved), read from the file and nothing more."""
        start, stop, step = rows.indices(len(self))
        if step != 1:
            raise ValueError(f"{self!r} reads contiguous row slices only, not step {step}")
        dtype, data_offset = self._open()
        count = max(stop - start, 0) * self.dim
        offset = data_offset + start * self.dim * dtype.itemsize
        if self.filesystem is None:
            with open(self.path, "rb") as file:
                values = np.fromfile(file, dtype=dtype, count=count, offset=offset)
        else:
            payload = self._read_range(offset, count * dtype.itemsize) if count else b""
            values = np.frombuffer(bytearray(payload[:len(payload) - len(payload) % dtype.itemsize]), dtype=dtype)
        if values.size != count:
            raise ValueError(f"{self.path} ends before row {stop} of its {len(self)}: the checkpoint is damaged or "
                             "incomplete; resume from an earlier checkpoint")
        return torch.from_numpy(values.reshape(-1, self.dim))

    def __repr__(self) -> str:
        return f"SavedRows({str(self.path)!r}, rows {self.row_start}..{self.row_stop})"

    def _open(self) -> tuple[np.dtype, int]:
        if self._layout is None:
            try:
                if self.filesystem is None:
                    shape, dtype, data_offset = read_npy_header(self.path)
                else:
                    shape, dtype, data_offset = _parse_npy_header(io.BytesIO(self._read_range(0, HEADER_READ_BYTES)))
            except (OSError, ValueError) as error:
                raise ValueError(f"cannot read the memory-bank rows in {self.path} ({error}): the checkpoint is damaged "
                                 "or incomplete; resume from an earlier checkpoint") from None
            if shape != self.shape:
                raise ValueError(f"{self.path} holds rows of shape {shape}, its checkpoint says {self.shape}: "
                                 "the checkpoint is damaged; resume from an earlier checkpoint")
            self._layout = dtype, data_offset
        return self._layout

    def _read_range(self, offset: int, size: int) -> bytes:
        """Bytes [offset, offset + size) of the stored file (fewer at its end), with the store's retries."""
        from mmssl.data.store import RetryPolicy, with_retries

        def read() -> bytes:
            if self._handle is None:
                self._handle = self.filesystem.open_input_file(self.path)
            return self._handle.read_at(max(0, min(size, self._handle.size() - offset)), offset)
        return with_retries(read, RetryPolicy())


HEADER_READ_BYTES = 4096  # np.save pads its header to a multiple of 64 bytes; 128 for a bank's small dict


def read_npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, byte offset of the data) of the C-ordered float16/float32 array `np.save` wrote at `path`."""
    with open(path, "rb") as file:
        return _parse_npy_header(file)


def _parse_npy_header(file) -> tuple[tuple[int, ...], np.dtype, int]:
    version = np.lib.format.read_magic(file)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran_order, dtype = read_header(file)
    data_offset = file.tell()
    if fortran_order or dtype not in (np.dtype("<f2"), np.dtype("<f4")):
        raise ValueError(f"it holds a {'Fortran-ordered ' if fortran_order else ''}{dtype} array, not the "
                         "C-ordered float16 or float32 rows mmssl saves")
    return shape, dtype, data_offset


def save_bank_rows(state: dict, directory: Path, prefix: str = "") -> dict:
    """`state` with the rows of each bank in it written to `directory`/<key path>.rows.npy and replaced by
    that file's name, so the state that remains is small."""
    out = {}
    for key, value in state.items():
        name = f"{prefix}{key}"
        if is_bank_state(value):
            file_name = f"{name}.rows.npy"
            np.save(Path(directory) / file_name, value["rows"].detach().cpu().numpy())
            out[key] = dict(value, rows=file_name)
        elif isinstance(value, dict):
            out[key] = save_bank_rows(value, directory, f"{name}.")
        else:
            out[key] = value
    return out


def open_bank_rows(state: dict, directory: Path | str, filesystem: pafs.FileSystem | None = None) -> dict:
    """The inverse of `save_bank_rows`: each saved bank's file name becomes a `SavedRows` (nothing opened).
    With `filesystem`, `directory` is a path on it (a checkpoint on a store)."""
    out = {}
    for key, value in state.items():
        if is_bank_state(value) and isinstance(value["rows"], str):
            if Path(value["rows"]).name != value["rows"] or value["rows"] in ("", ".", ".."):
                raise ValueError(f"a bank in the checkpoint at {directory} names its rows {value['rows']!r}, not a file "
                                 "beside it: the checkpoint is damaged or not from mmssl; resume from another one")
            path = Path(directory) / value["rows"] if filesystem is None else f"{str(directory).rstrip('/')}/{value['rows']}"
            rows = SavedRows(path, value["row_start"], value["row_stop"], value["dim"], filesystem)
            out[key] = dict(value, rows=rows)
        elif isinstance(value, dict):
            out[key] = open_bank_rows(value, directory, filesystem)
        else:
            out[key] = value
    return out


def read_all_rows(state: dict) -> dict:
    """`state` with every `SavedRows` read into a tensor: for tools and tests that inspect a whole checkpoint."""
    return {key: value[:] if isinstance(value, SavedRows) else read_all_rows(value) if isinstance(value, dict) else value
            for key, value in state.items()}
