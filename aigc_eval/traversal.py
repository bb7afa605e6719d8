"""Code traversals: does a model's latent code control what the oracle sees?

InfoGAN (reference_models/infogan.py) claims that its codes are interpretable: sweep one code with
the noise and the other codes held, and one property of the image changes. On an oracle world that
claim is checkable. For every code, `rows` draws of the rest are each swept over the code's values
(every value of a categorical code, `steps` evenly spaced values of a continuous one); the shapes
oracle reads each sample's factors.

For a code and a factor, the code's *mapping* takes each code value to the factor value read most
often at it (over half of the rows). The **follow share** is the share of samples in the other half
whose read factor equals the mapping's value at their code value; the **constant share** is the
share equal to the single most common reading (fitted on the first half too), which a code that
controls nothing also gets. The factor a code captures is
the one with the largest lead of follow share over constant share; the lead is 0 when the code
changes nothing the oracle reads.
"""
from __future__ import annotations

import io

import numpy as np
import torch

from .metrics.shapes_oracle import judge
from .worlds.shapes import FACTORS, ShapesWorld

CAPTION_SCALE = 4  # pixels per image pixel in the traversal figure


def _majority(values: np.ndarray) -> int:
    found, counts = np.unique(values, return_counts=True)
    return int(found[np.argmax(counts)])


def follow_shares(read: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(follow share, constant share) per factor for readings `read`, rows x values x factors.

    The mapping and the constant are fitted on the even rows and scored on the odd ones: fitted
    and scored on the same rows, a per-value majority beats a single one by chance alone (4 rows:
    0.65 against 0.50 for an untrained model)."""
    fit, held = read[0::2], read[1::2]
    if len(held) == 0:
        raise ValueError("follow_shares needs at least 2 rows (one to fit the mapping, one to score it)")
    factors = read.shape[2]
    follow, constant = np.zeros(factors), np.zeros(factors)
    for k in range(factors):
        mapping = np.array([_majority(fit[:, v, k]) for v in range(read.shape[1])])
        follow[k] = np.mean(held[:, :, k] == mapping[None, :])
        constant[k] = np.mean(held[:, :, k] == _majority(fit[:, :, k].ravel()))
    return follow, constant


def code_list(model, seed: int = 0) -> list[tuple[str, int]]:
    """(kind, index) of every code of a CodeModel, as its sample_with_codes names them."""
    _, codes = model.sample_with_codes(1, generator=torch.Generator().manual_seed(seed))
    return [(kind, i) for kind in sorted(codes) for i in range(np.asarray(codes[kind]).reshape(1, -1).shape[1])]


def code_traversals(model, world_meta: dict, rows: int = 8, steps: int = 5, seed: int = 0) -> list[dict]:
    """One entry per code: code, values, the captured factor, follow and constant shares (for every
    factor too), the share of valid samples, and the first row's readings (for the figure)."""
    out = []
    for kind, index in code_list(model, seed):
        images, values = model.traverse(kind, index, n=rows, steps=steps,
                                        generator=torch.Generator().manual_seed(seed))
        images = np.asarray(images)
        r, v = images.shape[:2]
        verdict = judge(images.reshape(r * v, *images.shape[2:]), world_meta)
        read = ShapesWorld.factors_of(verdict.labels).reshape(r, v, len(FACTORS))
        follow, constant = follow_shares(read)
        best = int(np.argmax(follow - constant))
        out.append({
            "code": f"{kind} {index}", "values": [round(float(x), 3) for x in np.asarray(values)],
            "factor": list(FACTORS)[best], "follow_share": float(follow[best]),
            "constant_share": float(constant[best]),
            "per_factor": {name: {"follow_share": float(follow[k]), "constant_share": float(constant[k])}
                           for k, name in enumerate(FACTORS)},
            "valid_share": float(verdict.valid.mean()), "rows": r,
            "first_row": {"images": images[0], "labels": verdict.labels[:v], "verdicts": list(verdict.verdict[:v])},
        })
    return out


def reading_caption(label: int, verdict: str) -> tuple[str, str]:
    """Two short lines naming what the oracle read: 'circle red', 'S top-left' (S/L: small/large),
    with ' ?' after an ambiguous reading and ' x' after a hallucinated one."""
    shape, colour, size, position = (list(values)[i] for values, i in
                                     zip(FACTORS.values(), ShapesWorld.factors_of([label])[0]))
    mark = "" if verdict == "valid" else (" ?" if verdict == "ambiguous" else " x")
    return f"{shape} {colour}", f"{size[0].upper()} {position}{mark}"


def traversal_png(traversals: list[dict]) -> bytes:
    """The traversal figure: one row per code (its first draw swept over the code's values), each
    sample enlarged, with the oracle's reading under it; the row's label names the code and the
    factor it captures."""
    from PIL import Image, ImageDraw

    cell = traversals[0]["first_row"]["images"].shape[-1] * CAPTION_SCALE
    caption_h, label_w, gap = 24, 150, 4
    column = max(cell, 104)  # 104: the widest caption, "S middle-centre ?", in PIL's default font
    n_cols = max(len(t["values"]) for t in traversals)
    width = label_w + n_cols * (column + gap)
    row_h = cell + caption_h + gap * 3
    canvas = Image.new("RGB", (width, row_h * len(traversals)), "white")
    draw = ImageDraw.Draw(canvas)
    for r, t in enumerate(traversals):
        y = r * row_h + gap
        draw.text((4, y + 4), t["code"], fill="black")
        draw.text((4, y + 18), f"-> {t['factor']}", fill="black")
        draw.text((4, y + 32), f"follows {t['follow_share']:.2f}", fill="black")
        draw.text((4, y + 46), f"(constant {t['constant_share']:.2f})", fill="black")
        first = t["first_row"]
        for c, image in enumerate(first["images"]):
            x = label_w + c * (column + gap)
            tile = Image.fromarray(np.ascontiguousarray(np.moveaxis(image, 0, -1)))
            canvas.paste(tile.resize((cell, cell), Image.NEAREST), (x, y))
            colour = "black" if first["verdicts"][c] == "valid" else "#c0392b"
            for line, text in enumerate(reading_caption(int(first["labels"][c]), first["verdicts"][c])):
                draw.text((x, y + cell + 1 + 11 * line), text, fill=colour)
    buf = io.BytesIO()
    canvas.save(buf, format="PNG", optimize=True)
    return buf.getvalue()
