"""InfoGAN: the information loss against its formula, the codes behind every sample, traversals,
and that the categorical code is learnt. Interface, determinism and exact resume at every size are
tests/test_models.py's (infogan is in its IMAGE_MODELS; not in GANS, whose EMA test expects no EMA
by default, which InfoGAN's 16x16 default has, as DCGAN's does: it is tested here)."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from aigc_eval.models import MODELS, default_config
from reference_models.infogan import InfoGAN, info_loss

SHAPE = (1, 16, 16)


def build(shape=SHAPE, seed=0, **overrides):
    config = dataclasses.replace(default_config(InfoGAN, shape), **overrides)
    torch.manual_seed(seed)
    return InfoGAN(config, shape, num_classes=10)


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


def test_registered_and_unconditional():
    assert MODELS.get("infogan") is InfoGAN
    assert not InfoGAN.conditional


def test_info_loss_is_the_mutual_information_bound_on_a_hand_computed_case():
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    # One 3-way code with logits (0, 0, log 2): Q = (1/4, 1/4, 1/2). One continuous code.
    logits = torch.tensor([[0.0, 0.0, math.log(2)], [0.0, 0.0, math.log(2)]])
    cat = torch.tensor([[2], [0]])  # -log Q: log 2 and log 4, mean 1.5 log 2
    cont = torch.tensor([[1.0], [-0.5]])
    mu = torch.tensor([[0.5], [-0.5]])  # squared errors 0.25 and 0
    # Fixed σ = 1: NLL = ½log 2π + ½(c - μ)², mean ½log 2π + 0.0625.
    loss, ce = info_loss(torch.cat([logits, mu], 1), cat, cont, (3,), learn_std=False)
    torch.testing.assert_close(ce, torch.tensor([1.5 * math.log(2)]))
    torch.testing.assert_close(loss, torch.tensor(1.5 * math.log(2) + half_log_2pi + 0.0625))
    # Learned σ = 2 (log σ = log 2): NLL = ½log 2π + log 2 + (c - μ)²/8, mean adds log 2 + 0.015625.
    log_std = torch.full((2, 1), math.log(2))
    loss, _ = info_loss(torch.cat([logits, mu, log_std], 1), cat, cont, (3,), learn_std=True)
    torch.testing.assert_close(loss, torch.tensor(1.5 * math.log(2) + half_log_2pi + math.log(2) + 0.015625))
    # Two categorical codes (2-way, then 3-way) and no continuous one: the terms add.
    q = torch.tensor([[0.0, 0.0, 0.0, 0.0, math.log(2)]])
    loss, ce = info_loss(q, torch.tensor([[1, 2]]), torch.zeros(1, 0), (2, 3), learn_std=False)
    torch.testing.assert_close(ce, torch.tensor([math.log(2), math.log(2)]))
    torch.testing.assert_close(loss, torch.tensor(2 * math.log(2)))


def test_q_shares_the_discriminator_body():
    model = build(categorical=(4, 3), continuous=2, learn_std=True)
    assert model.Q.net[-1].out_features == 4 + 3 + 2 * 2
    x = torch.rand(5, *SHAPE)
    d_before, q_before = model.discriminate(x)
    assert d_before.shape == (5,) and q_before.shape == (5, 11)
    with torch.no_grad():
        model.D.net[0].weight.mul_(2)  # the body's first conv: both heads read through it
    d_after, q_after = model.discriminate(x)
    assert not torch.allclose(d_after, d_before) and not torch.allclose(q_after, q_before)
    # No parameter is stored twice (the body is D's, not a copy).
    assert len(model.state_dict()) == len({id(v) for v in model.state_dict().values()})
    losses = model.train_step(torch.rand(8, *SHAPE), None)
    assert set(losses) == {"loss_d", "loss_g", "loss_info", "mi_cat"}
    assert all(math.isfinite(v) for v in losses.values())


def test_sample_with_codes_is_reproducible_and_honours_the_codes():
    model = build(categorical=(10,), continuous=2)
    model.train_step(torch.rand(8, *SHAPE), None)  # BatchNorm statistics that are not the initial ones
    images, codes = model.sample_with_codes(6, generator=seeded())
    assert images.dtype == torch.uint8 and images.shape == (6, *SHAPE)
    assert codes["categorical"].shape == (6, 1) and codes["categorical"].dtype == torch.long
    assert codes["continuous"].shape == (6, 2) and codes["continuous"].abs().max() <= 1
    again, codes_again = model.sample_with_codes(6, generator=seeded())
    assert torch.equal(again, images) and all(torch.equal(codes[k], codes_again[k]) for k in codes)
    assert torch.equal(model.sample(6, generator=seeded()), images)
    assert torch.equal(model.sample(6, labels=[1] * 6, generator=seeded()), images)  # labels are ignored

    # Given codes are used as given; the same generator then draws the same z.
    same, used = model.sample_with_codes(6, codes=codes, generator=seeded())
    assert torch.equal(same, images) and torch.equal(used["continuous"], codes["continuous"])
    other_cat = {"categorical": (codes["categorical"] + 1) % 10, "continuous": codes["continuous"]}
    assert not torch.equal(model.sample_with_codes(6, codes=other_cat, generator=seeded())[0], images)
    _, partial = model.sample_with_codes(6, codes={"categorical": [[3]] * 6}, generator=seeded())
    assert (partial["categorical"] == 3).all() and partial["continuous"].shape == (6, 2)
    with pytest.raises(ValueError, match=r"\[0, K\)"):
        model.sample_with_codes(2, codes={"categorical": [[0], [10]]})


def test_traverse_sweeps_one_code_and_holds_the_rest():
    model = build(categorical=(10,), continuous=2)
    images, values = model.traverse("categorical", 0, n=3, generator=seeded(4))
    assert images.shape == (3, 10, *SHAPE) and torch.equal(values, torch.arange(10))
    # Row i is z_i and the codes drawn for it, with the categorical code set to each value in turn.
    g = seeded(4)
    base = model.check_codes(3, None, g)
    z = torch.randn(3, model.config.z_dim, generator=g)
    for v in (0, 7):
        codes = {"categorical": torch.full((3, 1), v), "continuous": base["continuous"]}
        torch.testing.assert_close(images[:, v], model.decode(z, codes), rtol=0, atol=0)

    images, values = model.traverse("continuous", 1, n=2, steps=4, generator=seeded(4))
    assert images.shape == (2, 4, *SHAPE)
    torch.testing.assert_close(values, torch.tensor([-1, -1 / 3, 1 / 3, 1]))
    assert not torch.equal(images[:, 0], images[:, -1])
    with pytest.raises(ValueError, match="categorical' or 'continuous"):
        model.traverse("style", 0)


def test_samples_come_from_the_ema_generator():
    model = build(ema_decay=0.5)
    start = {k: v.clone() for k, v in model.G.state_dict().items()}
    model.train_step(torch.rand(8, *SHAPE), None)
    for k, p in model.G.named_parameters():
        torch.testing.assert_close(model.ema.state_dict()[k], 0.5 * start[k] + 0.5 * p.detach())
    from_ema = model.sample(4, generator=seeded())
    model.ema.load_state_dict(model.G.state_dict())
    assert not torch.equal(model.sample(4, generator=seeded()), from_ema)
    assert build(ema_decay=0.0).ema is None


def test_q_recovers_the_categorical_code_of_generated_digits(digits):
    """The MI term makes the code visible: after 300 steps Q reads G's categorical code back."""
    model = build(digits.image_shape, width=16)
    model.fit(digits.train_x, steps=300, batch_size=32, seed=0)
    images, codes = model.sample_with_codes(500, generator=seeded(1))
    model.eval()
    with torch.no_grad():
        _, q = model.discriminate(images.float() / 255 * 2 - 1)
    accuracy = (q[:, :10].argmax(1) == codes["categorical"][:, 0]).float().mean().item()
    # Measured over seeds 0-2 (300 steps of 32 at width 16, ~7 s of CPU): 0.88-0.91; chance is 0.1.
    # (At 150 steps it is still 0.29-0.32.)
    assert accuracy > 0.5, accuracy
