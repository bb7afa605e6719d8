"""aigc_eval.evaluate: one entry point for any kind of samples (issue 14 §1, §8)."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import aigc_eval
from aigc_eval.data import load_dataset
from aigc_eval.errors import UserError

README = Path(__file__).resolve().parent.parent / "README.md"
FAST = ["fd", "kid", "prc"]  # the feature metrics: enough to see that the same pixels give the same numbers


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def one_line_error(fn, *fragments):
    with pytest.raises(UserError) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_the_readme_example_runs(capsys):
    """The README's three lines, taken from the README itself."""
    section = README.read_text(encoding="utf-8").split("## Score your own model in one call", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(code.strip().splitlines()) == 3
    exec(compile(code, str(README), "exec"), {})
    out = capsys.readouterr().out
    assert re.search(r"\| fd_digits-cnn ↓ \| [\d.]+ \| fd\|ext:digits-cnn@[0-9a-f]+\|n_gen:200\|n_ref:180\|", out), out
    # uniform noise is far from digits
    fd = float(re.search(r"\| fd_digits-cnn ↓ \| ([\d.]+) \|", out).group(1))
    assert fd > 500


def test_the_same_pixels_score_the_same_from_every_input_kind(tmp_path, digits):
    images = digits.test_x[:40]  # uint8 N x 1 x 16 x 16
    for i, image in enumerate(images):
        Image.fromarray(image[0]).save(tmp_path / f"{i:03d}.png")
    np.savez(tmp_path / "grey.npz", samples=images.transpose(0, 2, 3, 1))  # N x H x W x 1: see the next test
    floats = torch.from_numpy(images).float() / 255

    def callable_(n, generator):  # returns the images in order, a batch at a time
        start = callable_.at
        callable_.at += n
        return floats[start:start + n] * 2 - 1  # [-1, 1], as a tanh generator

    callable_.at = 0

    class Module(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.at = 0

        def sample(self, n, generator=None):
            self.at += n
            return images[self.at - n:self.at].transpose(0, 2, 3, 1)  # numpy N x H x W x C uint8

    inputs = {"png": tmp_path, "npz": tmp_path / "grey.npz", "array": images, "tensor": floats,
              "callable": callable_, "module": Module(),
              "loader": torch.utils.data.DataLoader(torch.utils.data.TensorDataset(floats, torch.zeros(40)),
                                                    batch_size=16)}
    scores = {}
    for kind, generated in inputs.items():
        result = aigc_eval.evaluate(generated, "digits", metrics=FAST, n=40, batch_size=16, log=lambda m: None)
        scores[kind] = {k: v["value"] for k, v in result.scores.items()}
    first = scores["png"]
    assert first["fd_digits-cnn"] > 0 and 0 < first["precision"] <= 1
    for kind, values in scores.items():
        assert values == first, kind  # bit-identical, every score


def test_a_generator_streams_through_the_extractor_unless_a_metric_reads_pixels(digits, monkeypatch):
    from aigc_eval.inputs import Stream

    collected = []
    real_collect = Stream.collect
    monkeypatch.setattr(Stream, "collect", lambda self: collected.append(self.n) or real_collect(self))
    calls = []

    def generator(n, g):
        calls.append(n)
        return torch.rand(n, 1, 16, 16, generator=g)

    streamed = aigc_eval.evaluate(generator, "digits", metrics=["fd", "kid"], n=50, batch_size=20, log=lambda m: None)
    assert calls == [20, 20, 10] and collected == []  # batch by batch, and only features were kept
    kept = aigc_eval.evaluate(generator, "digits", metrics=["fd", "kid", "memorization"], n=50, batch_size=20,
                              log=lambda m: None)
    assert collected == [50]  # memorization compares pixels: the images are kept
    assert streamed["fd_digits-cnn"] == kept["fd_digits-cnn"] and "n_gen:50" in kept.scores["kid"]["signature"]


def test_the_extractor_sees_standard_strides(digits):
    """A grey N x H x W x 1 array transposed to N x 1 x H x W is "contiguous" with a channel stride of 1;
    the extractor copies each batch, so its features equal those of a fresh array bit for bit."""
    from aigc_eval.harness.tracks import get_context

    ext = get_context("digits", {}, log=lambda m: None).extractors[0]
    images = digits.test_x[:300]
    odd = images.transpose(0, 2, 3, 1).copy().transpose(0, 3, 1, 2)  # as a grey N x H x W x 1 .npz loads
    assert odd.flags.c_contiguous and torch.from_numpy(odd).stride()[1] == 1  # the trap is real
    assert np.array_equal(ext.extract(odd)["features"], ext.extract(images.copy())["features"])


def test_a_reference_given_as_images_is_used_in_full(digits):
    result = aigc_eval.evaluate(digits.test_x[:50], digits.test_x[50:150], metrics=["fd"], log=lambda m: None)
    (name, score), = result.scores.items()
    assert "n_gen:50" in score["signature"] and "n_ref:100" in score["signature"]


@pytest.fixture
def nothing_expensive(monkeypatch):
    """Fail fast: any dataset load or extractor build fails the test."""
    import aigc_eval.harness.tracks as tracks

    def forbidden(*args, **kwargs):
        raise AssertionError("a dataset was loaded or an extractor built before the inputs were checked")

    monkeypatch.setattr(tracks, "load_dataset", forbidden)
    monkeypatch.setattr(tracks, "build_extractor", forbidden)
    tracks._CONTEXTS.clear()


def test_bad_inputs_fail_before_any_dataset_or_extractor(tmp_path, nothing_expensive):
    ok = np.zeros((8, 1, 16, 16), np.uint8)
    one_line_error(lambda: aigc_eval.evaluate(tmp_path / "missing.npz", "digits"), "missing.npz does not exist")
    one_line_error(lambda: aigc_eval.evaluate(ok, tmp_path / "nope"), "nope does not exist")
    one_line_error(lambda: aigc_eval.evaluate(ok, "imagenet"), "--reference imagenet", "neither a dataset")
    one_line_error(lambda: aigc_eval.evaluate(ok, "digits", metrics=["fid2"]), "unknown metric 'fid2'")
    one_line_error(lambda: aigc_eval.evaluate(ok, "digits", extractor="vgg"), "unknown feature extractor 'vgg'")
    one_line_error(lambda: aigc_eval.evaluate(ok, "digits", n=0), "n: expected")
    one_line_error(lambda: aigc_eval.evaluate(ok, "digits", batch_size=1.5), "batch_size: expected an integer")
    # each input kind, broken
    one_line_error(lambda: aigc_eval.evaluate(lambda n, g: torch.rand(n, 1, 16, 16), "digits"), "needs n")
    one_line_error(lambda: aigc_eval.evaluate(lambda n, g: torch.rand(n, 16), "digits", n=8), "shape (8, 16)")
    one_line_error(lambda: aigc_eval.evaluate(lambda n, g: torch.rand(n - 1, 1, 4, 4), "digits", n=8),
                   "asked for 8 images, got 7")
    one_line_error(lambda: aigc_eval.evaluate(lambda n, g: torch.full((n, 1, 4, 4), 2.0), "digits", n=8),
                   "float values 2..2", "[0, 1]")

    class NaNModel(torch.nn.Module):
        def sample(self, n):
            return torch.full((n, 3, 8, 8), float("nan"))

    one_line_error(lambda: aigc_eval.evaluate(NaNModel(), "digits", n=8), "NaN")
    one_line_error(lambda: aigc_eval.evaluate(np.zeros((8, 4, 16, 16, 2), np.uint8), "digits"), "shape (8, 4, 16, 16, 2)")
    one_line_error(lambda: aigc_eval.evaluate(np.zeros((8, 1, 16, 16), np.int64), "digits"), "dtype int64")
    empty = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(0, 1, 4, 4)), batch_size=4)
    one_line_error(lambda: aigc_eval.evaluate(empty, "digits"), "--generated: yielded no images")
    one_line_error(lambda: aigc_eval.evaluate([1, 2, 3], "digits"), "got list", "a list of strings")
    one_line_error(lambda: aigc_eval.evaluate(ok, ["a sentence ."]), "holds text but the generated samples hold image")


def test_a_metric_that_cannot_apply_is_reported_and_the_others_run(tmp_path):
    results = aigc_eval.evaluate(["alice likes bob ."], ["alice likes carol ."], log=lambda m: None)
    assert set(results.not_applicable) == {"self_bleu"}
    assert "needs at least 2 generated sentences, got 1" in results.not_applicable["self_bleu"]
    assert results["bleu2"] > 0 and results["chrf"] > 0 and results["rouge1"] == pytest.approx(2 / 3)
    assert "| self_bleu | not applicable | self_bleu: needs at least 2" in str(results)
    frame = results.to_pandas()
    assert frame.set_index("metric").loc["self_bleu", "not_applicable"].startswith("self_bleu: needs")
    run_dir = results.write(tmp_path / "out", history=False, log=lambda m: None)
    cell = json.loads((run_dir / "results.json").read_text())["cells"][0]
    assert cell["not_applicable"]["self_bleu"].startswith("self_bleu: needs at least 2")
    html = (run_dir / "leaderboard.html").read_text()
    assert 'id="not-applicable"' in html and "needs at least 2 generated sentences, got 1" in html


def test_ssim_on_8x8_images_is_not_applicable_and_psnr_still_is(digits):
    from aigc_eval.harness.tracks import compute, get_context
    from aigc_eval.metrics import ImageEvalSet, build_metric

    small = digits.test_x[:6, :, :8, :8]
    extractor = get_context("digits", {}, log=lambda m: None).extractors[0]  # for the signature
    eval_set = ImageEvalSet(generated=small, reference=small, train=small, extractor=extractor,
                            reconstructions=255 - small)
    not_applicable = {}
    (psnr,) = compute(build_metric("recon"), eval_set, not_applicable)
    assert psnr.name == "psnr" and 0 < psnr.value < 20
    assert list(not_applicable) == ["ssim"]
    assert "SSIM needs images of at least 11x11 pixels, got 8x8" in not_applicable["ssim"]
    with pytest.raises(UserError):  # without a collector (suites), it still raises
        compute(build_metric("recon"), eval_set, None)


def test_random_cnn_is_a_seeded_untrained_baseline(digits, monkeypatch):
    import aigc_eval.features.classifier as classifier
    from aigc_eval.features import build_extractor

    monkeypatch.setattr(classifier, "_train", lambda *a, **k: pytest.fail("random-cnn must not train"))
    a, b = (build_extractor("random-cnn", digits) for _ in range(2))
    assert a.tag == b.tag and a.tag.startswith("random-cnn@") and a.metric_name == "fd_random-cnn"
    assert build_extractor("random-cnn", digits, seed=1).tag != a.tag
    noise = np.random.default_rng(0).integers(0, 256, (60, 1, 16, 16), np.uint8)
    real = aigc_eval.evaluate(digits.test_x[:60], digits.test_x[60:], metrics=["fd"], extractor="random-cnn",
                              log=lambda m: None)
    far = aigc_eval.evaluate(noise, digits.test_x[60:], metrics=["fd"], extractor="random-cnn", log=lambda m: None)
    assert f"ext:{a.tag}" in real.scores["fd_random-cnn"]["signature"]
    assert far["fd_random-cnn"] > 10 * real["fd_random-cnn"]


def test_reference_statistics_file_scores_fd_and_says_what_else_cannot_apply(tmp_path, digits):
    from aigc_eval.cli import main
    from aigc_eval.score import reference_stats

    stats = tmp_path / "ref.npz"
    assert main(["stats", "--reference", "digits", "--out", str(stats)]) == 0
    generated = digits.train_x[:80]
    direct = aigc_eval.evaluate(generated, "digits", metrics=["fd", "kid"], log=lambda m: None)
    from_file = aigc_eval.evaluate(generated, stats, metrics=["fd", "kid"], log=lambda m: None)
    assert from_file["fd_digits-cnn"] == pytest.approx(direct["fd_digits-cnn"], rel=1e-9)
    assert from_file.scores["fd_digits-cnn"]["signature"] == direct.scores["fd_digits-cnn"]["signature"]
    assert "holds the reference's feature mean and covariance only" in from_file.not_applicable["kid"]
    # statistics of images given in memory, with an extractor that needs no data (rebuilt from the shape)
    reference_stats(digits.test_x, tmp_path / "mem.npz", extractor="random-cnn", log=lambda m: None)
    by_stats = aigc_eval.evaluate(generated, tmp_path / "mem.npz", metrics=["fd"], extractor="random-cnn",
                                  log=lambda m: None)
    in_full = aigc_eval.evaluate(generated, digits.test_x, metrics=["fd"], extractor="random-cnn", log=lambda m: None)
    assert by_stats["fd_random-cnn"] == pytest.approx(in_full["fd_random-cnn"], rel=1e-9)


def test_statistics_from_other_weights_are_a_one_line_error(tmp_path, digits, capsys):
    from aigc_eval.cli import main
    from aigc_eval.features.statistics import RunningStats, save_stats

    np.savez(tmp_path / "gen.npz", samples=digits.train_x[:20].transpose(0, 2, 3, 1))
    made = main(["stats", "--reference", "digits", "--extractor", "random-cnn", "--out", str(tmp_path / "r.npz")])
    assert made == 0
    capsys.readouterr()
    code = main(["score", "--generated", str(tmp_path / "gen.npz"), "--reference", str(tmp_path / "r.npz"),
                 "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "holds random-cnn statistics; score with --extractor random-cnn" in err
    stats = RunningStats.from_features(np.random.default_rng(0).normal(size=(50, 128)))
    save_stats(tmp_path / "old.npz", stats, {"extractor": "digits-cnn@000000000000", "extractor_name": "domain-cnn",
                                             "reference": "digits", "image_shape": "1x16x16"})
    code = main(["score", "--generated", str(tmp_path / "gen.npz"), "--reference", str(tmp_path / "old.npz"),
                 "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "was computed with extractor:digits-cnn@000000000000" in err
    assert not (tmp_path / "o").exists()


def test_a_library_call_leaves_the_callers_threads_as_they_were(monkeypatch):
    """evaluate(threads=1) pins one thread while it scores, then gives the caller back its settings."""
    from threadpoolctl import threadpool_info

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    blas_before = {p["filepath"]: p["num_threads"] for p in threadpool_info()}
    seen = {}

    def generator(n, generator):
        seen["threads"] = torch.get_num_threads()
        return torch.rand(n, 1, 16, 16, generator=generator)

    try:
        aigc_eval.evaluate(generator, np.zeros((8, 1, 16, 16), np.uint8), metrics=["fd"], extractor="random-cnn",
                           n=8, threads=1, log=lambda m: None)
        assert seen["threads"] == 1  # pinned during the call, as the signature records
        assert torch.get_num_threads() == 3
        assert "OMP_NUM_THREADS" not in os.environ
        blas_after = {p["filepath"]: p["num_threads"] for p in threadpool_info()}  # and libraries loaded since
        assert {f: blas_after[f] for f in blas_before} == blas_before
    finally:
        torch.set_num_threads(before)
