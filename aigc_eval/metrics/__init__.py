"""Metrics by name. Each module holds one metric class (vendi.py two: on features and on n-grams);
entries load lazily."""
from ..registry import Registry, is_subclass_of
from .base import ImageEvalSet, Metric, TextEvalSet

METRICS = Registry("metric", check=is_subclass_of(Metric, "metric"))
# image metrics
METRICS.register("fd", "aigc_eval.metrics.fd:FrechetDistance")
METRICS.register("kid", "aigc_eval.metrics.kid:KernelInceptionDistance")
METRICS.register("prc", "aigc_eval.metrics.prc:PrecisionRecall")
METRICS.register("recon", "aigc_eval.metrics.recon:ReconstructionQuality")  # PSNR + SSIM
METRICS.register("mode_coverage", "aigc_eval.metrics.diversity:ModeCoverage")
METRICS.register("feature_diversity", "aigc_eval.metrics.diversity:FeatureDiversity")
METRICS.register("memorization", "aigc_eval.metrics.memorization:Memorization")
METRICS.register("cond_accuracy", "aigc_eval.metrics.cond_accuracy:ConditionalAccuracy")
METRICS.register("shapes_oracle", "aigc_eval.metrics.shapes_oracle:ShapesOracle")
METRICS.register("disentanglement", "aigc_eval.metrics.disentanglement:Disentanglement")  # MIG, DCI, SAP
METRICS.register("vendi", "aigc_eval.metrics.vendi:VendiScore")
METRICS.register("cmmd", "aigc_eval.metrics.cmmd:CMMD")
METRICS.register("fd_infinity", "aigc_eval.metrics.fd_infinity:FrechetDistanceInfinity")
# text metrics
METRICS.register("bleu", "aigc_eval.metrics.bleu:BLEU")
METRICS.register("self_bleu", "aigc_eval.metrics.self_bleu:SelfBLEU")
METRICS.register("rouge", "aigc_eval.metrics.rouge:ROUGE")
METRICS.register("chrf", "aigc_eval.metrics.chrf:ChrF")
METRICS.register("nll", "aigc_eval.metrics.nll:NLL")
METRICS.register("facts_oracle", "aigc_eval.metrics.facts_oracle:FactsOracle")
METRICS.register("vendi_ngram", "aigc_eval.metrics.vendi:NgramVendiScore")


def build_metric(name: str, **config) -> Metric:
    return METRICS.get(name)(**config)


__all__ = ["METRICS", "ImageEvalSet", "Metric", "TextEvalSet", "build_metric"]
