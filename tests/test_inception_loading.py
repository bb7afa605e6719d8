"""The Inception path, end to end, on a weights file of the real format with random weights.

The real pt_inception-2015-12-05 file cannot be downloaded here. It is a plain torch.save'd state
dict of torch-fidelity's inception-v3-compat (566 tensors, 23.9 M parameters); a file of the same
keys and shapes with He-initialised weights exercises the same loading and forward code. (Default
init would give collapsed, identical features, hiding bugs.) 299x299 forwards are slow on a CPU,
so only a few tiny images go through.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from aigc_eval.errors import UserError
from aigc_eval.features.fidelity import INCEPTION_FILE, inception_extractor
from aigc_eval.metrics import ImageEvalSet, build_metric
from aigc_eval.runtime import file_hash


class _UnloadedInception(FeatureExtractorInceptionV3):
    """The architecture without its weights: torch-fidelity loads them in __init__."""

    def load_state_dict(self, state_dict, strict=True, assign=False):
        return None


def random_inception_state_dict(tmp_path) -> dict:
    empty = tmp_path / "empty.pth"
    torch.save({}, empty)
    torch.manual_seed(0)
    net = _UnloadedInception("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(empty))
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return net.state_dict()


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("inception")
    path = tmp_path / INCEPTION_FILE
    state = random_inception_state_dict(tmp_path)
    assert len(state) == 566 and sum(v.numel() for k, v in state.items() if "num_batches" not in k) == 23_885_392
    torch.save(state, path)
    return path


def test_inception_extractor_runs_grey_images_end_to_end(weights_file, digits):
    extractor = inception_extractor(weights_path=weights_file)
    assert (extractor.name, extractor.metric_name) == ("inception-v3-compat", "fid")
    assert extractor.weights_hash == file_hash(weights_file)
    assert extractor.tag == f"inception-v3-compat@{file_hash(weights_file)}"
    grey = digits.test_x[:3]
    out = extractor.extract(grey)
    assert out["features"].shape == (3, 2048) and out["logits"].shape == (3, 1008)
    assert np.isfinite(out["features"]).all()
    assert np.abs(out["features"][0] - out["features"][1]).max() > 1e-3  # not collapsed
    # the same as torch-fidelity's own extractor on the grey images repeated to RGB
    direct = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(weights_file))
    with torch.no_grad():
        rgb = torch.from_numpy(np.repeat(grey, 3, axis=1))
        np.testing.assert_allclose(out["features"], direct(rgb)[0].numpy(), rtol=1e-5, atol=1e-6)


def test_fd_with_inception_is_named_fid(weights_file, digits):
    eval_set = ImageEvalSet(generated=digits.train_x[:3], reference=digits.test_x[:3],
                            train=digits.train_x,
                            extractor=inception_extractor(weights_path=weights_file), seed=0)
    fid, = build_metric("fd").compute(eval_set)
    assert fid.name == "fid" and fid.value > 0
    assert fid.signature.fields["ext"] == eval_set.extractor.tag
    # Inception's 1008 ImageNet logits are not the dataset's classes
    assert build_metric("mode_coverage").compute(eval_set) == []


def test_missing_weights_file_names_the_path_and_the_file_to_fetch(tmp_path):
    missing = tmp_path / "nowhere" / INCEPTION_FILE
    with pytest.raises(UserError) as err:
        inception_extractor(weights_path=missing)
    assert str(missing) in str(err.value) and "pt_inception-2015-12-05" in str(err.value)


def test_unreadable_weights_file_is_a_user_error(tmp_path):
    bad = tmp_path / INCEPTION_FILE
    bad.write_bytes(b"not a torch file")
    with pytest.raises(UserError, match="could not be loaded") as err:
        inception_extractor(weights_path=bad)
    assert str(bad) in str(err.value)
    wrong = tmp_path / "wrong.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, wrong)
    with pytest.raises(UserError, match="could not be loaded"):
        inception_extractor(weights_path=wrong)
