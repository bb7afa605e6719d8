"""Tokenisation shared by text models and text metrics.

Two modes, recorded in every text signature as `tok:`:
- "space": words are separated by whitespace (the built-in corpora are pre-tokenised this way).
- "char": every non-space character is a token. Used for Chinese, Japanese and Korean, which are
  written without spaces: word tokenizers such as sacrebleu's 13a or rouge-score's default would
  see one giant token (or none) and score identical CJK strings 0.
"auto" picks "char" when a corpus is mostly CJK characters.
"""
from __future__ import annotations

import re

MODES = ("space", "char")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def tokenize(text: str, mode: str = "space") -> list[str]:
    if mode == "space":
        return text.split()
    if mode == "char":
        return [ch for ch in text if not ch.isspace()]
    raise ValueError(f"unknown tokenize mode {mode!r}; valid: {', '.join(MODES)}")


def detokenize(tokens: list[str], mode: str = "space") -> str:
    return ("" if mode == "char" else " ").join(tokens)


def detect_mode(sentences, threshold: float = 0.3) -> str:
    """'char' when more than `threshold` of the non-space characters are CJK, else 'space'."""
    text = "".join(sentences[:1000])
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return "space"
    cjk = sum(1 for c in chars if _CJK.match(c))
    return "char" if cjk / len(chars) > threshold else "space"
