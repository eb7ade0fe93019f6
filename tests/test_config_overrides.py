"""--set overrides: typed parsing into nested dataclasses, and errors that name the key."""

import dataclasses

import pytest

from mmssl.train.config import ClusterConfig, OptimConfig, TrainConfig
from mmssl.train.config_overrides import apply_overrides, format_config


@dataclasses.dataclass
class _Run:
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    cluster: ClusterConfig = dataclasses.field(default_factory=ClusterConfig)


def test_nested_typed_values():
    run = apply_overrides(_Run(), ["train.batch_size=64", "optim.base_lr=0.5", "cluster.use_gpu=true",
                                   "train.max_steps=none", "cluster.address=auto", "train.epochs=1e3"])
    assert run.train.batch_size == 64 and isinstance(run.train.batch_size, int)
    assert run.optim.base_lr == 0.5
    assert run.cluster.use_gpu is True
    assert run.train.max_steps is None
    assert run.cluster.address == "auto"
    assert run.train.epochs == 1000
    assert _Run().train.batch_size == 32  # the default is untouched


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("train.batchsize=3", "unknown key 'batchsize'"),
        ("train.batch_size=many", "expected int"),
        ("cluster.use_gpu=maybe", "expected true or false"),
        ("train", "expected key=value"),
        ("train=3", "is a group"),
        ("train.batch_size=0", "must be a positive integer"),
    ],
)
def test_bad_overrides_name_the_problem(assignment, message):
    with pytest.raises(ValueError, match=message):
        apply_overrides(_Run(), [assignment])


def test_format_lists_every_key():
    text = format_config(_Run())
    for field in dataclasses.fields(TrainConfig):
        assert f"  {field.name}: " in text
    assert text.splitlines()[0] == "train:"


@dataclasses.dataclass
class _WithOptions:
    options: dict = dataclasses.field(default_factory=lambda: {"image_size": 224, "scale": (0.08, 1.0)})


def test_options_dict_keys():
    run = apply_overrides(_WithOptions(), ["options.image_size=96", "options.scale=(0.2, 1.0)", "options.new=none"])
    assert run.options == {"image_size": 96, "scale": (0.2, 1.0), "new": "none"}
    with pytest.raises(ValueError, match="expected int"):
        apply_overrides(_WithOptions(), ["options.image_size=big"])
