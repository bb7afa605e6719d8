"""Feature extractors: a small per-dataset classifier trained by the suite, or Inception-v3."""
from .extractor import FeatureExtractor, cache_dir

__all__ = ["FeatureExtractor", "cache_dir"]
