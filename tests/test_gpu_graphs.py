"""Every family's GPU graph is defined on every commit, without a GPU.

DALI checks each operator's arguments when a graph is defined (only `build()` needs CUDA), so defining
the `gpu` graphs (nvJPEG "mixed" decode, NVDEC `fn.decoders.video`, GPU log-mel) with `device_id=0`
catches a misspelled or removed argument on the GPU branch here, not on a rare GPU loan.
"""

import types

import pytest

from mmssl.data.member_table import MemberTable
from mmssl.data.sample_plan import SamplePlan
from mmssl.pipelines import video_frames
from mmssl.pipelines.loader import FAMILIES, eligible_rows, family_pipeline, make_config
from mmssl.pipelines.sample_source import SampleSource

# options that switch a graph onto another branch (a small permutation set spares the 13 s Hamming search)
VARIANTS = {
    "jigsaw": [{"permutations": 24}],
    "rotation": [{}, {"all_rotations": True}],
    "views": [{}, {"small_views": 2, "solarize_p": 0.2}],
    "clips": [{}, {"augment": False}],
    "temporal": [{}, {"far_clip": True}],
    "audio": [{}, {"augment": False}],
    "av_pairs": [{}, {"augment": False, "hard_negative_fraction": 0.25}],
    "tracked_patches": [{}, {"augment": False}],
}
CASES = [(name, options) for name in FAMILIES for options in VARIANTS.get(name, [{}])]


def define_gpu_pipeline(name: str, data_dir, options: dict):
    """The pipeline `build_loader(name, device="gpu", device_id=0)` would build, defined and not built."""
    family, cfg = FAMILIES[name], make_config(name, options)
    table = MemberTable.open(data_dir)
    plan = SamplePlan(eligible_rows(table, name, data_dir), 2, 0, 1, 0)
    feed = family.feed(cfg, "gpu") if family.feed is not None else None
    source = SampleSource(table, family.members, plan, feed=feed)
    extra = {"permutations": cfg.permutation_set()} if family.uses_permutations else {}
    return family_pipeline(family, source, cfg, "gpu", 2, checkpoint=None, graph_args=extra, batch_size=2,
                           num_threads=1, device_id=0, seed=0)


@pytest.mark.parametrize("name, options", CASES, ids=[f"{n}-{'-'.join(o) or 'defaults'}" for n, o in CASES])
def test_gpu_graph_is_defined_without_a_gpu(name, options, mixed_dataset):
    data_dir, _ = mixed_dataset
    pipe = define_gpu_pipeline(name, data_dir, options)
    assert pipe.device_id == 0 and pipe.max_batch_size == 2


def test_a_misspelled_argument_on_the_gpu_branch_fails_at_definition(mixed_dataset, monkeypatch):
    """The check can fail: NVDEC's decoder given `frame` for `frames` is refused while defining the graph."""
    import nvidia.dali.fn as fn

    def misspelled(encoded, **kwargs):
        kwargs["frame"] = kwargs.pop("frames")
        return fn.decoders.video(encoded, **kwargs)

    patched = types.SimpleNamespace(decoders=types.SimpleNamespace(video=misspelled))
    monkeypatch.setattr(video_frames, "fn", patched)
    data_dir, _ = mixed_dataset
    with pytest.raises(KeyError, match='Argument "frame" is not defined for operator "decoders__Video"'):
        define_gpu_pipeline("clips", data_dir, {})
