"""A video or audio member that does not decode is skipped and counted, never fatal; decoding is bounded in time."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from fixtures_video import prepared_video, read_frame_number, write_video_dataset
from mmssl.pipelines import video_decode
from mmssl.pipelines.loader import build_loader
from mmssl.pipelines.video_decode import GuardedVideoDecoder, VideoDecodeError

GOOD = (0, 1, 2, 3)
NOISE = np.random.default_rng(14)
TRUNCATED_MP4, GARBAGE_FRAMES, BAD_FLAC, BAD_HEADER = 4, 5, 6, 7


def with_garbage_mdat(mp4: bytes) -> bytes:
    """The same boxes and header, the coded frames replaced by noise: only a decoder can tell."""
    at = 0
    while at < len(mp4):
        size, kind = struct.unpack(">I4s", mp4[at : at + 8])
        if kind == b"mdat":
            return mp4[: at + 8] + NOISE.bytes(size - 8) + mp4[at + size :]
        at += size
    raise AssertionError("no mdat box")


@pytest.fixture(scope="session")
def broken_videos(tmp_path_factory):
    good = [prepared_video(40, audio_events_s=(0.5,)) for _ in GOOD]
    v = good[0]
    broken = [
        {"mp4": v.mp4[: len(v.mp4) * 2 // 3], "flac": v.flac},  # caught by the structural check
        {"mp4": with_garbage_mdat(v.mp4), "flac": v.flac},  # caught by decord on the CPU
        {"mp4": v.mp4, "flac": v.flac[:42] + NOISE.bytes(len(v.flac) - 42)},  # caught when DALI decodes the FLAC
        {"mp4": v.mp4.replace(b"stts", b"xxxx"), "flac": v.flac},  # no frame table: caught planning the clip
    ]
    return write_video_dataset(tmp_path_factory.mktemp("broken_videos"), good + broken)


def run_epochs(loader, epochs: int = 2) -> list[int]:
    fed = []
    for _ in range(epochs):
        for batch in loader:
            fed += batch["index"].tolist()
    return fed


def test_clips_skip_and_count_videos_that_do_not_decode(broken_videos):
    loader = build_loader("clips", broken_videos, batch_size=4, options={"crop_px": 32, "frames": 4})
    fed = run_epochs(loader)
    assert set(fed) <= set(GOOD) | {BAD_FLAC}  # the flac member does not matter to clips
    assert {s.index: s.reason for s in loader.bad_samples}.keys() == {TRUNCATED_MP4, GARBAGE_FRAMES, BAD_HEADER}
    reasons = {s.index: s.reason for s in loader.bad_samples}
    assert reasons[TRUNCATED_MP4].startswith("mp4: truncated MP4")
    assert reasons[GARBAGE_FRAMES].startswith("mp4: video does not decode (decord")
    assert "stts" in reasons[BAD_HEADER]
    assert loader.samples_skipped == 3
    assert all("shard-" in s.where for s in loader.bad_samples)


def test_av_pairs_skip_a_bad_flac_found_by_dali(broken_videos):
    """With negatives borrowed from other videos' sound too: the bad FLAC is found in either role."""
    loader = build_loader("av_pairs", broken_videos, batch_size=4,
                          options={"crop_px": 32, "frames": 2, "audio_s": 0.5, "negative_fraction": 0.5})
    fed, sounds = [], []
    for _ in range(2):
        for batch in loader:
            fed += batch["index"].tolist()
            sounds += batch["audio_index"].tolist()
    assert set(fed) <= set(GOOD) | {BAD_FLAC} and BAD_FLAC not in sounds
    assert {s.index for s in loader.bad_samples} == {TRUNCATED_MP4, GARBAGE_FRAMES, BAD_FLAC, BAD_HEADER}
    assert {s.index: s.reason for s in loader.bad_samples}[BAD_FLAC].startswith("flac: audio")


def test_decode_over_its_time_limit_is_an_error_and_the_decoder_recovers():
    video = prepared_video(48)
    decoder = GuardedVideoDecoder(time_limit_s=1e-4)
    with pytest.raises(VideoDecodeError, match="took longer than"):
        decoder.decode(video.mp4, list(range(48)))
    decoder.time_limit_s = 30.0
    frames = decoder.decode(video.mp4, [5, 3, 3, 47])
    assert [read_frame_number(f) for f in frames] == [5, 3, 3, 47]
    assert decoder.visits == 2


def test_decoder_child_is_recycled_and_still_correct():
    video = prepared_video(24)
    decoder = GuardedVideoDecoder(recycle_after=2)
    pids = []
    for k in range(5):
        assert read_frame_number(decoder.decode(video.mp4, [k])[0]) == k
        pids.append(decoder._child.pid)
    assert len(set(pids)) == 3  # a fresh child every 2 decodes
    decoder.close()


def test_a_frame_past_an_over_reported_end_repeats_the_last_frame():
    video = prepared_video(10)
    frames = GuardedVideoDecoder().decode(video.mp4, [8, 9, 15])
    assert [read_frame_number(f) for f in frames] == [8, 9, 9]
    assert np.array_equal(frames[1], frames[2])


def test_frames_too_big_for_the_shared_buffer_still_arrive_and_grow_it(monkeypatch):
    monkeypatch.setattr(video_decode, "INITIAL_FRAME_BYTES", 1000)  # smaller than one frame
    video = prepared_video(12)
    decoder = GuardedVideoDecoder()
    first = decoder.decode(video.mp4, [2, 7])  # pickled through the pipe, then the buffer grows
    assert decoder._buffer.size >= first.nbytes
    second = decoder.decode(video.mp4, [11, 0])  # through the shared buffer
    assert [read_frame_number(f) for f in first] == [2, 7] and [read_frame_number(f) for f in second] == [11, 0]
    third = decoder.decode(video.mp4, [5, 6])  # overwrites the buffer; earlier results are copies
    assert [read_frame_number(f) for f in second] == [11, 0] and [read_frame_number(f) for f in third] == [5, 6]
    decoder.close()


@pytest.mark.parametrize("message, reason", [
    ("[13:54:33] /github/workspace/src/video/ffmpeg/threaded_decoder.cc:292: [13:54:33] /github/workspace/src/video/"
     "ffmpeg/threaded_decoder.cc:218: Check failed: avcodec_send_packet(dec_ctx_.get(), pkt.get()) >= 0 "
     "(-1094995529 vs. 0) Thread worker: Error sending packet.", "Error sending packet (invalid data)"),
    ("[14:40:02] /github/workspace/src/video/ffmpeg/threaded_decoder.cc:104: Check failed: run_.load()",
     "the decoder stopped on bad data"),
    ("[14:40:02] /github/workspace/src/video/video_reader.cc:83: ERROR opening: , Invalid data found when processing "
     "input", "ERROR opening: , Invalid data found when processing input"),
])
def test_decord_messages_lose_their_timestamps_paths_and_expressions(message, reason):
    """decord's own messages (as it raised them on damaged members) become the reason a user reads."""
    assert video_decode._short_reason(RuntimeError(message)) == reason
