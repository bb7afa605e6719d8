"""The shapes world: renderer, dataset splits, the oracle's verdicts on probe sets, and the ShapesOracle metric.

The oracle (v2) must judge validity by structure, as a person would. Its acceptance criteria are
probe sets generated here, seeded, at 16 and 32 px: renderings of training combinations degraded by
blur, noise and tint must stay valid with every factor read right (>= 95%), and every kind of
hallucination (two shapes, half a shape, a blend of two palette colours, an empty canvas, a morph of
two shapes, ...) must be judged not valid (>= 95%).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from aigc_eval.data import load_dataset
from aigc_eval.errors import UserError
from aigc_eval.metrics import ImageEvalSet, build_metric
from aigc_eval.worlds.shapes import COLOURS, FACTORS, GRID, NUM_COMBINATIONS, ShapesWorld, get_world


@pytest.fixture(scope="module")
def shapes():
    return load_dataset("shapes")


def scores(eval_set) -> dict:
    return {s.name: s.value for s in build_metric("shapes_oracle").compute(eval_set)}


def eval_set(dataset, generated, labels=None, meta=None):
    return ImageEvalSet(generated=generated, reference=dataset.test_x, train=dataset.train_x, extractor=None, seed=0, labels=labels,
                        dataset_meta=dataset.meta if meta is None else meta)


def rms_between(a, b) -> np.ndarray:
    """len(a) x len(b) RMS pixel distances, in float64."""
    a, b = (x.reshape(len(x), -1).astype(np.float64) for x in (a, b))
    sq = (a ** 2).sum(1)[:, None] + (b ** 2).sum(1)[None] - 2 * a @ b.T
    return np.sqrt(np.maximum(sq, 0) / a.shape[1])


# -- corruptions: images that are not a rendering of any single combination ----------------------

def _centres(world, labels, shift_index):
    f = world.factors_of(labels)
    grid = np.array(GRID) * world.image_size
    return (grid[f[:, 3] // 3] + world.shifts[shift_index, 0], grid[f[:, 3] % 3] + world.shifts[shift_index, 1])


def _pixel_centres(world):
    yy, xx = np.mgrid[:world.image_size, :world.image_size] + 0.5
    return yy[None], xx[None]


def overlay(world, rng, n):
    """A second shape in another grid cell painted over the first, leaving >= half of the first visible."""
    first, second = rng.integers(0, NUM_COMBINATIONS, n), world.factors_of(rng.integers(0, NUM_COMBINATIONS, n))
    second[:, 3] = (world.factors_of(first)[:, 3] + rng.integers(1, 9, n)) % 9
    second = world.label_of(second)
    s1, s2 = rng.integers(0, len(world.shifts), n), rng.integers(0, len(world.shifts), n)
    a1, a2 = world.coverage(first, s1), world.coverage(second, s2)
    visible = (a1 * (1 - a2)).sum((1, 2)) >= 0.5 * a1.sum((1, 2))
    full = world.render(second, s2) - world.background[None, :, None, None] * (1 - a2[:, None])
    img = world.render(first, s1) * (1 - a2[:, None]) + full  # alpha-composite: second over first
    return img[visible]


def half(world, rng, n):
    """The shape with the half on one side of its centre (left, right, top or bottom) erased."""
    labels, shift = rng.integers(0, NUM_COMBINATIONS, n), rng.integers(0, len(world.shifts), n)
    cy, cx = _centres(world, labels, shift)
    yy, xx = _pixel_centres(world)
    side = rng.integers(0, 4, n)[:, None, None]
    keep = np.select([side == 0, side == 1, side == 2],
                     [xx < cx[:, None, None], xx > cx[:, None, None], yy < cy[:, None, None]], yy > cy[:, None, None])
    return world.paint(world.coverage(labels, shift) * keep, world.colour_deltas[world.factors_of(labels)[:, 1]])


def _two_colours(rng, n):
    c1 = rng.integers(0, len(COLOURS), n)
    return c1, (c1 + rng.integers(1, len(COLOURS), n)) % len(COLOURS)


def colour_average(world, rng, n):
    """The shape painted in the average of two palette colours."""
    labels, shift = rng.integers(0, NUM_COMBINATIONS, n), rng.integers(0, len(world.shifts), n)
    c1, c2 = _two_colours(rng, n)
    return world.paint(world.coverage(labels, shift), (world.colour_deltas[c1] + world.colour_deltas[c2]) / 2)


def colour_split(world, rng, n):
    """The left half of the shape in one palette colour, the right half in another."""
    labels, shift = rng.integers(0, NUM_COMBINATIONS, n), rng.integers(0, len(world.shifts), n)
    c1, c2 = _two_colours(rng, n)
    _, cx = _centres(world, labels, shift)
    left = (_pixel_centres(world)[1] < cx[:, None, None])[:, None]
    delta = np.where(left, world.colour_deltas[c1][:, :, None, None], world.colour_deltas[c2][:, :, None, None])
    return world.paint(world.coverage(labels, shift), delta)


def blank(world, rng, n):
    return world.paint(np.zeros((n, world.image_size, world.image_size), np.float32), np.zeros((n, 3)))


def morph(world, rng, n, shapes=None):
    """Half-way between two shapes: the average of their coverage maps at one size, position and jitter, one colour."""
    labels, shift = rng.integers(0, NUM_COMBINATIONS, n), rng.integers(0, len(world.shifts), n)
    first, second = world.factors_of(labels), world.factors_of(labels)
    if shapes is None:
        second[:, 0] = (first[:, 0] + rng.integers(1, len(FACTORS["shape"]), n)) % len(FACTORS["shape"])
    else:
        first[:, 0], second[:, 0] = (FACTORS["shape"].index(name) for name in shapes)
    coverage = (world.coverage(world.label_of(first), shift) + world.coverage(world.label_of(second), shift)) / 2
    return world.paint(coverage, world.colour_deltas[first[:, 1]])


def square_circle_morph(world, rng, n):
    """The hardest morph at 16 px: a small square and a small circle in one cell differ by 8.3 RMS."""
    return morph(world, rng, n, shapes=("square", "circle"))


CORRUPTIONS = {"overlay": overlay, "half": half, "colour_average": colour_average, "colour_split": colour_split,
               "blank": blank, "morph": morph, "square_circle_morph": square_circle_morph}


# -- degradations: renderings of training combinations that a person still names at a glance -----

def degrade(clean, rng, blur=0.0, noise=0.0, tint=0.0, brighten=1.0):
    """The object's colour `brighten` times further from the background along its hue (a brighter
    green, say; clipped at 255 below), then Gaussian blur of sigma uniform in [blur / 2, blur] px per
    image (mostly between the oracle's blur levels), then one RGB offset uniform in [-tint, tint] per
    image, then i.i.d. Gaussian noise of sigma `noise`; rounded and clipped to uint8."""
    out = clean.astype(np.float64)
    out = BACKGROUND + brighten * (out - BACKGROUND)
    if blur:
        for img, sigma in zip(out, rng.uniform(blur / 2, blur, len(out))):
            img[:] = gaussian_filter(img, (0, sigma, sigma))
    if tint:
        out += rng.uniform(-tint, tint, (len(out), 3, 1, 1))
    out += noise * rng.standard_normal(out.shape)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# The acceptance criteria's degradations (0-255 units, px); default noise is the world's sigma 6.
DEGRADATIONS = {"blur 0.7": dict(blur=0.7, noise=6.0), "noise 16": dict(noise=16.0),
                "tint 20": dict(tint=20.0, noise=6.0),
                "blur 0.5 + noise 12 + tint 15": dict(blur=0.5, noise=12.0, tint=15.0),
                # a colour past its palette point is that colour (while the oracle measured the distance
                # to the point itself, only 69% / 82% of this set were valid at 16 / 32 px)
                "brighter 30% + noise 6": dict(brighten=1.3, noise=6.0)}
BACKGROUND = 24.0  # the world's background grey


def degraded(world, kind, n, seed):
    """(labels, images): n renderings of training combinations at random jitters, degraded."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(np.setdiff1d(np.arange(NUM_COMBINATIONS), world.heldout_labels()), n)
    return labels, degrade(world.render(labels, rng.integers(0, len(world.shifts), n)), rng, **DEGRADATIONS[kind])


# -- factors and rendering -----------------------------------------------------------------------

def test_factor_labels_round_trip_and_held_out_combinations():
    world = get_world()
    labels = np.arange(NUM_COMBINATIONS)
    assert NUM_COMBINATIONS == 4 * 5 * 2 * 9
    np.testing.assert_array_equal(world.label_of(world.factors_of(labels)), labels)
    names = world.class_names()
    assert len(set(names)) == NUM_COMBINATIONS and names[0] == "square-red-small-top-left"
    held = [names[i] for i in world.heldout_labels()]
    assert len(held) == 18 + 9
    assert all(n.startswith("triangle-red-") or n.startswith("cross-blue-large-") for n in held)
    # every factor value still occurs in some training combination
    train_f = world.factors_of(np.setdiff1d(labels, world.heldout_labels()))
    assert all(len(np.unique(train_f[:, i])) == len(v) for i, v in enumerate(FACTORS.values()))


def test_renderings_are_deterministic_and_never_cropped():
    world = get_world()
    labels = np.arange(NUM_COMBINATIONS)
    a = world.sample(labels, np.random.default_rng(3))
    np.testing.assert_array_equal(a, world.sample(labels, np.random.default_rng(3)))
    # a shape's area does not depend on its position or jitter: the canvas never crops it
    area = world.alpha.sum((-2, -1))  # shape x size x position x jitter
    np.testing.assert_allclose(area, area[:, :, :1, :1].repeat(9, 2).repeat(len(world.shifts), 3), rtol=1e-6)


def test_dataset_splits_hold_out_combinations_and_are_seeded(shapes):
    world = get_world()
    held = world.heldout_labels()
    assert shapes.train_x.shape == (3330, 3, 16, 16) and shapes.test_x.shape == (1440, 3, 16, 16)
    assert not np.isin(shapes.train_y, held).any()
    np.testing.assert_array_equal(np.bincount(shapes.test_y, minlength=NUM_COMBINATIONS), np.full(360, 4))
    assert set(np.bincount(shapes.train_y, minlength=NUM_COMBINATIONS)[np.setdiff1d(np.arange(360), held)]) == {10}
    assert len(np.unique(shapes.train_x.reshape(len(shapes.train_x), -1), axis=0)) == len(shapes.train_x)
    assert shapes.meta["world"] == "shapes" and shapes.meta["heldout_labels"] == held.tolist()
    assert ShapesWorld.from_meta(json.loads(json.dumps(shapes.meta))) is world  # JSON-able, rebuilds the world
    assert shapes.num_classes == NUM_COMBINATIONS
    again, other = load_dataset("shapes"), load_dataset("shapes", seed=1)
    assert again.fingerprint() == shapes.fingerprint() != other.fingerprint()


@pytest.mark.parametrize("option", [{"image_size": 20}, {"train_per_combo": 0}, {"test_per_combo": 1.5},
                                    {"noise_sigma": -1.0}])
def test_bad_options_raise_user_errors(option):
    with pytest.raises(UserError, match=next(iter(option))):
        load_dataset("shapes", **option)


# -- the oracle ----------------------------------------------------------------------------------

@pytest.mark.parametrize("image_size, per_combo", [(16, 5), (32, 2)])
def test_oracle_recovers_fresh_real_renderings(image_size, per_combo):
    world = get_world(image_size)
    labels = np.repeat(np.arange(NUM_COMBINATIONS), per_combo)
    found = world.oracle().recover(world.sample(labels, np.random.default_rng(20261129)))
    assert np.mean(found.valid & (found.labels == labels)) >= 0.99
    # noise-free samples at every jitter are valid too, even the two closest combinations (a small
    # square and a small circle in one cell, 8.3 RMS apart at 16 px)
    labels = np.repeat(np.arange(NUM_COMBINATIONS), len(world.shifts))
    jitter = np.tile(np.arange(len(world.shifts)), NUM_COMBINATIONS)
    found = world.oracle().recover(np.rint(world.render(labels, jitter)).astype(np.uint8))
    assert found.valid.all() and (found.labels == labels).all() and found.rms.max() < 0.5
    assert set(found.verdict) == {"valid"} and set(found.reason) == {""} and not found.ambiguous.any()


def test_nearest_equals_a_brute_force_search_over_every_clean_rendering():
    """oracle_rms: the RMS to the nearest clean rendering, as before v2."""
    world = get_world()
    rng = np.random.default_rng(2)
    images = np.concatenate([world.sample(rng.integers(0, NUM_COMBINATIONS, 200), rng),
                             rng.integers(0, 256, size=(50, 3, 16, 16), dtype=np.uint8)])
    labels = np.repeat(np.arange(NUM_COMBINATIONS), len(world.shifts))
    clean = world.render(labels, np.tile(np.arange(len(world.shifts)), NUM_COMBINATIONS))
    rms = rms_between(images, clean)
    nearest, nearest_rms = world.oracle().nearest(images)
    np.testing.assert_array_equal(nearest, labels[rms.argmin(1)])
    np.testing.assert_allclose(nearest_rms, rms.min(1), atol=1e-3)
    np.testing.assert_array_equal(world.oracle().recover(images).rms, nearest_rms)


# Measured with these seeds and sizes (valid share / least share of a factor read right): 1.000 / 1.000 on
# every degradation at 16 and 32 px.
@pytest.mark.parametrize("image_size", [16, 32])
@pytest.mark.parametrize("kind", list(DEGRADATIONS))
def test_degraded_renderings_stay_valid_with_every_factor_read_right(kind, image_size):
    world = get_world(image_size)
    labels, images = degraded(world, kind, 300, seed=31)
    found = world.oracle().recover(images)
    assert found.valid.mean() >= 0.95, dict(zip(*np.unique(found.reason, return_counts=True)))
    right = world.factors_of(found.labels) == world.factors_of(labels)
    assert right.mean(0).min() >= 0.95, right.mean(0)


# Measured with these seeds and sizes (invalid share, 16 px / 32 px): overlay, half, colour_average,
# colour_split, blank, square_circle_morph and uniform noise 0.99-1.0 at both; morph (random pairs)
# 0.97 / 1.0.
@pytest.mark.parametrize("image_size", [16, 32])
@pytest.mark.parametrize("kind", [*CORRUPTIONS, "uniform_noise"])
def test_oracle_rejects_corrupted_images(kind, image_size):
    world = get_world(image_size)
    rng = np.random.default_rng(7)
    if kind == "uniform_noise":
        images = rng.integers(0, 256, size=(400, 3, image_size, image_size), dtype=np.uint8)
    else:
        images = world.add_noise(CORRUPTIONS[kind](world, rng, 400), rng)  # at the allowed noise
    assert len(images) > 300
    found = world.oracle().recover(images)
    assert np.mean(~found.valid) >= 0.95, dict(zip(*np.unique(found.reason, return_counts=True)))
    assert set(found.verdict) <= {"valid", "ambiguous", "hallucinated"}
    np.testing.assert_array_equal(found.reason == "", found.valid)
    np.testing.assert_array_equal(found.ambiguous, found.verdict == "ambiguous")


@pytest.mark.parametrize("image_size", [16, 32])
def test_verdicts_say_why(image_size):
    """Each kind of corruption mostly gets its own reason; a square/circle morph is ambiguous."""
    world, rng = get_world(image_size), np.random.default_rng(5)

    def reasons(kind):
        found = world.oracle().recover(world.add_noise(CORRUPTIONS[kind](world, rng, 300), rng))
        return found, dict(zip(*np.unique(found.reason, return_counts=True)))

    for kind, reason in {"blank": "empty", "colour_average": "off-palette colour", "overlay": "extra object",
                         "half": "missing part"}.items():
        found, counts = reasons(kind)
        assert counts.get(reason, 0) >= 0.6 * len(found.reason), (kind, counts)
        assert (found.verdict[found.reason == reason] == "hallucinated").all()
    found, counts = reasons("square_circle_morph")
    assert found.ambiguous.mean() >= 0.95, counts
    assert set(counts) <= {"ambiguous shape square/circle", "ambiguous shape circle/square", ""}, counts
    noise = np.random.default_rng(0).integers(0, 256, size=(50, 3, image_size, image_size), dtype=np.uint8)
    assert set(world.oracle().recover(noise).reason) == {"wrong background"}


def test_measure_reports_the_statistics_behind_each_verdict():
    world = get_world()
    rng = np.random.default_rng(4)
    labels = rng.integers(0, NUM_COMBINATIONS, 50)
    images = world.sample(labels, rng)
    stats = world.oracle().measure(images)
    np.testing.assert_array_equal(world.label_of(stats["factors"]), labels)
    np.testing.assert_array_equal(world.oracle().recover(images).labels, labels)
    assert (np.abs(stats["background"] - 24).max(1) < 6).all()
    assert (stats["colour_distance"] < 20).all() and (np.abs(stats["strength"] - 1) < 0.1).all()
    assert (stats["structure"] < 0.015).all() and (stats["lam"] < 0.3).all()
    assert (np.abs(stats["shift_px"]) <= 0.5).all() and (stats["blur_px"] < 0.35).all()
    assert world.oracle().tag == "shapes16-s6-v2.1@bg40,col50,ray25,str0.82,res0.015,lam0.3,blur0.1x17,shift0.5"
    empty = world.oracle().recover(np.zeros((0, 3, 16, 16), np.uint8))
    assert len(empty.labels) == len(empty.verdict) == 0


def test_oracle_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="3 x 16 x 16"):
        get_world().oracle().recover(np.zeros((2, 1, 16, 16), np.uint8))


# -- the metric ----------------------------------------------------------------------------------

def test_calibration_rows_get_the_expected_rates(shapes):
    real = scores(eval_set(shapes, shapes.test_x))
    assert real["hallucination_rate"] <= 0.02 and real["ambiguous_rate"] <= 0.02 and real["oracle_memorization"] == 0
    assert real["oracle_rms"] == pytest.approx(shapes.meta["noise_sigma"], rel=0.05)
    assert real["factor_coverage"] == real["factor_coverage_all"] == 1.0
    assert real["novelty"] == pytest.approx(np.isin(shapes.test_y, shapes.meta["heldout_labels"]).mean(), abs=0.01)
    noise = np.random.default_rng(0).integers(0, 256, size=(500, 3, 16, 16), dtype=np.uint8)
    noisy = scores(eval_set(shapes, noise))
    assert noisy["hallucination_rate"] == 1.0 and noisy["ambiguous_rate"] == 0 and noisy["oracle_rms"] > 100
    copies = scores(eval_set(shapes, shapes.train_x[:1000]))
    assert copies["novelty"] == 0 and copies["oracle_memorization"] >= 0.99
    assert "controllability" not in copies


def test_rates_share_one_denominator(shapes):
    noise = np.random.default_rng(1).integers(0, 256, size=(300, 3, 16, 16), dtype=np.uint8)
    one_combo = shapes.train_x[shapes.train_y == shapes.train_y[0]]
    got = scores(eval_set(shapes, np.concatenate([noise, one_combo])))
    assert got["hallucination_rate"] == pytest.approx(300 / (300 + len(one_combo)))
    assert got["factor_coverage"] == pytest.approx(1 / 333) and got["factor_coverage_all"] == pytest.approx(1 / 360)
    held = np.isin(shapes.test_y, shapes.meta["heldout_labels"])
    assert scores(eval_set(shapes, shapes.test_x[held]))["novelty"] >= 0.99


def test_ambiguous_samples_count_as_hallucinated_and_are_reported_apart(shapes):
    """hallucination_rate: every sample that is not valid; ambiguous_rate: the ambiguous share of them."""
    world = ShapesWorld.from_meta(shapes.meta)
    rng = np.random.default_rng(6)
    morphs = world.add_noise(square_circle_morph(world, rng, 200), rng)
    blanks = world.add_noise(blank(world, rng, 100), rng)
    got = scores(eval_set(shapes, np.concatenate([shapes.test_x[:300], morphs, blanks])))
    assert got["ambiguous_rate"] == pytest.approx(200 / 600, abs=0.01)
    assert got["hallucination_rate"] == pytest.approx(300 / 600, abs=0.01)
    from aigc_eval.metrics.shapes_oracle import judge

    found = judge(morphs, shapes.meta)
    assert found.ambiguous.mean() >= 0.95 and found.reason[0].startswith("ambiguous shape")
    np.testing.assert_array_equal(judge(morphs, world).verdict, found.verdict)


def test_controllability_of_requested_combinations(shapes):
    right = scores(eval_set(shapes, shapes.test_x, labels=shapes.test_y))
    assert right["controllability"] >= 0.99 and right["controllability_heldout"] >= 0.99
    wrong = scores(eval_set(shapes, shapes.test_x, labels=np.random.default_rng(0).permutation(shapes.test_y)))
    assert wrong["controllability"] <= 0.02
    trained_only = ~np.isin(shapes.test_y, shapes.meta["heldout_labels"])
    got = scores(eval_set(shapes, shapes.test_x[trained_only], labels=shapes.test_y[trained_only]))
    assert "controllability_heldout" not in got and got["controllability_trained"] == got["controllability"]
    # Right answers to training requests only: controllability_trained is 1 while held-out ones are all wrong.
    labels = shapes.test_y.copy()
    held = ~trained_only
    labels[held] = np.roll(labels[held], 1) if held.sum() > 1 else labels[held]
    mixed = scores(eval_set(shapes, shapes.test_x, labels=labels))
    assert mixed["controllability_trained"] >= 0.99 and mixed["controllability_heldout"] <= 0.1
    assert mixed["controllability"] < mixed["controllability_trained"]


def test_factor_match_counts_each_requested_factor_even_on_invalid_samples(shapes):
    world = ShapesWorld.from_meta(shapes.meta)
    factors = world.factors_of(shapes.test_y)
    recoloured = factors.copy()
    recoloured[:, 1] = (recoloured[:, 1] + 1) % len(FACTORS["colour"])
    got = scores(eval_set(shapes, shapes.test_x, labels=world.label_of(recoloured)))
    assert got["controllability"] == 0.0 and got["factor_match_colour"] == 0.0
    assert min(got[f"factor_match_{f}"] for f in ("shape", "size", "position")) >= 0.99
    assert got["factor_match"] == pytest.approx(0.75, abs=0.01)
    assert got["factor_match_heldout"] >= 0.74
    # A lit background (+50 on every channel) makes every sample invalid: not the world's background.
    # The factors still show through (the oracle reads them relative to the image's own background).
    lit = np.clip(shapes.test_x.astype(np.int64) + 50, 0, 255).astype(np.uint8)
    got = scores(eval_set(shapes, lit, labels=shapes.test_y))
    assert got["hallucination_rate"] == 1.0 and got["controllability"] == 0.0
    assert got["factor_match"] >= 0.95 and got["factor_match_colour"] >= 0.95
    # Heavy noise (sigma 40) is quality, not hallucination: most samples stay valid and read right.
    rng = np.random.default_rng(0)
    noisy = np.clip(shapes.test_x + rng.normal(0, 40, shapes.test_x.shape), 0, 255).astype(np.uint8)
    got = scores(eval_set(shapes, noisy, labels=shapes.test_y))
    assert got["hallucination_rate"] < 0.2 and got["factor_match"] > 0.99 and got["oracle_rms"] > 30


def test_cond_factor_accuracy_reads_each_factor_from_the_classifier_marginal(shapes):
    from aigc_eval.features.classifier import classifier_extractor
    from aigc_eval.metrics.cond_accuracy import factor_accuracy

    extractor = classifier_extractor(shapes, log=lambda msg: None)  # ~7 s, cached per test session
    world = ShapesWorld.from_meta(shapes.meta)

    def accuracies(labels, meta=shapes.meta):
        got = build_metric("cond_accuracy").compute(ImageEvalSet(
            generated=shapes.test_x, reference=shapes.test_x, train=shapes.train_x,
            extractor=extractor, labels=labels, dataset_meta=meta))
        return {s.name: s.value for s in got}

    right = accuracies(shapes.test_y)
    # Measured on the test split: combination accuracy 0.804; marginals shape 0.804 (its errors are
    # all in the shape), colour 1.0, size 0.915, position 0.981.
    assert right["cond_factor_accuracy"] > right["cond_accuracy"] >= 0.7
    recoloured = world.factors_of(shapes.test_y)
    recoloured[:, 1] = (recoloured[:, 1] + 1) % len(FACTORS["colour"])
    wrong_colour = accuracies(world.label_of(recoloured))
    assert wrong_colour["cond_accuracy"] < 0.01
    # Only the colour requests changed, and the classifier reads colour without error: one factor in four lost.
    assert wrong_colour["cond_factor_accuracy"] == pytest.approx(right["cond_factor_accuracy"] - 0.25, abs=0.01)
    assert set(accuracies(shapes.test_y, meta={})) == {"cond_accuracy"}  # plain classes: no factors to read
    # The marginal of a one-hot "logit" over combinations is that combination's factors.
    logits = np.full((2, NUM_COMBINATIONS), -30.0)
    logits[[0, 1], [7, 300]] = 30.0
    assert factor_accuracy(logits, np.array([7, 300]), (4, 5, 2, 9)) == 1.0
    assert factor_accuracy(logits, np.array([300, 7]), (4, 5, 2, 9)) == 0.0  # differ in every factor


def test_metric_ignores_other_worlds_and_rejects_wrong_image_sizes(shapes):
    assert build_metric("shapes_oracle").compute(eval_set(shapes, shapes.test_x, meta={"world": "facts"})) == []
    with pytest.raises(UserError, match="image_size=16"):
        scores(eval_set(shapes, np.zeros((4, 3, 32, 32), np.uint8)))


def test_metric_is_deterministic_and_signed(shapes):
    es = eval_set(shapes, shapes.test_x[:200], labels=shapes.test_y[:200])
    a, b = build_metric("shapes_oracle").compute(es), build_metric("shapes_oracle").compute(es)
    assert [(s.name, s.value) for s in a] == [(s.name, s.value) for s in b]
    sig = str(a[0].signature)
    assert sig.startswith("shapes_oracle|oracle:shapes16-s6-v2.1@") and "n_gen:200" in sig and "n_train:3330" in sig


def test_memorization_threshold_separates_copies_from_fresh_draws(shapes):
    from aigc_eval.metrics.shapes_oracle import ShapesOracle

    fresh = eval_set(shapes, shapes.test_x[:300])
    # fresh renderings are ~sqrt(2) x sigma (8.5) from the nearest training image of their combination
    loose = {s.name: s.value for s in ShapesOracle(memorization_rms=12.0).compute(fresh)}
    assert loose["oracle_memorization"] > 0.5
    assert {s.name: s.value for s in ShapesOracle().compute(fresh)}["oracle_memorization"] == 0
    with pytest.raises(UserError, match="memorization_rms"):
        ShapesOracle(memorization_rms=-1)
