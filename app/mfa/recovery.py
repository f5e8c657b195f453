"""Recovery codes: single use, 80 random bits each, stored as SHA-256 (high entropy, like tokens)."""
from __future__ import annotations

import hashlib
import secrets

ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper without mistakes
GROUPS, GROUP_LEN = 4, 4
COUNT = 10


def new_codes(count: int = COUNT) -> list[str]:
    return ["-".join("".join(secrets.choice(ALPHABET) for _ in range(GROUP_LEN)) for _ in range(GROUPS))
            for _ in range(count)]


def canonical(code: str) -> str:
    return code.strip().lower().replace("-", "").replace(" ", "")


def looks_like_recovery_code(code: str) -> bool:
    c = canonical(code)
    return len(c) == GROUPS * GROUP_LEN and all(ch in ALPHABET for ch in c)


def hash_code(code: str) -> str:
    return hashlib.sha256(canonical(code).encode()).hexdigest()
