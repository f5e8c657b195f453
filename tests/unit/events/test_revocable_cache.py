"""The cache both sessions and tokens use: revocation messages, trust, the read/insert race."""
from app.events.revocable_cache import RevocableCache


def _cache(trusted=lambda: True, **kw) -> RevocableCache[str]:
    return RevocableCache(ttl_s=kw.get("ttl_s", 10), max_entries=kw.get("max_entries", 100),
                          is_trusted=trusted, message_kind="j")


def test_named_and_per_user_revocations_drop_entries():
    cache = _cache()
    for key, owner, name in (("t1", "alice", "jti1"), ("t2", "alice", "jti2"), ("t3", "bob", "jti3")):
        cache.store(key, key.upper(), owner=owner, name=name, until=1e12, now=0, generation=cache.generation)
    cache.on_message("j:jti1")
    assert cache.get("t1", 1) is None and cache.get("t2", 1) == "T2"
    cache.on_message("u:alice")
    assert cache.get("t2", 1) is None and cache.get("t3", 1) == "T3"
    cache.on_message("s:t3")  # another cache's kind: not ours
    assert cache.get("t3", 1) == "T3"


def test_an_insert_racing_a_revocation_is_skipped():
    cache = _cache()
    generation = cache.generation  # read from Redis here...
    cache.on_message("u:alice")  # ...a revocation arrives before the insert
    cache.store("t1", "T1", owner="alice", name="jti1", until=1e12, now=0, generation=generation)
    assert cache.get("t1", 1) is None and len(cache) == 0


def test_deadlines_trust_and_bounds():
    trusted = [True]
    cache = _cache(lambda: trusted[0], ttl_s=5, max_entries=2)
    cache.store("a", "A", owner="u", name="a", until=3, now=0, generation=0)
    cache.store("b", "B", owner="u", name="b", until=100, now=0, generation=0)
    assert cache.get("a", 2.9) == "A" and cache.get("a", 3) is None  # the caller's deadline
    assert cache.get("b", 4.9) == "B" and cache.get("b", 5) is None  # never past ttl_s
    cache.store("c", "C", owner="u", name="c", until=100, now=0, generation=0)
    cache.store("d", "D", owner="u", name="d", until=100, now=0, generation=0)
    cache.store("e", "E", owner="u", name="e", until=100, now=0, generation=0)
    assert len(cache) == 2 and cache.get("c", 1) is None  # oldest evicted
    trusted[0] = False
    assert cache.get("e", 1) is None  # link down: nothing is believed
    trusted[0] = True
    cache.reset()
    assert cache.get("e", 1) is None
