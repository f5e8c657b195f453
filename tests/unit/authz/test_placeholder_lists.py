"""A placeholder is a whole value: inside a list it is refused when written, and a rule
stored that way before (kept as literal text) fails closed instead of breaking every check."""
import uuid

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table
from sqlalchemy.dialects import postgresql

from app.authz import conditions
from app.authz.engine import Subject, view_from
from app.authz.errors import RuleError
from app.authz.models import Policy
from app.authz.repository import Snapshot, spec_of


@pytest.mark.parametrize("op", ["$in", "$nin", "$all", "$any"])
@pytest.mark.parametrize("item", ["${user.id}", "${user.roles}", "${user.email}", "x-${user.id}", "${nope}"])
def test_a_placeholder_inside_a_list_is_refused(op, item):
    with pytest.raises(RuleError) as raised:
        conditions.parse({"blocked": {op: ["a", item]}})
    assert raised.value.extra["field"] == f"conditions.blocked.{op}[1]"
    assert "whole values" in raised.value.detail


def test_whole_placeholders_are_still_accepted():
    conditions.parse({"blocked": "${user.id}", "team": {"$in": "${user.roles}"}, "tags": {"$any": "${user.roles}"}})


def _stored(effect, conds):
    return Policy(id=uuid.uuid4(), effect=effect, action="read", subject_type="doc", conditions=conds,
                  fields=None, role_name="r", user_id=None, description="")


def _view(*rows):
    specs = tuple(spec_of(row) for row in rows)
    snap = Snapshot(version="1", roles=frozenset({"r"}), parents={}, permissions={"r": ("doc:read",)},
                    role_rules={"r": specs})
    return view_from(snap, Subject(kind="user", id="u1", email=None, roles=("r",)))


def test_a_stored_deny_that_no_longer_parses_applies_to_everything_it_names(caplog):
    row = _stored("deny", {"blocked_users": {"$any": ["${user.id}"]}})
    view = _view(row)
    decision = view.check("read", "doc", {"blocked_users": ["someone-else"]})
    assert not decision.allowed and decision.rule["id"] == str(row.id)
    assert view.check("update", "doc", {}).allowed is False  # no rule, no permission: unchanged
    assert str(row.id) in caplog.text


def test_a_stored_allow_that_no_longer_parses_allows_nothing():
    row = _stored("allow", {"blocked_users": {"$nin": ["${user.id}"]}})
    snap = Snapshot(version="1", roles=frozenset({"r"}), parents={}, permissions={},
                    role_rules={"r": (spec_of(row),)})
    view = view_from(snap, Subject(kind="user", id="u1", email=None, roles=("r",)))
    assert not view.check("read", "doc", {"blocked_users": []}).allowed


def test_the_sql_filter_of_an_unreadable_rule_is_static():
    table = Table("docs", MetaData(), Column("id", Integer), Column("blocked_users", String))
    view = _view(_stored("deny", {"blocked_users": {"$in": ["${user.id}"]}}))
    clause = view.sql_filter("read", "doc", {c.name: c for c in table.columns})
    assert str(clause.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})) == "false"
