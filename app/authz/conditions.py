"""Rule conditions: a small MongoDB-like language, parsed once at write time.

Syntax (JSON)::

    {"author_id": "${user.id}"}                  equality (a plain value)
    {"status": {"$in": ["draft", "review"]}}      operators: $eq $ne $in $nin $gt $gte $lt $lte $all $any
    {"$or": [{...}, {...}]}  {"$and": [...]}  {"$not": {...}}
    several keys in one object are ANDed.

Values: strings, numbers, booleans, null, lists (for $in/$nin/$all/$any).
A float of magnitude 2**53 or more (always a whole number) is kept as the int of its exact
value, in the condition tree and in what the admin API stores and answers (``exact_numbers``):
sent as JSON, 1e23 is the double 99999999999999991611392, but its text ``1e+23`` stored as
JSONB reads back as the int 10**23, above it, and a deny ``$gte`` 1e23 would then not apply
to 1e23 itself.
Placeholders (whole values only, never part of a string nor an item of a list):
``${user.id}``, ``${user.email}``, ``${user.kind}`` (scalars) and ``${user.roles}``
(a list: $in/$nin/$all/$any only).

Semantics shared by the point check and the SQL filter (a missing attribute is null):
- eq/$eq/$ne compare by type (true != 1); null equals only null; $ne is "is distinct from".
- $in: a non-null value equal to a member; $nin: null or not a member.
- $gt/$gte/$lt/$lte: numbers only; false when the attribute is null or not a number.
- Numbers are int, float and Decimal (a NUMERIC column as asyncpg reads it), compared
  exactly: Decimal("0.1") is below the double 0.1. NaN (float or Decimal) equals nothing
  and is in no order.
- $all/$any: the attribute is a list containing all / any of the operand's items.
- A placeholder with no value for this caller (e.g. a client has no email) is never
  "equal to null": its condition counts as true in a deny rule and false in an allow
  rule (flipped beneath $not), so such a rule fails closed whichever way it is written.
"""
from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.authz.errors import RuleError

SCALAR_OPS = frozenset({"$eq", "$ne"})
LIST_OPS = frozenset({"$in", "$nin", "$all", "$any"})
ORDER_OPS = frozenset({"$gt", "$gte", "$lt", "$lte"})
OPERATORS = SCALAR_OPS | LIST_OPS | ORDER_OPS
SCALAR_PLACEHOLDERS = frozenset({"user.id", "user.email", "user.kind"})
LIST_PLACEHOLDERS = frozenset({"user.roles"})
MAX_DEPTH = 6
MAX_LEAVES = 64
MAX_LIST = 100
MAX_STRING = 256
_ATTR = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_PLACEHOLDER = re.compile(r"\$\{([a-z_.]+)\}")


@dataclass(frozen=True, slots=True)
class Placeholder:
    name: str


@dataclass(frozen=True, slots=True)
class Leaf:
    attr: str
    op: str  # "$eq" for plain values
    operand: Any  # scalar, tuple of scalars, or Placeholder


@dataclass(frozen=True, slots=True)
class Junction:
    kind: str  # "and" | "or"
    parts: tuple


@dataclass(frozen=True, slots=True)
class Negation:
    part: Any


Node = Leaf | Junction | Negation
TRUE = Junction("and", ())
# A condition no caller has a value for. Like a placeholder without a value it counts for a
# deny rule and against an allow rule; it stands in for a stored rule that no longer parses.
UNREADABLE = Leaf("_", "$eq", Placeholder("unreadable"))


def parse(data: Any) -> Node:
    """The condition tree for ``data``.

    A float operand of magnitude 2**53 or more is taken as its exact int value (see the module
    docstring); store ``exact_numbers(data)``, so that what is stored is what is evaluated.

    :raises RuleError: malformed conditions, unknown operators or placeholders, limits exceeded.
    """
    if data is None:
        return TRUE
    counter = [0]
    return _parse_object(data, "conditions", 1, counter)


def _fail(path: str, message: str) -> RuleError:
    return RuleError(f"{path}: {message}", field=path)


def _parse_object(data: Any, path: str, depth: int, counter: list[int]) -> Node:
    if depth > MAX_DEPTH:
        raise _fail(path, f"nested deeper than {MAX_DEPTH} levels")
    if not isinstance(data, dict):
        raise _fail(path, "must be an object")
    parts = []
    for key, value in data.items():
        where = f"{path}.{key}"
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise _fail(where, "must be a non-empty list of objects")
            parts.append(Junction(key[1:], tuple(
                _parse_object(item, f"{where}[{i}]", depth + 1, counter) for i, item in enumerate(value))))
        elif key == "$not":
            parts.append(Negation(_parse_object(value, where, depth + 1, counter)))
        elif key.startswith("$"):
            raise _fail(where, f"unknown operator {key}")
        elif not _ATTR.fullmatch(key):
            raise _fail(where, "attribute names are identifiers (letters, digits, _)")
        elif isinstance(value, dict):
            if not value:
                raise _fail(where, "an operator object needs at least one operator")
            for op, operand in value.items():
                parts.append(_leaf(key, op, operand, f"{where}.{op}", counter))
        else:
            parts.append(_leaf(key, "$eq", value, where, counter))
    return parts[0] if len(parts) == 1 else Junction("and", tuple(parts))


def exact_numbers(data: Any) -> Any:
    """Conditions as written, with every float of magnitude 2**53 or more replaced by the int
    equal to it (``_exact``): the form to store and answer, which ``parse`` evaluates alike."""
    if isinstance(data, float):
        return _exact(data)
    if isinstance(data, dict):
        return {key: exact_numbers(value) for key, value in data.items()}
    if isinstance(data, list):
        return [exact_numbers(item) for item in data]
    return data


def _leaf(attr: str, op: str, operand: Any, path: str, counter: list[int]) -> Leaf:
    counter[0] += 1
    if counter[0] > MAX_LEAVES:
        raise _fail(path, f"more than {MAX_LEAVES} conditions")
    if op not in OPERATORS:
        raise _fail(path, f"unknown operator {op}; use one of {', '.join(sorted(OPERATORS))}")
    placeholder = _placeholder(operand, path)
    if op in SCALAR_OPS:
        if placeholder is not None:
            if placeholder.name not in SCALAR_PLACEHOLDERS:
                raise _fail(path, f"{op} needs a scalar placeholder ({', '.join(sorted(SCALAR_PLACEHOLDERS))})")
            return Leaf(attr, op, placeholder)
        return Leaf(attr, op, _scalar(operand, path))
    if op in ORDER_OPS:
        if isinstance(operand, bool) or not _finite_number(operand):
            raise _fail(path, f"{op} compares numbers only")
        return Leaf(attr, op, _exact(operand))
    if placeholder is not None:
        if placeholder.name not in LIST_PLACEHOLDERS:
            raise _fail(path, f"{op} needs a list or a list placeholder ({', '.join(sorted(LIST_PLACEHOLDERS))})")
        return Leaf(attr, op, placeholder)
    if not isinstance(operand, list) or len(operand) > MAX_LIST:
        raise _fail(path, f"{op} needs a list of at most {MAX_LIST} values")
    items = tuple(_list_item(item, f"{path}[{i}]") for i, item in enumerate(operand))
    if any(item is None for item in items):
        raise _fail(path, f"{op} lists cannot contain null")
    return Leaf(attr, op, items)


def _placeholder(value: Any, path: str) -> Placeholder | None:
    if not isinstance(value, str) or "${" not in value:
        return None
    match = _PLACEHOLDER.fullmatch(value)
    if not match:
        raise _fail(path, "a placeholder must be the whole value, like \"${user.id}\"")
    name = match.group(1)
    if name not in SCALAR_PLACEHOLDERS | LIST_PLACEHOLDERS:
        raise _fail(path, f"unknown placeholder ${{{name}}}")
    return Placeholder(name)


def _list_item(value: Any, path: str) -> Any:
    # A placeholder stands for a whole value, never for one item of a list: stored as text,
    # ["${user.id}"] would be compared as the literal string and a deny written so would
    # never apply. Refused like any other malformed rule.
    if isinstance(value, str) and "${" in value:
        raise _fail(path, "placeholders are whole values, never list items: compare the attribute "
                          "with \"${user.id}\" itself, or use \"${user.roles}\" as the whole list")
    return _scalar(value, path)


def _scalar(value: Any, path: str) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        if len(value) > MAX_STRING or "\x00" in value:
            raise _fail(path, f"strings are limited to {MAX_STRING} characters")
        return value
    if _finite_number(value):
        return _exact(value)
    raise _fail(path, "must be a string, number, boolean or null")


_EXACT_FROM = float(2 ** 53)  # every float this large is a whole number


def _exact(number: int | float) -> int | float:
    """A finite float of magnitude 2**53 or more as the int equal to it (int(1e23) is
    99999999999999991611392): JSON text and JSONB then carry the double's own value, where the
    float's repr (1e+23) names another number. The point check compares an int with a float
    or Decimal attribute exactly, and so does the SQL filter."""
    if isinstance(number, float) and abs(number) >= _EXACT_FROM:
        return int(number)
    return number


def _finite_number(value: Any) -> bool:
    if not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # isfinite converts to float, which an int past ~1.8e308 overflows
        return False


def resolve(operand: Any, context: Mapping[str, Any]) -> Any:
    """The operand with a placeholder replaced by the caller's value (None: no value)."""
    if isinstance(operand, Placeholder):
        value = context.get(operand.name)
        if isinstance(value, list | tuple | frozenset | set):
            return tuple(sorted(value))
        return value
    return operand


# --- point evaluation -------------------------------------------------------------------

def _same(value: Any, expected: Any) -> bool:
    if expected is None or value is None:
        return value is None and expected is None
    if isinstance(value, bool) != isinstance(expected, bool):
        return False
    if isinstance(value, str) != isinstance(expected, str):
        return False
    return value == expected


def _is_number(value: Any) -> bool:
    if isinstance(value, Decimal):
        # A Decimal NaN is in no order, like float('nan'); comparing it would raise, not answer False.
        return not value.is_nan()
    return isinstance(value, int | float) and not isinstance(value, bool)


Predicate = Callable[[Mapping[str, Any]], bool]


def _never(attrs: Mapping[str, Any]) -> bool:
    return False


def _always(attrs: Mapping[str, Any]) -> bool:
    return True


def compile_predicate(node: Node, context: Mapping[str, Any], *, missing: bool = False) -> Predicate:
    """A fast closure deciding ``node`` for one caller (placeholders bound now).

    ``missing`` is what a condition on a placeholder the caller has no value for counts
    as: True for a deny rule (it applies), False for an allow rule (it does not).
    """
    if isinstance(node, Junction):
        preds = tuple(compile_predicate(p, context, missing=missing) for p in node.parts)
        if node.kind == "and":
            if not preds:
                return lambda attrs: True
            return preds[0] if len(preds) == 1 else (lambda attrs: all(p(attrs) for p in preds))
        return lambda attrs: any(p(attrs) for p in preds)
    if isinstance(node, Negation):
        # Flipped, so that an unknown value beneath $not still pushes the rule the same way.
        inner = compile_predicate(node.part, context, missing=not missing)
        return lambda attrs: not inner(attrs)
    return _compile_leaf(node, context, missing)


def _compile_leaf(leaf: Leaf, context: Mapping[str, Any], missing: bool) -> Predicate:
    attr, op = leaf.attr, leaf.op
    x = resolve(leaf.operand, context)
    if isinstance(leaf.operand, Placeholder) and x is None:
        return _always if missing else _never
    if op == "$eq":
        return lambda attrs: _same(attrs.get(attr), x)
    if op == "$ne":
        return lambda attrs: not _same(attrs.get(attr), x)
    if op in ORDER_OPS:
        compare = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}[op]

        def ordered(attrs: Mapping[str, Any]) -> bool:
            v = attrs.get(attr)
            return _is_number(v) and compare(v, x)
        return ordered
    items = tuple(x)
    if op in ("$in", "$nin"):
        member = _membership(items)
        if op == "$in":
            return lambda attrs: member(attrs.get(attr))
        return lambda attrs: (v := attrs.get(attr)) is None or not member(v)
    # Set operations on the list's element keys: a long list costs one pass over it (shared by
    # every rule of a check, see Attributes), never its length times the operand's.
    needed = frozenset(map(_tag, items))
    if op == "$all":
        return lambda attrs: (have := _element_tags(attrs, attr)) is not None and needed <= have
    return lambda attrs: (have := _element_tags(attrs, attr)) is not None and not needed.isdisjoint(have)


class Attributes(dict):
    """A resource's attributes for one check: each list attribute's element keys are computed
    once, however many $all/$any conditions look at it."""

    __slots__ = ("_tags",)

    def element_tags(self, name: str, value: list | tuple) -> frozenset:
        try:
            memo = self._tags
        except AttributeError:
            memo = self._tags = {}
        found = memo.get(name)
        if found is None:
            found = memo[name] = frozenset(map(_tag, value))
        return found


def _element_tags(attrs: Mapping[str, Any], attr: str) -> frozenset | None:
    """The ``_tag`` keys of a list attribute's elements; None when it is not a list."""
    value = attrs.get(attr)
    if not isinstance(value, list | tuple):
        return None
    if isinstance(attrs, Attributes):
        return attrs.element_tags(attr, value)
    return frozenset(map(_tag, value))


def scans_lists(node: Node) -> bool:
    """Does any condition of ``node`` look inside a list attribute ($all/$any)?"""
    if isinstance(node, Leaf):
        return node.op in ("$all", "$any")
    if isinstance(node, Negation):
        return scans_lists(node.part)
    return any(scans_lists(p) for p in node.parts)


def _tag(value: Any) -> tuple | None:
    """A hashable key equal to another exactly when ``_same`` calls the two values the same,
    so that sets can stand in for pairwise comparison: a bool, a string and a number never
    share a key (true != 1, "1" != 1) while 1 and 1.0 do. None for null, lists and objects,
    which no operand item (a non-null scalar) can equal."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, str):
        return ("s", value)
    if isinstance(value, int | float | Decimal):  # equal numbers hash alike across the three
        return ("n", value)
    return None


def _membership(items: tuple) -> Callable[[Any], bool]:
    """Is a value the same (``_same``) as one of ``items`` (non-null scalars)? One set lookup."""
    if all(isinstance(i, str) for i in items):
        strings = frozenset(items)
        return lambda v: isinstance(v, str) and v in strings
    tags = frozenset(map(_tag, items))
    return lambda v: _tag(v) in tags


def placeholders_named(node: Node) -> set[str]:
    """The placeholder names ``node`` refers to (``user.email`` ...)."""
    if isinstance(node, Leaf):
        return {node.operand.name} if isinstance(node.operand, Placeholder) else set()
    if isinstance(node, Negation):
        return placeholders_named(node.part)
    return set().union(*(placeholders_named(p) for p in node.parts))


def attributes_named(node: Node) -> set[str]:
    if isinstance(node, Leaf):
        return {node.attr}
    if isinstance(node, Negation):
        return attributes_named(node.part)
    return set().union(*(attributes_named(p) for p in node.parts)) if node.parts else set()
