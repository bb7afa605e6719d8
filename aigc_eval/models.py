"""Models by name, and the contract they implement: the reference models, and the calibration rows
that bound every leaderboard.

The contract is written down as two typing.Protocols. Every entry of MODELS is a `Sampler`: the
calibration rows are nothing more. Reference models are `TrainableModel`s
(reference_models/base.py implements the plumbing): their class attribute `DEFAULTS` holds the
documented default config per supported data shape ((C, H, W) for images, "text" for text
models). The harness builds every one of them, and every calibration row, through one factory
(harness.cell.build_model) and uses nothing outside these protocols, except `reconstruct` and
`nll` where a model has them (ReconstructionModel, LikelihoodModel), and `encode` or
`sample_with_codes` for disentanglement (EncoderModel, CodeModel).
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Mapping, Protocol, runtime_checkable

from .errors import UserError
from .registry import Registry, missing_members


@runtime_checkable
class Sampler(Protocol):
    """What every row of a leaderboard implements."""

    kind: ClassVar[str | None]  # "image" or "text": the data it models; None (calibration rows): any
    conditional: ClassVar[bool]  # True when sample() honours `labels`
    calibration: ClassVar[bool]  # True for the calibration rows, which are never trained or ranked

    def sample(self, n: int, labels=None, generator=None, **options) -> Any:
        """n samples: uint8 N x C x H x W images, or a list of str. Text models take `temperature`."""


@runtime_checkable
class TrainableModel(Sampler, Protocol):
    """A reference model: configured from DEFAULTS, trained step by step, checkpointed."""

    DEFAULTS: ClassVar[Mapping]  # data shape ((C, H, W) or "text") -> default config (a dataclass)

    def setup(self, device: str = "cpu", amp: bool = False, channels_last: bool = False, compile: bool = False):
        """Move to `device` and choose the numerics; returns the model."""

    def train_step(self, x, y) -> dict[str, float]:
        """One optimisation step on a batch (images as floats in [0, 1], or sentences); the losses."""

    def fit(self, x, y=None, steps: int = 1000, batch_size: int = 64, seed: int = 0) -> list[dict[str, float]]:
        """A plain training loop on random batches of (x, y); the per-step losses."""

    def checkpoint_state(self) -> dict:
        """Everything to resume training exactly, as plain tensors and numbers (weights_only-loadable)."""

    def load_checkpoint_state(self, state: dict) -> None: ...


@runtime_checkable
class ReconstructionModel(Protocol):
    def reconstruct(self, x, labels=None) -> Any:
        """Reconstructions of real examples (VAEs), for PSNR/SSIM or ROUGE."""


@runtime_checkable
class EncoderModel(Protocol):
    def encode(self, x, labels=None) -> Any:
        """A code vector per real example (a VAE's posterior mean), for disentanglement metrics."""


@runtime_checkable
class CodeModel(Protocol):
    def sample_with_codes(self, n: int, codes=None, generator=None) -> tuple[Any, dict]:
        """(samples, the latent codes that made them) (InfoGAN), for disentanglement metrics."""

    def traverse(self, code: str, index: int = 0, n: int = 8, steps: int = 5, generator=None) -> tuple[Any, Any]:
        """Sweep one code with the rest held: (n x V samples, the V code values)."""


@runtime_checkable
class LikelihoodModel(Protocol):
    nll_is_bound: ClassVar[bool]  # True when nll() is the negative ELBO, an upper bound

    def nll(self, sentences, labels=None) -> float | None:
        """Test-set negative log-likelihood per token."""


def _check_model(name: str, cls) -> None:
    """The MODELS registry's check: a class that implements Sampler, and TrainableModel unless it is a
    calibration row."""
    if not isinstance(cls, type):
        raise TypeError(f"model {name!r}: expected a class implementing aigc_eval.models.Sampler, got {cls!r}")
    proto = Sampler if getattr(cls, "calibration", False) else TrainableModel
    missing = missing_members(cls, proto)
    if missing:
        raise TypeError(f"model {name!r}: {cls.__name__} does not implement aigc_eval.models.{proto.__name__}: "
                        f"no {', '.join(missing)}")


MODELS = Registry("model", check=_check_model)
# image models
MODELS.register("dcgan", "reference_models.dcgan:DCGAN")
MODELS.register("vae", "reference_models.vae:VAE")
MODELS.register("wgan_gp", "reference_models.wgan_gp:WGANGP")
MODELS.register("sngan", "reference_models.sngan:SNGAN")
MODELS.register("cgan", "reference_models.cgan:ConditionalGAN")
MODELS.register("beta_vae", "reference_models.beta_vae:BetaVAE")
MODELS.register("cvae", "reference_models.cvae:ConditionalVAE")
MODELS.register("ddpm", "reference_models.ddpm:DDPM")
MODELS.register("cddpm", "reference_models.ddpm:ConditionalDDPM")
MODELS.register("infogan", "reference_models.infogan:InfoGAN")
# text models
MODELS.register("sentence_vae", "reference_models.sentence_vae:SentenceVAE")
MODELS.register("csentence_vae", "reference_models.csentence_vae:ConditionalSentenceVAE")
MODELS.register("lm", "reference_models.lm:LanguageModel")
MODELS.register("text_gan", "reference_models.text_gan:TextGAN")
# calibration rows: not models, but they are scored like models to give each metric a floor and ceiling
MODELS.register("real-test", "aigc_eval.calibration:RealTest")
MODELS.register("copy-train", "aigc_eval.calibration:CopyTrain")
MODELS.register("noise", "aigc_eval.calibration:UniformNoise")
MODELS.register("unigram", "aigc_eval.calibration:Unigram")


def default_config(model_cls, data_key):
    """The documented default config of `model_cls` for `data_key` ((C,H,W) or "text")."""
    defaults = model_cls.DEFAULTS
    if data_key not in defaults and isinstance(data_key, tuple):
        # The networks are channel-agnostic: the config for the same H x W serves grey and RGB alike.
        same_size = [k for k in defaults if isinstance(k, tuple) and k[1:] == data_key[1:]]
        if same_size:
            data_key = same_size[0]
    if data_key not in defaults:
        raise UserError(f"model {model_cls.__name__} has no default config for data shape {data_key}; "
                        f"supported: {', '.join(map(str, defaults))}")
    return dataclasses.replace(defaults[data_key])


def apply_overrides(config, overrides: dict, where: str):
    """Return `config` with `overrides` applied; unknown keys are a user error naming `where`."""
    if not overrides:
        return config
    names = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise UserError(f"{where}: unknown config key(s) {', '.join(unknown)}; valid: {', '.join(sorted(names))}")
    from .validate import check_config_types

    check_config_types(config, overrides, f"{where}.config")
    try:
        return dataclasses.replace(config, **overrides)
    except ValueError as e:  # a config's own check of its values (__post_init__)
        raise UserError(f"{where}.config: {e}") from None
