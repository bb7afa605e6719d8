"""What `run` and `score` print: each dataset's summary sentence and headline table, at most
WIDTH characters wide. A table wider than that continues in a second block below, the model
column repeated, so no line wraps in a terminal. The full tables are in the report (and in
`--format md|csv|json`).

Colour (ANSI) only on a terminal and never when NO_COLOR is set (https://no-color.org): the best
value of a column is bold green, calibration rows are dim. Without colour the best value carries
a "*", so the mark survives a pipe.
"""
from __future__ import annotations

import os
import textwrap

from .summary import summary_sentence
from .views import DatasetView, dataset_views

WIDTH = 100
GAP = "  "
_BEST, _DIM, _BOLD, _RESET = "\x1b[1;32m", "\x1b[2m", "\x1b[1m", "\x1b[0m"


def use_color(stream) -> bool:
    """ANSI colour for this stream: a terminal, and NO_COLOR unset or empty."""
    return not os.environ.get("NO_COLOR") and hasattr(stream, "isatty") and stream.isatty()


def _blocks(widths: list[int], first: int, width: int) -> list[list[int]]:
    """Column indices per block: as many as fit beside the model column."""
    blocks, current, used = [], [], first
    for i, w in enumerate(widths):
        if current and used + len(GAP) + w > width:
            blocks.append(current)
            current, used = [], first
        current.append(i)
        used += len(GAP) + w
    return blocks + [current] if current else blocks


def headline_table(view: DatasetView, width: int = WIDTH, color: bool = False) -> list[str]:
    names = view.headline
    models = [r.model + (" [cal]" if r.calibration else "") for r in view.rows]
    heads = [f"{n} {view.columns[n].arrow}" for n in names]
    cells = [[(r.values[n].text + ("*" if r.values[n].best and not color else "")) if n in r.values else ""
              for n in names] for r in view.rows]
    first = max(len(m) for m in models + ["model"])
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(heads)]
    # a column wider than a whole line is cut rather than overflow it
    widths = [min(w, width - first - len(GAP)) for w in widths]
    lines = []
    for block in _blocks(widths, first, width):
        head = "model".ljust(first) + "".join(GAP + heads[i][:widths[i]].rjust(widths[i]) for i in block)
        lines.append(f"{_BOLD}{head}{_RESET}" if color else head)
        for row, model, values in zip(view.rows, models, cells):
            parts = [model.ljust(first)]
            for i in block:
                text = values[i][:widths[i]].rjust(widths[i])
                if color and row.values.get(names[i]) and row.values[names[i]].best:
                    text = f"{_BEST}{text}{_RESET}"
                parts.append(GAP + text)
            line = "".join(parts).rstrip()
            lines.append(f"{_DIM}{line}{_RESET}" if color and row.calibration else line)
        lines.append("")
    return lines


def headline_text(results, width: int = WIDTH, color: bool = False) -> str:
    """Every dataset's summary sentence and headline table, no line wider than `width`."""
    out = []
    for view in dataset_views(results):
        title = f"{view.dataset} ({view.kind})"
        out.append(f"{_BOLD}{title}{_RESET}" if color else title)
        out += textwrap.wrap(summary_sentence(view), width)
        if view.headline:
            out += headline_table(view, width, color)
        else:
            out += ["(no headline columns; see the report)", ""]
    marker = "best model per column in green" if color else "* best model per column"
    out += textwrap.wrap(f"{marker}; [cal]: calibration rows, which bound each column and are never ranked; "
                         "mean ± std over seeds.", width)
    return "\n".join(out)
