"""The SQL filter answers what the point check answers for any rule the admin API accepts."""
import asyncio

import pytest
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, select
from sqlalchemy.ext.asyncio import create_async_engine

from app.authz.engine import Subject, view_from
from app.authz.repository import Snapshot
from app.authz.rules import RuleSpec, validate_rule

metadata = MetaData()
table = Table("authz_review_values", metadata, Column("id", Integer, primary_key=True),
              Column("score", Integer), Column("big", BigInteger), Column("name", String))
COLUMNS = {c.name: c for c in table.columns}
ROWS = [{"id": 1, "score": 5, "big": 5, "name": "a"}, {"id": 2, "score": None, "big": None, "name": None}]


def _view(conditions, effect="allow"):
    eff, action, st, conds, fields, node = validate_rule(effect=effect, action="read", subject_type="post",
                                                         conditions_=conditions, fields=None,
                                                         actions=frozenset({"read"}))
    spec = RuleSpec(id="1", effect=eff, action=action, subject_type=st, conditions=conds, fields=None,
                    role="r", node=node)
    rules = [spec]
    perms = {}
    if effect == "deny":
        perms = {"r": ("post:read",)}
    snap = Snapshot(version="1", roles=frozenset({"r"}), parents={}, permissions=perms, role_rules={"r": tuple(rules)})
    return view_from(snap, Subject(kind="user", id="u1", email=None, roles=("r",)))


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
    view = _view(conditions, effect)
    expected = [r["id"] for r in ROWS if view.check("read", "post", r).allowed]
    loop = asyncio.new_event_loop()
    engine = create_async_engine(database_url, pool_size=1)

    async def run():
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            await conn.execute(table.delete())
            await conn.execute(table.insert(), ROWS)
            return [r[0] for r in await conn.execute(
                select(table.c.id).where(view.sql_filter("read", "post", COLUMNS)).order_by(table.c.id))]

    try:
        got = loop.run_until_complete(run())
    finally:
        loop.run_until_complete(engine.dispose())
        loop.close()
    assert got == expected
