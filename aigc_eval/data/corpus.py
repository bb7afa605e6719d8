"""User text corpora: one sentence per line (.txt) or one JSON object per line (.jsonl).

    .txt     UTF-8, one sentence per line; blank lines are skipped (and counted)
    .jsonl   UTF-8, {"text": "...", "label": "..."} per line; `label` (a string or an integer) is
             optional but then on every line or on none; blank lines are skipped (and counted)

The `corpus` dataset reads a train and a test file from --data-root (or from its `subdir`):

    DIR/train.txt | DIR/train.jsonl     exactly one of the two
    DIR/test.txt  | DIR/test.jsonl

Class names are the sorted distinct train labels; every test label must occur in train.
The tokenize mode ("space", or "char" for CJK) is detected from the train sentences unless the
`tokenize` option forces it. Every problem is a one-line UserError naming the file and line.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..tokenize import MODES, detect_mode
from .base import TextDataset
from .local import one_line, require_root

SUFFIXES = (".txt", ".jsonl")
LAYOUT = "train.txt or train.jsonl, and test.txt or test.jsonl"


@dataclass(frozen=True)
class Corpus:
    path: str
    sentences: tuple[str, ...]
    labels: tuple[str, ...] | None  # None when the file has no labels
    blank_lines: int
    tokenize: str  # detected: "space" or "char"


def load_corpus(path) -> Corpus:
    """Read a .txt or .jsonl corpus; raises UserError naming the file and line on bad input."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise UserError(f"{path}: expected a .txt or .jsonl file, got {path.suffix or 'no suffix'!r}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {one_line(exc)}") from None
    try:
        text = data.decode("utf-8-sig")  # tolerate the BOM that some editors write
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise UserError(f"{path} line {line}: not valid UTF-8 (byte {data[exc.start]:#04x}); "
                        f"save the file as UTF-8") from None
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")  # Windows, Unix and old Mac
    if lines and lines[-1] == "":  # the newline that ends the last line opens no new one
        lines.pop()
    sentences, labels, blank = [], [], 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            blank += 1
            continue
        if path.suffix.lower() == ".txt":
            sentences.append(line.strip())
            continue
        sentence, label = _json_record(path, number, line)
        if sentences and (label is None) != (labels[0] is None):
            raise UserError(f"{path} line {number}: "
                            + ("no \"label\" but earlier lines have one" if label is None
                               else "has a \"label\" but earlier lines have none")
                            + "; label every line or none")
        sentences.append(sentence)
        labels.append(label)
    if not sentences:
        raise UserError(f"{path}: no sentences (the file is empty or has only blank lines)")
    has_labels = bool(labels) and labels[0] is not None
    return Corpus(str(path), tuple(sentences), tuple(labels) if has_labels else None, blank,
                  detect_mode(sentences))


def _json_record(path: Path, number: int, line: str) -> tuple[str, str | None]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} line {number}: invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise UserError(f"{path} line {number}: expected a JSON object like {{\"text\": \"...\"}}, "
                        f"got {type(record).__name__}")
    if "text" not in record:
        raise UserError(f"{path} line {number}: missing \"text\" field")
    text = record["text"]
    if not isinstance(text, str) or not text.strip():
        raise UserError(f"{path} line {number}: \"text\" must be a non-empty string, got {text!r}"[:200])
    label = record.get("label")
    if label is not None and (isinstance(label, bool) or not isinstance(label, (str, int))):
        raise UserError(f"{path} line {number}: \"label\" must be a string or an integer, got {label!r}"[:200])
    return text.strip(), None if label is None else str(label)


def _split_file(root: Path, split: str) -> Path:
    found = [root / f"{split}{suffix}" for suffix in SUFFIXES if (root / f"{split}{suffix}").is_file()]
    if not found:
        raise UserError(f"corpus: {root} has no {split}.txt or {split}.jsonl; expected {LAYOUT}")
    if len(found) > 1:
        raise UserError(f"corpus: {root} has both {found[0].name} and {found[1].name}; keep one")
    return found[0]


def load_corpus_dataset(data_root=None, subdir: str | None = None, tokenize: str = "auto") -> TextDataset:
    """The `corpus` dataset: train and test files from --data-root (see the module docstring)."""
    if tokenize != "auto" and tokenize not in MODES:
        raise UserError(f"corpus: option tokenize must be auto, {' or '.join(MODES)}; got {tokenize!r}")
    root = require_root("corpus", data_root, LAYOUT, subdir)
    train, test = (load_corpus(_split_file(root, split)) for split in ("train", "test"))
    if (train.labels is None) != (test.labels is None):
        unlabelled = train if train.labels is None else test
        raise UserError(f"corpus: {unlabelled.path} has no labels but the other split has; label both or neither")
    class_names, train_y, test_y = (), None, None
    if train.labels is not None:
        class_names = tuple(sorted(set(train.labels)))
        unseen = sorted(set(test.labels) - set(class_names))
        if unseen:
            raise UserError(f"corpus: {test.path} has label(s) {', '.join(map(repr, unseen[:5]))} "
                            f"that {Path(train.path).name} never uses")
        index = {name: i for i, name in enumerate(class_names)}
        train_y, test_y = (np.array([index[lab] for lab in c.labels], dtype=np.int64) for c in (train, test))
    return TextDataset("corpus", train.sentences, test.sentences, train_y, test_y, class_names,
                       tokenize=train.tokenize if tokenize == "auto" else tokenize,
                       meta={"source": str(root), "train_file": Path(train.path).name,
                             "test_file": Path(test.path).name, "blank_lines": train.blank_lines + test.blank_lines,
                             "tokenize_detected": train.tokenize})
