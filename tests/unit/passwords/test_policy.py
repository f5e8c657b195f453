"""Password policy (NIST SP 800-63B-4): length in code points, blocklist, context."""
import pytest

from app.errors import WeakPasswordError
from app.passwords.policy import PasswordPolicy, normalize

POLICY = PasswordPolicy(min_length=15, max_length=256)


def reason_of(password: str, email: str = "") -> str | None:
    try:
        POLICY.check(normalize(password), email=email)
    except WeakPasswordError as e:
        return e.extra["reason"]
    return None


def test_length_is_counted_in_code_points_not_bytes():
    # 15 emoji are 60 UTF-8 bytes and 30 UTF-16 units, but 15 characters.
    assert reason_of("🦊🐙🌵🍉🚲🎻🧭🪁🦉🍄🌋🛶🧩🪐🎲") is None
    assert reason_of("🦊🐙🌵🍉🚲🎻🧭🪁🦉🍄🌋🛶🧩🪐") == "too_short"


@pytest.mark.parametrize("password", [
    "ceci n'est pas une pipe, très bien",
    "猫は静かに窓辺で眠っている午後",
    "a" * 0 + "long passphrase " * 4 + "with 64+ characters",
    "Zoë's naïve café résumé coöperate",
])
def test_long_and_unicode_passwords_pass(password):
    assert len(password) >= 15
    assert reason_of(password) is None


def test_too_short_too_long_common_and_email():
    assert reason_of("short one") == "too_short"
    assert reason_of("x7" * 129) == "too_long"
    assert reason_of("1qaz2wsx3edc4rfv") == "common"  # in the shipped breach list
    assert reason_of("aaaaaaaaaaaaaaaaaaaa") == "common"
    assert reason_of("my mailbox is bob.smith@example.com", email="Bob.Smith@example.com") == "context"


def test_nfkc_makes_equivalent_spellings_equal():
    composed, decomposed = "caf\u00e9 au lait", "cafe\u0301 au lait"
    assert normalize(composed) == normalize(decomposed)
    assert normalize("ｆｕｌｌｗｉｄｔｈ") == "fullwidth"


def test_no_composition_rules():
    # Lower case letters and spaces only: fine, as 800-63B asks.
    assert reason_of("purple elephants dance quietly") is None
