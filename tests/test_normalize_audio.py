"""Sound files become audio-only samples: mono FLAC at 16 kHz, time 0 at the first sample, in any format.

Each format is written with a real encoder (PCM, FLAC, LAME mp3, Opus in Ogg, AAC in m4a) from a tone
that switches pitch at known times; the prepared FLAC must switch at those times, within one 10 ms hop,
and last as long as the input.
"""

import numpy as np
import pytest

from fixtures_sound import FORMATS, SECONDS, SWITCHES_S, TONES_HZ, sound_file, switch_times_s
from fixtures_video import decoded_audio, tone_at
from mmssl.data.normalize_audio import normalize_audio
from mmssl.data.normalize_video import VideoConfig
from mmssl.data.rejection import Rejection


@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_sound_file_keeps_its_timing(kind):
    prepared = normalize_audio(sound_file(kind))
    samples, rate = decoded_audio(prepared.flac)
    assert (rate, prepared.sample_rate_hz) == (16_000, 16_000)
    assert prepared.num_samples == len(samples)
    assert abs(prepared.duration_s - SECONDS) < 0.03  # encoder delay and padding removed
    switches = switch_times_s(samples, rate)
    assert len(switches) == len(SWITCHES_S)
    assert np.abs(np.array(switches) - SWITCHES_S).max() <= 0.010  # within a 10 ms hop
    assert tone_at(samples, rate, 0.1, TONES_HZ) == 0


def test_long_sound_is_cut_at_the_duration_bound():
    prepared = normalize_audio(sound_file("wav"), VideoConfig(max_duration_s=1.0))
    assert prepared.num_samples == 16_000


@pytest.mark.parametrize("data, reason", [(b"RIFF\x00\x00\x00\x00WAVEjunk", "unreadable audio file"),
                                          (b"\x00" * 64, "unreadable audio file")])
def test_unreadable_sound_is_a_rejection(data, reason):
    with pytest.raises(Rejection, match=reason):
        normalize_audio(data)
