"""The SQL filter answers what the point check answers for any rule the admin API accepts."""

import pytest
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table

from tests.integration.authz.helpers import single_rule_view
from tests.integration.authz.rowtable import RowTable

metadata = MetaData()
table = Table("authz_review_values", metadata, Column("id", Integer, primary_key=True),
              Column("score", Integer), Column("big", BigInteger), Column("name", String))
COLUMNS = {c.name: c for c in table.columns}
ROWS = [{"id": 1, "score": 5, "big": 5, "name": "a"}, {"id": 2, "score": None, "big": None, "name": None}]


CASES = [
    {"score": {"$gt": 3_000_000_000}},
    {"score": 3_000_000_000},
    {"score": {"$in": [3_000_000_000, 5]}},
    {"big": {"$lt": 10 ** 20}},
    {"big": 10 ** 20},
    {"score": {"$gte": 1e300}},
]


@pytest.mark.parametrize("conditions", CASES, ids=[str(c) for c in CASES])
@pytest.mark.parametrize("effect", ["allow", "deny"])
def test_filter_agrees_for_large_numbers(database_url, conditions, effect):
    view = single_rule_view(conditions, effect)
    expected = [r["id"] for r in ROWS if view.check("read", "post", r).allowed]
    with RowTable(database_url, table) as rows:
        got = rows.ids_where(ROWS, view.sql_filter("read", "post", COLUMNS))
    assert got == expected
