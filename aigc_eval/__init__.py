"""aigc-eval: reproducible evaluation of generative models.

Data flows one way: dataset -> model -> samples -> features -> metrics -> results -> report.
"""

__version__ = "0.1.0"


def __getattr__(name):
    # `aigc_eval.evaluate` without importing torch for `aigc-eval --help` and the other commands
    if name in ("evaluate", "Results"):
        from . import score

        return getattr(score, name)
    raise AttributeError(f"module 'aigc_eval' has no attribute {name!r}")


__all__ = ["Results", "evaluate"]
