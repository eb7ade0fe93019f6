"""The log-mel graph's window: DALI's default spectrogram window is the half-sample-shifted Hann that
shifted_hann_window writes down (and that the torch baseline uses), not torch's periodic Hann."""

from __future__ import annotations

import numpy as np
import nvidia.dali.fn as fn
import nvidia.dali.types as types
import torch
from nvidia.dali import pipeline_def

from mmssl.pipelines.log_mel import shifted_hann_window
from mmssl.pipelines.torch_reference_video import dali_window

WINDOW, NFFT, HOP = 400, 512, 160  # 25 ms frames, 10 ms hop at 16 kHz: the default AudioOptions


def dali_power_spectrogram(signal: np.ndarray, window: np.ndarray | None) -> np.ndarray:
    """[bins, frames] power spectrogram of `signal` by DALI on the CPU; `window` None: DALI's default."""
    window_arg = {} if window is None else {"window_fn": window.astype(np.float32).tolist()}

    @pipeline_def(batch_size=1, num_threads=1, device_id=None)
    def spectrogram():
        samples = fn.external_source(source=lambda: [signal], batch=True, dtype=types.FLOAT)
        return fn.spectrogram(samples, nfft=NFFT, window_length=WINDOW, window_step=HOP, center_windows=True,
                              power=2, **window_arg)

    pipe = spectrogram()
    pipe.build()
    return np.array(pipe.run()[0][0])


def test_dalis_default_window_is_the_shifted_hann():
    signal = np.random.default_rng(0).standard_normal(1600).astype(np.float32)
    default = dali_power_spectrogram(signal, None)
    assert np.array_equal(default, dali_power_spectrogram(signal, shifted_hann_window(WINDOW)))
    periodic = torch.hann_window(WINDOW, periodic=True, dtype=torch.float64).numpy()
    assert np.abs(dali_power_spectrogram(signal, periodic) - default).max() > 1e-3 * default.max()


def test_baseline_window_is_the_formula_in_float32():
    n = np.arange(WINDOW, dtype=np.float64)
    formula = 0.5 - 0.5 * np.cos(2 * np.pi * (n + 0.5) / WINDOW)
    window = dali_window(WINDOW)
    assert window.dtype == torch.float32
    assert np.abs(window.numpy().astype(np.float64) - formula).max() < 1e-7
    assert window[0] > 0 and torch.allclose(window, window.flip(0), atol=1e-7)  # no zero at the ends, symmetric
