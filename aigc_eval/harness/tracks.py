"""Tracks: everything that differs between image and text evaluation, one class per kind of data,
and the per-dataset evaluation context they work on.

EvalContext (one per dataset, shared by every cell of that dataset in a process): the test split
is divided once, stratified and seeded, into a *reference* half that every row is scored against,
and a *real-test* half that the real-test calibration row samples from, so that real-test is an
honest ceiling rather than the reference set scored against itself.

The harness, the evaluation path and `score` ask the track of a dataset (`TRACKS[dataset.kind]`,
kept on the EvalContext as `ctx.track`) and never branch on the kind themselves. A track owns:

    split / extractors     how the test split becomes the reference and real-test pools, and
                           the feature extractors of the dataset (images only)
    config_key / new_model which default config a model takes, and how a reference model is built
    batch                  a training batch
    check_samples          what `sample()` must return (uint8 N x C x H x W, or a list of str)
    evaluate               samples -> scores: the eval set its metrics read
    save_samples           samples.npz, or samples.txt
    show_samples           what the report shows of them: grid.png with the oracle's reading of
                           each tile and the worst offenders (offenders.png), or the first sentences
                           with the oracle's verdicts; for suite cells and `score` alike
    reference_context      `evaluate`'s reference: a dataset, a path or samples already read
    reads_reference_path / fingerprint / check_generated / pairs
                           how `evaluate` reads a reference path, hashes, checks and pairs samples
    extra_scores / extras  per-cell additions: the sampling spread of conditional image models,
                           the knobs of shapes models; the quality-diversity curve of text models
    throughput_unit        images/s or sentences/s
"""
from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..atomic import save_with, write_text
from ..data import DATASETS, load_dataset
from ..data.base import ImageDataset, TextDataset
from ..data.corpus import load_corpus
from ..data.image_folder import MIN_SIZE
from ..errors import NotApplicable, UserError
from ..features import build_extractor
from ..features.choice import DEFAULT_EXTRACTOR, ExtractorChoice
from ..features.statistics import load_stats
from ..guidance import guidance_curve
from ..metrics import ImageEvalSet, TextEvalSet
from ..metrics.base import LatentFactors
from ..metrics.shapes_oracle import judge
from ..models import CodeModel, EncoderModel, LikelihoodModel, ReconstructionModel
from ..per_sample import SHOWN, memorization_offenders, oracle_offenders
from ..inputs import Stream, find_pairing
from ..runtime import array_hash, stable_hash
from ..samples import save_samples_npz
from ..worlds.readings import grid_readings, text_readings
from ..signature import UNCERTAINTY, Score, Signature
from ..traversal import code_traversals, traversal_png
from ..worlds.shapes import ShapesWorld
from .evaluate import evaluate_samples, sample_model

# The seed of the stratified 50/50 split of every test set into the reference half and the
# real-test half (aigc_eval.data's own train/test splits use their datasets' seeds).
REFERENCE_SPLIT_SEED = 1234
SAMPLING_SEEDS = 3  # extra sampling seeds for the controllability spread of conditional models
GRID_SIZE = 64  # samples in the report's grid: grid_layout's 8 rows of 8
SAMPLE_TEXT_LINES = 8  # sentences shown in the report, as the sample grid is for images


def split_test(labels: np.ndarray | None, n: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Stratified 50/50 split of range(n) into (reference, real-test) indices; `what` names the
    dataset's source in the error when its test split is too small to halve."""
    from sklearn.model_selection import train_test_split

    if n < 2:
        raise UserError(f"{what}: its test split holds {n} item{'s' if n != 1 else ''}; at least 2 are needed "
                        "(half reference, half real-test), so it needs more images or sentences")
    idx = np.arange(n)
    stratify = labels if labels is not None and len(np.unique(labels)) > 1 and \
        np.bincount(labels).min() >= 2 else None
    ref, real = train_test_split(idx, test_size=0.5, random_state=REFERENCE_SPLIT_SEED, stratify=stratify)
    return np.sort(ref), np.sort(real)


@dataclass
class Extracted:
    """Generated images that streamed past the extractors batch by batch: per extractor tag, their
    {'features', 'logits'}; of the images themselves only the first GRID_SIZE were kept, for the
    report's sample grid (no metric asked for pixels)."""

    features: dict
    preview: np.ndarray

    def __len__(self) -> int:
        return len(next(iter(self.features.values()))["features"])

    @classmethod
    def of(cls, batches, extractors) -> "Extracted":
        parts, preview = {ext.tag: [] for ext in extractors}, []
        for images in batches:
            if sum(map(len, preview)) < GRID_SIZE:
                preview.append(np.array(images[:GRID_SIZE]))  # a copy: the batch's memory is freed
            for ext in extractors:
                parts[ext.tag].append(ext.extract(images))
        return cls({tag: {key: np.concatenate([p[key] for p in found]) for key in found[0]}
                    for tag, found in parts.items()}, np.concatenate(preview)[:GRID_SIZE])


class ImageTrack:
    kind = "image"
    throughput_unit = "images/s"
    metrics_key = "image_metrics"
    # `score` has no model to reconstruct with
    score_metrics = ["fd", "kid", "prc", "mode_coverage", "feature_diversity", "memorization", "cond_accuracy",
                     "shapes_oracle"]
    MIN_SCORED = 4  # precision/recall take k = 3 nearest neighbours among the generated images

    def split(self, ds) -> tuple[tuple, tuple]:
        ref, real = split_test(ds.test_y, len(ds.test_x), ds.meta.get("source", ds.name))
        return (ds.test_x[ref], ds.test_y[ref]), (ds.test_x[real], ds.test_y[real])

    def extractors(self, ds, device: str, choice: ExtractorChoice, log) -> list:
        """The chosen extractor first (the primary one, domain-cnn by default, ssl-cnn instead when
        the data has one class; loaded from its weights file when it takes one), then Inception if
        its weights are given."""
        name = choice.name
        if name == DEFAULT_EXTRACTOR and ds.num_classes < 2:
            # one class: a classifier learns nothing there (held-out accuracy 1.0, near-random features)
            log(f"{ds.name}: no labels (one class), so its features come from ssl-cnn, a contrastive network "
                "trained on its images, instead of a domain classifier")
            name = "ssl-cnn"
        found = [build_extractor(name, ds, device=device, log=log,
                                 **({"weights_path": choice.weights} if choice.weights else {}))]
        if choice.inception_weights:
            found.append(build_extractor("inception-v3-compat", ds, device=device, log=log,
                                         weights_path=choice.inception_weights))
        return found

    def config_key(self, ds):
        return ds.image_shape

    def new_model(self, cls, config, ds):
        factored = {"factor_sizes": ds.factor_sizes} if cls.conditional and ds.factor_sizes else {}
        return cls(config, ds.image_shape, ds.num_classes, **factored)

    def batch(self, ds, rng: np.random.Generator, batch_size: int):
        """batch_size training images as floats in [0, 1], drawn with replacement by `rng`, and their labels."""
        idx = rng.integers(0, len(ds.train_x), batch_size)
        return torch.from_numpy(ds.train_x[idx]).float().div_(255.0), torch.from_numpy(ds.train_y[idx])

    def check_samples(self, out, n: int, ds) -> np.ndarray:
        out = out.numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
        expected = (n, *ds.image_shape)
        if out.dtype != np.uint8 or out.shape != expected:
            raise ValueError(f"sample() returned {out.dtype} {out.shape}; expected uint8 {expected}")
        return out

    def reconstructions(self, model, ctx):
        out = _reconstruct(model, ctx)
        return out.numpy() if isinstance(out, torch.Tensor) else np.asarray(out)

    def evaluate(self, metrics, ctx, samples, labels, seed: int, model=None, reconstructions=None,
                 not_applicable: dict | None = None, pairing: str | None = None,
                 per_sample: dict | None = None) -> list[Score]:
        if reconstructions is None and isinstance(model, ReconstructionModel) \
                and any(m.name == "recon" for m in metrics):
            reconstructions = self.reconstructions(model, ctx)
        latents = latent_factors(model, ctx.dataset, seed) \
            if model is not None and any(m.name == "disentanglement" for m in metrics) else None
        scores = []
        if ctx.reference_stats is not None:  # a statistics file: only metrics that read mean and covariance
            for m in metrics:
                if not m.reads_reference_stats:
                    not_applicable_here(m, f"{ctx.reference_stats.path} holds the reference's feature mean and "
                                           "covariance only, not its features or images", not_applicable)
            metrics = [m for m in metrics if m.reads_reference_stats]
        for i, ext in enumerate(ctx.extractors):
            streamed = isinstance(samples, Extracted)
            eval_set = ImageEvalSet(
                generated=None if streamed else samples, generated_features=samples.features[ext.tag] if streamed else None,
                reference=ctx.reference[0], train=ctx.dataset.train_x, extractor=ext, seed=seed,
                labels=labels, reconstructions=reconstructions, pairing=pairing, latents=latents,
                per_sample=per_sample if i == 0 else None,
                dataset_meta=ctx.dataset.meta,
                reference_stats=ctx.reference_stats,
                reference_features_cache=None if ctx.reference_stats is not None else ctx.features(ext, "reference"),
                train_features_cache=lambda ext=ext: ctx.features(ext, "train"))
            # The first extractor is the primary one; extra extractors (Inception) add FD/FID only.
            for metric in metrics if i == 0 else [m for m in metrics if m.name == "fd"]:
                scores += compute(metric, eval_set, not_applicable)
        return scores

    def save_samples(self, cell_dir: Path, samples, labels) -> None:
        save_samples_npz(cell_dir / "samples.npz", samples, labels)

    def show_samples(self, result, ctx, samples, labels, cell_dir: Path, per_sample: dict | None = None) -> None:
        """grid.png in `cell_dir` with the oracle's reading of each tile (where the dataset has an
        oracle), and the worst offenders among `per_sample`'s columns (offenders.png), which index
        into `samples`. `samples` may be an Extracted stream: its preview makes the grid."""
        shown = samples.preview if isinstance(samples, Extracted) else samples
        layout = grid_layout(labels, len(shown))
        png = make_grid_png(shown, layout)
        save_with(cell_dir / "grid.png", lambda tmp: Path(tmp).write_bytes(png))
        result.sample_grid = grid_readings(shown, labels, ctx.dataset.meta, layout, cols=8)
        if per_sample and not isinstance(samples, Extracted):
            result.offenders = save_offenders(cell_dir, samples, per_sample, ctx.dataset.train_x)

    def extra_scores(self, model, ctx, spec) -> list[Score]:
        """Seed sensitivity of controllability: the std over sampling seeds of conditional accuracy
        (and, on shapes, of oracle controllability) for one trained model. The spread over training
        seeds is the leaderboard's ± column; this one isolates the sampler."""
        names = [m for m in ("cond_accuracy", "shapes_oracle") if m in spec.eval[self.metrics_key]]
        if not model.conditional or not names:
            return []
        n = min(spec.eval["n_samples"], len(ctx.real_test[0]))
        seeds = [spec.seed * 1000 + k for k in range(1, SAMPLING_SEEDS + 1)]
        per_metric: dict[str, list] = {}
        for s in seeds:
            samples, labels = sample_model(model, ctx, n, seed=s)
            for score in evaluate_samples(names, ctx, samples, labels, s, options=spec.eval["options"]):
                if score.name in ("cond_accuracy", "controllability"):
                    per_metric.setdefault(score.name, []).append(score)
        out = []
        for name, scores in per_metric.items():
            fields = dict(scores[0].signature.fields, seed=spec.seed, sampling_seeds=",".join(map(str, seeds)))
            out.append(Score(f"{name}_sampling_std", float(np.std([x.value for x in scores], ddof=1)),
                             Signature(f"{name}_sampling_std", fields), False,
                             f"Std of {name} over {len(seeds)} sampling seeds of the same trained model "
                             f"(lower is better: a controllable model does not swing with the seed)", UNCERTAINTY))
        return out

    def extras(self, result, model, ctx, spec, samples, labels, cell_dir: Path, per_sample: dict | None = None) -> None:
        """The samples as the report shows them (show_samples); on the shapes world, the
        controllability knobs: a guided model's guidance curve (scales `guidance_scales`, requests
        for trained combinations), and a code model's traversals (traversal.png beside grid.png)."""
        self.show_samples(result, ctx, samples, labels, cell_dir, per_sample)
        if result.calibration or ctx.dataset.meta.get("world") != "shapes":
            return
        if model.conditional and spec.eval["guidance_scales"] and _has_config_field(model, "guidance"):
            requests = np.asarray(ctx.real_test[1], np.int64)
            trained = requests[~np.isin(requests, ctx.dataset.meta["heldout_labels"])]
            n = min(spec.eval["n_samples"], len(trained))
            ext = ctx.extractors[0]
            result.guidance_curve = guidance_curve(model, trained[:n], ctx.dataset.meta, ext,
                                                   ctx.features(ext, "reference")["features"],
                                                   scales=spec.eval["guidance_scales"], seed=spec.seed)
        if isinstance(model, CodeModel):
            found = code_traversals(model, ctx.dataset.meta, rows=spec.eval["traversal_rows"], seed=spec.seed)
            png = traversal_png(found)
            save_with(cell_dir / "traversal.png", lambda tmp: Path(tmp).write_bytes(png))
            result.traversals = [{k: v for k, v in t.items() if k != "first_row"} for t in found]

    def reference_context(self, reference, device: str, data_root, choice: ExtractorChoice, log,
                          check=None) -> "EvalContext":
        """`evaluate`'s context: `reference` is a dataset name, a folder of images (class subfolders or
        flat, the `folder` dataset) or images already read (inputs.Samples), scored in full. Without
        labels (a flat folder, images in memory) the default extractor is ssl-cnn (see extractors)."""
        if isinstance(reference, str):
            return get_context(reference, {}, data_root, device, choice, log=log, check=check)
        if isinstance(reference, Path):  # scored against all its images; the extractor trains on the larger part
            ctx = get_context("folder", {}, reference, device, choice, log=log, check=check)
            ds = ctx.dataset
            images, labels = np.concatenate([ds.train_x, ds.test_x]), np.concatenate([ds.train_y, ds.test_y])
            return EvalContext(ds, (images, labels), (images[:0], labels[:0]), ctx.extractors)
        images = reference.data
        if min(images.shape[2:]) < MIN_SIZE:  # as the folder dataset checks its files
            raise UserError(f"--reference {reference.source}: its images are {images.shape[3]}x{images.shape[2]} "
                            f"pixels; images must be at least {MIN_SIZE}x{MIN_SIZE} (the feature extractors pool twice)")
        labels = np.zeros(len(images), dtype=np.int64)
        ds = ImageDataset(reference.name, images, labels, images, labels, class_names=(reference.name,),
                          meta={"source": reference.source, "layout": "flat"})
        if check:
            check(ds)
        return EvalContext(ds, (images, labels), (images[:0], labels[:0]), self.extractors(ds, device, choice, log))

    def reads_reference_path(self, path: Path) -> bool:
        """A folder is read as the `folder` dataset (class subfolders are labels); files as samples."""
        return path.is_dir()

    def fingerprint(self, samples) -> str:
        if isinstance(samples, Extracted):
            return array_hash(*[f["features"] for f in samples.features.values()])
        return array_hash(samples)

    def stats_context(self, path: Path, choice: ExtractorChoice, device: str, data_root, log,
                      check=None) -> "EvalContext":
        """`evaluate`'s context for a statistics file: its extractor rebuilt from the reference it was
        computed on (a dataset or folder, else from the image shape alone) and checked against the
        file's signature; the cached dataset context is not changed."""
        stats = load_stats(path)
        made_with = stats.signature.get("extractor_name")
        if made_with != choice.name:
            raise UserError(f"--reference {path} holds {made_with} statistics; score with --extractor {made_with} "
                            f"(got {choice.name}), or recompute them with `aigc-eval stats --extractor {choice.name}`")
        source = stats.signature.get("reference", "")
        if source in DATASETS or Path(source).is_dir():
            base = self.reference_context(source if source in DATASETS else Path(source), device, data_root, choice,
                                          log, check=check)
            dataset, extractors = base.dataset, base.extractors
        else:
            shape = tuple(int(d) for d in stats.signature["image_shape"].split("x"))
            empty = np.zeros((0, *shape), np.uint8)
            dataset = ImageDataset(Path(path).stem, empty, np.zeros(0, np.int64), empty, np.zeros(0, np.int64), (),
                                   meta={"source": str(path)})
            if check:
                check(dataset)
            extractors = self.extractors(dataset, device, choice, log)
        stats = load_stats(path, expect={"extractor": extractors[0].tag})  # other weights: a one-line error
        images = dataset.test_x[:0]
        return EvalContext(dataset, (images, dataset.test_y[:0]), (images, dataset.test_y[:0]), extractors[:1],
                           reference_stats=stats)

    def check_generated(self, samples, dataset, what: str) -> None:
        """samples: an array or an inputs.Stream (its count may be unknown: a DataLoader)."""
        n, shape = (samples.n, samples.image_shape) if isinstance(samples, Stream) else (len(samples), samples.shape[1:])
        if n is not None and n < self.MIN_SCORED:
            raise UserError(f"{what}: holds {n} image{'s' if n != 1 else ''}; at least "
                            f"{self.MIN_SCORED} are needed (precision and recall take k = 3 nearest neighbours)")
        if tuple(shape) != tuple(dataset.image_shape):
            raise UserError(f"{what} holds {'x'.join(map(str, shape))} images (C x H x W) but "
                            f"{dataset.name}'s are {'x'.join(map(str, dataset.image_shape))}")

    def read_stream(self, stream, ctx, metrics) -> "np.ndarray | Extracted":
        """A generator's images: through the extractors batch by batch, keeping only the features,
        unless a metric reads pixels (memorization in pixel space, the shapes oracle)."""
        if any(m.needs_pixels(ctx.dataset.meta) for m in metrics):
            return stream.collect()
        return Extracted.of(stream, ctx.extractors)

    def find_pairing(self, generated, reference, reference_is: str, paired: bool | None) -> str | None:
        return find_pairing(generated, reference, reference_is, paired)

    def pairs(self, samples, ctx, pairing: str | None = None):
        """The generated images as the "reconstructions" of the reference when `score` pairs them
        (score.find_pairing): PSNR and SSIM (metrics.recon) then score each pair; else None."""
        if pairing is None:
            return None
        if isinstance(samples, Extracted) or len(samples) != len(ctx.reference[0]):
            raise ValueError(f"pairs: {pairing} pairing needs the generated pixels, as many as the reference's")
        return samples

    def diagnose(self, ctx, seed: int) -> None:
        """The primary extractor's calibration ordering on the reference (features.diagnostic), into
        its info (results.json's `extractors`, the report); not for statistics files (no images)."""
        from ..features.diagnostic import calibration_ordering

        images = ctx.reference[0]
        if ctx.reference_stats is None and len(images) >= 8:
            ctx.extractors[0].info["diagnostic"] = calibration_ordering(ctx.extractors[0], images, seed)


class TextTrack:
    kind = "text"
    throughput_unit = "sentences/s"
    metrics_key = "text_metrics"
    score_metrics = ["bleu", "self_bleu", "rouge", "chrf", "facts_oracle"]

    def split(self, ds) -> tuple[tuple, tuple]:
        labels = ds.test_y

        def pick(idx):
            return [ds.test[i] for i in idx], None if labels is None else labels[idx]

        ref, real = split_test(labels, len(ds.test), ds.meta.get("source", ds.name))
        return pick(ref), pick(real)

    def extractors(self, ds, device: str, choice: ExtractorChoice, log) -> list:
        return []

    def config_key(self, ds):
        return "text"

    def new_model(self, cls, config, ds):
        from reference_models.text_base import Vocab

        return cls(config, Vocab.build(ds.train, ds.tokenize), ds.num_classes)

    def batch(self, ds, rng: np.random.Generator, batch_size: int):
        """batch_size training sentences, drawn with replacement by `rng`, and their labels (or None)."""
        idx = rng.integers(0, len(ds.train), batch_size)
        labels = None if ds.train_y is None else torch.from_numpy(ds.train_y[idx])
        return [ds.train[i] for i in idx], labels

    def check_samples(self, out, n: int, ds) -> list[str]:
        return list(out)

    def reconstructions(self, model, ctx):
        return list(ctx.reference[0]), list(_reconstruct(model, ctx))

    def evaluate(self, metrics, ctx, samples, labels, seed: int, model=None, reconstructions=None,
                 not_applicable: dict | None = None, pairing: str | None = None,
                 per_sample: dict | None = None) -> list[Score]:
        nll = None
        ref_x, ref_y = ctx.reference
        if isinstance(model, LikelihoodModel):
            nll = model.nll(ref_x, None if ref_y is None or not model.conditional
                            else torch.from_numpy(np.asarray(ref_y)))
        if reconstructions is None and isinstance(model, ReconstructionModel):
            reconstructions = self.reconstructions(model, ctx)
        eval_set = TextEvalSet(
            generated=samples, reference=list(ref_x), train=list(ctx.dataset.train), tokenize=ctx.dataset.tokenize,
            seed=seed, labels=labels, nll_per_token=nll,
            nll_is_bound=isinstance(model, LikelihoodModel) and model.nll_is_bound,
            reconstructions=reconstructions, dataset_meta=ctx.dataset.meta)
        return [s for m in metrics for s in compute(m, eval_set, not_applicable)]

    def save_samples(self, cell_dir: Path, samples, labels) -> None:
        write_text(cell_dir / "samples.txt", "\n".join(samples) + "\n")

    def extra_scores(self, model, ctx, spec) -> list[Score]:
        return []

    def reference_context(self, reference, device: str, data_root, choice: ExtractorChoice, log,
                          check=None) -> "EvalContext":
        """`evaluate`'s context: `reference` is a dataset name, a .txt/.jsonl corpus path or sentences
        already read (inputs.Samples); a corpus serves as both reference and training set."""
        if isinstance(reference, str):
            return get_context(reference, {}, data_root, check=check)
        if isinstance(reference, Path):
            corpus = load_corpus(reference)
            sentences, name, tok = list(corpus.sentences), reference.name, corpus.tokenize
        else:
            from ..tokenize import detect_mode

            sentences, name = list(reference.data), reference.name
            tok = detect_mode(sentences)
        ds = TextDataset(name, tuple(sentences), tuple(sentences), tokenize=tok)
        if check:
            check(ds)
        return EvalContext(ds, (sentences, None), ([], None))

    def reads_reference_path(self, path: Path) -> bool:
        """A .txt/.jsonl reference is read as a corpus (its labels kept)."""
        return True

    def fingerprint(self, samples) -> str:
        return stable_hash(list(samples))

    def stats_context(self, path: Path, *args, **kwargs):
        raise UserError(f"--reference {path} holds image feature statistics; text is scored against sentences")

    def check_generated(self, samples, dataset, what: str) -> None:
        if not samples:
            raise UserError(f"{what}: holds no sentences")

    def diagnose(self, ctx, seed: int) -> None:
        """Text has no feature extractor to diagnose."""

    def find_pairing(self, generated, reference, reference_is: str, paired: bool | None) -> None:
        """Sentences pair by order whenever both sides hold as many (pairs); nothing to find."""
        return None

    def pairs(self, samples, ctx, pairing: str | None = None):
        """(references, generated) when both hold as many sentences: ROUGE and chrF score them as pairs
        (in order, whatever `pairing` says)."""
        refs = list(ctx.reference[0])
        return (refs, samples) if len(refs) == len(samples) else None

    def show_samples(self, result, ctx, samples, labels, cell_dir: Path, per_sample: dict | None = None) -> None:
        """The first sentences for the report with the oracle's reading of each (text metrics have
        no per-sample columns, so there are no offenders to show)."""
        result.sample_text = list(samples[:SAMPLE_TEXT_LINES])
        result.sample_text_readings = text_readings(
            result.sample_text, None if labels is None else labels[:SAMPLE_TEXT_LINES], ctx.dataset.meta)

    def extras(self, result, model, ctx, spec, samples, labels, cell_dir: Path, per_sample: dict | None = None) -> None:
        """The samples as the report shows them (show_samples), and for models the quality-diversity
        curve: BLEU-5 (quality) against Self-BLEU-5 (diversity) across sampling temperatures
        (Caccia et al. 2020)."""
        self.show_samples(result, ctx, samples, labels, cell_dir, per_sample)
        if result.calibration:
            return
        points = []
        n = min(spec.eval["n_samples"], len(ctx.real_test[0]))
        for t in spec.eval["text_temperatures"]:
            samples, labels = sample_model(model, ctx, n, seed=spec.seed, temperature=t)
            scores = {s.name: s.value for s in evaluate_samples(["bleu", "self_bleu"], ctx, samples, labels, spec.seed,
                                                                options=spec.eval["options"])}
            points.append({"temperature": t, "bleu5": scores["bleu5"], "self_bleu5": scores["self_bleu5"]})
        result.qd_curve = points


TRACKS = {track.kind: track for track in (ImageTrack(), TextTrack())}


def not_applicable_here(metric, reason: str, not_applicable: dict | None) -> None:
    """Record that `metric` cannot apply (or raise NotApplicable when nothing collects it)."""
    if not_applicable is None:
        raise NotApplicable(f"{metric.name}: {reason}")
    not_applicable[metric.name] = f"{metric.name}: {reason}"


def compute(metric, eval_set, not_applicable: dict | None) -> list[Score]:
    """metric.compute(eval_set); with a `not_applicable` dict, a metric that cannot apply to these samples
    (NotApplicable: Self-BLEU on one sentence) is recorded there with its reason instead of raising."""
    try:
        return metric.compute(eval_set)
    except NotApplicable as exc:
        if not_applicable is None:
            raise
        not_applicable[exc.name or metric.name] = str(exc)
        return exc.scores


def _has_config_field(model, name: str) -> bool:
    config = getattr(model, "config", None)
    return dataclasses.is_dataclass(config) and name in {f.name for f in dataclasses.fields(config)}


def latent_factors(model, ds, seed: int) -> LatentFactors | None:
    """A latent-variable model's codes against the world's factors, or None where there are none.

    A model with an encoder encodes every test image (with its label, if conditional), whose
    factors the dataset knows. A model with codes (InfoGAN) generates as many samples from seeded
    codes, and the shapes oracle reads each sample's factors, whatever its verdict: the codes are
    scored on what the model draws.
    """
    sizes = ds.factor_sizes
    if not sizes or len(sizes) < 2:
        return None
    if isinstance(model, EncoderModel):
        labels = torch.from_numpy(ds.test_y) if model.conditional else None
        codes = np.asarray(model.encode(ds.test_x, labels), np.float64)
        return LatentFactors(codes, np.stack(np.unravel_index(ds.test_y, sizes), 1), "encoder")
    if isinstance(model, CodeModel) and ds.meta.get("world") == "shapes":
        images, codes = model.sample_with_codes(len(ds.test_x), generator=torch.Generator().manual_seed(seed))
        read = judge(np.asarray(images), ds.meta)
        flat = np.concatenate([np.asarray(codes[k], np.float64).reshape(len(read.labels), -1) for k in sorted(codes)], 1)
        return LatentFactors(flat, ShapesWorld.factors_of(read.labels), "codes")
    return None


def _reconstruct(model, ctx):
    """The model's reconstructions of the reference half (conditioned on its labels if conditional)."""
    x, y = ctx.reference
    if model.conditional:
        return model.reconstruct(x, torch.from_numpy(np.asarray(y)))
    return model.reconstruct(x)


def grid_layout(labels, n: int, rows: int = 8, cols: int = 8) -> list[list[int]]:
    """Sample indices of each row of a grid. Conditional samples get one row per requested label
    (up to 2 x rows labels), in label order. When no label was requested twice (shapes: 180
    requests over 360 combinations) one row per label would be one thin column, so the grid is
    filled row by row in label order instead (shape, then colour, size, position), with samples
    picked evenly over that order so that the grid spans every factor value."""
    if labels is not None and np.bincount(labels).max() < 2:
        order = np.argsort(labels, kind="stable")
        picked = order[np.unique(np.linspace(0, n - 1, min(n, rows * cols)).round().astype(int))].tolist()
        return [picked[r:r + cols] for r in range(0, len(picked), cols)]
    if labels is not None:
        return [np.flatnonzero(labels == lab)[:cols].tolist() for lab in sorted(set(labels.tolist()))[:2 * rows]]
    return [list(range(r, min(r + cols, n))) for r in range(0, min(n, rows * cols), cols)]


def save_offenders(cell_dir: Path, samples: np.ndarray, per_sample: dict, train: np.ndarray) -> dict | None:
    """offenders.png in `cell_dir`: a row of the samples the oracle rejected, then a row of the samples
    nearest a training image above a row of those training images (per_sample.py picks them); returns
    what each row shows (`rows`, the tile size, and each pick's reading), or None when no per-sample
    column can show offenders."""
    oracle, nearest = oracle_offenders(per_sample), memorization_offenders(per_sample)
    if oracle is None and nearest is None:
        return None
    rows, blocks = [], []
    if oracle and oracle["samples"]:
        rows.append("oracle")
        blocks.append(samples[[s["sample"] for s in oracle["samples"]]])
    if nearest and nearest["samples"]:
        rows += ["nearest", "training"]
        blocks += [samples[[s["sample"] for s in nearest["samples"]]], train[[s["train_index"] for s in nearest["samples"]]]]
    if blocks:
        starts = np.cumsum([0] + [len(b) for b in blocks])
        png = make_grid_png(np.concatenate(blocks), [list(range(a, b)) for a, b in zip(starts[:-1], starts[1:])],
                            cols=SHOWN)
        save_with(cell_dir / "offenders.png", lambda tmp: Path(tmp).write_bytes(png))
    return {"rows": rows, "cols": SHOWN, "tile": list(samples.shape[2:]),
            **({"oracle": oracle} if oracle else {}), **({"memorization": nearest} if nearest else {})}


def make_grid_png(samples: np.ndarray, layout: list[list[int]], cols: int = 8, scale: int = 2) -> bytes:
    """A PNG of the samples in `layout` (grid_layout): `cols` tiles wide, 1 px white gaps, scaled up
    `scale` times."""
    from PIL import Image

    c, h, w = samples.shape[1:]
    canvas = np.full((len(layout) * (h + 1), cols * (w + 1), c), 255, np.uint8)
    for r, row in enumerate(layout):
        for k, i in enumerate(row):
            canvas[r * (h + 1):r * (h + 1) + h, k * (w + 1):k * (w + 1) + w] = samples[i].transpose(1, 2, 0)
    image = Image.fromarray(canvas[..., 0] if c == 1 else canvas)
    image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


_CONTEXTS: dict[str, "EvalContext"] = {}


@dataclass(eq=False)
class EvalContext:
    dataset: object  # ImageDataset | TextDataset
    reference: tuple  # (images or sentences, labels): what every row is scored against
    real_test: tuple  # (images or sentences, labels): the pool of the real-test calibration row
    extractors: list = field(default_factory=list)  # image datasets: [domain classifier, (inception)]
    source: dict = field(default_factory=dict)  # get_context() arguments: how a remote worker rebuilds it
    reference_stats: object = None  # features.statistics.FeatureStats when the reference is a statistics file
    _features: dict = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.dataset.kind

    @property
    def track(self):
        return TRACKS[self.dataset.kind]

    def features(self, extractor, which: str) -> dict:
        """Features of the reference or train set, extracted once per extractor."""
        key = (extractor.tag, which)
        if key not in self._features:
            images = self.reference[0] if which == "reference" else self.dataset.train_x
            self._features[key] = extractor.extract(images)
        return self._features[key]


def get_context(dataset_name: str, options: dict, data_root=None, device: str = "cpu",
                extractors: ExtractorChoice = ExtractorChoice(), log=print, check=None) -> EvalContext:
    """The context of one dataset, built once per process (datasets and extractors are deterministic).
    extractors: the feature extractors (aigc_eval.features) the image metrics use.
    check: called with the dataset before its extractors are built or trained (fail fast)."""
    key = stable_hash([dataset_name, options, str(data_root), device, *extractors.key()])
    if key in _CONTEXTS:
        if check:
            check(_CONTEXTS[key].dataset)
        return _CONTEXTS[key]
    ds = load_dataset(dataset_name, data_root=data_root, **options)
    if check:
        check(ds)
    track = TRACKS[ds.kind]
    reference, real_test = track.split(ds)
    ctx = EvalContext(ds, reference, real_test, track.extractors(ds, device, extractors, log))
    ctx.source = {"dataset_name": dataset_name, "options": options, "data_root": data_root,
                  "device": device, "extractors": extractors}
    _CONTEXTS[key] = ctx
    return ctx
