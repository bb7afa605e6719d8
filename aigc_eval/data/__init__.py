"""Datasets by name. Every image dataset is uint8 N x C x H x W with integer class labels."""
from ..registry import Registry
from .base import ImageDataset, TextDataset

DATASETS = Registry("dataset")
DATASETS.register("digits", "aigc_eval.data.digits:load_digits")


def load_dataset(name: str, data_root=None, **options):
    """Build a registered dataset. `data_root` is where datasets read from local files live."""
    return DATASETS.get(name)(data_root=data_root, **options)


__all__ = ["DATASETS", "ImageDataset", "TextDataset", "load_dataset"]
