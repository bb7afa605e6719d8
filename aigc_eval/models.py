"""Models by name: the reference models, and the calibration rows that bound every leaderboard.

Each reference model file defines the model class and `DEFAULTS`, its documented default config
per supported data shape ((C, H, W) for images, "text" for text models).
"""
from __future__ import annotations

import dataclasses
import sys

from .errors import UserError
from .registry import Registry

MODELS = Registry("model")
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
    defaults = getattr(sys.modules[model_cls.__module__], "DEFAULTS", None)
    if defaults is None:
        return None
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
    return dataclasses.replace(config, **overrides)
