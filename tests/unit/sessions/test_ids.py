"""Session ids, their hashes, handles and CSRF tokens."""
import base64
import hashlib

from app.sessions.ids import (csrf_matches, csrf_token_for, handle_of, hash_session_id,
                              looks_like_session_id, new_session_id)


def test_ids_are_256_bits_of_base64url():
    ids = {new_session_id() for _ in range(1000)}
    assert len(ids) == 1000
    for sid in ids:
        assert len(sid) == 43 and looks_like_session_id(sid)
        assert len(base64.urlsafe_b64decode(sid + "=")) == 32


def test_shape_check_refuses_anything_else():
    sid = new_session_id()
    for bad in ["", sid[:-1], sid + "A", sid[:-1] + "=", sid[:-1] + "é", sid[:-1] + " "]:
        assert not looks_like_session_id(bad)


def test_hash_handle_and_csrf_do_not_reveal_the_id():
    sid = new_session_id()
    h = hash_session_id(sid)
    assert h == base64.urlsafe_b64encode(hashlib.sha256(sid.encode()).digest()[:16]).rstrip(b"=").decode()
    assert sid not in h and handle_of(h) != sid and handle_of(h) != h and len(handle_of(h)) == 16
    token = csrf_token_for(sid)
    assert token != sid and token != h and csrf_matches(sid, token)
    assert not csrf_matches(new_session_id(), token)
    assert not csrf_matches(sid, token[:-1] + ("A" if token[-1] != "A" else "B"))


def test_a_csrf_token_that_is_not_ascii_does_not_match():
    # What aiohttp makes of header bytes that are not UTF-8: lone surrogates.
    sid = new_session_id()
    for presented in ["\udcff" * 43, csrf_token_for(sid)[:-1] + "é", "\ud800"]:
        assert not csrf_matches(sid, presented)
