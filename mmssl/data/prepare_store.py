"""Preparation into an object store (`--output s3://bucket/prefix`): a local staging copy, pushed at each
journaled point, so an interrupted run resumes from the store as it does on local disk.

Preparation writes as it always does (shards, journal, parts, manifest) into a staging directory on
this machine, `~/.cache/mmssl/prepare/<hash of the URI>/`. After each journaled checkpoint the
finished shards are uploaded (tar, then idx) and their tars deleted locally, then the journal's parts,
then `.prepare/journal.json` itself: the store's journal is the commit point, and never names a
shard or part the store lacks. A run that starts (or resumes, on any machine) first takes the
store's journal and parts, and deletes from the store what an interrupted run wrote after its last
journaled point. At the end: manifest.parquet and rejected.parquet, the member table (built from
the store's index files), then summary.json last, which marks the dataset complete.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from mmssl.data.manifest import MANIFEST_FILE, REJECTED_FILE, SHARDS_DIR
from mmssl.data.member_table import MEMBERS_DIR
from mmssl.data.prepare_journal import JOURNAL_DIR, SUMMARY_FILE, PrepareRefused
from mmssl.data.shards import SHARD_PREFIX
from mmssl.data.store import check_access, open_location
from mmssl.data.store_table import build_table_from_store_index

STAGING_ROOT = Path("~/.cache/mmssl/prepare")
JOURNAL_FILE = f"{JOURNAL_DIR}/journal.json"
COPY_CHUNK_BYTES = 8 << 20


def _shard_number(name: str) -> int | None:
    number = name[len(SHARD_PREFIX):].split(".")[0] if name.startswith(SHARD_PREFIX) else ""
    return int(number) if number.isdigit() else None


class StoreOutput:
    """The store side of a preparation whose --output is a URI."""

    def __init__(self, uri: str):
        self.uri, self.location = uri, open_location(uri)
        self.staging = STAGING_ROOT.expanduser() / hashlib.sha1(uri.encode()).hexdigest()[:16]

    def pull(self, overwrite: bool) -> Path:
        """The staging directory, holding the store's journal and parts (or nothing, for a fresh run)."""
        check_access(self.location)
        shutil.rmtree(self.staging, ignore_errors=True)  # the store is the truth; the staging copy is scratch
        (self.staging / JOURNAL_DIR / "parts").mkdir(parents=True)
        if overwrite:
            self._delete(self._prepared_files())
            return self.staging
        if not self.location.exists(JOURNAL_FILE):
            if self.location.exists(MANIFEST_FILE) or self.location.list_files(SHARDS_DIR):
                raise PrepareRefused(f"{self.location.describe()} already holds a dataset that has no preparation "
                                     "journal; choose an empty prefix or pass --overwrite to replace it")
            return self.staging
        journal = json.loads(self.location.read_bytes(JOURNAL_FILE))
        listed = {f"part-{part:06d}.{kind}.parquet" for part in journal["parts"] for kind in ("manifest", "rejected")}
        for name in self.location.list_files(JOURNAL_DIR, "parts"):
            if name in listed:
                (self.staging / JOURNAL_DIR / "parts" / name).write_bytes(self.location.read_bytes(JOURNAL_DIR, "parts", name))
            else:
                self._delete([f"{JOURNAL_DIR}/parts/{name}"])  # written after the last journaled point
        self._delete([f"{SHARDS_DIR}/{name}" for name in self.location.list_files(SHARDS_DIR)
                      if (number := _shard_number(name)) is not None and number >= journal["next_shard"]])
        (self.staging / JOURNAL_FILE).write_text(json.dumps(journal))
        return self.staging

    def push(self) -> None:
        """After a journaled checkpoint: the finished shards, then the parts, then the journal."""
        self._push_shards_and_parts()
        self._upload(self.staging / JOURNAL_FILE, JOURNAL_FILE)

    def _push_shards_and_parts(self) -> None:
        journal = json.loads((self.staging / JOURNAL_FILE).read_text())
        shards = self.staging / SHARDS_DIR
        for tar in sorted(shards.glob(f"{SHARD_PREFIX}*.tar")):
            if (number := _shard_number(tar.name)) is not None and number < journal["next_shard"]:
                self._upload(tar, f"{SHARDS_DIR}/{tar.name}")
                self._upload(tar.with_suffix(".idx"), f"{SHARDS_DIR}/{tar.stem}.idx")
                tar.unlink()  # on the store now: the staging copy never holds more than a shard or two
        on_store = set(self.location.list_files(JOURNAL_DIR, "parts"))
        for part in sorted((self.staging / JOURNAL_DIR / "parts").glob("*.parquet")):
            if part.name not in on_store:
                self._upload(part, f"{JOURNAL_DIR}/parts/{part.name}")

    def push_final(self, summary: dict) -> None:
        """The last shards, the tables, the member table, the finished journal, and summary.json last (it
        marks the dataset done). Cut short before the journal, the run resumes and finishes again."""
        self._push_shards_and_parts()
        for name in (MANIFEST_FILE, REJECTED_FILE):
            self._upload(self.staging / name, name)
        table_dir = build_table_from_store_index(self.location, self.staging / MEMBERS_DIR)
        for path in sorted(table_dir.glob("*.npy")) + [table_dir / "shards.json"]:
            self._upload(path, f"{MEMBERS_DIR}/{path.name}")
        self._upload(self.staging / JOURNAL_FILE, JOURNAL_FILE)
        self._delete([f"{JOURNAL_DIR}/parts/{name}" for name in self.location.list_files(JOURNAL_DIR, "parts")])
        self._write(SUMMARY_FILE, json.dumps(summary, indent=2, sort_keys=True).encode())

    def _prepared_files(self) -> list[str]:
        names = [f"{SHARDS_DIR}/{name}" for name in self.location.list_files(SHARDS_DIR)]
        names += [f"{JOURNAL_DIR}/parts/{name}" for name in self.location.list_files(JOURNAL_DIR, "parts")]
        names += [f"{MEMBERS_DIR}/{name}" for name in self.location.list_files(MEMBERS_DIR)]
        return names + [name for name in (JOURNAL_FILE, MANIFEST_FILE, REJECTED_FILE, SUMMARY_FILE)
                        if self.location.exists(name)]

    def _upload(self, path: Path, relative: str) -> None:
        with open(path, "rb") as source, self.location.filesystem.open_output_stream(self.location.path(relative)) as out:
            while chunk := source.read(COPY_CHUNK_BYTES):  # a shard may be a gigabyte: never whole in memory
                out.write(chunk)

    def _write(self, relative: str, payload: bytes) -> None:
        with self.location.filesystem.open_output_stream(self.location.path(relative)) as out:
            out.write(payload)

    def _delete(self, relatives: list[str]) -> None:
        for relative in relatives:
            self.location.filesystem.delete_file(self.location.path(relative))
