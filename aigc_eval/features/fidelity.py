"""The bridge to torch-fidelity, both ways.

* `register_with_torch_fidelity(extractor)` makes one of our extractors usable by
  `torch_fidelity.calculate_metrics(feature_extractor=NAME, ...)`: the agreement tests check our FD,
  KID and precision/recall against torch-fidelity's on the very same network.
* `inception_extractor(weights_path=...)` wraps torch-fidelity's `inception-v3-compat` (the
  TF-Inception port that published FIDs use) and `clip_extractor(weights_path=...)` its CLIP image
  encoder (FD on CLIP features: Kynkaanniemi et al. 2023; CMMD: Jayasumana et al. 2024) as our
  extractors, loaded from local files, since nothing may be downloaded at run time.
* `TensorImages` feeds uint8 image arrays to torch-fidelity as a Dataset.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.feature_extractor_clip import MODEL_METADATA as CLIP_METADATA
from torch_fidelity.feature_extractor_clip import FeatureExtractorCLIP
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

from ..errors import UserError
from ..runtime import file_hash
from .extractor import FeatureExtractor, cache_dir

INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_NAME = "inception-v3-compat"
# 299x299 activations of 64 channels take ~22 MB per image in float32; 32 images at a time keep
# the forward pass under ~1 GB whatever batch the caller passes.
INCEPTION_CHUNK = 32
# OpenAI's CLIP archives (TorchScript); torch-fidelity infers the architecture from the state dict,
# so any of them loads. ViT-B/32 is what FD_CLIP (Kynkaanniemi et al. 2023) reports.
CLIP_DEFAULT = "clip-vit-b-32"
CLIP_CHUNK = 64  # ViT-B/32 at 224x224: ~6 MB of activations per image, so chunks stay under ~0.5 GB


class TensorImages(Dataset):
    """uint8 N x C x H x W images as a torch Dataset of uint8 C x H x W tensors."""

    def __init__(self, images: np.ndarray):
        self.images = torch.from_numpy(np.ascontiguousarray(images))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i) -> torch.Tensor:
        return self.images[i]


class _SuiteFeatureExtractor(FeatureExtractorBase):
    """torch-fidelity face of a FeatureExtractor; subclassed per extractor with `suite_extractor` set."""

    suite_extractor: FeatureExtractor

    def __init__(self, name, features_list, **kwargs):
        super().__init__(name, features_list)
        self.net = self.suite_extractor.module

    @staticmethod
    def get_provided_features_list():
        return "features", "logits"

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return {"isc": "logits"}.get(metric, "features")

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        raise NotImplementedError("suite extractors are not compiled")

    def forward(self, x):
        features, logits = self.net(x.to(self.suite_extractor.device))
        by_name = {"features": features.float(), "logits": logits.float()}
        # torch-fidelity zips the output with the *requested* list, whose order comes from a set.
        return tuple(by_name[name] for name in self.features_list)


def register_with_torch_fidelity(extractor: FeatureExtractor) -> str:
    """Register `extractor` with torch-fidelity (once per weights hash) and return its name there.

    The name includes the weights hash because torch-fidelity's feature cache is keyed by
    extractor name only: still pass `cache=False` (or distinct cache names) to calculate_metrics.
    """
    name = f"aigc-{extractor.name}-{extractor.weights_hash}"
    if name not in FEATURE_EXTRACTORS_REGISTRY:
        cls = type(f"TorchFidelity_{extractor.name}_{extractor.weights_hash}", (_SuiteFeatureExtractor,),
                   {"suite_extractor": extractor})
        register_feature_extractor(name, cls)
    return name


def default_inception_weights_path() -> Path:
    return cache_dir() / "weights" / INCEPTION_FILE


def _load_local_weights(what: str, path: Path, where: str, build):
    """build() the network from the local file `path`; a missing or unreadable file is a one-line
    UserError that says `where` the expected file comes from."""
    if not path.is_file():
        raise UserError(f"{what} weights not found at {path}: {where}")
    try:
        return build()
    except Exception as exc:  # torch.load/jit.load/load_state_dict raise many types on a bad file
        why = " ".join(str(exc).split())[:160]  # one line, enough to tell a wrong model from a broken file
        raise UserError(f"{what} weights at {path} could not be loaded ({type(exc).__name__}: {why}): {where}") \
            from None


def _as_rgb(x: torch.Tensor) -> torch.Tensor:
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x  # grey -> RGB, as PIL's convert("RGB") does


class _InceptionFeatures(nn.Module):
    """uint8 B x C x H x W (C = 1 or 3) -> (2048-d pool features, 1008 logits), in chunks."""

    def __init__(self, weights_path: Path):
        super().__init__()
        self.inception = FeatureExtractorInceptionV3(INCEPTION_NAME, ["2048", "logits"],
                                                     feature_extractor_weights_path=str(weights_path))

    def forward(self, x):
        outs = [self.inception(chunk) for chunk in _as_rgb(x).split(INCEPTION_CHUNK)]
        return torch.cat([f for f, _ in outs]), torch.cat([lg for _, lg in outs])


def inception_extractor(dataset=None, device: str = "cpu", log=print, weights_path=None) -> FeatureExtractor:
    """torch-fidelity's inception-v3-compat from a local weights file; FD is then called "fid".
    (The same for every dataset: `dataset` and `log` are the extractor factories' common arguments.)"""
    path = Path(weights_path) if weights_path is not None else default_inception_weights_path()
    where = (f"download {INCEPTION_FILE} (the TF-Inception 2015-12-05 port used by pytorch-fid and "
             f"torch-fidelity, ~91 MB) on a machine with internet access and put it at {path}, "
             "or pass its path with --inception-weights")
    module = _load_local_weights("Inception", path, where, lambda: _InceptionFeatures(path))
    return FeatureExtractor(INCEPTION_NAME, file_hash(path), module, metric_name="fid", device=device,
                            info={"weights_path": str(path), "classifies_dataset": False})


class _CLIPFeatures(nn.Module):
    """uint8 B x C x H x W (C = 1 or 3) -> (CLIP image embeddings, no logits: N x 0), in chunks.
    torch-fidelity resizes to the encoder's resolution (TF1-compatible bilinear) and normalises."""

    def __init__(self, weights_path: Path):
        super().__init__()
        with warnings.catch_warnings():  # torch 2.14 deprecates torch.jit.load, the format of OpenAI's files
            warnings.simplefilter("ignore", FutureWarning)
            self.clip = FeatureExtractorCLIP(CLIP_DEFAULT, ["clip"], feature_extractor_weights_path=str(weights_path))

    def forward(self, x):
        features = torch.cat([self.clip(chunk)[0] for chunk in _as_rgb(x).split(CLIP_CHUNK)])
        return features, features.new_zeros(len(features), 0)


def default_clip_weights_path() -> Path:
    return cache_dir() / "weights" / f"{CLIP_METADATA[CLIP_DEFAULT]['filename']}.pt"


def clip_extractor(dataset=None, device: str = "cpu", log=print, weights_path=None) -> FeatureExtractor:
    """CLIP's image encoder (torch-fidelity's port of OpenAI's model) from a local archive, by default
    ViT-B-32.pt; any OpenAI CLIP archive works (--extractor-weights PATH), its architecture read from
    the file and recorded in `info`. FD on it is fd_clip; it has no classes, so class metrics skip it."""
    path = Path(weights_path) if weights_path is not None else default_clip_weights_path()
    meta = CLIP_METADATA[CLIP_DEFAULT]
    where = (f"download {meta['filename']}.pt (OpenAI CLIP, ~350 MB, from openaipublic.azureedge.net/clip/models/"
             f"{meta['hash']}/{meta['filename']}.pt) on a machine with internet access and put it at "
             f"{default_clip_weights_path()}, or pass another OpenAI CLIP .pt with --extractor-weights")
    module = _load_local_weights("CLIP", path, where, lambda: _CLIPFeatures(path))
    visual = module.clip.model.visual
    return FeatureExtractor("clip", file_hash(path), module, metric_name="fd_clip", device=device,
                            info={"weights_path": str(path), "classifies_dataset": False,
                                  "architecture": type(visual).__name__, "input_resolution": int(visual.input_resolution),
                                  "embedding_dim": int(visual.output_dim)})
