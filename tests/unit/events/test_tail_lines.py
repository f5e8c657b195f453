"""``events tail`` lines: every entry becomes one line of ASCII JSON, whatever it holds."""
from __future__ import annotations

import json

from app.events.tail import envelope_line, printable_line


def test_an_entry_that_is_not_utf8_is_marked_unreadable():
    line = envelope_line({b"event": b'{"id":"\xff\xfe"}'})
    assert line.isascii()
    assert json.loads(line) == {"unreadable": True, "reason": "not UTF-8", "raw": '{"id":"\ufffd\ufffd"}'}


def test_a_lone_surrogate_stays_an_escape():
    line = envelope_line({b"event": b'{"id":"\\ud800","data":{"ua":"caf\xc3\xa9"}}'})
    assert line.isascii()
    line.encode("utf-8")  # printable on any output
    assert json.loads(line) == {"id": "\ud800", "data": {"ua": "caf\u00e9"}}


def test_whatever_fails_gives_an_unreadable_line():
    class Hostile(dict):
        def get(self, *args):
            raise RuntimeError("boom")

    assert json.loads(printable_line(Hostile(x=1))) == {"unreadable": True,
                                                         "reason": "cannot be printed (RuntimeError)"}
