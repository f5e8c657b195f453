"""CITEXT and nondeterministically collated string columns: the SQL filter selects exactly
what the point check allows when the point check sees each row as asyncpg reads it back
(a str, compared code point by code point), every condition also under $not.

- CITEXT compares case-insensitively: ``{"owner": "Alice"}`` would match 'alice' in SQL,
  which the point check does not (and ``$ne`` the reverse), so a deny rule would hide a row
  the point check lets through, or an allow rule list one it refuses.
- An ICU collation created with ``deterministic = false`` calls strings equal that differ in
  case (strength level2), in accents too (level1), or only in Unicode normalisation (the
  default strength: 'é' and 'e' + U+0301).

The extension, the collations and the table live in one transaction that is rolled back.
"""
import asyncio

import pytest
from sqlalchemy import ARRAY, CHAR, Column, Integer, MetaData, String, Table, Text, select
from sqlalchemy.dialects.postgresql import CITEXT
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from app.authz import conditions
from app.authz.conditions import compile_predicate
from tests.integration.authz.helpers import single_rule_view

COLLATIONS = {  # all nondeterministic: equal strings need not be identical
    "authz_case_insensitive": "und-u-ks-level2",
    "authz_accent_insensitive": "und-u-ks-level1",
    "authz_canonical": "und",
}
metadata = MetaData()
table = Table(
    "authz_collation_rows", metadata, Column("id", Integer, primary_key=True),
    Column("owner", CITEXT()), Column("ci", String(collation="authz_case_insensitive")),
    Column("ai", Text(collation="authz_accent_insensitive")), Column("nd", Text(collation="authz_canonical")),
    Column("code", CHAR(5, collation="authz_case_insensitive")),
    Column("owners", ARRAY(CITEXT())), Column("cis", ARRAY(Text(collation="authz_case_insensitive"))),
    Column("codes", ARRAY(CHAR(5, collation="authz_case_insensitive"))))
COLUMNS = {c.name: c for c in table.columns}
SCALARS = ("owner", "ci", "ai", "nd", "code")
ARRAYS = ("owners", "cis", "codes")
WORDS = ["Alice", "alice", "ALICE", "Álice", "alice ", "", None, "straße", "STRASSE", "\u00e9", "e\u0301", "E"]


def _row(word):
    code = None if word is None else word[:5]
    # No '' in the arrays: asyncpg 0.32 decodes an empty element of a citext[] (an array it reads
    # through the text fallback) as a broken str that crashes the interpreter when hashed.
    element = [] if word == "" else [word]
    return {"owner": word, "ci": word, "ai": word, "nd": word, "code": code,
            "owners": None if word is None else element, "cis": None if word is None else element + ["bob"],
            "codes": None if code is None else [code]}


ROWS = [_row(w) for w in WORDS]
OPERANDS = ["Alice", "alice", "ALICE", "Álice", "alice ", "Alice ", "A    ", "alice", "", "nope", "straße",
            "STRASSE", "\u00e9", "e\u0301", "E", "e", 5, True, None]
LIST_OPERANDS = [["Alice"], ["alice", "nope"], ["ALICE", 5], ["\u00e9"], ["e\u0301"], ["STRASSE"],
                 ["Álice", "x"], ["ALICE", "BOB"], ["Alice", "bob"], ["E    "], []]


def _leaves():
    out = []
    for attr in SCALARS:
        for x in OPERANDS:
            out.append({attr: x})
            out.append({attr: {"$ne": x}})
            if x is not None:
                out.append({attr: {"$in": [x]}})
                out.append({attr: {"$nin": [x, "zzz"]}})
        for xs in LIST_OPERANDS:
            out.append({attr: {"$in": xs}})
            out.append({attr: {"$nin": xs}})
        for op in ("$gt", "$gte", "$lt", "$lte"):  # numbers only: no string passes, in either
            out.append({attr: {op: 0}})
    for attr in ARRAYS:
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
        query = select(table.c.id, clause.label("c")).order_by(table.c.id)
        try:
            async with conn.begin_nested():
                return [r[1] for r in await conn.execute(query)]
        except DBAPIError as e:
            return [f"error: {str(e.orig).splitlines()[0]}"] * len(rows)

    async def run():
        async with engine.connect() as conn, conn.begin() as tx:
            await conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS citext")
            for name, locale in COLLATIONS.items():
                await conn.exec_driver_sql(
                    f"CREATE COLLATION {name} (provider = icu, locale = '{locale}', deterministic = false)")
            await conn.run_sync(metadata.create_all)
            await conn.execute(table.insert(), [{"id": i, **r} for i, r in enumerate(rows)])
            read = [dict(r._mapping) for r in
                    await conn.exec_driver_sql("SELECT * FROM authz_collation_rows ORDER BY id")]
            answers = [await answer(conn, c) for c in clauses]
            await tx.rollback()  # the table, the collations and (if it was new) the extension
        return read, answers

    try:
        return loop.run_until_complete(run())
    finally:
        loop.run_until_complete(engine.dispose())
        loop.close()


def test_rows_read_back_as_distinct_strings(database_url):
    """What the point check sees: plain strs, 'Alice' and 'alice' different values."""
    read, answers = _run(database_url, ROWS, [table.c.owner == "Alice", table.c.ci == "Alice",
                                              table.c.ai == "Alice", table.c.nd == "\u00e9"])
    assert read[0]["owner"] == "Alice" and read[1]["owner"] == "alice" and read[0]["owners"] == ["Alice"]
    assert read[1]["cis"] == ["alice", "bob"] and read[1]["code"] == "alice" and read[4]["code"] == "alice"
    assert read[9]["nd"] == "\u00e9" and read[10]["nd"] == "e\u0301"
    # ... where the columns' own comparison calls them equal:
    assert answers[0][:3] == [True, True, True] and answers[1][:3] == [True, True, True]
    assert answers[2][:4] == [True, True, True, True]
    assert answers[3][9:11] == [True, True]


def test_citext_and_collated_filters_agree_with_the_point_check(database_url):
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


RULES = [{"owner": "Alice"}, {"owner": {"$ne": "alice"}}, {"owner": {"$in": ["ALICE", "bob"]}},
         {"owner": {"$nin": ["alice"]}}, {"owners": {"$any": ["alice"]}}, {"owners": {"$all": ["ALICE"]}},
         {"ci": "Alice"}, {"ci": {"$nin": ["alice"]}}, {"ai": "Alice"}, {"ai": {"$ne": "Álice"}},
         {"nd": "e\u0301"}, {"nd": {"$ne": "\u00e9"}}, {"code": "ALICE"}, {"cis": {"$any": ["ALICE"]}},
         {"codes": {"$all": ["ALICE"]}}]


@pytest.mark.parametrize("conditions_", RULES, ids=[str(r) for r in RULES])
@pytest.mark.parametrize("effect", ["allow", "deny"])
def test_policy_filter_on_citext_and_collated_columns_lists_what_check_allows(database_url, conditions_, effect):
    view = single_rule_view(conditions_, effect)
    read, answers = _run(database_url, ROWS, [view.sql_filter("read", "post", COLUMNS)])
    expected = [view.check("read", "post", row).allowed for row in read]
    assert answers[0] == expected
