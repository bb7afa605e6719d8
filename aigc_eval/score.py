"""`aigc_eval.evaluate`: score anyone's samples against a reference in one call; `aigc-eval score` wraps it.

    import aigc_eval
    results = aigc_eval.evaluate(generator, "digits", n=1000)   # generator(n, torch.Generator) -> images
    print(results); results.to_pandas(); results.write("reports")

What `generated` and `reference` may be is in aigc_eval/inputs.py. The order is fail-fast: every
name and option is checked, the reference's path or name checked, and the generated samples read
(of a generator or DataLoader, its first batch), all before any dataset is loaded or extractor
trained; the reference dataset's image shape is checked before its extractor is built. A generator
is then pulled batch by batch through the extractors, in memory (no PNG round trip), and only the
features are kept, unless a metric reads pixels (memorization in pixel space, the shapes oracle). The samples then go through the same evaluation path as a suite's cells (harness.evaluate
with the reference's track). A metric that cannot apply to the samples (Self-BLEU on one sentence)
is recorded as not applicable, with its reason, and the others still run.

The reference is used in full when it is images or sentences given directly; a registered dataset
gives its reference half of the test split, exactly as in suites.
"""
from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

from .errors import UserError
from .features.choice import DEFAULT_EXTRACTOR, ExtractorChoice
from .harness.evaluate import evaluate_samples
from .harness.tracks import TRACKS
from .inputs import Samples, Stream, check_pair_counts, check_reference, read_samples
from .metrics import METRICS, build_metric
from .results import CellResult
from .runtime import keeps_caller_threads, setup_runtime, stable_hash
from .validate import cli_positive, cli_seed


@keeps_caller_threads
def evaluate(generated, reference, metrics=None, extractor: str = DEFAULT_EXTRACTOR, n: int | None = None,
             seed: int = 0, batch_size: int = 500, name: str | None = None, device: str = "auto",
             threads: int | None = None, data_root=None, inception_weights=None, progress: bool = False,
             paired: bool | None = None, extractor_weights=None, log=print) -> "Results":
    """Score `generated` against `reference`; see the module docstring and aigc_eval/inputs.py.

    metrics: registered metric names (default: every metric of the samples' kind that needs no model);
    extractor: the registered feature extractor of image metrics; extractor_weights: its weights
    file, for extractors that load one (clip, dinov2, inception-v3-compat); n: samples to draw from a generator
    (required there) or to keep of the given ones; seed: the generator's and the metrics' seed;
    batch_size: images per generator call; name: the row's name (default: from the input);
    paired: score generated images against reference images one to one with PSNR and SSIM
    (inputs.find_pairing): None pairs two flat folders of the same file names, True also pairs by
    order, False never pairs."""
    t_start = time.perf_counter()
    for metric in metrics or ():
        METRICS.get(metric)  # an unknown name is a one-line error before any data is read
    choice = ExtractorChoice(extractor, extractor_weights, inception_weights)
    choice.check()
    _check_int("n", n, cli_positive, allow_none=True)
    _check_int("batch_size", batch_size, cli_positive)
    _check_int("seed", seed, cli_seed)
    reference_is = check_reference(reference, data_root)
    runtime = setup_runtime(device, threads)
    samples = read_samples(generated, "--generated", n=n, seed=seed, batch_size=batch_size, progress=progress)
    track = TRACKS[samples.kind]
    pairing = track.find_pairing(generated, reference, reference_is, paired)

    def check(dataset):
        if dataset.kind != samples.kind:
            raise UserError(f"--reference {_describe(reference)} is {dataset.kind} data but --generated "
                            f"{_describe(generated)} holds {samples.kind}")
        track.check_generated(samples.data, dataset, f"--generated {_describe(generated)}")

    if reference_is == "stats":
        ctx = track.stats_context(Path(reference), choice, runtime.device, data_root, log, check)
    else:
        # Pairs need the reference's images in their file order: a folder is then read as images,
        # not as the `folder` dataset (whose split reorders them).
        ref = _reference_input(reference, reference_is, track, samples.kind, n, seed, batch_size, progress,
                               as_samples=pairing is not None)
        if pairing:
            gen = samples.data
            check_pair_counts(gen.n if isinstance(gen, Stream) else len(gen), len(ref.data), pairing)
        ctx = track.reference_context(ref, runtime.device, data_root, choice, log, check=check)
    track.diagnose(ctx, seed)
    names = metrics or track.score_metrics + (["recon"] if pairing else [])
    data = samples.data
    if isinstance(data, Stream):
        data = track.read_stream(data, ctx, [build_metric(m) for m in names])
        if pairing:  # a DataLoader's length is known only now
            check_pair_counts(len(data), len(ctx.reference[0]), pairing)
    fingerprint = track.fingerprint(data)
    cell = CellResult(name or samples.name, ctx.dataset.name, seed, track.kind, throughput_unit=track.throughput_unit,
                      config={"generated": samples.source, "reference": _describe(reference), "n": len(data),
                              **({"pairing": pairing} if pairing else {})},
                      config_hash=stable_hash([fingerprint, ctx.dataset.fingerprint(), seed, extractor]
                                              + ([pairing] if pairing else [])))
    not_applicable, per_sample = {}, {}
    cell.set_scores(evaluate_samples(names, ctx, data, None, seed, reconstructions=track.pairs(data, ctx, pairing),
                                     pairing=pairing, per_sample=per_sample,
                                     not_applicable=not_applicable))
    cell.not_applicable = not_applicable or None
    cell.wall = {"eval": round(time.perf_counter() - t_start, 3)}
    return Results(cell, ctx, runtime, t_start, per_sample, samples=data)


def _reference_input(reference, reference_is: str, track, kind: str, n, seed: int, batch_size: int, progress: bool,
                     as_samples: bool = False):
    """What track.reference_context takes: a dataset name, a path it reads itself, or samples read
    here (always, with `as_samples`)."""
    if reference_is == "dataset":
        return reference
    if reference_is == "path" and not as_samples and track.reads_reference_path(Path(reference)):
        return Path(reference)
    ref = read_samples(reference, "--reference", n=n, seed=seed, batch_size=batch_size, progress=progress)
    if ref.kind != kind:
        raise UserError(f"--reference {_describe(reference)} holds {ref.kind} but the generated samples hold {kind}")
    if isinstance(ref.data, Stream):
        ref.data = ref.data.collect()
    return ref


@keeps_caller_threads
def reference_stats(reference, out, extractor: str = DEFAULT_EXTRACTOR, n: int | None = None, seed: int = 0,
                    batch_size: int = 500, device: str = "auto", threads: int | None = None, data_root=None,
                    inception_weights=None, progress: bool = False, extractor_weights=None, log=print) -> Path:
    """`aigc-eval stats`: the reference's feature mean, covariance and count, computed batch by batch
    (features.statistics.RunningStats) and saved to `out` (.npz, atomically), signed with the
    extractor's tag. The file then serves as `evaluate(..., reference=out)` (FD only)."""
    from .features.statistics import RunningStats, save_stats

    choice = ExtractorChoice(extractor, extractor_weights, inception_weights)
    choice.check()
    out = Path(out)
    if out.suffix.lower() != ".npz":
        raise UserError(f"--out {out}: expected a path ending in .npz")
    if not out.parent.is_dir():
        raise UserError(f"--out {out}: the folder {out.parent} does not exist")
    reference_is = check_reference(reference, data_root)
    if reference_is == "stats":
        raise UserError(f"--reference {reference}: is already a statistics file")
    runtime = setup_runtime(device, threads)
    track = TRACKS["image"]
    ref = _reference_input(reference, reference_is, track, "image", n, seed, batch_size, progress)
    ctx = track.reference_context(ref, runtime.device, data_root, choice, log)
    ext, images = ctx.extractors[0], ctx.reference[0]
    stats = RunningStats()
    for start in range(0, len(images), batch_size):
        stats.update(ext.extract(images[start:start + batch_size])["features"])
    source = reference if reference_is == "dataset" else str(Path(reference).resolve()) \
        if reference_is == "path" else _describe(reference)
    path = save_stats(out, stats, {"extractor": ext.tag, "extractor_name": extractor, "reference": source,
                                   "image_shape": "x".join(map(str, ctx.dataset.image_shape))})
    log(f"saved {stats.n} reference features' mean and covariance ({ext.tag}) to {path}")
    return path


def _check_int(option: str, value, parse, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{option}: expected an integer, got {value!r}")
    try:
        parse(str(value))
    except Exception as exc:  # argparse.ArgumentTypeError: the CLI's own wording
        raise UserError(f"{option}: {exc}") from None


def _describe(obj) -> str:
    if isinstance(obj, (str, Path)):
        return str(obj)
    if isinstance(obj, Samples):
        return obj.source
    shape = getattr(obj, "shape", None)
    return f"{type(obj).__name__}{' ' + str(tuple(shape)) if shape is not None else ''}"


class Results:
    """What `evaluate` returns: one scored row (a CellResult) with its signatures.

    str(results) is the signed table; results.to_pandas() one row per score; results["fd_digits-cnn"]
    a value; results.write(out) the same report as `aigc-eval run` (results.json, leaderboard, HTML),
    returning the run folder."""

    def __init__(self, cell: CellResult, ctx, runtime, t_start: float, per_sample: dict | None = None,
                 samples=None):
        self.cell, self.ctx, self.runtime, self.t_start = cell, ctx, runtime, t_start
        self._per_sample = per_sample or {}
        # what the report shows of the samples (the track's show_samples): images kept in memory
        # (or, streamed, the first 64 of them), sentences; None shows none
        self._samples = samples
        self.run_dir: Path | None = None
        self.results: dict | None = None  # the run's results.json, once written

    @property
    def scores(self) -> dict:
        """{name: {value, signature, higher_is_better, description, role}} as in results.json."""
        return self.cell.metrics

    @property
    def not_applicable(self) -> dict:
        return dict(self.cell.not_applicable or {})

    def __getitem__(self, name: str) -> float:
        return self.scores[name]["value"]

    def to_pandas(self):
        """One row per score (metric, value, better, signature, description); not-applicable metrics
        are rows with value NaN and their reason."""
        import pandas as pd

        rows = [{"metric": k, "value": m["value"], "better": "higher" if m["higher_is_better"] else "lower",
                 "signature": m["signature"], "description": m.get("description", ""), "not_applicable": ""}
                for k, m in self.scores.items()]
        rows += [{"metric": k, "value": math.nan, "better": "", "signature": "", "description": "",
                  "not_applicable": why} for k, why in self.not_applicable.items()]
        return pd.DataFrame(rows, columns=["metric", "value", "better", "signature", "description", "not_applicable"])

    def per_sample(self):
        """One row per generated sample (`sample`: its index) with the metrics' per-sample columns:
        memorization's nearest_train_distance / nearest_train_index / memorized (blank outside its
        capped subset), the shapes oracle's oracle_verdict / oracle_reason / oracle_read /
        oracle_rms, paired_psnr / paired_ssim when images are paired. Worst first is yours to sort."""
        from .per_sample import per_sample_table

        return per_sample_table(self._per_sample)

    def write_per_sample(self, path) -> Path:
        """per_sample() as CSV at `path`, written atomically."""
        from .per_sample import write_per_sample_csv

        return write_per_sample_csv(path, self._per_sample)

    def __str__(self) -> str:
        from .report.tables import fmt_number

        lines = [f"{self.cell.model} vs {self.cell.dataset}:", "", "| metric | value | signature |", "|---|---|---|"]
        for k, m in self.scores.items():
            arrow = "↑" if m["higher_is_better"] else "↓"
            lines.append(f"| {k} {arrow} | {fmt_number(m['value'])} | {m['signature']} |")
        for k, why in self.not_applicable.items():
            lines.append(f"| {k} | not applicable | {why} |")
        return "\n".join(lines)

    __repr__ = __str__

    def write(self, out="reports", history: bool = True, log=print) -> Path:
        """Write the run report under `out` (as `aigc-eval run` does) and return its folder."""
        from .harness.runner import finish_run
        from .validate import check_out_dir

        check_out_dir(out)
        info = {"name": "score", "path": None, "config_hash": self.cell.config_hash}
        with tempfile.TemporaryDirectory(prefix="aigc-eval-score-") as cell_dir:
            # the files a suite's cell folder would hold, which finish_run copies into the run
            cell = CellResult.from_json(self.cell.to_json(), "score")
            doc = self._show(cell, Path(cell_dir))
            self.run_dir, self.results = finish_run(Path(out), info, [doc], {self.ctx.dataset.name: self.ctx},
                                                    self.runtime, {}, self.t_start, history=history, log=log)
        return self.run_dir

    def _show(self, cell: CellResult, cell_dir: Path) -> dict:
        """`cell` with what the report shows of the samples (grid, oracle readings, offenders,
        per-sample CSV) written into `cell_dir`, as results.json's cell."""
        if self._samples is not None:
            self.ctx.track.show_samples(cell, self.ctx, self._samples, None, cell_dir, self._per_sample)
        if self._per_sample:
            self.write_per_sample(cell_dir / "per_sample.csv")
        doc = cell.to_json()
        if (cell_dir / "grid.png").is_file():
            doc["samples_png_source"] = str(cell_dir / "grid.png")
        return doc
