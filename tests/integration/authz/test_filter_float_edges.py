"""NaN, REAL (float4) and NUMERIC columns: the SQL filter selects exactly what the point check
allows when the point check sees each row as asyncpg reads it back (float('nan'), the float
of a float4, decimal.Decimal), every condition also under $not, and never fails in the
database."""
import asyncio
import math
import struct
from decimal import Decimal

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from sqlalchemy import ARRAY, REAL, Column, Double, Float, Integer, MetaData, Numeric, Table, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from app.authz import conditions
from app.authz.conditions import compile_predicate
from app.authz.sqlfilter import to_clause

metadata = MetaData()
edges_table = Table(
    "authz_float_edge_rows", metadata, Column("id", Integer, primary_key=True),
    Column("dbl", Double), Column("rl", REAL), Column("exact", Numeric), Column("money", Numeric(10, 2)),
    Column("dbls", ARRAY(Double)), Column("rls", ARRAY(REAL)), Column("f24s", ARRAY(Float(24))),
    Column("exacts", ARRAY(Numeric)), Column("moneys", ARRAY(Numeric(10, 2))))
COLUMNS = {c.name: c for c in edges_table.columns}
SCALARS = ("dbl", "rl", "exact", "money")
ARRAYS = ("dbls", "rls", "f24s", "exacts", "moneys")
NAN, INF = math.nan, math.inf
DNAN = Decimal("NaN")
F4_TENTH = struct.unpack("f", struct.pack("f", 0.1))[0]  # 0.10000000149011612, what a REAL 0.1 reads back as
F4_MAX = struct.unpack("f", struct.pack("f", 3.4028234663852886e38))[0]


def _disagreements(database_url, rows, leaves):
    """(condition, row as read back, SQL says, point check says) wherever the two differ."""
    conds = [c for leaf in leaves for c in (leaf, {"$not": leaf})]
    nodes = [conditions.parse(c) for c in conds]
    loop = asyncio.new_event_loop()
    engine = create_async_engine(database_url, pool_size=1)

    async def answers(conn, clauses):
        # Each row and the answers of ``clauses``; a clause the database refuses answers "error".
        query = select(edges_table, *(c.label(f"c{i}") for i, c in enumerate(clauses))).order_by(edges_table.c.id)
        try:
            async with conn.begin_nested():
                return [tuple(r) for r in await conn.execute(query)]
        except DBAPIError as e:
            if len(clauses) == 1:
                error = f"error: {str(e.orig).splitlines()[0]}"
                return [tuple(r) + (error,) for r in await conn.execute(select(edges_table).order_by(edges_table.c.id))]
        one_by_one = [await answers(conn, [c]) for c in clauses]
        return [row[:-1] + tuple(each[i][-1] for each in one_by_one) for i, row in enumerate(one_by_one[0])]

    async def run():
        async with engine.connect() as conn:
            async with conn.begin() as tx:
                await conn.run_sync(metadata.create_all)
                await conn.execute(edges_table.delete())
                await conn.execute(edges_table.insert(), [{"id": i, **r} for i, r in enumerate(rows)])
                result = await answers(conn, [to_clause(n, {}, COLUMNS) for n in nodes])
                await tx.rollback()
        return result

    try:
        result = loop.run_until_complete(run())
    finally:
        loop.run_until_complete(engine.dispose())
        loop.close()
    found = []
    width = len(edges_table.columns)
    for row in result:
        attrs = dict(zip(edges_table.columns.keys(), row[:width]))
        for cond, node, sql_says in zip(conds, nodes, row[width:]):
            try:
                point_says = compile_predicate(node, {})(attrs)
            except Exception as e:  # noqa: BLE001 - a point check that raises is a disagreement too
                point_says = f"raises {type(e).__name__}"
            if sql_says is not point_says:
                found.append((cond, {k: attrs[k] for k in cond.get("$not", cond)}, sql_says, point_says))
    return found


def _leaves(attrs, operands, ops=("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin")):
    out = []
    for attr in attrs:
        for op in ops:
            for x in operands:
                out.append({attr: {op: [x, 5] if op in ("$in", "$nin") else x}})
    return out


def _array_leaves(attrs, operand_lists):
    return [{attr: {op: xs}} for attr in attrs for op in ("$all", "$any") for xs in operand_lists]


def test_nan_is_equal_to_nothing_and_in_no_order(database_url):
    """In Python every comparison with NaN is false; in Postgres NaN = NaN and NaN sorts above
    every number, so `> 5` would otherwise list a NaN row that the point check denies."""
    rows = [{"dbl": NAN, "rl": NAN, "exact": DNAN, "money": DNAN,
             "dbls": [NAN], "rls": [NAN, 5.0], "f24s": [NAN], "exacts": [DNAN, 5], "moneys": [DNAN]},
            {"dbl": INF, "rl": INF, "exact": Decimal("Infinity"), "money": 5,
             "dbls": [INF, 5.0], "rls": [INF], "f24s": [], "exacts": [Decimal("Infinity")], "moneys": [5]},
            {"dbl": -INF, "rl": -INF, "exact": Decimal("-Infinity"), "money": -5,
             "dbls": [], "rls": [-INF], "f24s": [5.0], "exacts": [], "moneys": []},
            {"dbl": 5.0, "rl": 5.0, "exact": 5, "money": Decimal("0.10"),
             "dbls": None, "rls": None, "f24s": None, "exacts": None, "moneys": None},
            {"dbl": None, "rl": None, "exact": None, "money": None,
             "dbls": [-0.0], "rls": [0.0], "f24s": [-0.0], "exacts": [0], "moneys": [0]}]
    leaves = _leaves(SCALARS, (5, 0, -0.0, 1e300, -1e300, 0.1, 10 ** 30))
    leaves += _array_leaves(ARRAYS, ([5], [5, 0], [0.0], [], [1e300]))
    assert _disagreements(database_url, rows, leaves) == []


def test_real_columns_compare_the_float4_they_hold(database_url):
    """A REAL holding 0.1 holds 0.10000000149011612, and that is what the point check sees:
    no rule number the float4 cannot hold equals it. Scalars are compared as doubles; an
    array operand must not be cast to REAL[], which rounds 0.1 onto the element (a match
    the point check denies), turns 1e-50 into 0 and fails outright on 1e300."""
    rows = [{"rl": 0.1, "rls": [0.1], "f24s": [0.1]},
            {"rl": 0.0, "rls": [0.0, 1.0], "f24s": [0.0]},
            {"rl": 2.0 ** 24, "rls": [2.0 ** 24], "f24s": [2.0 ** 24]},
            {"rl": F4_MAX, "rls": [F4_MAX, -F4_MAX], "f24s": [F4_MAX]},
            {"rl": None, "rls": None, "f24s": None}]
    assert compile_predicate(conditions.parse({"rl": 0.1}), {})({"rl": F4_TENTH}) is False
    leaves = _leaves(["rl"], (0.1, F4_TENTH, 1e-50, -1e-50, 0, 2 ** 24, 2 ** 24 + 1, 2.0 ** 24 + 1, F4_MAX,
                              3.4028235e38, 1e39, 1e300))
    leaves += _array_leaves(("rls", "f24s"), ([0.1], [F4_TENTH], [1e-50], [1e300], [-1e300], [2 ** 24 + 1],
                                             [2 ** 24], [F4_MAX], [3.4028235e38], [0.1, 0], [F4_TENTH, 0], [0, 1]))
    assert _disagreements(database_url, rows, leaves) == []


def test_numeric_columns_compare_decimals_exactly(database_url):
    """asyncpg reads NUMERIC as Decimal: a number like any other to the point check, compared
    exactly (Decimal('0.1') is below the double 0.1), and so in SQL. A NUMERIC(10, 2)[] operand
    is not cast to the column's scale: that would round 0.105 onto 0.10 and fail on 10**30."""
    rows = [{"exact": Decimal("0.1"), "money": Decimal("0.10"), "exacts": [Decimal("0.1")],
             "moneys": [Decimal("0.10"), Decimal("0.11")]},
            {"exact": Decimal(0.1), "money": Decimal("5.00"), "exacts": [Decimal(0.1), 5],
             "moneys": [Decimal("5.00")]},
            {"exact": 10 ** 30, "money": Decimal("99999999.99"), "exacts": [10 ** 30, 10 ** 30 + 1],
             "moneys": [Decimal("99999999.99")]},
            {"exact": 10 ** 30 + 1, "money": Decimal("-0.01"), "exacts": [Decimal(1e300)], "moneys": [0]},
            {"exact": Decimal("5.000"), "money": None, "exacts": [], "moneys": None}]
    leaves = _leaves(["exact", "money"], (0.1, 0.105, 0.11, 5, 5.0, 10 ** 30, 10 ** 30 + 1, 1e30, 1e300,
                                         -1e300, 99999999.99, 1e8, -0.01, 0))
    leaves += _array_leaves(("exacts", "moneys"), ([0.1], [0.105], [0.11], [5], [5.0, 0.1], [10 ** 30],
                                                   [10 ** 30 + 1], [1e30], [1e300], [99999999.99], [0]))
    assert _disagreements(database_url, rows, leaves) == []


# --- property -------------------------------------------------------------------------------

def _f4(x):
    return struct.unpack("f", struct.pack("f", x))[0]


OPERANDS = [0, 5, -5, 0.1, -0.0, 0.105, F4_TENTH, 1e-50, 2 ** 24 + 1, F4_MAX, 3.4028235e38, 1e39, 1e300,
            -1e300, 10 ** 30, 10 ** 30 + 1, 99999999.99, 5e-324]
operand_st = (st.sampled_from(OPERANDS) | st.floats(allow_nan=False, allow_infinity=False)
              | st.floats(width=32, allow_nan=False, allow_infinity=False) | st.integers(-10 ** 32, 10 ** 32))
double_st = st.sampled_from([NAN, INF, -INF, 0.1, -0.0, 5.0, 1e300]) | st.floats()
real_st = st.sampled_from([NAN, INF, -INF, F4_TENTH, -0.0, 5.0, F4_MAX]) | st.floats(width=32)
exact_st = (st.sampled_from([DNAN, Decimal("Infinity"), Decimal("-Infinity"), Decimal("0.1"), Decimal(0.1), 5,
                             10 ** 30, 10 ** 30 + 1])
            | st.floats(allow_nan=False, allow_infinity=False).map(Decimal) | st.integers(-10 ** 32, 10 ** 32))
money_st = st.sampled_from([DNAN, Decimal("0.10"), Decimal("5.00"), Decimal("99999999.99")]) \
    | st.decimals(min_value=-10 ** 8 + 1, max_value=10 ** 8 - 1, places=2, allow_nan=False)
row_st = st.fixed_dictionaries({
    "dbl": st.none() | double_st, "rl": st.none() | real_st, "exact": st.none() | exact_st,
    "money": st.none() | money_st, "dbls": st.none() | st.lists(double_st, max_size=3),
    "rls": st.none() | st.lists(real_st, max_size=3), "f24s": st.none() | st.lists(real_st, max_size=3),
    "exacts": st.none() | st.lists(exact_st, max_size=3), "moneys": st.none() | st.lists(money_st, max_size=3)})


@st.composite
def leaf_st(draw, rows):
    """A condition, its operand often taken from a drawn row (so that equality bites)."""
    stored = [v for r in rows for v in r.values() if v is not None]
    stored = [x for v in stored for x in (v if isinstance(v, list) else [v])]
    own = [float(x) for x in stored if isinstance(x, float | int | Decimal) and math.isfinite(x)]
    own_st = st.sampled_from(own) if own else operand_st
    number = operand_st | own_st | own_st.filter(lambda x: abs(x) <= F4_MAX).map(_f4) if own else operand_st
    op = draw(st.sampled_from(["$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$all", "$any"]))
    if op in ("$all", "$any"):
        return {draw(st.sampled_from(ARRAYS)): {op: draw(st.lists(number, max_size=3))}}
    attr = draw(st.sampled_from(SCALARS))
    if op in ("$in", "$nin"):
        return {attr: {op: draw(st.lists(number, max_size=3))}}
    return {attr: {op: draw(number)}}


def test_sql_filter_agrees_with_point_check_on_float_edges(database_url):
    @hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data(), rows=st.lists(row_st, min_size=1, max_size=6))
    def agree(data, rows):
        leaves = data.draw(st.lists(leaf_st(rows), min_size=1, max_size=10))
        assert _disagreements(database_url, rows, leaves) == []

    agree()
