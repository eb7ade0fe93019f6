"""Missing batch keys are named, with what the batch has."""

import pytest
import torch

from mmssl.objectives.batch import require_keys


def test_names_missing_keys():
    require_keys({"image": torch.zeros(1)}, ("image",), "Rotation")
    with pytest.raises(KeyError, match=r"missing \['label'\].*has \['image'\]"):
        require_keys({"image": torch.zeros(1)}, ("image", "label"), "Rotation")
