"""Role names: one rule wherever a role is named (admin API, CLI, API clients).

Sessions and token records keep a user's roles comma-joined, so a name with a comma
would come back as two roles; the rule also keeps every name addressable in a URL path.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable

ROLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
ROLE_NAME_RULE = "1 to 64 letters, digits or _ . : -, starting with a letter or digit"
# A user's roles ride in every access token, which must fit one HTTP header (aiohttp,
# like most servers, takes 8 KiB): their JSON may take this many bytes, half of that.
ROLES_CLAIM_BUDGET = 4096


def is_role_name(value: object) -> bool:
    return isinstance(value, str) and ROLE_NAME.fullmatch(value) is not None


def roles_claim_bytes(roles: Iterable[str]) -> int:
    """The size of the roles as a JSON list: each name, its quotes and a comma."""
    return sum(len(name) + 3 for name in roles)


# A caller's check of the roles a change grants, takes away or hands out with a new secret (the
# admin API's "only what you hold yourself"): raises (a ForbiddenError) to refuse it. The
# managers run it inside the change's transaction, on the roles as they are then.
RolesCheck = Callable[[Iterable[str]], None]
