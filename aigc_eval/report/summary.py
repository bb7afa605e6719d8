"""One sentence per dataset, generated from its numbers: which model is best here, does it
hallucinate, does it do what it is asked. Nothing in it is written by hand.

Each clause names the model marked best in a column of the dataset's view (views.py: among
models, where the direction means something), with its mean ± std; where every model ties, it
says so ("all models tie on hallucination rate (1 ± 0)"):

    quality        the first ranked headline column of the fidelity or text-overlap family;
    hallucination  hallucination_rate, else true_rate (on facts a sentence the world does not
                   contain is false *or* ungrammatical, so the lowest factual_hallucination_rate
                   alone would praise a model that writes no grammatical sentence at all), else
                   factual_hallucination_rate;
    control        factor_match, else controllability, else cond_accuracy ("the only model that
                   takes requests" when one model has it);
    held out       controllability_heldout: "every model fails the held-out combinations" when no
                   model renders half of them.
"""
from __future__ import annotations

from .views import DatasetView

HALLUCINATION = ("hallucination_rate", "true_rate", "factual_hallucination_rate")
CONTROL = ("factor_match", "controllability", "cond_accuracy")
QUALITY_FAMILIES = ("fidelity", "text overlap")
HELD_OUT = "controllability_heldout"
FAILS_BELOW = 0.5  # a model that renders under half of the held-out requests fails them


def _label(name: str) -> str:
    """hallucination_rate -> "hallucination rate"; fd_shapes-cnn -> "FD_shapes-cnn" (the README's name)."""
    return "FD_" + name[3:] if name.startswith("fd_") else name.replace("_", " ")


def _quote(view: DatasetView, model: str, name: str, named: bool = True) -> str:
    text = next(r for r in view.rows if r.model == model).values[name].text
    return f"{_label(name)} {text}" if named else text


def _best_clause(view: DatasetView, name: str, verbs: tuple[str, str], named: bool = True) -> str | None:
    """"<model> <verb> (<value>)", tied models sharing the clause ("a and b <plural verb>"); when
    every model ties (views.py marks no best) "all models tie on <name> (<value>)"."""
    best = view.best(name)
    if best:
        return f"{' and '.join(best)} {verbs[len(best) > 1]} ({_quote(view, best[0], name, named)})"
    if view.columns[name].tied:
        text = next(r.values[name].text for r in view.rows if not r.calibration and name in r.values)
        return f"all models tie on {_label(name)} ({text})"
    return None


def _first(view: DatasetView, names) -> str | None:
    return next((n for n in names if n in view.columns), None)


def summary_sentence(view: DatasetView) -> str:
    clauses = []
    quality = next((n for n in view.headline if view.columns[n].family in QUALITY_FAMILIES
                    and view.columns[n].ranked), None)
    if quality:
        verbs = ("is closest to the data", "are closest to the data") if quality.startswith(("fd", "fid")) \
            else (f"has the best {_label(quality)}", f"have the best {_label(quality)}")
        clauses.append(_best_clause(view, quality, verbs))
    hallucination = _first(view, HALLUCINATION)
    if hallucination:
        best = f"the {'highest' if view.columns[hallucination].higher_is_better else 'lowest'} {_label(hallucination)}"
        clauses.append(_best_clause(view, hallucination, (f"has {best}", f"have {best}"), named=False))
    control = _first(view, CONTROL)
    if control:
        takers = [r for r in view.rows if not r.calibration and control in r.values]
        clauses.append(_best_clause(view, control, ("follows requests best", "follow requests best"))
                       if len(takers) > 1 else
                       f"{takers[0].model} is the only model that takes requests "
                       f"({_quote(view, takers[0].model, control)})" if takers else None)
    held = [r for r in view.rows if not r.calibration and HELD_OUT in r.values]
    if held:
        top = max(held, key=lambda r: r.values[HELD_OUT].mean)
        if top.values[HELD_OUT].mean < FAILS_BELOW:
            who = f"every model fails the held-out combinations (best: {top.model}, " if len(held) > 1 else \
                f"{top.model} fails the held-out combinations ("
            clauses.append(f"{who}{_quote(view, top.model, HELD_OUT)})")
    clauses = [c for c in clauses if c]
    if not clauses:
        return f"On {view.dataset}, no headline column ranks the models."
    return f"On {view.dataset}, " + "; ".join(clauses) + "."
