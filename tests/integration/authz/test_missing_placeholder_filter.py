"""The SQL filter mirrors the point check for a caller without a placeholder's value: a
deny rule on it applies (the rows are filtered out), an allow rule on it does not."""
from tests.integration.authz.test_filter_property import _view, listed

ROWS = [{"author_id": "u1", "status": "draft", "score": 1, "tags": [], "published": True},
        {"author_id": "u2", "status": "final", "score": 1, "tags": [], "published": False}]
NO_EMAIL = {"id": "u1", "email": None, "roles": ["r"], "permission": "post:read"}


def _rule(effect, conditions):
    return {"effect": effect, "action": "read", "subject_type": "post", "fields": None, "conditions": conditions}


def _visible(database_url, rules, caller):
    view = _view(rules, caller)
    ids = listed(database_url, view, ROWS)
    assert ids == [i for i, row in enumerate(ROWS) if view.check("read", "post", row).allowed]
    return ids


def test_deny_on_a_missing_value_filters_out_the_rows_it_could_cover(database_url):
    assert _visible(database_url, [_rule("deny", {"status": {"$ne": "${user.email}"}})], NO_EMAIL) == []
    assert _visible(database_url, [_rule("deny", {"$not": {"status": "${user.email}"}})], NO_EMAIL) == []
    # Only as far as the unknown value reaches: the other condition still decides.
    deny_drafts = _rule("deny", {"published": True, "status": {"$ne": "${user.email}"}})
    assert _visible(database_url, [deny_drafts], NO_EMAIL) == [1]


def test_allow_on_a_missing_value_selects_nothing(database_url):
    caller = {**NO_EMAIL, "permission": None}
    assert _visible(database_url, [_rule("allow", {"status": {"$ne": "${user.email}"}})], caller) == []
    assert _visible(database_url, [_rule("allow", {"$not": {"status": "${user.email}"}})], caller) == []
