"""Rules (``allow|deny <action> on <subject_type> [where <conditions>] [fields ...]``),
decisions, and the per-caller policy view that answers checks.

Order of a decision: a matching deny rule wins; then a role permission
(``subject_type:action``) or a matching allow rule allows; nothing matching denies.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, false, not_, or_, true
from sqlalchemy.sql.elements import ColumnElement

from app.authz import conditions
from app.authz.errors import RuleError, UnknownActionError
from app.authz.permissions import PermissionSet
from app.authz.sqlfilter import to_clause

EFFECTS = ("allow", "deny")
ANY_ACTION = "manage"  # a rule for "manage" covers every action
ANY_TYPE = "all"  # a rule on "all" covers every subject type
_NAME = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """A stored rule, already validated; ``node`` is its parsed condition tree."""

    id: str
    effect: str
    action: str
    subject_type: str
    conditions: dict | None
    fields: tuple[str, ...] | None
    role: str | None = None
    user_id: str | None = None
    node: Any = field(default=conditions.TRUE, compare=False)

    def summary(self) -> dict:
        return {"id": self.id, "effect": self.effect, "action": self.action,
                "subject_type": self.subject_type,
                **({"role": self.role} if self.role else {"user_id": self.user_id})}


def validate_rule(*, effect: Any, action: Any, subject_type: Any, conditions_: Any, fields: Any,
                  actions: frozenset[str]) -> tuple[str, str, str, dict | None, tuple[str, ...] | None, Any]:
    """Check a rule as written; returns its normalised parts and condition tree.

    :raises UnknownActionError: ``action`` is not one of the configured actions.
    :raises RuleError: anything else malformed.
    """
    if effect not in EFFECTS:
        raise RuleError("effect must be allow or deny.", field="effect")
    if not isinstance(action, str) or action not in actions:
        raise UnknownActionError(f"Unknown action; use one of: {', '.join(sorted(actions))}.", field="action")
    if not isinstance(subject_type, str) or not _NAME.fullmatch(subject_type):
        raise RuleError("subject_type must be a lowercase name (or \"all\").", field="subject_type")
    node = conditions.parse(conditions_)
    if fields is not None:
        if (not isinstance(fields, list) or not fields or len(fields) > 64
                or not all(isinstance(f, str) and _FIELD.fullmatch(f) for f in fields)):
            raise RuleError("fields must be a non-empty list of attribute names.", field="fields")
        fields = tuple(dict.fromkeys(fields))
    return effect, action, subject_type, (conditions.exact_numbers(conditions_) or None), fields, node


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    rule: dict | None
    detail: str = ""

    def reply(self) -> dict:
        reason: dict = {"rule": self.rule, "effect": "allow" if self.allowed else "deny"}
        if self.detail:
            reason["detail"] = self.detail
        return {"allowed": self.allowed, "reason": reason}


NO_MATCH = Decision(False, None, "no rule allows this")


class _Bound:
    __slots__ = ("spec", "test", "summary", "scans_lists")

    def __init__(self, spec: RuleSpec, context: Mapping[str, Any]) -> None:
        self.spec = spec
        self.test = conditions.compile_predicate(spec.node, context, missing=spec.effect == "deny")
        self.summary = spec.summary()
        self.scans_lists = conditions.scans_lists(spec.node)


class PolicyView:
    """Everything one caller may do under one policy version, precompiled for fast checks."""

    def __init__(self, *, roles: frozenset[str], permissions: PermissionSet, rules: Iterable[RuleSpec],
                 context: Mapping[str, Any]) -> None:
        self.roles = roles
        self.permissions = permissions
        self.context = dict(context)
        self._rules = [_Bound(r, self.context) for r in rules]
        # The placeholders this caller's rules refer to (which values a decision needs).
        self.placeholders = frozenset().union(*(conditions.placeholders_named(b.spec.node) for b in self._rules))
        self._index: dict[tuple[str, str], tuple[tuple[_Bound, ...], tuple[_Bound, ...], bool]] = {}

    def _applicable(self, action: str, subject_type: str) -> tuple[tuple[_Bound, ...], tuple[_Bound, ...], bool]:
        """(deny rules, allow rules, whether any of them looks inside list attributes)."""
        key = (action, subject_type)
        found = self._index.get(key)
        if found is None:
            hits = [b for b in self._rules
                    if b.spec.action in (action, ANY_ACTION) and b.spec.subject_type in (subject_type, ANY_TYPE)]
            found = (tuple(b for b in hits if b.spec.effect == "deny"),
                     tuple(b for b in hits if b.spec.effect == "allow"),
                     any(b.scans_lists for b in hits))
            if len(self._index) < 4096:
                self._index[key] = found
        return found

    def check(self, action: str, subject_type: str, attributes: Mapping[str, Any] | None = None,
              field_: str | None = None) -> Decision:
        """May this caller do ``action`` on a ``subject_type`` with ``attributes`` (to ``field_``)?"""
        attrs = attributes or {}
        denies, allows, scans_lists = self._applicable(action, subject_type)
        if scans_lists:
            # Every $all/$any rule of this check then shares one pass over a long list.
            attrs = conditions.Attributes(attrs)
        for bound in denies:
            fields = bound.spec.fields
            # A deny limited to fields only denies those fields, not the whole object.
            if (fields is None or (field_ is not None and field_ in fields)) and bound.test(attrs):
                return Decision(False, bound.summary)
        granted = self.permissions.match(f"{subject_type}:{action}")
        if granted is not None:
            return Decision(True, {"permission": granted})
        for bound in allows:
            fields = bound.spec.fields
            if (fields is None or field_ is None or field_ in fields) and bound.test(attrs):
                return Decision(True, bound.summary)
        return NO_MATCH

    def sql_filter(self, action: str, subject_type: str, columns: Mapping[str, ColumnElement]) -> ColumnElement:
        """A WHERE clause selecting exactly the rows ``check(action, subject_type, row)`` allows."""
        denies, allows, _ = self._applicable(action, subject_type)
        denied = [to_clause(b.spec.node, self.context, columns, missing=True)
                  for b in denies if b.spec.fields is None]
        if self.permissions.match(f"{subject_type}:{action}") is not None:
            allowed: ColumnElement = true()
        else:
            allowed = or_(false(), *(to_clause(b.spec.node, self.context, columns) for b in allows))
        if not denied:
            return allowed
        return and_(allowed, not_(or_(false(), *denied)))


def principal_context(*, kind: str, id: str, email: str | None, roles: frozenset[str]) -> dict[str, Any]:
    """What placeholders may refer to: only what the service itself knows about the caller."""
    return {"user.id": id or None, "user.email": email or None, "user.kind": kind,
            "user.roles": tuple(sorted(roles))}
