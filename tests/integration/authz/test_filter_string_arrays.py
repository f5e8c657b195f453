"""VARCHAR(n)[] columns: a rule's list is cast to the column's element type, and Postgres
silently cuts a longer string to n characters, so 'abcdefghijXYZ' would match a stored
'abcdefghij' that the point check (which compares whole strings) denies."""

from sqlalchemy import ARRAY, Column, Integer, MetaData, String, Table, Text

from app.authz import conditions
from app.authz.conditions import compile_predicate
from app.authz.sqlfilter import to_clause
from tests.integration.authz.rowtable import RowTable

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
    with RowTable(database_url, tags_table) as table:
        result = table.answers(ROWS, [to_clause(n, {}, COLUMNS) for n in nodes])
    disagreements = []
    for row_id, *says in result:
        for cond, node, sql_says in zip(conds, nodes, says):
            if sql_says is not compile_predicate(node, {})(ROWS[row_id]):
                disagreements.append((cond, ROWS[row_id], sql_says))
    assert not disagreements
