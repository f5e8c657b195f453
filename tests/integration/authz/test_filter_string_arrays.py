"""VARCHAR(n)[] columns: a rule's list is cast to the column's element type, and Postgres
silently cuts a longer string to n characters, so 'abcdefghijXYZ' would match a stored
'abcdefghij' that the point check (which compares whole strings) denies."""
import asyncio

from sqlalchemy import ARRAY, Column, Integer, MetaData, String, Table, Text, select
from sqlalchemy.ext.asyncio import create_async_engine

from app.authz import conditions
from app.authz.conditions import compile_predicate
from app.authz.sqlfilter import to_clause

metadata = MetaData()
tags_table = Table("authz_string_array_rows", metadata, Column("id", Integer, primary_key=True),
                   Column("short", ARRAY(String(10))), Column("long", ARRAY(Text)))
COLUMNS = {c.name: c for c in tags_table.columns}
ROWS = [{"short": ["abcdefghij"], "long": ["abcdefghij"]},
        {"short": ["abcdefghij", "x"], "long": ["abcdefghijXYZ", "x"]},
        {"short": [], "long": []},
        {"short": None, "long": None}]
CONDITIONS = [{attr: {op: items}} for attr in ("short", "long") for op in ("$all", "$any")
              for items in (["abcdefghijXYZ"], ["abcdefghijXYZ", "x"], ["abcdefghij"], ["x", "y" * 40])]


def test_string_array_filters_compare_whole_strings(database_url):
    conds = [c for leaf in CONDITIONS for c in (leaf, {"$not": leaf})]
    nodes = [conditions.parse(c) for c in conds]
    loop = asyncio.new_event_loop()
    engine = create_async_engine(database_url, pool_size=1)

    async def run():
        async with engine.connect() as conn, conn.begin() as tx:
            await conn.run_sync(metadata.create_all)
            await conn.execute(tags_table.delete())
            await conn.execute(tags_table.insert(), [{"id": i, **r} for i, r in enumerate(ROWS)])
            clauses = [to_clause(n, {}, COLUMNS).label(f"c{i}") for i, n in enumerate(nodes)]
            result = [tuple(r) for r in await conn.execute(select(tags_table, *clauses).order_by(tags_table.c.id))]
            await tx.rollback()
            return result

    try:
        result = loop.run_until_complete(run())
    finally:
        loop.run_until_complete(engine.dispose())
        loop.close()
    disagreements = []
    for row in result:
        attrs = dict(zip(tags_table.columns.keys(), row[:3]))
        for cond, node, sql_says in zip(conds, nodes, row[3:]):
            if sql_says is not compile_predicate(node, {})(attrs):
                disagreements.append((cond, attrs, sql_says))
    assert not disagreements
