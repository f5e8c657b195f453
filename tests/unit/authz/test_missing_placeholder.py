"""A placeholder the caller has no value for (an API client has no email): a deny rule
applies (fails closed) and an allow rule does not, however the condition is written."""
import pytest

from app.authz.engine import Subject, view_from
from app.authz.repository import Snapshot
from app.authz.rules import RuleSpec, validate_rule

ACTIONS = frozenset({"read", "delete"})
NOT_OWNER = [{"owner_email": {"$ne": "${user.email}"}}, {"$not": {"owner_email": "${user.email}"}},
             {"$not": {"$or": [{"owner_email": "${user.email}"}, {"status": "locked"}]}}]
POST = {"owner_email": "alice@example.com", "status": "final"}


def _view(effect, conds, *, email, kind="user", permissions=()):
    *_, node = validate_rule(effect=effect, action="delete", subject_type="post", conditions_=conds, fields=None,
                             actions=ACTIONS)
    spec = RuleSpec(id="r1", effect=effect, action="delete", subject_type="post", conditions=conds, fields=None,
                    role="editor", node=node)
    snap = Snapshot(version="1", roles=frozenset({"editor"}), parents={},
                    permissions={"editor": tuple(permissions)}, role_rules={"editor": (spec,)})
    return view_from(snap, Subject(kind=kind, id="cl_x" if kind == "client" else "u1", email=email,
                                   roles=("editor",)))


@pytest.mark.parametrize("conds", NOT_OWNER)
def test_deny_rule_applies_to_a_caller_without_the_value(conds):
    client = _view("deny", conds, email=None, kind="client", permissions=["post:delete"])
    decision = client.check("delete", "post", POST)
    assert not decision.allowed and decision.rule["id"] == "r1"


@pytest.mark.parametrize("conds", NOT_OWNER)
def test_deny_rule_with_the_value_is_unchanged(conds):
    assert not _view("deny", conds, email="bob@example.com", permissions=["post:delete"]).check(
        "delete", "post", POST).allowed
    assert _view("deny", conds, email="alice@example.com", permissions=["post:delete"]).check(
        "delete", "post", POST).allowed


@pytest.mark.parametrize("conds", NOT_OWNER + [{"owner_email": "${user.email}"}])
def test_allow_rule_never_matches_a_caller_without_the_value(conds):
    assert not _view("allow", conds, email=None, kind="client").check("delete", "post", POST).allowed


def test_an_unknown_value_tips_only_its_own_condition():
    # The other half of the AND is false for this post, so the deny cannot apply whatever the email.
    conds = {"status": "draft", "owner_email": {"$ne": "${user.email}"}}
    client = _view("deny", conds, email=None, kind="client", permissions=["post:delete"])
    assert client.check("delete", "post", POST).allowed
    assert not client.check("delete", "post", {**POST, "status": "draft"}).allowed
