"""The `dinov2` extractor: DINOv2's image embedding (the final-LayerNorm CLS token), on which FD is
FD_DINOv2 (Stein et al. 2023, "Exposing flaws of generative model evaluation metrics"), from local files.

torch-fidelity 0.4's FeatureExtractorDinoV2 holds the protocol's preprocessing (uint8 -> TF1-compatible
bilinear resize to 224 px -> ImageNet normalisation) but can only download its network from torch.hub.
Its forward is kept here, around Hugging Face transformers' Dinov2Model read from either
* an official torch-hub checkpoint (dinov2_vit{s,b,l,g}14[_reg4]_pretrain.pth, a bare state dict),
  whose architecture is read from the shapes, or
* a Hugging Face model folder (config.json and weights, as facebook/dinov2-large ships).

Position embeddings. The published models have a 37 x 37 grid of them (518 px); 224 px takes 16 x 16.
The official code resamples them bicubically on every call: with scale factor (16 + 0.1) / 37
("interpolate_offset") and no antialiasing, or, for the *_reg models, to 16 x 16 with antialiasing.
transformers' Dinov2WithRegistersModel does the latter, but its Dinov2Model, which did the former up to
4.40, resizes to exactly 16 x 16 by 4.47, which moves every feature. So the grid is resampled here once,
the official way, and transformers, finding it matches the input, never interpolates.
tests/test_dinov2_extractor.py checks the features against the official code on tiny models of both kinds.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from torch import nn
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.feature_extractor_dinov2 import FeatureExtractorDinoV2

from ..errors import UserError
from ..runtime import file_hash, stable_hash
from .extractor import FeatureExtractor, cache_dir
from .fidelity import _as_rgb, _load_local_weights

# ViT-L/14, the network of FD_DINOv2 (Stein et al. 2023) and torch-fidelity's default.
HUB_FILE = "dinov2_vitl14_pretrain.pth"
HUB_URL = f"https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/{HUB_FILE}"
# ViT-L/14 at 224 px (257 tokens x 1024 wide) peaks at ~21 MB of activations per image (measured on
# CPU; the 4096-wide MLP layer), so 32 images at a time stay under ~0.7 GB.
DINOV2_CHUNK = 32
# What the checkpoints do not say: every published DINOv2 ViT (S, B, L, g: 6, 12, 16, 24 heads) has
# 64-wide heads and MLP ratio 4 (for SwiGLU, ViT-g's, 2/3 of it rounded up to a multiple of 8).
HEAD_WIDTH = 64
MLP_RATIO = 4
# The hub models' interpolate_offset (dinov2/hub/backbones.py), all but the *_reg ones (0 there).
INTERPOLATE_OFFSET = 0.1


def default_dinov2_weights_path() -> Path:
    return cache_dir() / "weights" / HUB_FILE


def _transformers():
    # Only local files are read (local_files_only, state dicts); this also keeps the hub client offline.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import transformers
    except ImportError:
        raise UserError("--extractor dinov2 needs Hugging Face transformers: pip install 'aigc-eval[dinov2]'") from None
    return transformers


def _hub_config(transformers, state: dict):
    """transformers' config of an official checkpoint, from its shapes."""
    width = state["cls_token"].shape[-1]
    patch = state["patch_embed.proj.weight"].shape[-1]
    depth = len({key.split(".")[1] for key in state if key.startswith("blocks.")})
    common = dict(hidden_size=width, num_hidden_layers=depth,
                  num_attention_heads=max(1, width // HEAD_WIDTH),  # tests' tiny models are narrower than one head
                  mlp_ratio=MLP_RATIO, use_swiglu_ffn="blocks.0.mlp.w12.weight" in state, patch_size=patch,
                  image_size=math.isqrt(state["pos_embed"].shape[1] - 1) * patch)
    if "register_tokens" in state:
        return transformers.Dinov2WithRegistersConfig(num_register_tokens=state["register_tokens"].shape[1], **common)
    return transformers.Dinov2Config(**common)


# official name -> transformers' checkpoint name (its convert_dinov2_to_hf.py; what facebook/dinov2-* hold)
_RENAMED_PREFIXES = {
    "cls_token": "embeddings.cls_token", "mask_token": "embeddings.mask_token",
    "register_tokens": "embeddings.register_tokens", "pos_embed": "embeddings.position_embeddings",
    "patch_embed.proj.": "embeddings.patch_embeddings.projection.", "norm.": "layernorm.",
}
_RENAMED_IN_BLOCKS = {
    "norm1.": "norm1.", "norm2.": "norm2.", "attn.proj.": "attention.output.dense.",
    "ls1.gamma": "layer_scale1.lambda1", "ls2.gamma": "layer_scale2.lambda1",
    "mlp.fc1.": "mlp.fc1.", "mlp.fc2.": "mlp.fc2.", "mlp.w12.": "mlp.weights_in.", "mlp.w3.": "mlp.weights_out.",
}


def _renamed(key: str, prefixes: dict) -> str:
    for old, new in prefixes.items():
        if key.startswith(old):
            return new + key[len(old):]
    raise KeyError(f"unexpected key {key!r} for a DINOv2 checkpoint")


def _hf_state_dict(state: dict) -> dict:
    """An official state dict under transformers' checkpoint names; qkv is split into query, key, value."""
    converted = {}
    for key, value in state.items():
        if not key.startswith("blocks."):
            converted[_renamed(key, _RENAMED_PREFIXES)] = value
            continue
        _, index, inner = key.split(".", 2)
        layer = f"encoder.layer.{index}."
        if inner.startswith("attn.qkv."):  # rows: query, key, value (the official forward's reshape order)
            param = inner.rsplit(".", 1)[1]
            for part, chunk in zip(("query", "key", "value"), value.chunk(3)):
                converted[f"{layer}attention.attention.{part}.{param}"] = chunk
        else:
            converted[layer + _renamed(inner, _RENAMED_IN_BLOCKS)] = value
    return converted


def _load_strictly(transformers, config, source, **kwargs):
    """DINOv2's transformers model for `config` from `source` (from_pretrained's), quietly; a ValueError if
    a weight is left over or a parameter left unloaded."""
    model_class = (transformers.Dinov2WithRegistersModel if config.model_type == "dinov2_with_registers"
                   else transformers.Dinov2Model)
    progress = transformers.utils.logging
    bar_was_on = progress.is_progress_bar_enabled()
    progress.disable_progress_bar()  # a tqdm bar per load; the suite logs its own progress
    try:
        model, info = model_class.from_pretrained(source, config=config, output_loading_info=True, **kwargs)
    finally:
        if bar_was_on:
            progress.enable_progress_bar()
    wrong = {k: sorted(v) for k in ("missing_keys", "unexpected_keys", "mismatched_keys") if (v := info.get(k))}
    if wrong:
        raise ValueError(f"weights do not fit the model: {wrong}")
    return model


def _from_hub_checkpoint(path: Path):
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise TypeError(f"expected a state dict, got {type(state).__name__}")
    lacking = [k for k in ("cls_token", "pos_embed", "patch_embed.proj.weight") if k not in state]
    if lacking:
        raise KeyError(f"not a DINOv2 checkpoint: no {', '.join(lacking)} among its keys ({', '.join(list(state)[:3])}, ...)")
    transformers = _transformers()
    # from_pretrained, not load_state_dict: it maps the checkpoint names to whatever the installed
    # transformers calls its modules (5.x renamed query/key/value to q_proj/k_proj/v_proj, ...).
    return _load_strictly(transformers, _hub_config(transformers, state), None, state_dict=_hf_state_dict(state))


def _from_hf_folder(path: Path):
    transformers = _transformers()
    config = transformers.AutoConfig.from_pretrained(path, local_files_only=True)
    if config.model_type not in ("dinov2", "dinov2_with_registers"):
        raise ValueError(f"config.json is a {config.model_type!r} model, not DINOv2")
    return _load_strictly(transformers, config, path, local_files_only=True)


def _resample_position_embeddings(model, grid: int) -> None:
    """Resample the position embeddings to `grid` x `grid` once, as the official hub model of the same
    family does on every call (DinoVisionTransformer.interpolate_pos_encoding, bicubic)."""
    table = model.embeddings.position_embeddings.data  # 1 x (1 + old^2) x width: CLS, then patches row by row
    old, width = math.isqrt(table.shape[1] - 1), table.shape[2]
    if old == grid:
        return
    if getattr(model.config, "num_register_tokens", 0):  # the *_reg models: antialias, exact output size
        how = dict(size=(grid, grid), antialias=True)
    else:  # the others: no antialias, and the scale (not only the size) sets where the samples fall
        scale = (grid + INTERPOLATE_OFFSET) / old
        how = dict(scale_factor=(scale, scale), antialias=False)
    patches = nn.functional.interpolate(table[:, 1:].float().reshape(1, old, old, width).permute(0, 3, 1, 2),
                                        mode="bicubic", **how)
    patches = patches.permute(0, 2, 3, 1).reshape(1, grid * grid, width).to(table.dtype)
    model.embeddings.position_embeddings = nn.Parameter(torch.cat([table[:, :1], patches], dim=1))
    model.config.image_size = grid * model.config.patch_size


class _ClsToken(nn.Module):
    """Normalised pixels -> final-LayerNorm CLS token: what the official hub model's forward returns."""

    def __init__(self, dinov2):
        super().__init__()
        self.dinov2 = dinov2

    def forward(self, pixels):
        return self.dinov2(pixel_values=pixels).pooler_output


class _LocalFeatureExtractorDinoV2(FeatureExtractorDinoV2):
    """torch-fidelity's FeatureExtractorDinoV2 (its forward: the FD_DINOv2 preprocessing) around a local
    model; its own __init__ can only load from torch.hub."""

    def __init__(self, dinov2):
        FeatureExtractorBase.__init__(self, "dinov2-local", ["dinov2"])
        self.feature_extractor_internal_dtype = torch.float32
        self.model = _ClsToken(dinov2.float())


class _DinoV2Features(nn.Module):
    """uint8 B x C x H x W (C = 1 or 3) -> (DINOv2 CLS embeddings, no logits: N x 0), in chunks."""

    def __init__(self, dinov2):
        super().__init__()
        _resample_position_embeddings(dinov2, FeatureExtractorDinoV2.INPUT_IMAGE_SIZE // dinov2.config.patch_size)
        self.fidelity = _LocalFeatureExtractorDinoV2(dinov2)

    def forward(self, x):
        features = torch.cat([self.fidelity(chunk)[0] for chunk in _as_rgb(x).split(DINOV2_CHUNK)])
        return features, features.new_zeros(len(features), 0)


def _architecture(config) -> dict:
    return {"embed_dim": config.hidden_size, "depth": config.num_hidden_layers, "heads": config.num_attention_heads,
            "patch": config.patch_size, "registers": getattr(config, "num_register_tokens", 0),
            "ffn": "swiglu" if config.use_swiglu_ffn else "mlp"}


def dinov2_extractor(dataset=None, device: str = "cpu", log=print, weights_path=None) -> FeatureExtractor:
    """DINOv2's CLS embedding with torch-fidelity's FD_DINOv2 preprocessing, from an official torch-hub
    checkpoint (by default ViT-L/14's, under the cache) or a Hugging Face model folder (--extractor-weights
    PATH). FD on it is fd_dinov2; it has no classes, so class metrics skip it."""
    path = Path(weights_path) if weights_path is not None else default_dinov2_weights_path()
    where = (f"download {HUB_FILE} (DINOv2 ViT-L/14, ~1.2 GB, from {HUB_URL}) on a machine with internet access "
             f"and put it at {default_dinov2_weights_path()}, or pass another official DINOv2 checkpoint or a "
             "Hugging Face DINOv2 model folder (config.json and weights, e.g. facebook/dinov2-large) with "
             "--extractor-weights")
    _transformers()  # its absence is its own error, before any about the file
    hf_folder = path.is_dir()
    load = (lambda: _from_hf_folder(path)) if hf_folder else (lambda: _from_hub_checkpoint(path))
    module = _load_local_weights("DINOv2", path / "config.json" if hf_folder else path, where,
                                 lambda: _DinoV2Features(load()))
    weights_hash = (stable_hash({f.name: file_hash(f) for f in sorted(path.iterdir()) if f.is_file()})
                    if hf_folder else file_hash(path))
    info = {"weights_path": str(path), "format": "hf" if hf_folder else "hub", "classifies_dataset": False,
            "architecture": _architecture(module.fidelity.model.dinov2.config)}
    return FeatureExtractor("dinov2", weights_hash, module, metric_name="fd_dinov2", device=device, info=info,
                            libs=("transformers",))
