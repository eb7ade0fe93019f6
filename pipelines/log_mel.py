"""Audio into a DALI graph: FLAC window -> log-mel spectrogram in decibels, on the pipeline's device.

The feed plans a window (`audio_start` in samples at `sample_rate_hz`, and the same in seconds) from
the FLAC header. The graph decodes the FLAC on the CPU (DALI decodes audio only there; the
prepared member is mono FLAC because DALI cannot decode AAC), resamples it to `sample_rate_hz`,
cuts the window (silence past the end of the audio), applies a random gain when augmenting, then
spectrogram, mel filter bank and decibels on the GPU when the pipeline is on the GPU.

Each frame is weighted by DALI's default window, a Hann window shifted by half a sample
(`shifted_hann_window`: symmetric about the frame's centre, no zero at either end), not torch's
periodic Hann (which starts at zero); a baseline that means to compute the same log-mel uses it.

The decibels are 10*log10 of mel power against a fixed reference of 1.0 (a full-scale sine gives
about +15 dB in its band), floored at -80 dB: never normalised per window, so loudness differences
between windows survive. Windows are centred: frame k covers the time
audio_start_s + k * hop_ms / 1000 (half a window each side), and a window of audio_s seconds has
1 + audio_s * 1000 / hop_ms frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import nvidia.dali.fn as fn
import nvidia.dali.math as dmath
import nvidia.dali.types as types

from mmssl.data.media_info import AudioInfo, MediaInfoError, flac_info
from mmssl.pipelines.feeds import FeedOutput, SampleRejected

DB_FLOOR = -80.0


@dataclass(frozen=True)
class AudioOptions:
    """Options shared by every family that returns audio (names are part of the loader's contract)."""

    audio_s: float = 2.0
    sample_rate_hz: int = 16000
    n_mels: int = 64
    hop_ms: float = 10.0
    window_ms: float = 25.0
    augment: bool = True  # random window start and gain; False: the centred window, no gain
    gain_db: tuple[float, float] = (-6.0, 6.0)

    def __post_init__(self):
        if self.audio_s <= 0 or self.sample_rate_hz < 1000 or self.n_mels < 1:
            raise ValueError(f"need audio_s > 0, sample_rate_hz >= 1000 and n_mels >= 1, got {self.audio_s}, "
                             f"{self.sample_rate_hz}, {self.n_mels}")
        if not 0 < self.hop_ms <= self.window_ms:
            raise ValueError(f"need 0 < hop_ms <= window_ms, got {self.hop_ms}, {self.window_ms}")
        if self.gain_db[0] > self.gain_db[1]:
            raise ValueError(f"gain_db must be (low, high), got {self.gain_db}")
        object.__setattr__(self, "gain_db", tuple(float(g) for g in self.gain_db))

    @property
    def window_samples(self) -> int:
        return round(self.audio_s * self.sample_rate_hz)

    @property
    def num_frames(self) -> int:
        """Spectrogram frames per window (centred windows)."""
        return 1 + self.window_samples // self.hop_samples

    @property
    def hop_samples(self) -> int:
        return round(self.hop_ms * self.sample_rate_hz / 1000)


def shifted_hann_window(length: int) -> np.ndarray:
    """DALI's default spectrogram window, float64: w[n] = 0.5 - 0.5 cos(2 pi (n + 0.5) / length)."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * (np.arange(length) + 0.5) / length)


def read_audio_info(flac: bytes) -> AudioInfo:
    try:
        return flac_info(flac)
    except MediaInfoError as error:
        raise SampleRejected(f"flac: {error}") from None


AUDIO_WINDOW_OUTPUTS = (FeedOutput("flac", types.UINT8), FeedOutput("audio_start", types.INT32),
                        FeedOutput("audio_start_s", types.FLOAT))


def start_sample(start_s: float, options: AudioOptions) -> int:
    """A window start in seconds as the sample it falls on at `sample_rate_hz`."""
    return round(start_s * options.sample_rate_hz)


def audio_window(flac: bytes, start_s: float, options: AudioOptions) -> tuple[np.ndarray, ...]:
    """Feed arrays for a window starting at `start_s`: the FLAC, the start in samples and in seconds."""
    start = start_sample(start_s, options)
    return (np.frombuffer(flac, np.uint8), np.array([start], np.int32),
            np.array(start / options.sample_rate_hz, np.float32))


def log_mel(fed: dict, options: AudioOptions, device: str):
    """[1, n_mels, n_frames] float32 log-mel (dB) of the fed window."""
    audio, _ = fn.decoders.audio(fed["flac"], sample_rate=options.sample_rate_hz, downmix=True, dtype=types.FLOAT)
    window = fn.slice(audio, fed["audio_start"], fn.constant(idata=[options.window_samples]), axes=[0],
                      out_of_bounds_policy="pad")
    if options.augment and options.gain_db != (0.0, 0.0):
        gain_db = fn.random.uniform(range=list(options.gain_db))
        window = window * dmath.exp(gain_db * (math.log(10) / 20))
    if device == "gpu":
        window = window.gpu()
    window_length = round(options.window_ms * options.sample_rate_hz / 1000)
    spectrum = fn.spectrogram(window, nfft=1 << (window_length - 1).bit_length(), window_length=window_length,
                              window_step=options.hop_samples, center_windows=True, power=2)
    mel = fn.mel_filter_bank(spectrum, sample_rate=options.sample_rate_hz, nfilter=options.n_mels,
                             freq_high=options.sample_rate_hz / 2)
    decibels = fn.to_decibels(mel, multiplier=10.0, reference=1.0, cutoff_db=DB_FLOOR)
    return fn.expand_dims(decibels, axes=[0], new_axis_names="C")
