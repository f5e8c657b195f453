import pyotp
import pytest

from app.mfa import recovery, totp
from app.mfa.secretbox import SecretBox, SecretBoxKeyError, UnsealError, new_data_key


def test_sealed_secret_opens_only_for_its_owner_and_key():
    box = SecretBox(new_data_key())
    sealed = box.seal(b"JBSWY3DPEHPK3PXP", owner="user-1")
    assert box.open(sealed, owner="user-1") == b"JBSWY3DPEHPK3PXP"
    with pytest.raises(UnsealError):
        box.open(sealed, owner="user-2")
    with pytest.raises(UnsealError):
        SecretBox(new_data_key()).open(sealed, owner="user-1")
    tampered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(UnsealError):
        box.open(tampered, owner="user-1")
    for garbage in ("", "v1", "v2.x.y", "v1.deadbeef.!!!"):
        with pytest.raises(UnsealError):
            box.open(garbage, owner="user-1")


def test_rotation_first_key_seals_all_keys_open():
    old, new = new_data_key(), new_data_key()
    sealed_old = SecretBox(old).seal(b"s", owner="u")
    rotated = SecretBox(f"{new},{old}")
    assert rotated.open(sealed_old, owner="u") == b"s"
    assert SecretBox(new).open(rotated.seal(b"t", owner="u"), owner="u") == b"t"


def test_bad_keys_are_refused_at_startup():
    for bad in ("short", "!!!!", new_data_key()[:-4]):
        with pytest.raises(SecretBoxKeyError):
            SecretBox(bad)
    assert not SecretBox("").configured


def test_matching_step_window_is_plus_minus_one():
    secret = totp.new_secret()
    now = 1_700_000_015.0
    t = pyotp.TOTP(secret)
    step = int(now) // 30
    for offset in (-1, 0, 1):
        assert totp.matching_step(secret, t.at(now + 30 * offset), now) == step + offset
    for offset in (-2, 2):
        assert totp.matching_step(secret, t.at(now + 30 * offset), now) is None
    for junk in ("", "12345", "1234567", "abcdef", "１２３４５６"):
        assert totp.matching_step(secret, junk, now) is None


def test_recovery_codes_are_random_canonical_and_hashed():
    codes = recovery.new_codes()
    assert len(set(codes)) == 10 and all(recovery.looks_like_recovery_code(c) for c in codes)
    c = codes[0]
    assert recovery.hash_code(c) == recovery.hash_code(c.upper().replace("-", " "))
    assert c.replace("-", "") not in recovery.hash_code(c)
    assert not recovery.looks_like_recovery_code("123456")
