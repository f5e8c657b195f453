"""``python -m app events tail``: its own consumer group, one JSON envelope per line,
resumes after a restart, exits cleanly on Ctrl-C, and takes over what a consumer that went
away (another host, a container with a new host name) was given and never acknowledged."""
from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest

from app.events.envelope import Event
from tests.integration.workers.procs import ROOT, env_for


class Tail:
    def __init__(self, settings, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "app", "events", "tail", *args],
                                     env=env_for(settings), cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.out: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.out.put(line)

    def lines(self, n: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        got = []
        while len(got) < n:
            try:
                got.append(json.loads(self.out.get(timeout=max(0.01, deadline - time.monotonic()))))
            except queue.Empty:
                raise AssertionError(f"wanted {n} lines, got {got}; stderr: {self._stderr()}") from None
        return got

    def nothing_more(self, wait: float = 1.5) -> None:
        try:
            line = self.out.get(timeout=wait)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected line: {line!r}")

    def interrupt(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=10)
        return self.proc.returncode, self.proc.stderr.read()

    def _stderr(self) -> str:
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.stderr.read()


@pytest.fixture
def group() -> str:
    return f"tail-{uuid.uuid4().hex[:6]}"


async def _publish(redis, settings, n: int, tag: str) -> list[str]:
    events = [Event("auth.login.succeeded", f"{tag}-{i}", {"method": "password", "ip": "192.0.2.9"})
              for i in range(n)]
    for e in events:
        await redis.xadd(settings.events.stream, {"event": e.to_json(settings.events.source)})
    return [e.id for e in events]


def _wait_for_group(redis_sync, settings, group: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if any(g["name"] == group for g in redis_sync.xinfo_groups(settings.events.stream)):
                return
        except Exception:  # noqa: BLE001 - the stream may not exist yet
            pass
        time.sleep(0.02)
    raise AssertionError("the tail never joined")


@pytest.fixture
def redis_sync():
    import redis

    from tests.conftest import REDIS_URL

    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    client.close()


async def test_tail_prints_envelopes_resumes_after_restart_and_exits_cleanly(settings, redis, redis_sync, group):
    before = await _publish(redis, settings, 3, "old")  # older than the group: not shown by default
    tail = Tail(settings, "--group", group)
    _wait_for_group(redis_sync, settings, group)
    first = await _publish(redis, settings, 4, "first")
    printed = tail.lines(4)
    assert [e["id"] for e in printed] == first
    for envelope in printed:
        assert set(envelope) == {"specversion", "id", "source", "type", "time", "subject", "datacontenttype",
                                 "data"}
        assert envelope["specversion"] == "1.0" and envelope["type"] == "auth.login.succeeded"
    code, err = tail.interrupt()
    assert code == 0
    assert "Traceback" not in err and "KeyboardInterrupt" not in err

    missed = await _publish(redis, settings, 5, "while-stopped")
    tail = Tail(settings, "--group", group)
    assert [e["id"] for e in tail.lines(5)] == missed  # exactly what it missed, nothing twice
    code, err = tail.interrupt()
    assert code == 0 and "Traceback" not in err

    # Another group sees everything from the start, independently of the first.
    other = Tail(settings, "--group", group + "-b", "--from-start")
    ids = [e["id"] for e in other.lines(12)]
    assert ids == before + first + missed
    assert other.interrupt()[0] == 0


async def test_sigterm_also_stops_the_tail_cleanly(settings, redis_sync, group):
    tail = Tail(settings, "--group", group)
    _wait_for_group(redis_sync, settings, group)
    tail.proc.send_signal(signal.SIGTERM)
    tail.proc.wait(timeout=10)
    assert tail.proc.returncode == 0 and "Traceback" not in tail.proc.stderr.read()


async def test_the_audit_writers_group_is_refused_and_left_alone(settings, redis):
    """Tailing through the audit group would acknowledge entries the audit writer then never
    stores (invariant 4), or create the group at the stream's end, losing the history."""
    stream, audit = settings.events.stream, settings.events.audit_group
    await _publish(redis, settings, 2, "audit-guard")
    before = {g["name"]: g for g in await redis.xinfo_groups(stream)}
    proc = subprocess.run([sys.executable, "-m", "app", "events", "tail", "--group", audit],
                          env=env_for(settings), cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "events.audit_group" in proc.stderr, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    after = {g["name"]: g for g in await redis.xinfo_groups(stream)}
    assert after == before


async def _raw_xadd(settings, value: bytes) -> str:
    """An entry as bytes, as anything with write access to the stream could add it."""
    import redis.asyncio as aioredis

    from tests.conftest import REDIS_URL

    raw = aioredis.Redis.from_url(REDIS_URL)
    try:
        return (await raw.xadd(settings.events.stream, {"event": value})).decode()
    finally:
        await raw.aclose()


@pytest.mark.parametrize("bad", [
    pytest.param(b'{"id":"\xff\xfe"}', id="not UTF-8"),
    pytest.param(b'{"id":"\\ud800","type":"auth.logout"}', id="lone surrogate escape"),
    pytest.param(b'\xff not JSON either', id="neither UTF-8 nor JSON"),
])
async def test_an_unprintable_entry_is_marked_and_the_tail_goes_on(bad, settings, redis, redis_sync, group):
    """One entry that cannot be printed as is (bytes that are not UTF-8, or JSON holding a lone
    surrogate, which no UTF-8 output can carry) gets a line of its own and is acknowledged;
    it used to kill the tail, stay pending for this host's consumer and kill every restart."""
    tail = Tail(settings, "--group", group)
    _wait_for_group(redis_sync, settings, group)
    bad_id = await _raw_xadd(settings, bad)
    good = await _publish(redis, settings, 1, "after-bad")
    first, second = tail.lines(2)
    assert second["id"] == good[0]
    if bad.startswith(b"{") and b"\xff" not in bad:
        assert first["id"] == "\ud800"  # still the event, escaped so any output can carry it
    else:
        assert first["unreadable"] is True and "\ufffd" in first["raw"]
    code, err = tail.interrupt()
    assert code == 0 and "Traceback" not in err, err
    pending = await redis.xpending(settings.events.stream, group)
    assert pending["pending"] == 0, f"{bad_id} left pending"
    # A restart does not see it again, nor die on it.
    tail = Tail(settings, "--group", group)
    again = await _publish(redis, settings, 1, "after-restart")
    assert [e["id"] for e in tail.lines(1)] == again
    code, err = tail.interrupt()
    assert code == 0 and "Traceback" not in err, err


async def _abandoned(redis, settings, group: str, consumer: str, n: int, tag: str) -> tuple[list[str], list[str]]:
    """``n`` new events that ``consumer`` of ``group`` (created if need be, at the stream's end)
    was given and never acknowledged: it died, or its container came back under another host
    name. Returns (event ids, stream ids)."""
    stream = settings.events.stream
    if not await redis.exists(stream) or group not in {g["name"] for g in await redis.xinfo_groups(stream)}:
        await redis.xgroup_create(stream, group, id="$", mkstream=True)
    ids = await _publish(redis, settings, n, tag)
    reply = await redis.xreadgroup(group, consumer, {stream: ">"}, count=n)
    stream_ids = [i for i, _ in reply[0][1]]
    assert len(stream_ids) == n
    return ids, stream_ids


async def _pending_by_consumer(redis, settings, group: str) -> dict[str, int]:
    pending = await redis.xpending(settings.events.stream, group)
    return {c["name"]: c["pending"] for c in pending["consumers"]}


async def test_entries_another_consumer_never_acknowledged_are_claimed_printed_and_acknowledged(
        settings, redis, group):
    """host-a was given three entries and went away; they used to stay pending for it forever,
    printed by no one. Once idle past --claim-idle-s, a tail takes them over, before new ones."""
    abandoned, _ = await _abandoned(redis, settings, group, "host-a", 3, "abandoned")
    newer = await _publish(redis, settings, 2, "newer")  # not yet given to anyone
    time.sleep(0.1)
    tail = Tail(settings, "--group", group, "--consumer", "host-b", "--claim-idle-s", "0.05")
    assert [e["id"] for e in tail.lines(5)] == abandoned + newer
    tail.nothing_more(1.0)
    code, err = tail.interrupt()
    assert code == 0 and "Traceback" not in err, err
    assert await _pending_by_consumer(redis, settings, group) == {}
    consumers = {c["name"] for c in await redis.xinfo_consumers(settings.events.stream, group)}
    assert "host-b" in consumers

    # Nothing comes twice after a restart.
    tail = Tail(settings, "--group", group, "--consumer", "host-b", "--claim-idle-s", "0.05")
    later = await _publish(redis, settings, 1, "later")
    assert [e["id"] for e in tail.lines(1)] == later
    tail.nothing_more(1.0)
    assert tail.interrupt()[0] == 0


async def test_entries_idle_less_than_the_threshold_are_not_taken_until_they_are(
        settings, redis, redis_sync, group):
    """A consumer that is merely busy keeps its entries; the running tail claims them later,
    once they have been idle long enough, not only when it starts."""
    stream = settings.events.stream
    abandoned, stream_ids = await _abandoned(redis, settings, group, "host-a", 3, "busy")
    tail = Tail(settings, "--group", group, "--consumer", "host-b", "--claim-idle-s", "30")
    deadline = time.monotonic() + 10
    while "host-b" not in {c["name"] for c in redis_sync.xinfo_consumers(stream, group)}:
        assert time.monotonic() < deadline, "the tail never read"
        time.sleep(0.02)
    fresh = await _publish(redis, settings, 1, "fresh")
    assert [e["id"] for e in tail.lines(1)] == fresh
    tail.nothing_more(1.5)  # several empty reads, each a chance to claim: too young, left alone
    assert await _pending_by_consumer(redis, settings, group) == {"host-a": 3}

    # host-a stays silent: its entries have now been idle for a minute (XCLAIM to itself with
    # IDLE sets that without waiting).
    await redis.xclaim(stream, group, "host-a", 0, stream_ids, idle=60_000)
    assert [e["id"] for e in tail.lines(3)] == abandoned
    code, err = tail.interrupt()
    assert code == 0 and "Traceback" not in err, err
    assert await _pending_by_consumer(redis, settings, group) == {}


async def test_a_trimmed_pending_entry_is_marked_acknowledged_and_stops_nothing(settings, redis, group):
    """An entry host-a left pending and the stream has since trimmed: XAUTOCLAIM reports only
    its id. It is printed as the deleted-entry line (what a restart of its own consumer prints
    for it), acknowledged, and the entries around it go through once each."""
    stream = settings.events.stream
    abandoned, stream_ids = await _abandoned(redis, settings, group, "host-a", 3, "trimmed")
    await redis.xtrim(stream, minid=stream_ids[1], approximate=False)  # the oldest one goes
    time.sleep(0.1)
    tail = Tail(settings, "--group", group, "--consumer", "host-b", "--claim-idle-s", "0.05")
    gone, *kept = tail.lines(3)
    assert gone == {"unreadable": True, "reason": "entry deleted or without an event field"}
    assert [e["id"] for e in kept] == abandoned[1:]
    after = await _publish(redis, settings, 2, "after-trim")
    assert [e["id"] for e in tail.lines(2)] == after
    tail.nothing_more(1.0)
    code, err = tail.interrupt()
    assert code == 0 and "Traceback" not in err, err
    assert await _pending_by_consumer(redis, settings, group) == {}


async def test_a_named_consumer_gets_its_own_backlog_back_at_once_and_first(settings, redis, group):
    """--consumer names the consumer (the host name by default): a tail restarted under the
    same name re-reads what it was given and did not acknowledge first, without waiting."""
    mine, _ = await _abandoned(redis, settings, group, "tail-1", 2, "mine")
    await _abandoned(redis, settings, group, "tail-2", 2, "theirs")
    tail = Tail(settings, "--group", group, "--consumer", "tail-1")  # default threshold: 60 s
    newer = await _publish(redis, settings, 1, "newer")
    assert [e["id"] for e in tail.lines(3)] == mine + newer
    tail.nothing_more(1.0)  # tail-2's entries are young: another live tail's, not taken
    assert tail.interrupt()[0] == 0
    assert await _pending_by_consumer(redis, settings, group) == {"tail-2": 2}


@pytest.mark.parametrize("args", [
    ["--claim-idle-s", "0"],  # would take in-flight entries from live tails
    ["--claim-idle-s", "-5"],
    ["--claim-idle-s", "soon"],
    ["--claim-idle-s", "nan"],
    ["--claim-idle-s", "inf"],
    ["--consumer", ""],
], ids=lambda a: " ".join(a) or "empty")
def test_bad_options_are_refused_by_the_parser(settings, args):
    proc = subprocess.run([sys.executable, "-m", "app", "events", "tail", *args],
                          env=env_for(settings), cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    # "argument X: <why>", not "unrecognized arguments", and no traceback.
    assert f"argument {args[0]}: " in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
