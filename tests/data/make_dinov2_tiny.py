"""Make the DINOv2 test files from the official implementation (facebookresearch/dinov2).

    XFORMERS_DISABLED=1 .venv/bin/python tests/data/make_dinov2_tiny.py /path/to/dinov2-checkout

writes dinov2_tiny.npz next to this script, holding
* "dinov2_tiny_hub:<key>"            the state dict of a tiny DinoVisionTransformer as dinov2_vit{s,b,l}14
                                     are built (MLP blocks, position embeddings resampled with
                                     interpolate_offset 0.1); the tests write it as a .pth checkpoint
* "dinov2_tiny_reg_swiglu_hub:<key>" one as dinov2_vitg14_reg is built (SwiGLU blocks, 4 register tokens,
                                     resampled with antialiasing and no offset, as every *_reg model)
* "images", "dinov2_tiny_hub", "dinov2_tiny_reg_swiglu_hub": fixed uint8 images and the official
  models' features of them

Both are built as dinov2/hub/backbones.py builds the published models (patch 14, layerscale init 1.0,
no block chunks, each family's interpolation settings) but tiny: width 16, hence one head (the
published models' heads are 64 wide, which is how the loader infers their number). Their position
embeddings are a 4 x 4 grid (56 px) and a 20 x 20 one (280 px), so that the 16 x 16 grid of 224 px
is reached by upsampling and by antialiased downsampling. The weights are seeded random at unit gain,
with layerscale gammas and LayerNorm parameters away from their initial values, so that a mix-up of
any of them changes the output. The features are what torch-fidelity's FeatureExtractorDinoV2
computes with the official model as its network (it resizes the images to 224 px).
"""
from __future__ import annotations

import os
import sys
import warnings
from functools import partial
from pathlib import Path
from unittest import mock

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
HUB_BUILD = dict(patch_size=14, embed_dim=16, num_heads=1, mlp_ratio=4, init_values=1.0, block_chunks=0)
TINY_MODELS = {
    "dinov2_tiny_hub": dict(img_size=56, depth=2, ffn_layer="mlp", num_register_tokens=0,
                            interpolate_antialias=False, interpolate_offset=0.1),
    "dinov2_tiny_reg_swiglu_hub": dict(img_size=280, depth=1, ffn_layer="swiglufused", num_register_tokens=4,
                                       interpolate_antialias=True, interpolate_offset=0.0),
}


def official_model(seed: int, **architecture):
    from dinov2.layers import MemEffAttention, NestedTensorBlock
    from dinov2.models.vision_transformer import DinoVisionTransformer

    torch.manual_seed(seed)
    model = DinoVisionTransformer(block_fn=partial(NestedTensorBlock, attn_class=MemEffAttention), **HUB_BUILD,
                                  **architecture)
    with torch.no_grad():  # DINOv2's init leaves the output mostly cls_token; make every input count
        for name, param in model.named_parameters():
            if name.endswith(("gamma", "norm1.weight", "norm2.weight", "norm.weight")):
                param.uniform_(0.5, 1.5)  # layerscale and LayerNorm scales: init 1.0, now distinct
            elif param.dim() >= 2 and name.endswith("weight"):
                param.normal_(0.0, param[0].numel() ** -0.5)  # linear and patch projections: unit gain
            elif name.endswith("bias"):
                param.normal_(0.0, 0.1)
            else:  # cls_token, pos_embed, register_tokens, mask_token
                param.normal_(0.0, 0.5)
    return model.eval()


def torch_fidelity_features(model, images: np.ndarray) -> np.ndarray:
    """torch-fidelity's FeatureExtractorDinoV2 with `model` as what torch.hub.load returns."""
    from torch_fidelity.feature_extractor_dinov2 import FeatureExtractorDinoV2

    with mock.patch("torch.hub.load", return_value=model):
        extractor = FeatureExtractorDinoV2("dinov2-vit-l-14", ["dinov2"])
    with torch.no_grad():
        return extractor(torch.from_numpy(images))[0].numpy()


def fixed_images() -> np.ndarray:
    """Five 3 x 32 x 32 uint8 images: seeded noise, a gradient, a flat grey, and a two-colour block."""
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (2, 3, 32, 32), dtype=np.uint8)
    ramp = np.broadcast_to(np.linspace(0, 255, 32, dtype=np.float32), (3, 32, 32)).round().astype(np.uint8)
    grey = np.full((3, 32, 32), 128, np.uint8)
    block = np.zeros((3, 32, 32), np.uint8)
    block[0, :16], block[2, 16:] = 255, 200
    return np.stack([*noise, ramp, grey, block])


def main(dinov2_source: str) -> None:
    os.environ.setdefault("XFORMERS_DISABLED", "1")
    sys.path.insert(0, dinov2_source)
    warnings.filterwarnings("ignore", message="xFormers is")
    images = fixed_images()
    expected = {"images": images}
    for seed, (stem, architecture) in enumerate(TINY_MODELS.items()):
        model = official_model(seed, **architecture)
        expected.update({f"{stem}:{key}": value.numpy() for key, value in model.state_dict().items()})
        expected[stem] = torch_fidelity_features(model, images)
    np.savez_compressed(HERE / "dinov2_tiny.npz", **expected)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
