"""Which feature extractors a dataset's image metrics use, as one value: the CLI and `evaluate`
make it, the tracks build the extractors from it, and a worker process rebuilds them from it."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

DEFAULT_EXTRACTOR = "domain-cnn"


@dataclass(frozen=True)
class ExtractorChoice:
    """name: the registered primary extractor (ImageTrack.extractors may swap the default for
    ssl-cnn on unlabelled data); weights: its weights file (--extractor-weights), for extractors that
    load one; inception_weights: torch-fidelity's Inception beside it, for FID (--inception-weights)."""

    name: str = DEFAULT_EXTRACTOR
    weights: str | None = None
    inception_weights: str | None = None

    def check(self) -> None:
        """Cheap checks before any data is read (a one-line error on an unknown name or bad file)."""
        from . import check_extractor_weights

        check_extractor_weights(self.name, self.weights)

    def resolved(self) -> "ExtractorChoice":
        """The same choice with absolute weight paths, for workers that may start in another folder."""
        return dataclasses.replace(self, **{k: str(Path(v).resolve()) for k, v in
                                            (("weights", self.weights), ("inception_weights", self.inception_weights))
                                            if v})

    def key(self) -> list[str]:
        return [self.name, str(self.weights), str(self.inception_weights)]
