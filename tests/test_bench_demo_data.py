"""mmssl.bench.demo_data: photo-like images, and videos prepared at the asked keyframe interval."""

import io

import av
import numpy as np

from mmssl.bench.demo_data import VIDEO_FPS, VIDEO_SECONDS, photo_like, raw_videos, write_video_dataset
from mmssl.data.member_table import MemberTable


def test_photo_like_images_have_a_500px_long_side():
    rng = np.random.default_rng(0)
    for _ in range(4):
        pixels = photo_like(rng)
        assert max(pixels.shape[:2]) == 500 and pixels.shape[2] == 3 and pixels.dtype == np.uint8
        assert pixels.std() > 10  # not flat: compresses like a photo, not like a blank


def test_generated_videos_have_the_asked_keyframe_interval(tmp_path):
    made = write_video_dataset(tmp_path / "data", raw_videos(1), gop_frames=12, copies=2)
    table = MemberTable.open(made.path)
    assert table.eligible_count(("mp4", "flac")) == 2 and made.gop_frames == 12 and made.mean_mp4_kb > 0
    offset, size = (int(v) for v in table.locations("mp4")[0])
    with open(table.tar_paths[table.shard_numbers()[0]], "rb") as shard:
        shard.seek(offset)
        mp4 = shard.read(size)
    with av.open(io.BytesIO(mp4)) as container:
        keyframes = [i for i, packet in enumerate(p for p in container.demux(video=0) if p.size) if packet.is_keyframe]
    assert keyframes == list(range(0, VIDEO_SECONDS * VIDEO_FPS, 12))


def _draws(count, seed):
    return np.random.default_rng(seed).integers(0, 1 << 30, size=count).tolist()


def test_chunks_made_side_by_side_are_reproducible_and_one_process_draws_as_before():
    from mmssl.bench.demo_data import in_chunks

    assert in_chunks(_draws, 7, 5, processes=1) == _draws(7, 5)
    parallel = in_chunks(_draws, 7, 5, processes=3)
    assert parallel == in_chunks(_draws, 7, 5, processes=3) and len(parallel) == 7
    assert parallel == _draws(3, (5, 0)) + _draws(2, (5, 1)) + _draws(2, (5, 2))
