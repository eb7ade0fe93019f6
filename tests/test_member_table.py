"""The member table: every location names the exact bytes written; eligibility follows the members."""

import json

import numpy as np

from mmssl.data.member_table import MEMBERS_DIR, MemberTable


def test_locations_point_at_the_written_bytes(mixed_dataset):
    data_dir, samples = mixed_dataset
    table = MemberTable.open(data_dir)
    assert table.num_samples == len(samples) and (data_dir / MEMBERS_DIR / "shards.json").exists()
    shards = table.shard_numbers()
    for index, members in samples.items():
        with open(table.tar_paths[shards[index]], "rb") as tar:
            for ext in ("jpg", "mp4", "flac"):
                offset, size = table.locations(ext)[index]
                if ext not in members:
                    assert offset == size == -1
                    continue
                tar.seek(offset)
                assert tar.read(size) == members[ext], (index, ext)


def test_eligible_samples_are_those_with_the_members(mixed_dataset):
    data_dir, samples = mixed_dataset
    table = MemberTable.open(data_dir)
    for exts in [("jpg",), ("mp4",), ("flac", "mp4")]:
        want = [i for i, members in samples.items() if all(ext in members for ext in exts)]
        assert np.load(table.eligible_path(exts)).tolist() == want
    assert table.describe_counts() == "30 samples: 24 jpg, 6 mp4, 5 flac+mp4, 5 flac"


def test_table_is_rebuilt_when_the_shards_change(mixed_dataset, tmp_path):
    import shutil

    data_dir, _ = mixed_dataset
    copy = tmp_path / "copy"
    shutil.copytree(data_dir, copy)
    listing = copy / MEMBERS_DIR / "shards.json"
    listing.write_text(json.dumps({"shards": ["shard-999999"], "num_samples": 1}))  # stale: another shard list
    assert MemberTable.open(copy).num_samples == 30
    assert json.loads(listing.read_text())["shards"] != ["shard-999999"]
