"""Name -> factory registries for datasets, models, metrics and feature extractors.

Entries may be registered lazily as "module:attr" strings so that `aigc-eval list` and the
CLI start without importing torch-heavy modules they will not use. Every registry type-checks
what it holds, as torch-fidelity's `register_*` functions do: its `check(name, obj)` runs when an
object is registered, or when a lazy entry is first loaded, and raises TypeError naming the entry.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Protocol

from .errors import unknown_name


def protocol_members(proto: type) -> list[str]:
    """The attributes and public methods a typing.Protocol asks for (its own and its parents')."""
    names: list[str] = []
    for base in proto.__mro__:
        if base is Protocol or not base.__dict__.get("_is_protocol"):
            continue
        names += list(base.__dict__.get("__annotations__", {}))
        names += [k for k, v in vars(base).items() if callable(v) and not k.startswith("_")]
    return list(dict.fromkeys(names))


def missing_members(obj: Any, proto: type) -> list[str]:
    """What `obj` (a class or an instance) lacks of `proto`; [] when it implements it."""
    return [m for m in protocol_members(proto) if not hasattr(obj, m)]


def is_subclass_of(base: type, what: str) -> Callable[[str, Any], None]:
    """A registry check: entries are subclasses of `base`."""
    def check(name: str, obj: Any) -> None:
        if not (isinstance(obj, type) and issubclass(obj, base)):
            raise TypeError(f"{what} {name!r}: expected a subclass of {base.__module__}.{base.__qualname__}, "
                            f"got {obj!r}")
    return check


def is_callable(what: str) -> Callable[[str, Any], None]:
    """A registry check: entries are callables (loader or factory functions)."""
    def check(name: str, obj: Any) -> None:
        if not callable(obj):
            raise TypeError(f"{what} {name!r}: expected a callable, got {obj!r}")
    return check


class Registry:
    def __init__(self, kind: str, check: Callable[[str, Any], None]):
        self.kind = kind
        self.check = check
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
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self.kind} names are non-empty strings, got {name!r}")
        if name in self._entries and self._entries[name] is not obj:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        if isinstance(obj, str):
            if ":" not in obj:
                raise TypeError(f"{self.kind} {name!r}: a lazy entry is 'module:attr', got {obj!r}")
        else:
            self.check(name, obj)
        self._entries[name] = obj

    def get(self, name: str) -> Any:
        if name not in self._entries:
            raise unknown_name(self.kind, name, self._entries)
        obj = self._entries[name]
        if isinstance(obj, str):
            module, _, attr = obj.partition(":")
            obj = getattr(importlib.import_module(module), attr)
            self.check(name, obj)
            self._entries[name] = obj
        return obj

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries
