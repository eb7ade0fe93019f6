"""Graph pieces: Fisher-Yates permutations, fused colour jitter, pixel-exact quarter turns."""

import itertools

import numpy as np
import nvidia.dali.fn as fn
import nvidia.dali.types as types
from nvidia.dali import pipeline_def

from fixtures_media import checker_image
from mmssl.pipelines import ops

IMAGE = checker_image(3, 40, 40)


def _run(graph, batch_size=16, seed=0):
    pipe = pipeline_def(graph, batch_size=batch_size, num_threads=1, device_id=None, seed=seed, enable_conditionals=True)()
    pipe.build()
    return [np.stack([np.array(t) for t in out]) for out in pipe.run()]


def test_random_permutation_is_uniform_over_all_orders():
    (perms,) = _run(lambda: ops.random_permutation(3), batch_size=600)
    assert (np.sort(perms, axis=1) == np.arange(3)).all()
    counts = [sum((p == q).all() for p in perms) for q in itertools.permutations(range(3))]
    assert all(60 <= c <= 140 for c in counts), counts  # 100 expected each; 6 sigma is about +-55


def test_grayscale_probability_one_gives_gray_pixels():
    jitter = ops.ColorJitter(0.0, 0.0, 0.0, 0.0, grayscale_p=1.0)
    (out,) = _run(lambda: ops.color_jitter(types.Constant(IMAGE, layout="HWC"), jitter))
    spread = out.astype(int).max(axis=-1) - out.astype(int).min(axis=-1)
    assert spread.max() <= 1
    luma = IMAGE @ np.array([0.299, 0.587, 0.114])
    assert np.abs(out[0, ..., 0] - luma).max() <= 2


def test_jitter_with_probability_zero_changes_nothing():
    (out,) = _run(lambda: ops.color_jitter(types.Constant(IMAGE, layout="HWC"), ops.ColorJitter(grayscale_p=0.0), probability=0.0))
    assert (out == IMAGE).all()


def test_brightness_scales_all_channels_by_one_factor():
    jitter = ops.ColorJitter(0.4, 0.0, 0.0, 0.0, grayscale_p=0.0)
    dim = (IMAGE // 2).astype(np.uint8)  # no clipping at 1.4x
    (out,) = _run(lambda: ops.color_jitter(types.Constant(dim, layout="HWC"), jitter))
    ratios = out.reshape(len(out), -1).astype(float).sum(1) / dim.astype(float).sum()
    assert 0.6 - 0.01 <= ratios.min() and ratios.max() <= 1.4 + 0.01 and ratios.std() > 0.05
    for sample, ratio in zip(out, ratios):
        assert np.abs(sample - dim * ratio).max() <= 1.5


def _turned(mirror: bool):
    def graph():
        turns = fn.random.choice(4)
        coin = fn.random.coin_flip() if mirror else None
        turned, rows, columns = ops.rotate_quarter_turns(types.Constant(IMAGE, layout="HWC"), turns, coin)
        out = (fn.flip(turned, vertical=rows, horizontal=columns), turns)
        return out + ((coin,) if mirror else ())

    return _run(graph, batch_size=32)


def test_quarter_turns_match_rot90():
    out, turns = _turned(mirror=False)
    assert set(turns.tolist()) == {0, 1, 2, 3}
    for image, k in zip(out, turns):
        assert (image == np.rot90(IMAGE, k, axes=(0, 1))).all()


def test_mirrored_quarter_turns_turn_the_mirrored_image():
    out, turns, coins = _turned(mirror=True)
    assert set(coins.tolist()) == {0, 1}
    for image, k, mirrored in zip(out, turns, coins):
        source = IMAGE[:, ::-1] if mirrored else IMAGE
        assert (image == np.rot90(source, k, axes=(0, 1))).all()
