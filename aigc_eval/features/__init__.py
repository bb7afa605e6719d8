"""Feature extractors by name, like torch-fidelity's registry: what image metrics (FD, KID, precision,
recall, ...) compare generated and real images in.

An extractor factory is a callable `factory(dataset, device="cpu", log=print, **options)` that
returns a FeatureExtractor (extractor.py); `register_extractor` checks that, as torch-fidelity's
`register_feature_extractor` checks its classes. Built in:

    clip                  CLIP's image encoder (torch-fidelity's port) from a local OpenAI archive,
                          ViT-B-32.pt by default (--extractor-weights PATH); FD is fd_clip
    dinov2                DINOv2's CLS embedding (transformers' Dinov2Model, torch-fidelity's
                          preprocessing) from an official torch-hub checkpoint, ViT-L/14's by
                          default, or a Hugging Face model folder (--extractor-weights PATH);
                          FD is fd_dinov2
    domain-cnn            a small classifier trained on the dataset's labels (cached by content hash)
    inception-v3-compat   torch-fidelity's Inception from a local weights file (FD is called FID)
    random-cnn            the domain CNN's architecture with seeded random weights: a baseline
    ssl-cnn               a small contrastive (SimCLR) CNN trained on the reference's images, for
                          references without labels (domain-cnn switches to it there; cached)

Factories that load weights take `weights_path` (`--extractor-weights`); a default path under the
cache is used without it, and a missing file is a one-line error naming what to fetch.

Adding one takes a module with its factory and one line:
    from aigc_eval.features import register_extractor
    register_extractor("my-net", my_factory)         # or "my_package.my_module:my_factory"
"""
from __future__ import annotations

import inspect

from ..registry import Registry
from .extractor import FeatureExtractor, cache_dir

FACTORY_ARGUMENTS = ("dataset", "device", "log")


def _check_factory(name: str, factory) -> None:
    if not callable(factory):
        raise TypeError(f"feature extractor {name!r}: expected a factory function, got {factory!r}")
    params = inspect.signature(factory).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    missing = [a for a in FACTORY_ARGUMENTS if a not in params and not takes_any]
    if missing:
        raise TypeError(f"feature extractor {name!r}: {getattr(factory, '__name__', factory)} must take "
                        f"{', '.join(FACTORY_ARGUMENTS)} (it lacks {', '.join(missing)})")


EXTRACTORS = Registry("feature extractor", check=_check_factory)
EXTRACTORS.register("clip", "aigc_eval.features.fidelity:clip_extractor")
EXTRACTORS.register("dinov2", "aigc_eval.features.dinov2:dinov2_extractor")
EXTRACTORS.register("domain-cnn", "aigc_eval.features.classifier:classifier_extractor")
EXTRACTORS.register("inception-v3-compat", "aigc_eval.features.fidelity:inception_extractor")
EXTRACTORS.register("random-cnn", "aigc_eval.features.random_cnn:random_cnn_extractor")
EXTRACTORS.register("ssl-cnn", "aigc_eval.features.ssl:ssl_extractor")
register_extractor = EXTRACTORS.register


def takes_weights(name: str) -> bool:
    """Whether the registered extractor `name` loads a weights file (its factory takes weights_path)."""
    params = inspect.signature(EXTRACTORS.get(name)).parameters
    return "weights_path" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def check_extractor_weights(name: str, weights_path) -> None:
    """Cheap checks before any data is read: `name` is registered, and `weights_path`, when given,
    exists (a file, or a folder such as a Hugging Face model's) and goes to an extractor that loads weights."""
    from pathlib import Path

    from ..errors import UserError

    EXTRACTORS.get(name)
    if weights_path is None:
        return
    if not takes_weights(name):
        loaders = [n for n in EXTRACTORS.names() if takes_weights(n)]
        raise UserError(f"--extractor-weights {weights_path}: extractor {name} loads no weights file (it is "
                        f"trained on the data or random); extractors that do: {', '.join(loaders)}")
    if not Path(weights_path).exists():
        raise UserError(f"--extractor-weights {weights_path}: no such file or folder; expected the {name} weights")


def build_extractor(name: str, dataset, device: str = "cpu", log=print, **options) -> FeatureExtractor:
    """The registered extractor `name` for `dataset`; a factory that returns anything else is a TypeError."""
    extractor = EXTRACTORS.get(name)(dataset, device=device, log=log, **options)
    if not isinstance(extractor, FeatureExtractor):
        raise TypeError(f"feature extractor {name!r} returned {type(extractor).__name__}, not a FeatureExtractor")
    return extractor


__all__ = ["EXTRACTORS", "FeatureExtractor", "build_extractor", "cache_dir", "register_extractor",
           "check_extractor_weights", "takes_weights"]
