"""METHODS: every entry's config validates and builds a method with the training-loop interface."""

import inspect

from mmssl.objectives import METHODS


def test_every_method_has_the_interface():
    for name, (config_class, method_class) in METHODS.items():
        assert inspect.isclass(config_class) and hasattr(config_class, "__dataclass_fields__"), name
        for member in ("training_step", "features", "checkpoint_state", "load_checkpoint_state"):
            assert callable(getattr(method_class, member)), (name, member)
        parameters = list(inspect.signature(method_class.__init__).parameters)
        assert parameters[:7] == ["self", "config", "num_samples", "rank", "world_size", "device", "seed"], name
