"""Conditions compiled to SQLAlchemy: the rows a caller may see, in the database.

Every clause built here is two-valued (never SQL NULL), so NOT and OR behave as
in the point check; see ``conditions`` for the shared semantics.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, false, literal, not_, or_, true
from sqlalchemy.dialects.postgresql import ARRAY as PG_ARRAY
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import ARRAY, Boolean, Float, Integer, Numeric, String

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
        if op == "$eq":
            return column.is_not_distinct_from(literal(x))
        return column.is_distinct_from(literal(x))
    if op in ORDER_OPS:
        if kind != "number":
            return false()
        compare = {"$gt": column.__gt__, "$gte": column.__ge__, "$lt": column.__lt__, "$lte": column.__le__}[op]
        return and_(column.is_not(None), compare(literal(x)))
    items = list(x)
    if op in ("$in", "$nin"):
        if kind == "array":
            return _static(op == "$nin")  # a list is never a member of a list of scalars
        matching = [i for i in items if _value_kind(i) == kind]
        if not matching:
            return _static(op == "$nin")
        if op == "$in":
            return and_(column.is_not(None), column.in_(matching))
        return or_(column.is_(None), column.not_in(matching))
    if kind != "array":
        return false()
    item_kind = _kind(_Probe(column.type.item_type))
    usable = [i for i in items if _value_kind(i) == item_kind]
    operand = literal(usable, type_=PG_ARRAY(column.type.item_type))
    if op == "$all":
        if len(usable) < len(items):
            return false()  # an item of the wrong type can never be contained
        return and_(column.is_not(None), column.op("@>", return_type=Boolean)(operand))
    if not usable:
        return false()
    return and_(column.is_not(None), column.op("&&", return_type=Boolean)(operand))


class _Probe:
    """Lets ``_kind`` look at an array's item type as if it were a column."""

    def __init__(self, type_) -> None:
        self.type = type_
