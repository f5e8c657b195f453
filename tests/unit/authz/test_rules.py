"""Hierarchy, wildcards, conditions (every operator), deny overrides, malformed rules."""
import pytest

from app.authz import conditions
from app.authz.engine import Subject, view_from
from app.authz.errors import RuleError, UnknownActionError
from app.authz.hierarchy import closure, find_cycle
from app.authz.permissions import PermissionSet, is_valid_permission
from app.authz.repository import Snapshot
from app.authz.rules import RuleSpec, validate_rule

ACTIONS = frozenset({"create", "read", "update", "delete", "list", "manage"})


def rule(effect, action, subject_type, conds=None, fields=None, *, role="r", rid="x"):
    *_, node = validate_rule(effect=effect, action=action, subject_type=subject_type, conditions_=conds,
                             fields=fields, actions=ACTIONS)
    return RuleSpec(id=rid, effect=effect, action=action, subject_type=subject_type, conditions=conds,
                    fields=tuple(fields) if fields else None, role=role, node=node)


def snapshot(*, parents=None, permissions=None, rules=()):
    role_rules = {}
    for r in rules:
        role_rules.setdefault(r.role, []).append(r)
    return Snapshot(version="1", roles=frozenset(), parents=parents or {}, permissions=permissions or {},
                    role_rules={k: tuple(v) for k, v in role_rules.items()})


def view(snap, roles=("r",), uid="u1", email="a@example.com"):
    return view_from(snap, Subject(kind="user", id=uid, email=email, roles=tuple(roles)))


# --- hierarchy ------------------------------------------------------------------------------

def test_diamond_is_resolved_once():
    parents = {"top": ("left", "right"), "left": ("base",), "right": ("base",)}
    assert closure(["top"], parents) == {"top", "left", "right", "base"}


def test_deep_chain_resolves_to_the_root():
    parents = {f"r{i}": (f"r{i + 1}",) for i in range(500)}
    assert closure(["r0"], parents) == {f"r{i}" for i in range(501)}
    assert closure(["r250"], parents) == {f"r{i}" for i in range(250, 501)}


def test_cycles_are_found_with_their_path():
    parents = {"a": ("b",), "b": ("c",)}
    assert find_cycle("c", ["a"], parents) == ["c", "a", "b", "c"]
    assert find_cycle("a", ["a"], parents) == ["a", "a"]
    assert find_cycle("d", ["a"], parents) is None
    assert find_cycle("c", ["x"], {"x": ("y",)}) is None


def test_closure_survives_a_cycle_that_slipped_in():
    assert closure(["a"], {"a": ("b",), "b": ("a",)}) == {"a", "b"}


def test_inherited_permissions_and_rules_reach_the_child():
    snap = snapshot(parents={"editor": ("viewer",)}, permissions={"viewer": ("post:read",)},
                    rules=[rule("allow", "update", "post", {"author_id": "${user.id}"}, role="viewer")])
    v = view(snap, roles=("editor",))
    assert v.roles == {"editor", "viewer"}
    assert v.check("read", "post").allowed
    assert v.check("update", "post", {"author_id": "u1"}).allowed
    assert not v.check("update", "post", {"author_id": "u2"}).allowed


# --- wildcards ------------------------------------------------------------------------------

@pytest.mark.parametrize("granted,required,ok", [
    ("posts:update", "posts:update", True), ("posts:update", "posts:read", False),
    ("posts:*", "posts:delete", True), ("posts:*", "users:delete", False),
    ("*:read", "users:read", True), ("*:read", "users:write", False),
    ("*", "anything:at_all", True), ("*:*", "x:y", True),
])
def test_wildcard_matching(granted, required, ok):
    assert PermissionSet([granted]).allows(required) is ok


@pytest.mark.parametrize("value", ["posts", "posts:", ":read", "Posts:read", "a:b:c", "po sts:read", "", "**",
                                   "posts:read\n", "*\n"])
def test_malformed_permissions_are_invalid(value):
    assert not is_valid_permission(value)


@pytest.mark.parametrize("rule_parts", [
    {"subject_type": "post\n"},  # a `$` anchor matches before a final newline: stored, never matched
    {"subject_type": "a" * 64 + "\n"},  # and one character over the column
    {"fields": ["title\n"]},
    {"conditions_": {"owner\n": "x"}},
])
def test_names_in_rules_are_matched_whole(rule_parts):
    parts = {"effect": "allow", "action": "read", "subject_type": "post", "conditions_": None, "fields": None,
             **rule_parts}
    with pytest.raises(RuleError):
        validate_rule(actions=ACTIONS, **parts)


def test_a_placeholder_is_matched_whole():
    with pytest.raises(RuleError, match="whole value"):
        conditions.parse({"owner": "${user.id}\n"})


# --- decisions ------------------------------------------------------------------------------

def test_deny_overrides_allow_and_permission():
    snap = snapshot(permissions={"r": ("post:*",)}, rules=[
        rule("allow", "delete", "post", rid="allow1"),
        rule("deny", "delete", "post", {"locked": True}, rid="deny1")])
    v = view(snap)
    decision = v.check("delete", "post", {"locked": True})
    assert not decision.allowed and decision.rule["id"] == "deny1"
    assert decision.reply() == {"allowed": False, "reason": {"rule": decision.rule, "effect": "deny"}}
    assert v.check("delete", "post", {"locked": False}).rule == {"permission": "post:*"}


def test_no_matching_rule_means_deny():
    v = view(snapshot(rules=[rule("allow", "read", "post")]))
    decision = v.check("read", "comment")
    assert not decision.allowed and decision.rule is None
    assert decision.reply()["reason"]["effect"] == "deny"


def test_manage_and_all_cover_every_action_and_type():
    v = view(snapshot(rules=[rule("allow", "manage", "all", rid="god")]))
    assert v.check("delete", "anything").rule["id"] == "god"


def test_allow_rule_reports_itself():
    v = view(snapshot(rules=[rule("allow", "read", "post", rid="r1")]))
    assert v.check("read", "post").reply() == {"allowed": True, "reason": {"rule": {
        "id": "r1", "effect": "allow", "action": "read", "subject_type": "post", "role": "r"}, "effect": "allow"}}


def test_fields_limit_allow_and_deny():
    v = view(snapshot(rules=[rule("allow", "update", "post", fields=["title", "body"]),
                             rule("deny", "read", "user", fields=["password_hash"]),
                             rule("allow", "read", "user")]))
    assert v.check("update", "post", field_="title").allowed
    assert not v.check("update", "post", field_="author_id").allowed
    assert v.check("update", "post").allowed
    assert not v.check("read", "user", field_="password_hash").allowed
    assert v.check("read", "user", field_="email").allowed and v.check("read", "user").allowed


def test_user_attached_rules_apply_to_that_user_only():
    spec = rule("allow", "read", "report", role=None)
    spec = RuleSpec(**{**{s: getattr(spec, s) for s in spec.__slots__ if s != "__weakref__"}, "user_id": "u1"})
    snap = Snapshot(version="1", roles=frozenset(), parents={}, permissions={}, role_rules={},
                    user_rules={"u1": (spec,)})
    assert view(snap, roles=(), uid="u1").check("read", "report").allowed
    assert not view(snap, roles=(), uid="u2").check("read", "report").allowed


# --- every operator -------------------------------------------------------------------------

ROW = {"author_id": "u1", "status": "draft", "score": 5, "tags": ["a", "b"], "published": False,
       "owner_email": "a@example.com", "role": "editor", "nothing": None}


@pytest.mark.parametrize("conds,expected", [
    ({"status": "draft"}, True), ({"status": "final"}, False),
    ({"status": {"$eq": "draft"}}, True), ({"published": False}, True), ({"published": 0}, False),
    ({"score": 5.0}, True), ({"score": "5"}, False),
    ({"status": {"$ne": "final"}}, True), ({"status": {"$ne": "draft"}}, False),
    ({"missing": {"$ne": "x"}}, True), ({"missing": None}, True), ({"nothing": {"$ne": None}}, False),
    ({"status": {"$in": ["draft", "review"]}}, True), ({"status": {"$in": ["final"]}}, False),
    ({"missing": {"$in": ["x"]}}, False), ({"status": {"$in": []}}, False),
    ({"status": {"$nin": ["final"]}}, True), ({"status": {"$nin": ["draft"]}}, False),
    ({"missing": {"$nin": ["x"]}}, True),
    ({"score": {"$gt": 4}}, True), ({"score": {"$gt": 5}}, False),
    ({"score": {"$gte": 5}}, True), ({"score": {"$gte": 5.5}}, False),
    ({"score": {"$lt": 6}}, True), ({"score": {"$lt": 5}}, False),
    ({"score": {"$lte": 5}}, True), ({"score": {"$lte": 4.9}}, False),
    ({"status": {"$gt": 1}}, False), ({"missing": {"$lt": 1}}, False),
    ({"tags": {"$all": ["a", "b"]}}, True), ({"tags": {"$all": ["a", "c"]}}, False),
    ({"tags": {"$any": ["c", "b"]}}, True), ({"tags": {"$any": ["c"]}}, False), ({"status": {"$any": ["d"]}}, False),
    ({"author_id": "${user.id}"}, True), ({"owner_email": "${user.email}"}, True),
    ({"role": {"$in": "${user.roles}"}}, True), ({"tags": {"$any": "${user.roles}"}}, False),
    ({"$or": [{"status": "final"}, {"score": {"$gte": 5}}]}, True),
    ({"$or": [{"status": "final"}, {"score": {"$gt": 5}}]}, False),
    ({"$and": [{"status": "draft"}, {"score": 5}]}, True), ({"$and": [{"status": "draft"}, {"score": 6}]}, False),
    ({"$not": {"status": "final"}}, True), ({"$not": {"status": "draft"}}, False),
    ({"status": "draft", "score": {"$gt": 1, "$lt": 3}}, False),
])
def test_each_operator(conds, expected):
    v = view(snapshot(rules=[rule("allow", "read", "post", conds)]), roles=("r", "editor"))
    assert v.check("read", "post", ROW).allowed is expected


def test_placeholder_without_value_never_matches():
    v = view(snapshot(rules=[rule("allow", "read", "post", {"owner_email": {"$ne": "${user.email}"}})]),
             email=None)
    assert not v.check("read", "post", {"owner_email": "x@example.com"}).allowed


# --- malformed rules ------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    {"effect": "maybe"}, {"subject_type": "Post!"}, {"subject_type": 3},
    {"conditions_": {"status": {"$regex": "x"}}}, {"conditions_": {"$nor": []}},
    {"conditions_": {"a.b": 1}}, {"conditions_": ["status"]}, {"conditions_": {"$or": {}}},
    {"conditions_": {"$or": []}}, {"conditions_": {"s": {"$in": "draft"}}}, {"conditions_": {"s": {"$in": [None]}}},
    {"conditions_": {"s": {"$gt": "a"}}}, {"conditions_": {"s": {"$gt": True}}}, {"conditions_": {"s": {}}},
    {"conditions_": {"s": "${user.password}"}}, {"conditions_": {"s": "id-${user.id}"}},
    {"conditions_": {"s": "${user.roles}"}}, {"conditions_": {"s": {"$in": "${user.id}"}}},
    {"conditions_": {"s": [1, 2]}}, {"conditions_": {"s": {"x": 1}}}, {"conditions_": {"s": float("nan")}},
    {"fields": []}, {"fields": "title"}, {"fields": ["ti tle"]},
])
def test_malformed_rules_are_refused(kwargs):
    base = {"effect": "allow", "action": "read", "subject_type": "post", "conditions_": None, "fields": None,
            "actions": ACTIONS}
    with pytest.raises(RuleError) as info:
        validate_rule(**{**base, **kwargs})
    assert info.value.status == 422


def test_unknown_action_is_refused():
    with pytest.raises(UnknownActionError) as info:
        validate_rule(effect="allow", action="fly", subject_type="post", conditions_=None, fields=None,
                      actions=ACTIONS)
    assert info.value.code == "unknown_action" and info.value.status == 422


def test_depth_and_size_limits():
    deep = {"a": 1}
    for _ in range(conditions.MAX_DEPTH + 1):
        deep = {"$not": deep}
    with pytest.raises(RuleError):
        conditions.parse(deep)
    with pytest.raises(RuleError):
        conditions.parse({f"a{i}": i for i in range(conditions.MAX_LEAVES + 1)})
