"""What one attempt at a secret is keyed by: the account it targets, where it
came from, and the trusted-device token the caller presented, if any."""
from __future__ import annotations

import functools
import hashlib
import ipaddress
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Attempt:
    """``account`` names the thing being guessed (``account_key(...)``), or None when
    nothing is (an opaque refresh token): then only the per-IP counter applies.

    ``lock_account=False`` leaves out the per-account counter (IP and IP+account
    still apply): for 256-bit client secrets, where guessing is hopeless and an
    account-wide block would only hand attackers a way to cut a service off.
    """

    account: str | None
    ip: str
    device: str | None = None
    lock_account: bool = True


def account_key(kind: str, name: str) -> str:
    """``account_key("user", " Alice@X.org ")`` -> ``"user:alice@x.org"``: keyed by the
    normalized name, so unknown and existing accounts are throttled alike."""
    return f"{kind}:{name.strip().casefold()}"


@functools.lru_cache(maxsize=8192)  # parsed on every attempt; a busy address asks again and again
def ip_bucket(ip: str) -> str:
    """The unit a per-IP counter tracks: an IPv4 address, or the /64 of an IPv6
    one (a single host is usually handed a whole /64, so counting addresses
    would let it rotate through 2^64 of them)."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip.strip()[:64] or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


@functools.lru_cache(maxsize=8192)  # two gate calls per login hash the same names
def sha256_hex(value: str) -> str:
    """What Redis keys and values hold instead of a name or a token (no email or secret at rest)."""
    return hashlib.sha256(value.encode()).hexdigest()
