"""Authorization errors, each with a stable ``code``."""
from __future__ import annotations

from app.errors import AuthError


class RuleError(AuthError):
    """A rule, permission or role definition that cannot be stored as written."""

    status, code, title = 422, "invalid_rule", "The rule is not valid"


class UnknownActionError(RuleError):
    code, title = "unknown_action", "Unknown action"


class InvalidPermissionError(RuleError):
    code, title = "invalid_permission", "Invalid permission"


class UnknownRoleError(AuthError):
    status, code, title = 422, "unknown_role", "Unknown role"


class RoleCycleError(AuthError):
    status, code, title = 409, "role_cycle", "Role inheritance would form a cycle"


class RoleExistsError(AuthError):
    status, code, title = 409, "role_exists", "The role exists already"


class UnknownSubjectError(AuthError):
    status, code, title = 404, "unknown_subject", "Unknown subject"


class InvalidSubjectTokenError(AuthError):
    status, code, title = 422, "invalid_subject_token", "The subject token is not valid"
