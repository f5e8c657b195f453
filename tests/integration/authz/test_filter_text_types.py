"""Postgres ENUM and CHAR(n) columns: the SQL filter selects exactly what the point check
allows when the point check sees each row as asyncpg reads it back, every condition also
under $not, and never fails in the database.

- asyncpg reads an enum as its label (a str), but an enum compared with a VARCHAR parameter
  is "operator does not exist", and an ``$in`` item that is no label is "invalid input value".
- asyncpg reads CHAR(n) padded to n ('a' is 'a  ' in a CHAR(3)), while Postgres compares
  bpchar ignoring trailing blanks: ``{"code": "a"}`` would match in SQL what the point check
  denies, and ``$ne`` the reverse.
"""
import asyncio

import pytest
from sqlalchemy import ARRAY, CHAR, NCHAR, Column, Enum, Integer, MetaData, Table, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from app.authz import conditions
from app.authz.conditions import compile_predicate
from tests.integration.authz.helpers import single_rule_view

metadata = MetaData()
STATUS = Enum("draft", "review", "final", name="authz_text_status")
text_table = Table(
    "authz_text_type_rows", metadata, Column("id", Integer, primary_key=True),
    Column("status", STATUS), Column("statuses", ARRAY(STATUS)),
    Column("code", CHAR(3)), Column("ncode", NCHAR(3)), Column("codes", ARRAY(CHAR(3))))
COLUMNS = {c.name: c for c in text_table.columns}
ROWS = [
    {"status": "draft", "statuses": ["draft", "review"], "code": "a", "ncode": "a", "codes": ["a", "abc"]},
    {"status": "review", "statuses": ["final"], "code": "abc", "ncode": "ab ", "codes": ["ab"]},
    {"status": "final", "statuses": [], "code": "a  ", "ncode": "abc", "codes": []},
    {"status": None, "statuses": None, "code": None, "ncode": None, "codes": None},
    {"status": "draft", "statuses": ["draft"], "code": "", "ncode": " a", "codes": ["", " a", "a  "]},
]
ENUM_OPERANDS = ["draft", "final", "nope", "", "draft ", 5, True, None]
CHAR_OPERANDS = ["a", "a  ", "a ", "abc", "abcd", "ab", "ab ", "", "   ", " a", " a ", 5, None]
LIST_OPERANDS = [["draft"], ["nope"], ["draft", "nope"], ["a"], ["a  "], ["abc", "a"], ["ab "], ["ab"],
                 ["   "], [" a "], ["abcd"], ["a  ", 5], []]


def _leaves():
    out = []
    for attr, operands in (("status", ENUM_OPERANDS), ("code", CHAR_OPERANDS), ("ncode", CHAR_OPERANDS)):
        for x in operands:
            out.append({attr: x})
            out.append({attr: {"$ne": x}})
            if x is not None:
                out.append({attr: {"$in": [x]}})
                out.append({attr: {"$nin": [x, "zzz"]}})
    for attr in ("status", "code", "ncode"):
        for xs in LIST_OPERANDS:
            out.append({attr: {"$in": xs}})
            out.append({attr: {"$nin": xs}})
    for attr in ("statuses", "codes"):
        for xs in LIST_OPERANDS:
            out.append({attr: {"$all": xs}})
            out.append({attr: {"$any": xs}})
    return out


def _run(database_url, rows, clauses):
    """Every row as asyncpg reads it (no SQLAlchemy type processing) and each clause's answer
    for it; a clause the database refuses answers "error: ..."."""
    loop = asyncio.new_event_loop()
    engine = create_async_engine(database_url, pool_size=1)

    async def answer(conn, clause):
        query = select(text_table.c.id, clause.label("c")).order_by(text_table.c.id)
        try:
            async with conn.begin_nested():
                return [r[1] for r in await conn.execute(query)]
        except DBAPIError as e:
            return [f"error: {str(e.orig).splitlines()[0]}"] * len(rows)

    async def run():
        async with engine.connect() as conn:
            async with conn.begin():
                await conn.run_sync(metadata.drop_all)
                await conn.run_sync(metadata.create_all)
            async with conn.begin() as tx:
                await conn.execute(text_table.insert(), [{"id": i, **r} for i, r in enumerate(rows)])
                read = [dict(r._mapping) for r in
                        await conn.exec_driver_sql("SELECT * FROM authz_text_type_rows ORDER BY id")]
                answers = [await answer(conn, c) for c in clauses]
                await tx.rollback()
        return read, answers

    try:
        return loop.run_until_complete(run())
    finally:
        loop.run_until_complete(engine.dispose())
        loop.close()


def test_rows_read_back_as_the_point_check_sees_them(database_url):
    read, _ = _run(database_url, ROWS, [])
    assert read[0]["status"] == "draft" and read[0]["statuses"] == ["draft", "review"]
    assert read[0]["code"] == "a  " and read[1]["ncode"] == "ab " and read[4]["codes"] == ["   ", " a ", "a  "]


def test_enum_and_char_filters_agree_with_the_point_check(database_url):
    conds = [c for leaf in _leaves() for c in (leaf, {"$not": leaf})]
    nodes = [conditions.parse(c) for c in conds]
    from app.authz.sqlfilter import to_clause
    read, answers = _run(database_url, ROWS, [to_clause(n, {}, COLUMNS) for n in nodes])
    disagreements = []
    for cond, node, says in zip(conds, nodes, answers):
        point = compile_predicate(node, {})
        for row, sql_says in zip(read, says):
            if sql_says is not point(row):
                attr = next(iter(cond.get("$not", cond)))
                disagreements.append((cond, row[attr], sql_says))
    assert disagreements == []


RULES = [{"status": "draft"}, {"status": {"$ne": "draft"}}, {"status": {"$in": ["nope"]}},
         {"status": {"$nin": ["nope", "final"]}}, {"statuses": {"$any": ["nope", "final"]}},
         {"code": "a"}, {"code": {"$ne": "a"}}, {"code": "a  "}, {"code": {"$in": ["a", "abc"]}},
         {"codes": {"$any": ["a"]}}, {"codes": {"$all": ["a  "]}}, {"ncode": {"$ne": "ab"}}]


@pytest.mark.parametrize("conditions_", RULES, ids=[str(r) for r in RULES])
@pytest.mark.parametrize("effect", ["allow", "deny"])
def test_policy_filter_on_enum_and_char_columns_lists_what_check_allows(database_url, conditions_, effect):
    view = single_rule_view(conditions_, effect)
    read, answers = _run(database_url, ROWS, [view.sql_filter("read", "post", COLUMNS)])
    expected = [view.check("read", "post", row).allowed for row in read]
    assert answers[0] == expected


def test_char_without_a_length_fails_closed(database_url):
    """A CHAR with no length in the table's metadata does not say how far values are padded:
    a string comparison on it counts for a deny and against an allow, whichever way it is
    written, so the filter never lists a row the point check might deny."""
    loose = Table("authz_text_loose", MetaData(), Column("id", Integer, primary_key=True), Column("c", CHAR()),
                  Column("cs", ARRAY(CHAR())))
    columns = {c.name: c for c in loose.columns}
    from app.authz.sqlfilter import to_clause
    for cond in ({"c": "a"}, {"c": {"$ne": "a"}}, {"c": {"$in": ["a"]}}, {"c": {"$nin": ["a"]}},
                 {"cs": {"$any": ["a"]}}, {"cs": {"$all": ["a"]}}):
        for negated in (False, True):
            node = conditions.parse({"$not": cond} if negated else cond)
            assert str(to_clause(node, {}, columns, missing=True)) == "true", cond
            assert str(to_clause(node, {}, columns, missing=False)) == "false", cond
    # Null and numbers need no padding: answered as on any string column.
    assert "IS NULL" in str(to_clause(conditions.parse({"c": None}), {}, columns))
    assert str(to_clause(conditions.parse({"c": 5}), {}, columns)) == "false"


def test_text_types_compare_with_the_database_not_in_it(database_url):
    """No clause over these columns is an error in the database (an enum compared with
    VARCHAR, a non-label cast to the enum)."""
    from app.authz.sqlfilter import to_clause
    nodes = [conditions.parse(c) for c in _leaves()]
    _, answers = _run(database_url, ROWS, [to_clause(n, {}, COLUMNS) for n in nodes])
    assert [a for a in answers if isinstance(a[0], str)] == []
