"""Permission strings ``resource:action`` with ``*`` wildcards, and their matching."""
from __future__ import annotations

import re
from collections.abc import Iterable

_PART = r"(?:[a-z0-9_][a-z0-9_.-]{0,63}|\*)"
_PERMISSION = re.compile(rf"\*|{_PART}:{_PART}")


def is_valid_permission(value: str) -> bool:
    """``resource:action`` with either part ``*``, or ``*`` alone (everything)."""
    return isinstance(value, str) and _PERMISSION.fullmatch(value) is not None


def normalize(value: str) -> str:
    return "*:*" if value == "*" else value


class PermissionSet:
    """Granted patterns; ``match`` costs at most four set lookups whatever the size."""

    __slots__ = ("_granted",)

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        self._granted = frozenset(normalize(p) for p in patterns)

    def match(self, required: str) -> str | None:
        """The granted pattern that covers ``required`` (a concrete ``resource:action``), or None."""
        resource, _, action = required.partition(":")
        for candidate in (required, f"{resource}:*", f"*:{action}", "*:*"):
            if candidate in self._granted:
                return candidate
        return None

    def allows(self, required: str) -> bool:
        return self.match(required) is not None

    def __iter__(self):
        return iter(sorted(self._granted))

    def __len__(self) -> int:
        return len(self._granted)
