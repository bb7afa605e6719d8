"""The `aigc-eval` command line. User errors print one line and exit 2; never a traceback."""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from contextlib import contextmanager

from .validate import cli_positive, cli_seed, cli_seeds, cli_threads


FORMATS = ("md", "csv", "json")


def _workers(text: str):
    if text == "auto":
        return text
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or auto, got {text!r}")
    return n


def _add_runtime_args(p):
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="where to train and score (auto: cuda if present)")
    p.add_argument("--threads", type=cli_threads, default=None,
                   help="torch intra-op CPU threads (default 1: fastest measured on 2-core machines); recorded")
    p.add_argument("--data-root", default=None, help="folder holding local dataset files (MNIST IDX, CIFAR-10 pickles, image folders)")
    p.add_argument("--inception-weights", default=None,
                   help="path to torch-fidelity's pt_inception-2015-12-05 weights; adds FID with inception-v3-compat")
    p.add_argument("--extractor-weights", default=None, metavar="PATH", help="a weights file for --extractor (or the suite's extractor) when it loads one: clip (an OpenAI CLIP .pt), dinov2 (an official DINOv2 .pth or a Hugging Face model folder), inception-v3-compat; default: under the cache, named in the error when missing")
    p.add_argument("--out", default="reports", help="report root; the run goes to OUT/<run-id>/ (default reports)")
    p.add_argument("--format", default=None, choices=FORMATS,
                   help="print the full leaderboard in this format for scripts (the paths go to stderr); "
                        "default: each dataset's headline table, at most 100 columns wide")


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line too (`aigc-eval: error: ...`, exit 2); `--help` shows the usage."""

    def error(self, message):
        self.exit(2, f"aigc-eval: error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="aigc-eval", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="train and score a suite of (model, dataset, seed) cells")
    run.add_argument("--suite", default="default", help="built-in suite name (smoke, default, full) or a .toml path")
    run.add_argument("--seed", type=cli_seed, default=None, help="run a single seed instead of the suite's seeds")
    run.add_argument("--seeds", type=cli_seeds, default=None, help="comma-separated seeds overriding the suite's")
    run.add_argument("--cells-dir", default=None, help="where cell folders live (default OUT/cells); finished cells are reused")
    run.add_argument("--force", action="store_true", help="re-run cells even when a finished result exists")
    run.add_argument("--keep-going", action="store_true",
                     help="exit 0 even when cells failed or diverged (default: exit 1 and name them)")
    run.add_argument("--executor", default="local", choices=["local", "ray"], help="run cells here or on a Ray cluster")
    run.add_argument("--workers", type=_workers, default="auto",
                     help="local executor: cells run at once, each in its own worker process with --threads "
                          "threads (default auto: min(cells to run, CPUs / threads, memory); 1: in this process); "
                          "recorded")
    run.add_argument("--ray-address", default=None, help="Ray cluster address (auto or HOST:PORT); default starts a local one")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("--compile", action="store_true", help="torch.compile every network (worth it for long GPU runs)")
    run.add_argument("--no-history", action="store_true", help="do not append this run to OUT/history.sqlite")
    run.add_argument("--baseline", default=None,
                     help="results.json (or run folder) to diff against in the report; regressions are marked")
    _add_runtime_args(run)

    sub.add_parser("list", help="list datasets, models, metrics and suites")

    score = sub.add_parser("score", help="score samples from any model (images or text) against a reference")
    score.add_argument("--generated", required=True, help="folder of PNGs, .npz (uint8 N x H x W x C), or .txt/.jsonl "
                       "(from Python, aigc_eval.evaluate also takes generators, arrays and DataLoaders)")
    score.add_argument("--reference", required=True, help="dataset name (e.g. digits) or a path: an image folder (class subfolders or flat), "
                       ".npz, .txt/.jsonl")
    score.add_argument("--name", default=None, help="row name in the leaderboard (default: the generated path's name)")
    score.add_argument("--seed", type=cli_seed, default=0)
    score.add_argument("--metrics", type=lambda t: [m.strip() for m in t.split(",") if m.strip()], default=None,
                       help="comma-separated registered metrics (default: every metric that applies without a model)")
    score.add_argument("--extractor", default="domain-cnn",
                       help="registered feature extractor of the image metrics (default domain-cnn; see `list`)")
    score.add_argument("--n", type=cli_positive, default=None, help="score at most the first N generated samples")
    score.add_argument("--paired", action=argparse.BooleanOptionalAction, default=None,
                       help="score each generated image against its reference image with PSNR and SSIM: by file "
                            "name when two flat folders hold the same names (found without this flag), else by "
                            "order; --no-paired never pairs")
    score.add_argument("--per-sample", default=None, metavar="FILE.csv",
                       help="also write one row per generated sample: memorization's nearest training image, "
                            "the shapes oracle's verdict and reading, paired PSNR/SSIM")
    score.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_runtime_args(score)

    stats = sub.add_parser("stats", help="save a reference's feature statistics once, for --reference FILE.npz")
    stats.add_argument("--reference", required=True, help="dataset name, image folder or .npz of images")
    stats.add_argument("--out", required=True, help="the statistics file to write (.npz)")
    stats.add_argument("--extractor", default="domain-cnn", help="registered feature extractor (default domain-cnn)")
    stats.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    stats.add_argument("--threads", type=cli_threads, default=None)
    stats.add_argument("--data-root", default=None, help="folder holding local dataset files")
    stats.add_argument("--inception-weights", default=None, help="path to torch-fidelity's Inception weights")
    stats.add_argument("--extractor-weights", default=None, metavar="PATH", help="a weights file for --extractor (or the suite's extractor) when it loads one: clip (an OpenAI CLIP .pt), dinov2 (an official DINOv2 .pth or a Hugging Face model folder), inception-v3-compat; default: under the cache, named in the error when missing")

    hist = sub.add_parser("history", help="list past runs from OUT/history.sqlite")
    hist.add_argument("--db", default="reports/history.sqlite")
    hist.add_argument("--limit", type=cli_positive, default=20)

    cmp_ = sub.add_parser("compare", help="deltas with confidence intervals between two runs")
    cmp_.add_argument("run_a")
    cmp_.add_argument("run_b")
    cmp_.add_argument("--db", default="reports/history.sqlite")

    gate = sub.add_parser("gate", help="exit 1 when a metric is worse than the baseline beyond noise")
    gate.add_argument("--baseline", required=True, help="baseline results.json")
    gate.add_argument("--results", default="reports/latest/results.json", help="results.json to check")
    gate.add_argument("--tolerances", default=None, help="TOML file with per-metric tolerances")
    gate.add_argument("--unjudged", default="tolerance", choices=["tolerance", "fail"],
                      help="metrics with 1 seed on each side and no configured tolerance: judge them by their "
                           "family's stated default tolerance (default), or fail the gate")
    rate = sub.add_parser("rate", help="rate a run's samples in pairs, in a local web app (human preference)")
    rate.add_argument("run_dir", help="a run folder (e.g. reports/latest); votes go to RUN_DIR/votes.sqlite")
    rate.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    rate.add_argument("--port", type=_port, default=8765, help="port to listen on (default 8765; 0: any free one)")
    rate.add_argument("--allow-remote", action="store_true", help="allow a --host that is not a loopback address")
    rate.add_argument("--datasets", type=lambda t: [d.strip() for d in t.split(",") if d.strip()], default=None,
                      help="comma-separated datasets to rate (default: every dataset with two or more models)")
    moves = rate.add_mutually_exclusive_group()
    moves.add_argument("--export", metavar="VOTES.csv", help="write the run's votes to a CSV and exit")
    moves.add_argument("--import", dest="import_csv", metavar="VOTES.csv",
                       help="add the votes of a CSV written by --export and exit")

    report = sub.add_parser("report", help="rebuild a run's results.json and report, with human preference "
                                           "from its votes")
    report.add_argument("run_dir", help="a run folder (e.g. reports/latest)")
    report.add_argument("--baseline", default=None, help="results.json (or run folder) to diff against")
    return parser


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0..65535, got {text!r}")
    return int(text)


def _rate(args) -> int:
    from .rating import serve

    log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    if args.export:
        serve.export_votes(args.run_dir, args.export, log)
    elif args.import_csv:
        serve.import_votes(args.run_dir, args.import_csv, log)
    else:
        serve.serve(args.run_dir, args.host, args.port, args.allow_remote, args.datasets, log=log)
    return 0


def _report(args) -> int:
    from .rating.scores import rebuild_report

    rebuild_report(args.run_dir, args.baseline, log=lambda msg: print(msg, file=sys.stderr))
    return 0


def _run(args) -> int:
    from .harness.suite import load_suite
    from .validate import check_out_dir

    seeds = [args.seed] if args.seed is not None else args.seeds
    suite = load_suite(args.suite, seeds=seeds)
    check_out_dir(args.out)  # before the report's plotting library is imported: a bad --out costs nothing
    from .harness.runner import run_suite

    run_dir, results = run_suite(
        suite, out_root=args.out, cells_dir=args.cells_dir, device=args.device, threads=args.threads,
        compile=args.compile,
        data_root=args.data_root, inception_weights=args.inception_weights,
        extractor_weights=args.extractor_weights, executor=args.executor,
        ray_address=args.ray_address, force=args.force, progress=not args.no_progress,
        history=not args.no_history, baseline=args.baseline, workers=args.workers, log=_log)
    bad = _print_summary(run_dir, results, args.format)
    if bad and not args.keep_going:
        _log(f"aigc-eval: {len(bad)} of {len(results['cells'])} cells did not finish "
             f"({', '.join(sorted({c['status'] for c in bad}))}); exit 1 (--keep-going exits 0)")
        return 1
    return 0


def _log(msg: str, file=None) -> None:
    """A progress line (on stderr by default), wrapped to the terminal output's 100 columns. A line
    holding a word (a path) too long for any line is left whole: wrapping could not make it fit."""
    import textwrap

    from .report.terminal import WIDTH

    if all(len(word) <= WIDTH - 2 for word in msg.split()):
        msg = textwrap.fill(msg, WIDTH, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False)
    print(msg, file=file or sys.stderr)


def _print_summary(run_dir, results, fmt=None) -> list[dict]:
    """Print each dataset's headline view (or, with `fmt`, the full leaderboard for scripts, the
    rest on stderr), every cell that did not finish and the report's path; return those cells."""
    import json

    from .report import leaderboard_excerpt
    from .report.tables import leaderboard_csv
    from .report.terminal import headline_text, use_color

    bad = [c for c in results["cells"] if c["status"] != "done"]
    notes = sys.stderr if fmt else sys.stdout
    if fmt == "md":
        print(leaderboard_excerpt(results))
    elif fmt == "csv":
        print(leaderboard_csv(results), end="")
    elif fmt == "json":
        print(json.dumps(results["leaderboard"], indent=2))
    else:
        print(headline_text(results, color=use_color(sys.stdout)))
    for c in bad:
        _log(f"{c['model']}-{c['dataset']}-s{c['seed']}: {c['status']}: {c['error']}", file=notes)
    print(f"\nfull report: {run_dir / 'leaderboard.html'}\nresults:     {run_dir / 'results.json'}", file=notes)
    return bad


def _list(_args) -> int:
    from .data import DATASETS
    from .features import EXTRACTORS
    from .harness.suite import SUITES_DIR
    from .metrics import METRICS
    from .models import MODELS

    print("datasets:  ", ", ".join(DATASETS.names()))
    print("models:    ", ", ".join(MODELS.names()))
    print("metrics:   ", ", ".join(METRICS.names()))
    print("extractors:", ", ".join(EXTRACTORS.names()))
    print("suites:    ", ", ".join(sorted(p.stem for p in SUITES_DIR.glob("*.toml"))))
    return 0


def _score(args) -> int:
    from .validate import check_csv_out, check_out_dir

    check_out_dir(args.out)  # before the report's plotting library is imported: a bad --out costs nothing
    if args.per_sample is not None:
        check_csv_out("--per-sample", args.per_sample)
    from .score import evaluate

    log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    results = evaluate(args.generated, args.reference, metrics=args.metrics, extractor=args.extractor, n=args.n,
                       seed=args.seed, name=args.name, device=args.device,
                       threads=args.threads, data_root=args.data_root, inception_weights=args.inception_weights,
                       extractor_weights=args.extractor_weights, progress=not args.no_progress, paired=args.paired, log=log)
    run_dir = results.write(args.out, log=log)
    if args.per_sample is not None:
        log(f"per-sample scores: {results.write_per_sample(args.per_sample)}")
    _print_summary(run_dir, results.results, args.format)
    for metric, why in results.not_applicable.items():
        print(f"not applicable: {metric}: {why}", file=sys.stderr if args.format else sys.stdout)
    return 0


def _stats(args) -> int:
    from .score import reference_stats

    path = reference_stats(args.reference, args.out, extractor=args.extractor, device=args.device, threads=args.threads,
                           data_root=args.data_root, inception_weights=args.inception_weights,
                           extractor_weights=args.extractor_weights,
                           log=lambda msg: print(msg, file=sys.stderr))
    print(path)
    return 0


def _history(args) -> int:
    from .history import history_command

    print(history_command(args.db, args.limit))
    return 0


def _compare(args) -> int:
    from .history import compare_command

    print(compare_command(args.db, args.run_a, args.run_b))
    return 0


def _gate(args) -> int:
    """Exit 1 only when the gate fails (a regression beyond noise and tolerance, a missing baseline
    metric, or a model that failed/diverged where the baseline was done); bad files are exit 2."""
    from .gate import gate, load_tolerances
    from .report.markdown import gate_markdown
    from .results import load_results

    current = load_results(args.results, what="results")
    baseline = load_results(args.baseline, what="baseline")
    tolerances = load_tolerances(args.tolerances) if args.tolerances else None
    result = gate(current, baseline, tolerances, unjudged=args.unjudged)
    print(gate_markdown(result))
    return 0 if result.passed else 1


COMMANDS = {"run": _run, "list": _list, "score": _score, "stats": _stats, "history": _history, "compare": _compare,
            "gate": _gate, "rate": _rate, "report": _report}


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")


@contextmanager
def _terminate_as_interrupt():
    """SIGTERM (`kill PID`, a CI job's timeout, a container stop) stops a command the way Ctrl-C
    does: worker processes are killed, finished cells kept. Python's default would end this process
    at once and leave the workers training. Only the main thread may install handlers; the previous
    one comes back afterwards (main() also runs inside other programs, such as the tests)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv=None) -> int:
    from .errors import UserError

    args = build_parser().parse_args(argv)
    try:
        with _terminate_as_interrupt():
            return COMMANDS[args.command](args)
    except UserError as exc:
        print(f"aigc-eval: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # a file the system refused (permissions, a full disk): still one line
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"aigc-eval: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("aigc-eval: interrupted; finished cells are kept and are reused on the next run", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
