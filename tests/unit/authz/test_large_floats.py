"""Floats of magnitude 2**53 or more in rule conditions are kept as their exact int value, in the
condition tree and in the conditions as stored, and compared exactly with float attributes."""
import json

import pytest

from app.authz import conditions
from app.authz.conditions import compile_predicate


def test_large_floats_are_stored_as_their_exact_int():
    data = {"amount": {"$gte": 1e23}, "ref": 1.2345678901234567e+19,
            "$or": [{"ids": {"$in": [-1e300, 0.5, "x"]}}, {"$not": {"tags": {"$any": [2.0 ** 53, 5.0]}}}]}
    stored = conditions.exact_numbers(data)
    assert json.dumps(stored) == json.dumps({
        "amount": {"$gte": 99999999999999991611392}, "ref": 12345678901234567168,
        "$or": [{"ids": {"$in": [-int(1e300), 0.5, "x"]}}, {"$not": {"tags": {"$any": [2 ** 53, 5.0]}}}]})
    assert data["amount"]["$gte"] == 1e23 and type(data["amount"]["$gte"]) is float  # the input is left alone
    # As written, as stored and as read back (JSONB hands back ints), the rule is one tree.
    assert conditions.parse(data) == conditions.parse(stored) == conditions.parse(json.loads(json.dumps(stored)))


@pytest.mark.parametrize("small", [5.0, 0.1, -2.5, 2.0 ** 53 - 1, 1e15])
def test_smaller_floats_are_left_alone(small):
    stored = conditions.exact_numbers({"x": small, "y": {"$lt": small}})
    assert type(stored["x"]) is float and type(stored["y"]["$lt"]) is float


def test_the_point_check_compares_the_int_with_float_attributes_exactly():
    gte = compile_predicate(conditions.parse({"amount": {"$gte": 1e23}}), {})
    assert gte({"amount": 1e23}) and gte({"amount": 2e23}) and gte({"amount": 99999999999999991611392})
    assert not gte({"amount": 9.999999999999997e22}) and not gte({"amount": 99999999999999991611391})
    eq = compile_predicate(conditions.parse({"ref": 1.2345678901234567e+19}), {})
    assert eq({"ref": 1.2345678901234567e+19}) and eq({"ref": 12345678901234567168})
    assert not eq({"ref": 12345678901234567000}) and not eq({"ref": "12345678901234567168"})
    member = compile_predicate(conditions.parse({"refs": {"$any": [1e23]}}), {})
    assert member({"refs": [1e23]}) and not member({"refs": [10 ** 23]})
