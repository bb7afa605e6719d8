"""Paired image quality: PSNR and SSIM of each image vs its original, averaged over the pairs.

The pairs are a VAE's reconstructions of the held-out originals (`run`), or generated images paired
one to one with reference images (`score` with matching file names or --paired: super-resolution,
restoration and reconstruction outputs against their ground truth).

Both are computed per image on uint8 pixels (data range 255) and averaged over the set.

* PSNR = 10 log10(255^2 / MSE), the MSE over all pixels and channels of one image. A perfect
  reconstruction (MSE 0) would be +inf, so the per-image PSNR is capped at PSNR_CAP_DB.
* SSIM (Wang et al. 2004) with an 11-tap Gaussian window (sigma 1.5, truncated at 3.5 sigma),
  K1=0.01, K2=0.03, population (not sample) covariances, per channel, averaged over the channels
  and over the valid pixels (those whose window lies inside the image). That is exactly
  scikit-image's `structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=255, channel_axis=0)`: scikit-image filters the whole
  image and then crops the border of half a window, which leaves only the valid pixels, so the
  padding mode does not matter and a 'valid' convolution gives the same numbers. Images must be
  at least 11 x 11.

Vectorised over the batch (the five local moments of a chunk of images filtered at once): it
replaces a Python loop over scikit-image calls.
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import NotApplicable
from .base import Metric

PSNR_CAP_DB = 100.0
SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5  # scipy.ndimage.gaussian_filter's default, as scikit-image uses it
SSIM_K1, SSIM_K2 = 0.01, 0.03
DATA_RANGE = 255.0


def psnr_per_image(originals: np.ndarray, reconstructions: np.ndarray) -> np.ndarray:
    """PSNR in dB of each reconstruction (uint8 N x C x H x W) against its original."""
    diff = originals.astype(np.float64) - reconstructions.astype(np.float64)
    mse = (diff ** 2).reshape(len(diff), -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        psnr = 10.0 * np.log10(DATA_RANGE ** 2 / mse)
    return np.minimum(psnr, PSNR_CAP_DB)


def _gaussian_taps() -> torch.Tensor:
    radius = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)  # 5, so an 11-tap window
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    taps = torch.exp(-0.5 * (x / SSIM_SIGMA) ** 2)
    return taps / taps.sum()


def _valid_filter_matrix(taps: torch.Tensor, size: int) -> torch.Tensor:
    """(size - len(taps) + 1) x size band matrix: row i applies the window at pixels i..i+len-1."""
    out = torch.zeros(size - len(taps) + 1, size, dtype=taps.dtype)
    for i in range(len(out)):
        out[i, i:i + len(taps)] = taps
    return out


@torch.no_grad()
def ssim_per_image(originals: np.ndarray, reconstructions: np.ndarray, chunk: int = 512) -> np.ndarray:
    """Gaussian-window SSIM of each reconstruction (uint8 N x C x H x W) against its original."""
    n, _, h, w = originals.shape
    taps = _gaussian_taps()
    if min(h, w) < len(taps):
        raise NotApplicable(f"recon: SSIM needs images of at least {len(taps)}x{len(taps)} pixels, got {h}x{w}")
    # The separable window as two float64 matmuls with band matrices: float64 conv2d is a slow path
    # on CPU (5x slower here, and 0.5x the speed of a scikit-image loop at 3x32x32).
    filter_h, filter_w = _valid_filter_matrix(taps, h), _valid_filter_matrix(taps, w)
    c1, c2 = (SSIM_K1 * DATA_RANGE) ** 2, (SSIM_K2 * DATA_RANGE) ** 2
    out = []
    for start in range(0, n, chunk):  # bounds memory: 5 float64 moment maps per image
        x = torch.as_tensor(originals[start:start + chunk], dtype=torch.float64)
        y = torch.as_tensor(reconstructions[start:start + chunk], dtype=torch.float64)
        moments = torch.stack([x, y, x * x, y * y, x * y])  # 5 x B x C x H x W; their local means give SSIM
        mx, my, mxx, myy, mxy = (filter_h @ moments @ filter_w.T).flatten(2)  # 5 x B x C*H'*W'
        vx, vy, cxy = mxx - mx * mx, myy - my * my, mxy - mx * my
        ssim_map = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        out.append(ssim_map.mean(dim=1))
    return torch.cat(out).numpy()


class ReconstructionQuality(Metric):
    """PSNR and SSIM of image pairs: a model's reconstructions of the real test images (VAEs), or
    generated images against their paired reference images (score)."""

    name = "recon"

    def needs_pixels(self, dataset_meta: dict) -> bool:
        return True  # a generator's images scored as pairs are kept, not only their features

    def compute(self, eval_set):
        recon = eval_set.reconstructions
        if recon is None:
            return []
        originals = eval_set.reference
        if recon.shape != originals.shape:
            raise ValueError(f"recon: {recon.shape} reconstructions for {originals.shape} originals")
        if eval_set.pairing is None:
            sig = eval_set.signature("recon", n_recon=len(recon))
            pairs = "reconstructions vs the real test images"
        else:
            sig = eval_set.signature("recon", n_pairs=len(recon), pairing=eval_set.pairing)
            pairs = f"generated vs reference images paired by {eval_set.pairing}"
        per_pair = eval_set.per_sample is not None and eval_set.pairing is not None
        psnrs = psnr_per_image(originals, recon)
        if per_pair:
            eval_set.add_per_sample(slice(None), paired_psnr=psnrs)
        psnr = self.score("psnr", psnrs.mean(), sig, True,
                          f"Peak signal-to-noise ratio of {pairs}, dB, per image "
                          f"capped at {PSNR_CAP_DB:g} (higher is better)")
        try:
            ssims = ssim_per_image(originals, recon)
        except NotApplicable as exc:  # images smaller than the window: PSNR still applies
            raise NotApplicable(str(exc), name="ssim", scores=[psnr]) from None
        if per_pair:
            eval_set.add_per_sample(slice(None), paired_ssim=ssims)
        ssim = ssims.mean()
        return [psnr, self.score("ssim", ssim, sig, True,
                                 f"Structural similarity (Gaussian window, sigma 1.5) of {pairs}, in [-1, 1], "
                                 "averaged over the pairs (higher is better)")]
