"""TOTP (RFC 6238) through pyotp, reporting which time step matched so replays can be refused."""
from __future__ import annotations

import hmac

import pyotp

PERIOD_S = 30
DIGITS = 6
WINDOW = 1  # accept the previous and next step too (clock drift, typing time)


def new_secret() -> str:
    return pyotp.random_base32(length=32)  # 160 bits, as RFC 4226 recommends


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD_S).provisioning_uri(name=account, issuer_name=issuer)


def looks_like_totp(code: str) -> bool:
    return len(code) == DIGITS and code.isascii() and code.isdigit()


def matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step (now // 30, +-1) whose code is ``code``, or None."""
    if not looks_like_totp(code):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD_S)
    current = int(now) // PERIOD_S
    found = None
    for step in range(current - WINDOW, current + WINDOW + 1):
        # Compare all three in constant time each; no early exit on a match.
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found
