"""An in-process cache whose entries a revocation message can drop on every process.

Entries live until a deadline the caller computes, are dropped on pub/sub
invalidation (``<kind>:<name>`` for one entry, ``<owner kind>:<owner>`` — by
default ``u:<user id>`` — for all of an owner's), and are not used at all while
the invalidation link is down. A generation counter closes the race where a
revocation lands between a Redis read and the insert. Sessions, access tokens
and verified API-client credentials each keep one.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class RevocableCache(Generic[V]):
    def __init__(self, *, ttl_s: float, max_entries: int, is_trusted: Callable[[], bool],
                 message_kind: str | None, owner_kind: str = "u") -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._is_trusted = is_trusted
        self._message_kind = message_kind
        self._owner_kind = owner_kind
        # key -> (value, deadline, owner, name)
        self._entries: OrderedDict[Hashable, tuple[V, float, str, str]] = OrderedDict()
        # A set, not one key: several keys can stand for one name (two spellings of one
        # token), and a revocation of the name must drop every one of them.
        self._by_name: dict[str, set[Hashable]] = {}
        self._by_owner: dict[str, set[Hashable]] = {}
        self.generation = 0

    def get(self, key: Hashable, now: float) -> V | None:
        if not self._is_trusted():
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now >= entry[1]:
            self._drop(key)
            return None
        return entry[0]

    def store(self, key: Hashable, value: V, *, owner: str, name: str, until: float, now: float,
              generation: int) -> None:
        """Keep ``value`` until ``until`` (at most ``ttl_s``), if it was read at ``generation``;
        skipped when any invalidation arrived since (it may have been about this entry).

        Stored even while the link is not proven current: ``get`` serves nothing until it
        is, every message published after the read still arrives in order and drops the
        entry, and a lost link resets the cache (a new generation) before it serves again.
        So the first lookups after a quiet spell fill the cache, too."""
        if generation != self.generation or self.ttl_s <= 0:
            return
        until = min(until, now + self.ttl_s)
        if until <= now:
            return
        # A key stored again may come with another name or owner: its old index entries go first.
        self._drop(key)
        if len(self._entries) >= self.max_entries:
            oldest, entry = self._entries.popitem(last=False)
            self._unindex(oldest, entry)
        self._entries[key] = (value, until, owner, name)
        self._by_name.setdefault(name, set()).add(key)
        self._by_owner.setdefault(owner, set()).add(key)

    def on_message(self, message: str) -> None:
        kind, _, name = message.partition(":")
        if kind == self._message_kind:
            self.generation += 1
            for key in list(self._by_name.get(name, ())):
                self._drop(key)
        elif kind == self._owner_kind:
            self.generation += 1
            for key in list(self._by_owner.get(name, ())):
                self._drop(key)

    def reset(self) -> None:
        self.generation += 1
        self._entries.clear()
        self._by_name.clear()
        self._by_owner.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _drop(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._unindex(key, entry)

    def _unindex(self, key: Hashable, entry: tuple[V, float, str, str]) -> None:
        _, _, owner, name = entry
        _discard(self._by_name, name, key)
        _discard(self._by_owner, owner, key)


def _discard(index: dict[str, set[Hashable]], label: str, key: Hashable) -> None:
    bucket = index.get(label)
    if bucket is not None:
        bucket.discard(key)
        if not bucket:
            del index[label]
