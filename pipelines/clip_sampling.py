"""Which frames and which audio samples a video or audio family asks for: pure, seeded rules.

The sample source plans each request from the video's header (frame count, frame rate: see
`mmssl.data.media_info`) before anything is decoded, with a random generator seeded by the slot, so
the CPU path (decord) and the GPU path (NVDEC) decode the same frames, and a resumed run the same
ones again.

Rules at the edges, so nothing crashes on short media:
- A clip spans (frames - 1) * frame_stride + 1 frames. A video shorter than one clip gives a clip
  that starts at frame 0 and repeats its last frame to fill the clip (the repeated frames carry the
  last frame's timestamp, truthfully).
- Clip starts are drawn only where the whole clip fits; windows of audio likewise. An audio track
  shorter than the window is padded with silence at its end.
- Frame k of a prepared (constant frame rate) video is shown at k / fps seconds.
"""

from __future__ import annotations

import numpy as np


def clip_span(frames: int, frame_stride: int) -> int:
    """Frames of video one clip covers, first to last included."""
    return (frames - 1) * frame_stride + 1


def last_start(num_frames: int, span: int) -> int:
    """The latest start frame at which a clip of `span` fits (0 when the video is shorter)."""
    return max(num_frames - span, 0)


def clip_frames(start: int, frames: int, frame_stride: int, num_frames: int) -> np.ndarray:
    """Frame indices of the clip starting at `start`; past the video's end, its last frame repeats."""
    return np.minimum(start + frame_stride * np.arange(frames), num_frames - 1).astype(np.int64)


def random_start(rng: np.random.Generator, num_frames: int, span: int) -> int:
    return int(rng.integers(0, last_start(num_frames, span) + 1))


def centre_start(num_frames: int, span: int) -> int:
    return last_start(num_frames, span) // 2


def start_near(rng: np.random.Generator, start: int, max_gap: int, num_frames: int, span: int) -> int:
    """A start within `max_gap` frames of `start` (either side) where a whole clip still fits."""
    low, high = max(start - max_gap, 0), min(start + max_gap, last_start(num_frames, span))
    return int(rng.integers(low, high + 1))


def start_far(rng: np.random.Generator, start: int, min_gap: int, num_frames: int, span: int) -> int:
    """A start at least `min_gap` frames from `start`; when the video has none, the farthest one."""
    latest = last_start(num_frames, span)
    candidates = [s for s in (range(0, start - min_gap + 1), range(start + min_gap, latest + 1)) if len(s)]
    if not candidates:
        return 0 if start > latest - start else latest
    sizes = np.array([len(s) for s in candidates], np.float64)
    chosen = candidates[int(rng.choice(len(candidates), p=sizes / sizes.sum()))]
    return int(chosen[int(rng.integers(0, len(chosen)))])


def frame_times_s(indices: np.ndarray, fps: float) -> np.ndarray:
    return (np.asarray(indices, np.float64) / fps).astype(np.float32)


def unique_request(*clips: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """The distinct frames of several clips, sorted (what one decode visit fetches), and for each
    clip the positions of its frames in that sorted list."""
    wanted = np.unique(np.concatenate(clips))
    return wanted, [np.searchsorted(wanted, clip).astype(np.int32) for clip in clips]


def audio_window_start(rng: np.random.Generator | None, duration_s: float, window_s: float) -> float:
    """A random window start in the audio (the centred one when `rng` is None); 0 when it is shorter."""
    room = max(duration_s - window_s, 0.0)
    return float(rng.uniform(0.0, room)) if rng is not None else room / 2


def aligned_audio_start(clip_start_s: float, clip_end_s: float, duration_s: float, window_s: float) -> float:
    """The audio window centred on the clip, moved inside the audio when the clip is near an end."""
    centred = (clip_start_s + clip_end_s) / 2 - window_s / 2
    return float(min(max(centred, 0.0), max(duration_s - window_s, 0.0)))


def shifted_audio_start(rng: np.random.Generator, aligned_s: float, min_shift_s: float, duration_s: float,
                        window_s: float) -> float | None:
    """A window start at least `min_shift_s` from `aligned_s`, inside the audio; None if none exists."""
    room = max(duration_s - window_s, 0.0)
    ranges = [(lo, hi) for lo, hi in ((0.0, aligned_s - min_shift_s), (aligned_s + min_shift_s, room)) if hi >= lo]
    if not ranges:
        return None
    widths = np.array([hi - lo for lo, hi in ranges]) + 1e-9
    lo, hi = ranges[int(rng.choice(len(ranges), p=widths / widths.sum()))]
    return float(rng.uniform(lo, hi))
