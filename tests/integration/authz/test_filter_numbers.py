"""Property: for numbers of any size the rule language accepts, the SQL filter selects
exactly what the point check allows, on every numeric column type, and never fails in
the database (10**20 against an INTEGER or BIGINT column is "no row", not an error)."""
import math

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from sqlalchemy import ARRAY, BigInteger, Column, Double, Integer, MetaData, Numeric, SmallInteger, Table

from app.authz import conditions
from app.authz.conditions import compile_predicate
from app.authz.sqlfilter import to_clause
from tests.integration.authz.rowtable import RowTable

metadata = MetaData()
numbers_table = Table(
    "authz_number_rows", metadata, Column("id", Integer, primary_key=True),
    Column("small", SmallInteger), Column("score", Integer), Column("big", BigInteger), Column("ratio", Double),
    Column("exact", Numeric), Column("ints", ARRAY(Integer)), Column("bigs", ARRAY(BigInteger)))
COLUMNS = {c.name: c for c in numbers_table.columns}

I16, I32, I64 = 2 ** 15, 2 ** 31, 2 ** 63
EDGES = [0, 1, -1, 5, I16 - 1, -I16, I16, I32 - 1, -I32, I32, -I32 - 1, I64 - 1, -I64, I64, -I64 - 1,
         2 ** 53, 2 ** 53 + 1, -(2 ** 53) - 1, 10 ** 20, -(10 ** 20), 10 ** 30]
operand_st = (st.sampled_from(EDGES) | st.sampled_from([e + d for e in EDGES for d in (0.5, -0.5)])
              | st.integers(-10 ** 25, 10 ** 25) | st.floats(-1e300, 1e300, allow_nan=False)
              | st.sampled_from([0.5, -0.5, 2.0 ** 53, 1e20, 1e300, -0.0]))


def _near(numbers):
    """Values around the operands: where an off-by-one or a rounding would show."""
    out = set()
    for n in numbers:
        base = math.floor(n)
        out.update((base - 1, base, base + 1, base + 2))
    return sorted(out)


def _row_st(numbers):
    near = _near(numbers)

    def within(bits):
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        pool = [v for v in near + EDGES + [lo, hi] if lo <= v <= hi]
        return st.sampled_from(pool) | st.integers(lo, hi)

    floats = [float(n) for n in numbers] + [math.nextafter(float(n), d) for n in numbers for d in (-math.inf, math.inf)]
    floats = floats or [0.5]
    return st.fixed_dictionaries({
        "small": st.none() | within(16), "score": st.none() | within(32), "big": st.none() | within(64),
        "ratio": st.one_of(st.none(), *[st.sampled_from(floats)] * 4, st.sampled_from([0.5, 2.0 ** 53, 1e300, -0.0]),
                           st.floats(-1e300, 1e300, allow_nan=False)),
        "exact": st.none() | st.sampled_from(near + EDGES) | st.integers(-10 ** 30, 10 ** 30),
        "ints": st.none() | st.lists(within(32), max_size=3),
        "bigs": st.none() | st.lists(within(64), max_size=3),
    })


def _numbers(leaf):
    (ops,) = leaf.values()
    (operand,) = ops.values()
    return operand if isinstance(operand, list) else [operand]


@st.composite
def leaf_st(draw):
    op = draw(st.sampled_from(["$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$all", "$any"]))
    if op in ("$all", "$any"):
        return {draw(st.sampled_from(["ints", "bigs"])): {op: draw(st.lists(operand_st, max_size=3))}}
    attr = draw(st.sampled_from(["small", "score", "big", "ratio", "exact"]))
    if op in ("$in", "$nin"):
        return {attr: {op: draw(st.lists(operand_st, max_size=3))}}
    return {attr: {op: draw(operand_st)}}


def test_sql_filter_agrees_with_point_check_for_numbers(database_url):
    @hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data(), leaves=st.lists(leaf_st(), min_size=1, max_size=8))
    def agree(data, leaves):
        numbers = [n for leaf in leaves for n in _numbers(leaf)]
        rows = data.draw(st.lists(_row_st(numbers), min_size=1, max_size=8))
        nodes = [conditions.parse(leaf) for leaf in leaves]
        for missing in (False, True):
            clauses = [to_clause(n, {}, COLUMNS, missing=missing) for n in nodes]
            for row_id, *says in table.answers(rows, clauses):
                for leaf, node, sql_says in zip(leaves, nodes, says):
                    assert sql_says is compile_predicate(node, {}, missing=missing)(rows[row_id]), (leaf, rows[row_id])

    with RowTable(database_url, numbers_table) as table:
        agree()


def test_edges_of_each_column_type(database_url):
    """The cases a random draw rarely lands on: each type's extremes, and integers no double equals."""
    odd = 2 ** 53 + 1  # between the doubles 2**53 and 2**53 + 2
    rows = [{"small": -I16, "score": -I32, "big": -I64, "ratio": 2.0 ** 53, "exact": 10 ** 30, "ints": [I32 - 1],
             "bigs": [I64 - 1]},
            {"small": I16 - 1, "score": I32 - 1, "big": I64 - 1, "ratio": 2.0 ** 53 + 2, "exact": -(10 ** 30),
             "ints": [-I32], "bigs": [-I64]},
            {"small": None, "score": None, "big": None, "ratio": None, "exact": None, "ints": None, "bigs": None}]
    leaves = [{attr: {op: operand}}
              for attr, operands in (("small", (I16 - 1, I16, -I16 - 1, I16 - 1.5, -I16 + 0.5)),
                                     ("score", (I32 - 1, I32, -I32 - 1, 1e300, -1e300, I32 - 0.5)),
                                     ("big", (I64 - 1, I64, -I64, -I64 - 1, 10 ** 20, 2.0 ** 63, -(2.0 ** 63))),
                                     ("ratio", (odd, -odd, 2 ** 53, 2 ** 53 + 2, 10 ** 300)),
                                     ("exact", (10 ** 30, 10 ** 30 + 1, -(10 ** 30), 0.5)))
              for operand in operands
              for op in ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")]
    leaves += [{attr: {op: operand}}
               for attr, operand in (("small", [I16, I16 - 1]), ("score", [I32 - 1, I32, 10 ** 20]),
                                     ("big", [I64, -I64, 10 ** 20]), ("ratio", [odd, 2 ** 53 + 2]),
                                     ("ints", [I32, I32 - 1]), ("bigs", [I64, I64 - 1, -I64]))
               for op in (("$in", "$nin") if attr not in ("ints", "bigs") else ("$any", "$all"))]
    nodes = [conditions.parse(leaf) for leaf in leaves]
    with RowTable(database_url, numbers_table) as table:
        result = table.answers(rows, [to_clause(n, {}, COLUMNS) for n in nodes])
    for row_id, *says in result:
        for leaf, node, sql_says in zip(leaves, nodes, says):
            assert sql_says is compile_predicate(node, {})(rows[row_id]), (leaf, rows[row_id])
