"""Datasets by name. Every image dataset is uint8 N x C x H x W with integer class labels."""
import inspect

from ..errors import UserError
from ..registry import Registry, is_callable
from .base import ImageDataset, TextDataset

DATASETS = Registry("dataset", check=is_callable("dataset"))
DATASETS.register("digits", "aigc_eval.data.digits:load_digits")
DATASETS.register("shapes", "aigc_eval.data.shapes:load_shapes")  # synthetic world with an exact oracle
# Read from local files under --data-root, never downloaded.
DATASETS.register("mnist", "aigc_eval.data.mnist:load_mnist")
DATASETS.register("fashion_mnist", "aigc_eval.data.mnist:load_fashion_mnist")
DATASETS.register("cifar10", "aigc_eval.data.cifar:load_cifar10")
DATASETS.register("folder", "aigc_eval.data.image_folder:load_image_folder")
# text
DATASETS.register("facts", "aigc_eval.data.facts:load_facts")  # synthetic world with an exact oracle
DATASETS.register("corpus", "aigc_eval.data.corpus:load_corpus_dataset")  # DIR/train.txt|jsonl + DIR/test.txt|jsonl


def load_dataset(name: str, data_root=None, **options):
    """Build a registered dataset. `data_root` is where datasets read from local files live."""
    loader = DATASETS.get(name)
    valid = set(inspect.signature(loader).parameters) - {"data_root"}
    unknown = sorted(set(options) - valid)
    if unknown:
        raise UserError(f"dataset {name}: unknown option(s) {', '.join(unknown)}; valid: {', '.join(sorted(valid))}")
    return loader(data_root=data_root, **options)


__all__ = ["DATASETS", "ImageDataset", "TextDataset", "load_dataset"]
