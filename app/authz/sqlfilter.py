"""Conditions compiled to SQLAlchemy: the rows a caller may see, in the database.

Every clause built here is two-valued (never SQL NULL), so NOT and OR behave as
in the point check; see ``conditions`` for the shared semantics.

A number is bound in the column's own type only when the column can hold it: a rule may
name any finite number, and 10**20 sent as an INTEGER or BIGINT parameter is a database
error, not "no row". Outside the column type's range the answer is static (no row equals
it; every non-null row is below it), non-integral bounds on integer columns become the
integer bound that selects the same rows, and an integer no float equals is compared
through its float neighbours, so the filter answers what the point check answers.

That point check sees a row as asyncpg reads it: a REAL as the double of its float4 (0.1 is
0.10000000149011612, so no rule number a float4 cannot hold equals it), a NUMERIC as an exact
Decimal, and NaN as a number in no order, where Postgres puts NaN above every number.

Strings likewise: an ENUM reads as its label, so it is compared as text (an enum compared with
a VARCHAR parameter is an error, and so is a rule string that is no label of it). A CHAR(n)
reads padded to n ('a' in a CHAR(3) is 'a  '), where Postgres compares bpchar ignoring trailing
blanks: only a string of exactly n characters can equal such a value, and for it the two
comparisons agree; any other string equals no row. A CHAR without a length in the table's
metadata gives no n: a string comparison on it fails closed (it counts for a deny rule and
against an allow rule, as a placeholder without a value does).

And the point check compares strings code point by code point, where Postgres compares a CITEXT
case-insensitively and a column with a nondeterministic collation (an ICU one created with
``deterministic = false``) as that collation says: 'Alice' equals 'alice', 'é' equals 'e' with a
combining accent. A CITEXT is compared as text, and a column whose collation is its own COLLATE
"C", under which only identical strings are equal. (Only equality matters: $gt and the like
compare numbers only.)
"""
from __future__ import annotations

import math
import operator
import struct
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, cast, false, literal, not_, or_, true
from sqlalchemy.dialects.postgresql import ARRAY as PG_ARRAY
from sqlalchemy.dialects.postgresql import CITEXT
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, CollationClause, ColumnElement
from sqlalchemy.types import (ARRAY, CHAR, NCHAR, REAL, BigInteger, Boolean, Double, Enum, Float, Integer,
                              Numeric, SmallInteger, String, Text)

from app.authz.conditions import ORDER_OPS, Junction, Leaf, Negation, Node, Placeholder, compile_predicate, resolve


def to_clause(node: Node, context: Mapping[str, Any], columns: Mapping[str, ColumnElement], *,
              missing: bool = False) -> ColumnElement:
    """``node`` as a WHERE clause over ``columns`` (attribute name -> column); ``missing``
    as in ``compile_predicate``."""
    if isinstance(node, Junction):
        parts = [to_clause(p, context, columns, missing=missing) for p in node.parts]
        if node.kind == "and":
            return and_(true(), *parts)
        return or_(false(), *parts)
    if isinstance(node, Negation):
        return not_(to_clause(node.part, context, columns, missing=not missing))
    return _leaf(node, context, columns, missing)


def _static(value: bool) -> ColumnElement:
    return true() if value else false()


def _kind(column: ColumnElement) -> str:
    t = column.type
    if isinstance(t, ARRAY):
        return "array"
    if isinstance(t, Boolean):
        return "bool"
    if isinstance(t, Integer | Float | Numeric):
        return "number"
    if isinstance(t, String):
        return "string"
    return "other"


def _value_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "string"


def _leaf(leaf: Leaf, context: Mapping[str, Any], columns: Mapping[str, ColumnElement],
          missing: bool) -> ColumnElement:
    x = resolve(leaf.operand, context)
    if isinstance(leaf.operand, Placeholder) and x is None:
        return _static(missing)
    column = columns.get(leaf.attr)
    if column is None:
        # Not a column: the attribute is null for every row, so the answer is the same for all.
        return _static(compile_predicate(leaf, context, missing=missing)({}))
    kind, op = _kind(column), leaf.op
    if op in ("$eq", "$ne"):
        if x is None:
            return column.is_(None) if op == "$eq" else column.is_not(None)
        if kind != _value_kind(x):
            # A string never equals a number: no row matches (or, for $ne, every row does).
            return _static(op == "$ne")
        if kind == "string":
            comparable = _comparable_strings([x], column.type)
            if comparable is None:
                return _static(missing)  # CHAR of unknown length: fail closed
            if not comparable:
                return _static(op == "$ne")  # e.g. 'a' against a CHAR(3), read back as 'a  '
            column = _as_text(column)
        bound = _bindable(x, column.type) if kind == "number" else literal(x)
        if bound is None:
            return _static(op == "$ne")  # no value the column can hold equals x
        if op == "$eq":
            return column.is_not_distinct_from(bound)
        return column.is_distinct_from(bound)
    if op in ORDER_OPS:
        if kind != "number":
            return false()
        return _ordered(column, op, x)
    items = list(x)
    if op in ("$in", "$nin"):
        if kind == "array":
            return _static(op == "$nin")  # a list is never a member of a list of scalars
        matching = [i for i in items if _value_kind(i) == kind]
        if kind == "number":
            matching = [b for b in (_bindable(i, column.type) for i in matching) if b is not None]
        elif kind == "string":
            matching = _comparable_strings(matching, column.type)
            if matching is None:
                return _static(missing)  # CHAR of unknown length: fail closed
            column = _as_text(column)
        if not matching:
            return _static(op == "$nin")
        if op == "$in":
            return and_(column.is_not(None), column.in_(matching))
        return or_(column.is_(None), column.not_in(matching))
    if kind != "array":
        return false()
    item_type = column.type.item_type
    item_kind = _kind(_Probe(item_type))
    usable = [i for i in items if _value_kind(i) == item_kind]
    if op == "$all" and len(usable) < len(items):
        return false()  # an item of the wrong type can never be contained
    if item_kind == "number":
        usable = [v for v in (_storable(i, item_type) for i in usable) if v is not None]
    elif item_kind == "string":
        comparable = _comparable_strings(usable, item_type)
        if comparable is None:
            return _static(missing)  # CHAR of unknown length: fail closed
        usable = comparable
        if getattr(item_type, "length", None):
            # The cast below would cut a longer string to VARCHAR(n) (Postgres does so silently),
            # matching a stored prefix the point check denies: no element of the column equals it.
            usable = [i for i in usable if len(i) <= item_type.length]
        column = _as_text(column, item_type)
    if isinstance(item_type, Enum | CITEXT):
        # Compared as text (see _as_text): an item that is no label is then no match, not an error.
        operand_type = PG_ARRAY(Text())
    else:
        # Cast to NUMERIC[], not NUMERIC(10, 2)[]: that would round 0.105 onto an element 0.10 (and
        # fail on 10**30); the comparison itself ignores the scale.
        operand_type = PG_ARRAY(Numeric() if isinstance(item_type, Numeric) and not
                                isinstance(item_type, Float) else _uncollated(item_type))
    operand = literal(usable, type_=operand_type)
    if op == "$all":
        if len(usable) < len(items):
            return false()  # an item of the wrong type (or out of range) can never be contained
        return and_(column.is_not(None), column.op("@>", return_type=Boolean)(operand))
    if not usable:
        return false()
    return and_(column.is_not(None), column.op("&&", return_type=Boolean)(operand))


# --- strings against string column types ---------------------------------------------------

def _comparable_strings(items: list, type_) -> list[str] | None:
    """The strings among ``items`` that a value of ``type_``, as asyncpg reads it, can equal.
    A CHAR(n) value reads padded to n characters: only strings of exactly n can equal it, and
    for those Postgres' blank-insensitive bpchar comparison is the exact one. None: a CHAR with
    no length, whose padding the metadata does not tell."""
    strings = [i for i in items if isinstance(i, str)]
    if isinstance(type_, CHAR | NCHAR):
        if type_.length is None:
            return None if strings else []
        return [i for i in strings if len(i) == type_.length]
    return strings


# Collations under which equal strings are identical; None is the database's default, which
# Postgres does not allow to be nondeterministic.
_EXACT_COLLATIONS = frozenset({None, "C", "POSIX"})


def _as_text(column: ColumnElement, item_type=None) -> ColumnElement:
    """``column`` (an array of ``item_type``, when given) as compared with strings: equal only
    to the identical string, as the point check compares the str asyncpg reads.

    An ENUM as its label's text, never its enum type, which a VARCHAR parameter or a non-label
    would make an error. A CITEXT as text too, since citext's own comparison lowercases both
    sides even under COLLATE "C"; and then under COLLATE "C" whatever the metadata says, as the
    cast keeps a collation the column may have of its own (the cast already costs its indexes).
    Any other column with a collation of its own, which may be nondeterministic ('Alice' =
    'alice'), under COLLATE "C".
    """
    type_ = column.type if item_type is None else item_type
    if isinstance(type_, Enum | CITEXT):
        column = cast(column, Text() if item_type is None else PG_ARRAY(Text()))
    if isinstance(type_, CITEXT) or getattr(type_, "collation", None) not in _EXACT_COLLATIONS:
        column = _collate_c(column)
    return column


def _collate_c(column: ColumnElement) -> ColumnElement:
    if isinstance(column.type, ARRAY):
        # What column.collate("C") builds, which SQLAlchemy deprecates for an array. The array's
        # operators compare its elements under this collation.
        return BinaryExpression(column, CollationClause("C"), operators.collate, type_=column.type)
    return column.collate("C")


def _uncollated(type_):
    """``type_`` without its COLLATE, for an operand: bound as CHAR(5)[] COLLATE "ci" it would be
    an explicit collation clashing with the column's COLLATE "C" (an error)."""
    if getattr(type_, "collation", None) is None:
        return type_
    plain = type_.copy()
    plain.collation = None
    return plain


# --- numbers against numeric column types --------------------------------------------------

_INTEGER_BITS = ((BigInteger, 64), (SmallInteger, 16), (Integer, 32))  # subclasses first
_DOUBLE = Double()
_COMPARE = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}


def _integer_range(type_) -> tuple[int, int] | None:
    for cls, bits in _INTEGER_BITS:
        if isinstance(type_, cls):
            return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return None


def _storable(x: int | float, type_) -> int | float | None:
    """``x`` as a value of ``type_`` equal to it; None when the type holds no value equal to ``x``."""
    bounds = _integer_range(type_)
    if bounds is not None:
        if isinstance(x, float):
            if not x.is_integer():
                return None
            x = int(x)
        return x if bounds[0] <= x <= bounds[1] else None
    if isinstance(type_, Float):
        if float(x) != x:
            return None  # e.g. 2**53 + 1: no double equals it
        if _is_float4(type_):
            # Nor does a float4 equal 0.1 or 1e-50 (and 1e300 is no float4 at all: packing it
            # raises, as asyncpg would for a REAL[] operand).
            try:
                if struct.unpack("f", struct.pack("f", x))[0] != x:
                    return None
            except OverflowError:
                return None
        return float(x)
    return x  # Numeric: exact and wide enough


def _is_float4(type_: Float) -> bool:
    """REAL, or FLOAT(p) with p <= 24: Postgres stores both as a 4-byte float."""
    return isinstance(type_, REAL) or (not isinstance(type_, Double) and (type_.precision or 53) <= 24)


def _bindable(x: int | float, type_) -> ColumnElement | None:
    """A bound parameter equal to ``x`` that ``type_``'s column compares exactly; None: none is."""
    value = _storable(x, type_)
    if value is None:
        return None
    if _integer_range(type_) is not None:
        return literal(value, type_=type_)
    # Doubles, even for a REAL column: a cast to REAL would round the operand.
    return literal(value, type_=_DOUBLE if isinstance(type_, Float) else Numeric())


def _ordered(column: ColumnElement, op: str, x: int | float) -> ColumnElement:
    compare = _COMPARE[op]
    bounds = _integer_range(column.type)
    if bounds is not None:
        # Over integers, > 2.5 is > 2 and >= 2.5 is >= 3: an integer bound selecting the same rows.
        n = (math.floor if op in ("$gt", "$lte") else math.ceil)(x)
        lo, hi = bounds
        if not any(compare(v, n) for v in (lo, hi)):
            return false()  # not even the column's extreme values pass
        if all(compare(v, n) for v in (lo, hi)):
            return column.is_not(None)  # every value the column can hold passes
        return and_(column.is_not(None), compare(column, literal(n, type_=column.type)))
    if isinstance(column.type, Float):
        f = float(x)
        if f != x:
            # No double equals x: compare with the nearest double on the side that keeps the answer.
            if op in ("$gt", "$gte"):
                f, compare = (f if f > x else math.nextafter(f, math.inf)), operator.ge
            else:
                f, compare = (f if f < x else math.nextafter(f, -math.inf)), operator.le
        return and_(column.is_not(None), compare(column, literal(f, type_=_DOUBLE)), *_below_nan(column, op))
    return and_(column.is_not(None), compare(column, literal(x, type_=Numeric())), *_below_nan(column, op))


def _below_nan(column: ColumnElement, op: str) -> tuple[ColumnElement, ...]:
    """Postgres sorts NaN above every number (float and numeric alike), where in Python NaN
    is in no order: > and >= leave it out explicitly (< and <= already do)."""
    if op not in ("$gt", "$gte"):
        return ()
    nan = literal(math.nan, type_=_DOUBLE) if isinstance(column.type, Float) else literal(Decimal("NaN"), Numeric())
    return (column < nan,)


class _Probe:
    """Lets ``_kind`` look at an array's item type as if it were a column."""

    def __init__(self, type_) -> None:
        self.type = type_
