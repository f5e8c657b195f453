"""Which database errors the audit drain dead-letters one row for, and which fail the batch.

A row Postgres refuses for its values (class 22 data, 23 integrity, 54 a limit such as an
index row or a jsonb value too large) is dead-lettered, or it would be read first by every
later drain and halt the trail; an outage, or a condition of the server or the statement
rather than the row, fails the batch so the task is retried and nothing is lost."""
from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError

from app.audit.drain import AuditDrain, refused_data


class _PgError(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def _error(sqlstate: str | None, *, invalidated: bool = False) -> DBAPIError:
    return DBAPIError("INSERT", {}, _PgError(sqlstate), connection_invalidated=invalidated)


@pytest.mark.parametrize("sqlstate", ["22P02", "22021", "23505", "54000", "54001", None])
def test_refusals_of_the_values_are_dead_lettered(sqlstate):
    assert refused_data(_error(sqlstate))


@pytest.mark.parametrize("sqlstate", ["08006", "57P01", "57P03", "53300", "53100", "40P01", "42P01", "42501",
                                      "3D000", "55P03", "58030", "XX000", "25P02", "28000"])
def test_outages_and_server_conditions_fail_the_batch(sqlstate):
    assert not refused_data(_error(sqlstate))


def test_a_lost_connection_fails_the_batch_whatever_its_sqlstate():
    assert not refused_data(_error("54000", invalidated=True))


def _drain(insert) -> AuditDrain:
    drain = AuditDrain(redis=None, sessionmaker=None, stream="s", group="g", consumer="c")
    drain._insert = insert
    return drain


ROWS = [{"event_id": f"e{i}", "stream_id": f"{i}-0"} for i in range(3)]


async def test_the_row_by_row_fallback_dead_letters_a_row_over_a_limit():
    async def insert(rows):
        if rows[0]["event_id"] == "e1":
            raise _error("54000")
        return 1

    inserted, refused = await _drain(insert)._insert_one_by_one(ROWS)
    assert inserted == 2
    assert [r.stream_id for r in refused] == ["1-0"]


async def test_the_row_by_row_fallback_raises_an_outage():
    async def insert(rows):
        if rows[0]["event_id"] == "e1":
            raise _error("57P01")  # admin shutdown: Postgres is restarting
        return 1

    with pytest.raises(DBAPIError):
        await _drain(insert)._insert_one_by_one(ROWS)
