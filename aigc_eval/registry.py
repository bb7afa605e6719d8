"""Name -> factory registries for datasets, models, metrics and feature extractors.

Entries may be registered lazily as "module:attr" strings so that `aigc-eval list` and the
CLI start without importing torch-heavy modules they will not use.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

from .errors import unknown_name


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Any] = {}

    def register(self, name: str, obj: Any = None):
        """Register `obj` (or a "module:attr" path) under `name`; usable as a decorator."""
        if obj is not None:
            self._add(name, obj)
            return obj

        def decorator(fn: Callable) -> Callable:
            self._add(name, fn)
            return fn

        return decorator

    def _add(self, name: str, obj: Any) -> None:
        if name in self._entries and self._entries[name] is not obj:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = obj

    def get(self, name: str) -> Any:
        if name not in self._entries:
            raise unknown_name(self.kind, name, self._entries)
        obj = self._entries[name]
        if isinstance(obj, str):
            module, _, attr = obj.partition(":")
            obj = getattr(importlib.import_module(module), attr)
            self._entries[name] = obj
        return obj

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries
