"""Values derived from an object, built once for as long as that object is current.

Cached session records and verified tokens' principals are replaced, never changed
(a touch, a role change or a revocation yields a new object or none), so what is
derived from one (a principal, an encoded reply) can be kept next to it and
reused while the caller still holds that very object.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class SourceMemo(Generic[V]):
    def __init__(self, max_entries: int = 100_000) -> None:
        self._values: dict[Hashable, tuple[object, V]] = {}
        self._max_entries = max_entries

    def get(self, key: Hashable, source: object, build: Callable[[], V]) -> V:
        hit = self._values.get(key)
        if hit is not None and hit[0] is source:
            return hit[1]
        value = build()
        if len(self._values) >= self._max_entries:
            self._values.clear()  # cheap and rare: the next requests rebuild what they need
        self._values[key] = (source, value)
        return value

    def __len__(self) -> int:
        return len(self._values)
