"""The role graph: an edge ``role -> parent`` means ``role`` inherits everything ``parent`` has.

The graph is a DAG; writes refuse edges that would close a cycle, and reads stay
safe even if one slipped in (a visited set bounds every walk).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping


def closure(roles: Iterable[str], parents: Mapping[str, Iterable[str]]) -> frozenset[str]:
    """``roles`` and every role they inherit, transitively (diamonds counted once)."""
    seen: set[str] = set()
    stack = list(roles)
    while stack:
        role = stack.pop()
        if role in seen:
            continue
        seen.add(role)
        stack.extend(parents.get(role, ()))
    return frozenset(seen)


def find_cycle(role: str, new_parents: Iterable[str],
               parents: Mapping[str, Iterable[str]]) -> list[str] | None:
    """The cycle that giving ``role`` the parents ``new_parents`` would create, as a
    path ``[role, ..., role]``, or None when the graph stays acyclic."""
    for start in new_parents:
        path = _path(start, role, parents, {role: tuple(new_parents)})
        if path is not None:
            return [role, *path]
    return None


def _path(start: str, goal: str, parents: Mapping[str, Iterable[str]],
          override: Mapping[str, Iterable[str]]) -> list[str] | None:
    # Depth-first search with explicit parent links, so the reported cycle is a real path.
    came_from: dict[str, str | None] = {start: None}
    stack = [start]
    while stack:
        node = stack.pop()
        if node == goal:
            path = []
            cursor: str | None = node
            while cursor is not None:
                path.append(cursor)
                cursor = came_from[cursor]
            return path[::-1]
        for parent in override.get(node, parents.get(node, ())):
            if parent not in came_from:
                came_from[parent] = node
                stack.append(parent)
    return None
