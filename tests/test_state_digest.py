"""State digests change with any value, dtype or key, and not with dict order."""

import torch

from mmssl.train.state_digest import state_digest


def test_digest_sensitivity():
    base = {"a": torch.arange(4.0), "b": {"c": torch.ones(2, dtype=torch.float16)}, "step": 3}
    same = {"step": 3, "b": {"c": torch.ones(2, dtype=torch.float16)}, "a": torch.arange(4.0)}
    assert state_digest(base) == state_digest(same)
    changed_value = {**base, "a": torch.tensor([0.0, 1.0, 2.0, 3.5])}
    changed_dtype = {**base, "a": torch.arange(4.0).double()}
    changed_key = {"a2": base["a"], "b": base["b"], "step": 3}
    changed_scalar = {**base, "step": 4}
    zero_dim = {**base, "n": torch.tensor(7)}  # e.g. BatchNorm's num_batches_tracked
    zero_dim_changed = {**base, "n": torch.tensor(8)}
    cases = (base, changed_value, changed_dtype, changed_key, changed_scalar, zero_dim, zero_dim_changed)
    assert len({state_digest(x) for x in cases}) == len(cases)
