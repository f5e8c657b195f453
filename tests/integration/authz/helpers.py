"""Helpers for the authorization integration tests."""
from __future__ import annotations

import uuid

from app.authz.engine import Subject, view_from
from app.authz.repository import Snapshot
from app.authz.rules import RuleSpec, validate_rule
from app.http.appkeys import SERVICES
from app.sessions.manager import ClientInfo
from tests.support.browser import STRONG_PASSWORD, Browser, new_email


async def delegate(client, admin: Browser, stem: str, permissions: list[str]) -> tuple[Browser, str]:
    """A logged-in user without admin whose one role (``stem-<random>``, created by ``admin``)
    grants ``permissions``; returns (browser, role)."""
    role = f"{stem}-{uuid.uuid4().hex[:8]}"
    r = await admin.request("POST", "/admin/roles", json={"name": role, "permissions": permissions})
    assert r.status == 201, await r.text()
    browser, _ = await user(client, role)
    return browser, role


async def user(client, *roles: str) -> tuple[Browser, str]:
    """A logged-in browser for a new user holding ``roles``; returns (browser, user id)."""
    email = new_email()
    registered = await client.server.app[SERVICES].accounts.register(email, STRONG_PASSWORD, ClientInfo(),
                                                                      roles=roles)
    browser = Browser(client)
    assert (await browser.login(email)).status == 200
    return browser, registered.id


def single_rule_view(conditions_, effect: str = "allow"):
    """The policy view of a caller whose one role has one rule, ``effect`` read on post where
    ``conditions_`` (a deny takes away the role's own post:read, so it has something to deny)."""
    eff, action, st, conds, _, node = validate_rule(effect=effect, action="read", subject_type="post",
                                                    conditions_=conditions_, fields=None,
                                                    actions=frozenset({"read"}))
    spec = RuleSpec(id="1", effect=eff, action=action, subject_type=st, conditions=conds, fields=None,
                    role="r", node=node)
    perms = {"r": ("post:read",)} if effect == "deny" else {}
    snapshot = Snapshot(version="1", roles=frozenset({"r"}), parents={}, permissions=perms,
                        role_rules={"r": (spec,)})
    return view_from(snapshot, Subject(kind="user", id="u1", email=None, roles=("r",)))
