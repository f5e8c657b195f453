"""Several keys under one name (two spellings of one token): a revocation of the name
drops every one of them, and the indexes stay exact through drops, evictions and re-stores."""
from app.events.revocable_cache import RevocableCache


def _cache(max_entries: int = 100) -> RevocableCache[str]:
    return RevocableCache(ttl_s=10, max_entries=max_entries, is_trusted=lambda: True, message_kind="j")


def _store(cache: RevocableCache[str], key: str, owner: str = "alice", name: str = "jti1") -> None:
    cache.store(key, key.upper(), owner=owner, name=name, until=1e12, now=0, generation=cache.generation)


def test_a_named_revocation_drops_every_key_stored_under_the_name():
    cache = _cache()
    for key in ("spelling-a", "spelling-b", "spelling-c"):
        _store(cache, key)
    _store(cache, "other", name="jti2")
    cache.on_message("j:jti1")
    assert [cache.get(k, 1) for k in ("spelling-a", "spelling-b", "spelling-c")] == [None, None, None]
    assert cache.get("other", 1) == "OTHER" and len(cache) == 1


def test_evicting_one_key_of_a_name_keeps_the_others_revocable():
    cache = _cache(max_entries=3)
    for key in ("spelling-a", "spelling-b", "spelling-c"):
        _store(cache, key)
    _store(cache, "other", name="jti2")  # evicts spelling-a, the oldest
    assert cache.get("spelling-a", 1) is None and cache.get("spelling-b", 1) == "SPELLING-B"
    cache.on_message("j:jti1")
    assert cache.get("spelling-b", 1) is None and cache.get("spelling-c", 1) is None
    assert cache.get("other", 1) == "OTHER"


def test_a_key_stored_again_under_another_name_is_indexed_only_under_the_new_one():
    cache = _cache()
    _store(cache, "k", owner="alice", name="jti1")
    _store(cache, "k", owner="bob", name="jti2")
    cache.on_message("j:jti1")
    cache.on_message("u:alice")
    assert cache.get("k", 1) == "K"  # neither old label reaches the new entry
    cache.on_message("j:jti2")
    assert cache.get("k", 1) is None


def test_the_indexes_empty_as_the_entries_go():
    cache = _cache(max_entries=2)
    _store(cache, "spelling-a")
    _store(cache, "spelling-b")
    _store(cache, "x", owner="bob", name="jti2")  # evicts spelling-a
    _store(cache, "x", owner="carol", name="jti3")  # stored again: bob and jti2 no longer lead to it
    cache.on_message("j:jti1")
    cache.on_message("u:carol")
    assert len(cache) == 0 and cache._by_name == {} and cache._by_owner == {}
