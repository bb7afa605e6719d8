"""The feature-extractor object every image metric reads from.

An extractor maps uint8 N x C x H x W images to {'features': N x D, 'logits': N x K} (float32).
Its `tag` (name@weights-hash) goes into every signature, because FD from different weights
cannot be compared.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn


def cache_dir() -> Path:
    """Where trained extractors and feature statistics are cached ($AIGC_EVAL_CACHE)."""
    return Path(os.environ.get("AIGC_EVAL_CACHE", Path.home() / ".cache" / "aigc-eval"))


class FeatureExtractor:
    def __init__(self, name: str, weights_hash: str, module: nn.Module, metric_name: str = "fd",
                 device: str = "cpu", info: dict | None = None, libs: tuple[str, ...] = ()):
        self.name = name
        # libraries beyond torch and torch-fidelity whose code computes the features (dinov2:
        # transformers): their versions join every signature on this extractor
        self.libs = libs
        self.weights_hash = weights_hash
        self.module = module.eval().requires_grad_(False).to(device)
        self.device = device
        self.metric_name = metric_name  # "fid" for Inception, "fd_<name>" otherwise
        self.info = info or {}

    @property
    def tag(self) -> str:
        return f"{self.name}@{self.weights_hash}"

    @torch.no_grad()
    def extract(self, images: np.ndarray, batch_size: int = 500) -> dict:
        if len(images) == 0:
            raise ValueError("cannot extract features of an empty image set")
        feats, logits = [], []
        for start in range(0, len(images), batch_size):
            # A copy has standard strides. A transposed grey N x H x W x 1 array is "C-contiguous" to
            # numpy and torch (size-1 axes do not count), yet its channel stride of 1 sends torch down
            # the channels_last convolution path: FD of the same pixels differed in the 7th digit
            # (38.86571331 vs 38.86571406). Every image reaches the network through here.
            x = torch.from_numpy(np.array(images[start:start + batch_size])).to(self.device)
            f, lg = self.module(x)
            feats.append(f.float().cpu())
            logits.append(lg.float().cpu())
        return {"features": torch.cat(feats).numpy(), "logits": torch.cat(logits).numpy()}
