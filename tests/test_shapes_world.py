"""The shapes world: renderer, dataset splits, the oracle's accuracy, and the ShapesOracle metric."""
from __future__ import annotations

import json

import numpy as np
import pytest

from aigc_eval.data import load_dataset
from aigc_eval.errors import UserError
from aigc_eval.metrics import ImageEvalSet, build_metric
from aigc_eval.worlds.shapes import (CALIBRATION_SEED, COLOURS, FACTORS, GRID, NUM_COMBINATIONS, ShapesWorld,
                                     get_world)


@pytest.fixture(scope="module")
def shapes():
    return load_dataset("shapes")


def scores(eval_set) -> dict:
    return {s.name: s.value for s in build_metric("shapes_oracle").compute(eval_set)}


def eval_set(dataset, generated, labels=None, meta=None):
    return ImageEvalSet(generated=generated, reference=dataset.test_x, reference_labels=dataset.test_y,
                        train=dataset.train_x, extractor=None, seed=0, labels=labels,
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


CORRUPTIONS = {"overlay": overlay, "half": half, "colour_average": colour_average, "colour_split": colour_split,
               "blank": blank}


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


@pytest.mark.parametrize("image_size", [16, 32])
def test_no_real_rendering_is_within_tolerance_of_another_combination(image_size):
    world = get_world(image_size)
    real_labels = np.arange(NUM_COMBINATIONS)
    real = world.sample(real_labels, np.random.default_rng(11))
    labels = np.repeat(np.arange(NUM_COMBINATIONS), len(world.shifts))
    rms = rms_between(real, world.render(labels, np.tile(np.arange(len(world.shifts)), NUM_COMBINATIONS)))
    rms[real_labels[:, None] == labels[None]] = np.inf
    assert rms.min() > world.oracle().threshold


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
    found = world.oracle().recover(world.sample(labels, np.random.default_rng(CALIBRATION_SEED + 1)))
    assert np.mean(found.valid & (found.labels == labels)) >= 0.99
    clean = np.rint(world.render(labels)).astype(np.uint8)  # noise-free samples are valid too
    found = world.oracle().recover(clean)
    assert found.valid.all() and (found.labels == labels).all() and found.rms.max() < 0.5


def test_oracle_equals_a_brute_force_search_over_every_clean_rendering():
    world = get_world()
    rng = np.random.default_rng(2)
    images = np.concatenate([world.sample(rng.integers(0, NUM_COMBINATIONS, 200), rng),
                             rng.integers(0, 256, size=(50, 3, 16, 16), dtype=np.uint8)])
    labels = np.repeat(np.arange(NUM_COMBINATIONS), len(world.shifts))
    clean = world.render(labels, np.tile(np.arange(len(world.shifts)), NUM_COMBINATIONS))
    rms = rms_between(images, clean)
    found = world.oracle().recover(images)
    np.testing.assert_array_equal(found.labels, labels[rms.argmin(1)])
    np.testing.assert_allclose(found.rms, rms.min(1), atol=1e-3)


@pytest.mark.parametrize("image_size", [16, 32])
@pytest.mark.parametrize("kind", [*CORRUPTIONS, "uniform_noise"])
def test_oracle_rejects_corrupted_images(kind, image_size):
    world = get_world(image_size)
    rng = np.random.default_rng(7)
    if kind == "uniform_noise":
        images = rng.integers(0, 256, size=(1000, 3, image_size, image_size), dtype=np.uint8)
    else:
        images = world.add_noise(CORRUPTIONS[kind](world, rng, 1000), rng)  # at the allowed noise
    assert len(images) > 900
    assert np.mean(~world.oracle().recover(images).valid) >= 0.99


def test_oracle_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="3 x 16 x 16"):
        get_world().oracle().recover(np.zeros((2, 1, 16, 16), np.uint8))


# -- the metric ----------------------------------------------------------------------------------

def test_calibration_rows_get_the_expected_rates(shapes):
    real = scores(eval_set(shapes, shapes.test_x))
    assert real["hallucination_rate"] <= 0.01 and real["oracle_memorization"] == 0
    assert real["oracle_rms"] == pytest.approx(shapes.meta["noise_sigma"], rel=0.05)
    assert real["factor_coverage"] == real["factor_coverage_all"] == 1.0
    assert real["novelty"] == pytest.approx(np.isin(shapes.test_y, shapes.meta["heldout_labels"]).mean(), abs=0.01)
    noise = np.random.default_rng(0).integers(0, 256, size=(500, 3, 16, 16), dtype=np.uint8)
    noisy = scores(eval_set(shapes, noise))
    assert noisy["hallucination_rate"] >= 0.99 and noisy["oracle_rms"] > 100
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


def test_controllability_of_requested_combinations(shapes):
    right = scores(eval_set(shapes, shapes.test_x, labels=shapes.test_y))
    assert right["controllability"] >= 0.99 and right["controllability_heldout"] >= 0.99
    wrong = scores(eval_set(shapes, shapes.test_x, labels=np.random.default_rng(0).permutation(shapes.test_y)))
    assert wrong["controllability"] <= 0.02
    trained_only = ~np.isin(shapes.test_y, shapes.meta["heldout_labels"])
    got = scores(eval_set(shapes, shapes.test_x[trained_only], labels=shapes.test_y[trained_only]))
    assert "controllability_heldout" not in got


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
    # Heavy noise makes every sample invalid; the requested colour still shows through.
    rng = np.random.default_rng(0)
    noisy = np.clip(shapes.test_x + rng.normal(0, 40, shapes.test_x.shape), 0, 255).astype(np.uint8)
    blurred = scores(eval_set(shapes, noisy, labels=shapes.test_y))
    assert blurred["hallucination_rate"] == 1.0 and blurred["controllability"] == 0.0
    assert blurred["factor_match_colour"] >= 0.95 and blurred["factor_match"] > 0.5


def test_cond_factor_accuracy_reads_each_factor_from_the_classifier_marginal(shapes):
    from aigc_eval.features.classifier import classifier_extractor
    from aigc_eval.metrics.cond_accuracy import factor_accuracy

    extractor = classifier_extractor(shapes, log=lambda msg: None)  # ~7 s, cached per test session
    world = ShapesWorld.from_meta(shapes.meta)

    def accuracies(labels, meta=shapes.meta):
        got = build_metric("cond_accuracy").compute(ImageEvalSet(
            generated=shapes.test_x, reference=shapes.test_x, reference_labels=shapes.test_y, train=shapes.train_x,
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
    assert sig.startswith("shapes_oracle|oracle:shapes16-s6@") and "n_gen:200" in sig and "n_train:3330" in sig


def test_memorization_threshold_separates_copies_from_fresh_draws(shapes):
    from aigc_eval.metrics.shapes_oracle import ShapesOracle

    fresh = eval_set(shapes, shapes.test_x[:300])
    # fresh renderings are ~sqrt(2) x sigma (8.5) from the nearest training image of their combination
    loose = {s.name: s.value for s in ShapesOracle(memorization_rms=12.0).compute(fresh)}
    assert loose["oracle_memorization"] > 0.5
    assert {s.name: s.value for s in ShapesOracle().compute(fresh)}["oracle_memorization"] == 0
    with pytest.raises(UserError, match="memorization_rms"):
        ShapesOracle(memorization_rms=-1)
