"""Password policy after NIST SP 800-63B-4: length, a blocklist and context;
no composition rules, no truncation."""
from __future__ import annotations

import unicodedata
from functools import cache

from app.errors import WeakPasswordError


@cache
def _blocklist() -> frozenset[str]:
    # zxcvbn ships the 30k most common passwords from public breach corpora.
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def normalize(password: str) -> str:
    """NFKC, as 800-63B asks, so the same password typed on two keyboards matches."""
    return unicodedata.normalize("NFKC", password)


class PasswordPolicy:
    def __init__(self, *, min_length: int = 15, max_length: int = 256,
                 context_words: tuple[str, ...] = ("authsvc",)) -> None:
        self.min_length = min_length
        self.max_length = max_length
        self.context_words = tuple(w.lower() for w in context_words if w)

    def check(self, password: str, *, email: str = "") -> None:
        """:raises WeakPasswordError: with the reason, for a password the policy refuses."""
        length = len(password)  # code points, not bytes
        if length < self.min_length:
            raise WeakPasswordError(f"Use at least {self.min_length} characters.", reason="too_short")
        if length > self.max_length:
            raise WeakPasswordError(f"Use at most {self.max_length} characters.", reason="too_long")
        folded = password.casefold()
        if folded in _blocklist() or len(set(folded)) <= 2:
            raise WeakPasswordError("This password is too common; choose another.", reason="common")
        stripped = folded.strip()
        words = list(self.context_words)
        if email:
            local = email.casefold().split("@", 1)[0]
            words += [email.casefold()] + ([local] if len(local) >= 4 else [])
        if any(w and w in stripped for w in words):
            raise WeakPasswordError("The password must not contain your email or the service name.",
                                    reason="context")
