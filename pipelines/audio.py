"""`audio`: a log-mel window per video with sound, for audio backbones.

Outputs: audio [B, 1, n_mels, n_frames] float32, log-mel in dB (see log_mel.py: never normalised
per window); audio_start_s [B] float32, where the window starts in its video, so frame k covers
audio_start_s + k * hop_ms / 1000. The loader adds index and row. Options (`AudioOptions`):
audio_s (2), sample_rate_hz (16000), n_mels (64), hop_ms (10), window_ms (25), augment (True:
random window and gain; False: the centred window, no gain), gain_db.
"""

from __future__ import annotations

import numpy as np

from mmssl.pipelines import clip_sampling as sampling
from mmssl.pipelines.feeds import FeedOutput, FeedRequest
from mmssl.pipelines.log_mel import AUDIO_WINDOW_OUTPUTS, AudioOptions, audio_window, log_mel, read_audio_info

AUDIO_OUTPUTS = ("audio", "audio_start_s")
AUDIO_MEMBERS = ("flac",)  # the mono audio track preparation extracts from videos with sound


class AudioFeed:
    def __init__(self, options: AudioOptions, device: str):
        self.options = options

    def outputs(self) -> tuple[FeedOutput, ...]:
        return AUDIO_WINDOW_OUTPUTS

    def __call__(self, request: FeedRequest) -> tuple[np.ndarray, ...]:
        return audio_window(request.members["flac"], plan_audio_start(request, self.options), self.options)


def plan_audio_start(request: FeedRequest, options: AudioOptions) -> float:
    """The window's start [s] in the sample's audio (shared with the torch baseline)."""
    info = read_audio_info(request.members["flac"])
    return sampling.audio_window_start(request.rng if options.augment else None, info.duration_s, options.audio_s)


def audio_graph(fed: dict, options: AudioOptions, device: str):
    return log_mel(fed, options, device), fed["audio_start_s"]
