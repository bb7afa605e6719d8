"""The `dinov2` extractor against the official DINOv2 implementation, on tiny models.

tests/data/dinov2_tiny.npz holds the state dicts of two tiny DinoVisionTransformers (width 16, seeded
random weights) built as the hub builds dinov2_vitl14 (MLP blocks; 56 px, a 4 x 4 grid of position
embeddings) and dinov2_vitg14_reg (SwiGLU blocks, 4 register tokens; 280 px, 20 x 20), which the tests
write as torch-hub checkpoints (.pth, the published files' format), five fixed uint8 images, and the
features torch-fidelity's FeatureExtractorDinoV2 computes with the official models as its network:
at its 224 px the official code resamples the position embeddings to 16 x 16 each family's way (with
interpolate_offset 0.1; with antialiasing), as it does the published models' 37 x 37.
tests/data/make_dinov2_tiny.py made the file from facebookresearch/dinov2 (commit b8931f7) and remakes
it where that source is available; these tests need only the file.
"""
from __future__ import annotations

import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from aigc_eval.errors import UserError
from aigc_eval.features import check_extractor_weights, takes_weights
from aigc_eval.features.dinov2 import DINOV2_CHUNK, _from_hub_checkpoint, default_dinov2_weights_path, dinov2_extractor
from aigc_eval.runtime import file_hash
from test_cli import assert_user_error, cli
from test_clip_extractor import check_evaluate_signs_fd_and_ranks_noise_last

DATA = Path(__file__).parent / "data" / "dinov2_tiny.npz"
MODELS = ("dinov2_tiny_hub", "dinov2_tiny_reg_swiglu_hub")


@pytest.fixture(scope="module")
def expected():
    return {k: v for k, v in np.load(DATA).items() if ":" not in k}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """{model: path}: each tiny model's state dict written as a torch-hub checkpoint."""
    arrays, folder = np.load(DATA), tmp_path_factory.mktemp("dinov2")
    paths = {}
    for stem in MODELS:
        state = {k.split(":", 1)[1]: torch.from_numpy(arrays[k]) for k in arrays.files if k.startswith(stem + ":")}
        torch.save(state, folder / f"{stem}.pth")
        paths[stem] = folder / f"{stem}.pth"
    return paths


@pytest.fixture(scope="module")
def hub(checkpoints):
    return checkpoints["dinov2_tiny_hub"]


@pytest.fixture(scope="module")
def hub_extractor(hub):
    return dinov2_extractor(weights_path=hub)


def test_hub_checkpoint_gives_the_official_features(hub_extractor, expected, hub):
    features = hub_extractor.extract(expected["images"])["features"]
    np.testing.assert_allclose(features, expected["dinov2_tiny_hub"], rtol=1e-4, atol=1e-6)
    assert hub_extractor.info == {"weights_path": str(hub), "format": "hub", "classifies_dataset": False,
                                  "architecture": {"embed_dim": 16, "depth": 2, "heads": 1, "patch": 14,
                                                   "registers": 0, "ffn": "mlp"}}
    assert (hub_extractor.name, hub_extractor.metric_name, hub_extractor.tag) == \
        ("dinov2", "fd_dinov2", f"dinov2@{file_hash(hub)}")


def test_swiglu_and_register_tokens_give_the_official_features(expected, checkpoints):
    extractor = dinov2_extractor(weights_path=checkpoints["dinov2_tiny_reg_swiglu_hub"])
    features = extractor.extract(expected["images"])["features"]
    np.testing.assert_allclose(features, expected["dinov2_tiny_reg_swiglu_hub"], rtol=1e-4, atol=1e-6)
    assert extractor.info["architecture"] == {"embed_dim": 16, "depth": 1, "heads": 1, "patch": 14,
                                              "registers": 4, "ffn": "swiglu"}


def _no_network(*args, **kwargs):
    raise AssertionError("the dinov2 extractor opened a network connection")


def test_hugging_face_folder_gives_the_same_features(tmp_path, expected, monkeypatch, hub):
    folder = tmp_path / "dinov2-tiny"
    _from_hub_checkpoint(hub).save_pretrained(folder)  # config.json + model.safetensors, as on the HF hub
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    extractor = dinov2_extractor(weights_path=folder)
    features = extractor.extract(expected["images"])["features"]
    np.testing.assert_allclose(features, expected["dinov2_tiny_hub"], rtol=1e-4, atol=1e-6)
    assert extractor.info["format"] == "hf" and extractor.info["architecture"]["depth"] == 2
    assert extractor.tag.startswith("dinov2@") and extractor.tag != f"dinov2@{file_hash(hub)}"


def test_grey_images_in_several_chunks(hub_extractor, digits):
    grey = digits.test_x[:2 * DINOV2_CHUNK + 6]  # 1 x 16 x 16 uint8: three chunks
    out = hub_extractor.extract(grey, batch_size=100)
    assert out["features"].shape == (len(grey), 16) and out["logits"].shape == (len(grey), 0)
    assert np.abs(out["features"][0] - out["features"][1]).max() > 1e-2  # not collapsed
    rgb = hub_extractor.extract(np.repeat(grey, 3, axis=1), batch_size=10)["features"]
    np.testing.assert_allclose(out["features"], rgb, rtol=1e-5, atol=1e-6)


def test_evaluate_with_dinov2_signs_fd_dinov2_and_ranks_noise_last(digits, hub):
    fd = check_evaluate_signs_fd_and_ranks_noise_last(digits, "dinov2", hub)
    import transformers

    assert f"|hf:{transformers.__version__}|" in fd["signature"]  # its code computes the features


def test_bad_weights_are_one_line_errors_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("AIGC_EVAL_CACHE", str(tmp_path / "cache"))  # reaches the CLI's subprocesses
    gen = tmp_path / "gen.npz"
    np.savez(gen, x=np.zeros((8, 16, 16, 1), np.uint8))
    unreadable = tmp_path / "unreadable.pth"
    unreadable.write_bytes(b"not a checkpoint")
    other_model = tmp_path / "other_model.pth"
    torch.save(nn.TransformerEncoderLayer(16, 2).state_dict(), other_model)
    score = ["score", "--generated", str(gen), "--reference", "digits", "--out", str(tmp_path / "o"),
             "--metrics", "fd", "--extractor", "dinov2"]
    weights = {"default": [], "unreadable": ["--extractor-weights", str(unreadable)],
               "other model": ["--extractor-weights", str(other_model)]}
    with ThreadPoolExecutor(len(weights)) as pool:  # ~5 s of imports each: side by side, not in turn
        procs = dict(zip(weights, pool.map(lambda extra: cli(*score, *extra), weights.values())))
    assert_user_error(procs["default"], str(default_dinov2_weights_path()), "not found",
                      "dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/", "Hugging Face")
    assert_user_error(procs["unreadable"], str(unreadable), "could not be loaded")
    assert_user_error(procs["other model"], str(other_model), "could not be loaded", "not a DINOv2 checkpoint")


def test_weights_option_takes_a_file_or_a_folder(tmp_path, hub):
    assert takes_weights("dinov2")
    check_extractor_weights("dinov2", hub)
    check_extractor_weights("dinov2", tmp_path)
    with pytest.raises(UserError, match="none.pth: no such file or folder"):
        check_extractor_weights("dinov2", tmp_path / "none.pth")


def test_folders_that_are_not_dinov2_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match=r"DINOv2 weights not found at .*config\.json"):
        dinov2_extractor(weights_path=tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "vit"}')
    with pytest.raises(UserError, match=r"config\.json could not be loaded \(ValueError: config\.json is a 'vit' model, not DINOv2\)"):
        dinov2_extractor(weights_path=tmp_path)


def test_without_transformers_the_error_says_what_to_install(monkeypatch, hub):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers -> ImportError
    with pytest.raises(UserError, match=r"pip install 'aigc-eval\[dinov2\]'"):
        dinov2_extractor(weights_path=hub)
