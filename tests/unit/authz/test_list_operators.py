"""$in/$nin/$all/$any: set lookups that decide exactly what pairwise ``_same`` comparison
decides (true != 1, "1" != 1, 1 == 1.0), at the cost of one pass over a list attribute."""
import time

from hypothesis import given, settings as hsettings, strategies as st

from app.authz import conditions
from app.authz.conditions import _same
from app.authz.engine import Subject, view_from
from app.authz.repository import Snapshot
from app.authz.rules import RuleSpec, validate_rule

ITEM = st.booleans() | st.integers(-2, 2) | st.sampled_from([0.0, -0.0, 1.0, 1.5, 10 ** 20, 1e20]) \
    | st.sampled_from(["", "0", "1", "true", "a"])
VALUE = st.recursive(st.none() | ITEM | st.floats(allow_nan=True),
                     lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.just("k"), inner, max_size=1),
                     max_leaves=8)


def _reference(op, value, items):
    """The operators as documented, one comparison at a time."""
    member = value is not None and any(_same(value, i) for i in items)
    is_list = isinstance(value, list | tuple)
    return {"$in": member, "$nin": value is None or not member,
            "$all": is_list and all(any(_same(e, i) for e in value) for i in items),
            "$any": is_list and any(any(_same(e, i) for e in value) for i in items)}[op]


@hsettings(max_examples=600, deadline=None)
@given(op=st.sampled_from(["$in", "$nin", "$all", "$any"]), items=st.lists(ITEM, max_size=4), value=VALUE,
       memo=st.booleans())
def test_set_lookups_decide_as_pairwise_comparison(op, items, value, memo):
    node = conditions.parse({"a": {op: items}})
    predicate = conditions.compile_predicate(node, {})
    attrs = conditions.Attributes({"a": value}) if memo else {"a": value}
    assert predicate(attrs) is _reference(op, value, items)
    assert predicate(attrs) is _reference(op, value, items)  # the memo answers the same


def _view(n_rules, conds):
    specs = []
    for i in range(n_rules):
        *_, node = validate_rule(effect="allow", action="read", subject_type="doc", conditions_=conds,
                                 fields=None, actions=frozenset({"read"}))
        specs.append(RuleSpec(id=str(i), effect="allow", action="read", subject_type="doc", conditions=conds,
                              fields=None, role="r", node=node))
    snap = Snapshot(version="1", roles=frozenset({"r"}), parents={}, permissions={}, role_rules={"r": tuple(specs)})
    return view_from(snap, Subject(kind="user", id="u1", email=None, roles=("r",)))


def test_a_long_list_is_read_once_per_check_whatever_the_rule_count():
    labels = [f"label-{i}" for i in range(100)]
    attrs = {"labels": [0] * 32000, "flags": [True] * 100}  # as much as a 64 KiB body holds
    for op in ("$any", "$all"):
        for operand in (labels, [1, True, "x"]):
            view = _view(200, {"labels": {op: operand}})
            started = time.perf_counter()
            assert not view.check("read", "doc", attrs).allowed
            # Pairwise it was rules x items x elements (minutes); once per check it is milliseconds.
            assert time.perf_counter() - started < 0.25, (op, operand[:3])
    # The memo is per check: the next check sees the next attributes.
    view = _view(3, {"labels": {"$any": ["x"]}})
    assert not view.check("read", "doc", {"labels": ["y"]}).allowed
    assert view.check("read", "doc", {"labels": ["x"]}).allowed
