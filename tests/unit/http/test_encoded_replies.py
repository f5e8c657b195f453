"""Reply bodies encoded once per source object: a replaced object must never get the old body."""
import json

from app.http.views import EncodedReplies


class Source:
    def __init__(self, roles):
        self.roles = roles


def test_the_same_object_reuses_its_body_and_a_replaced_one_is_encoded_afresh():
    replies = EncodedReplies()
    builds = []

    def build(source):
        builds.append(source)
        return {"roles": source.roles}

    first = Source(["user"])
    assert json.loads(replies.body("k", first, lambda: build(first))) == {"roles": ["user"]}
    assert replies.body("k", first, lambda: build(first)) == b'{"roles": ["user"]}'
    assert builds == [first]
    # Same key, new object (a role change or a new token): the old bytes must not be served.
    second = Source(["admin"])
    assert json.loads(replies.body("k", second, lambda: build(second))) == {"roles": ["admin"]}
    assert builds == [first, second]


def test_a_full_memo_starts_over_instead_of_growing():
    replies = EncodedReplies(max_entries=2)
    sources = [Source([str(i)]) for i in range(5)]
    for i, source in enumerate(sources):
        replies.body(i, source, lambda s=source: {"roles": s.roles})
    assert len(replies) <= 2
