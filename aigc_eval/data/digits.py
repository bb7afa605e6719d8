"""scikit-learn's bundled handwritten digits: 1,797 8x8 images, 10 classes, no download."""
from __future__ import annotations

import numpy as np

from .base import DATA_SPLIT_SEED, ImageDataset

TEST_FRACTION = 0.2


def load_digits(data_root=None, image_size: int = 16) -> ImageDataset:
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_load_digits()
    # Pixel values are 0..16; bilinear upsampling to 16x16 keeps strokes smooth.
    x = torch.from_numpy(bunch.images.astype(np.float32) / 16.0)[:, None]
    if image_size != 8:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
    x = (x.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    y = bunch.target.astype(np.int64)
    train_x, test_x, train_y, test_y = train_test_split(
        x, y, test_size=TEST_FRACTION, random_state=DATA_SPLIT_SEED, stratify=y)
    return ImageDataset("digits", train_x, train_y, test_x, test_y,
                        class_names=tuple(str(i) for i in range(10)),
                        meta={"source": "sklearn.datasets.load_digits", "image_size": image_size,
                              "split_seed": DATA_SPLIT_SEED, "test_fraction": TEST_FRACTION})
