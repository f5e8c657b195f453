"""Request bodies of the auth routes."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# Hard caps well above any policy, so the policy (not the parser) explains limits;
# the body-size cap stops anything larger before it is parsed.
MAX_PASSWORD_CHARS = 4096


class Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class Credentials(Strict):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_CHARS)


class PasswordChange(Strict):
    current_password: str = Field(min_length=1, max_length=MAX_PASSWORD_CHARS)
    new_password: str = Field(min_length=1, max_length=MAX_PASSWORD_CHARS)
