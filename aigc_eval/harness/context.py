"""Per-dataset evaluation context, shared by every cell of that dataset in a process.

The test split is divided once, stratified and seeded, into a *reference* half that every row is
scored against, and a *holdout* half that the real-test calibration row samples from, so that
real-test is an honest ceiling rather than the reference set scored against itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..data import load_dataset
from ..runtime import stable_hash

SPLIT_SEED = 1234
_CONTEXTS: dict[str, "EvalContext"] = {}


@dataclass(eq=False)
class EvalContext:
    dataset: object  # ImageDataset | TextDataset
    reference: tuple  # (images or sentences, labels)
    holdout: tuple
    extractors: list = field(default_factory=list)  # image datasets: [domain classifier, (inception)]
    source: dict = field(default_factory=dict)  # get_context() arguments: how a remote worker rebuilds it
    _features: dict = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.dataset.kind

    def features(self, extractor, which: str) -> dict:
        """Features of the reference or train set, extracted once per extractor."""
        key = (extractor.tag, which)
        if key not in self._features:
            images = self.reference[0] if which == "reference" else self.dataset.train_x
            self._features[key] = extractor.extract(images)
        return self._features[key]


def split_test(labels: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified 50/50 split of range(n) into (reference, holdout) indices."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    stratify = labels if labels is not None and len(np.unique(labels)) > 1 and \
        np.bincount(labels).min() >= 2 else None
    ref, hold = train_test_split(idx, test_size=0.5, random_state=SPLIT_SEED, stratify=stratify)
    return np.sort(ref), np.sort(hold)


def get_context(dataset_name: str, options: dict, data_root=None, device: str = "cpu",
                inception_weights=None, log=print) -> EvalContext:
    """The context of one dataset, built once per process (datasets and extractors are deterministic)."""
    key = stable_hash([dataset_name, options, str(data_root), str(inception_weights), device])
    if key in _CONTEXTS:
        return _CONTEXTS[key]
    ds = load_dataset(dataset_name, data_root=data_root, **options)
    if ds.kind == "image":
        ref, hold = split_test(ds.test_y, len(ds.test_x))
        ctx = EvalContext(ds, (ds.test_x[ref], ds.test_y[ref]), (ds.test_x[hold], ds.test_y[hold]))
        from ..features.classifier import classifier_extractor

        ctx.extractors.append(classifier_extractor(ds, device=device, log=log))
        if inception_weights:
            from ..features.fidelity import inception_extractor

            ctx.extractors.append(inception_extractor(inception_weights, device=device))
    else:
        labels = ds.test_y if ds.test_y is not None else None
        ref, hold = split_test(labels, len(ds.test))

        def pick(idx):
            return ([ds.test[i] for i in idx], None if labels is None else labels[idx])

        ctx = EvalContext(ds, pick(ref), pick(hold))
    ctx.source = {"dataset_name": dataset_name, "options": options, "data_root": data_root,
                  "device": device, "inception_weights": inception_weights}
    _CONTEXTS[key] = ctx
    return ctx
