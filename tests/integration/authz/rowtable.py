"""Rows in a real Postgres table and what SQL clauses answer over them: the SQL filter is
checked against the point check row by row. Synchronous, for hypothesis' @given bodies: one
event loop and one engine serve every query of a test."""
from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.sql.elements import ColumnElement


class RowTable:
    def __init__(self, database_url: str, table: Table) -> None:
        self.table = table
        self._database_url = database_url

    def __enter__(self) -> RowTable:
        self._loop = asyncio.new_event_loop()
        self._engine = create_async_engine(self._database_url, pool_size=1)
        self._loop.run_until_complete(self._recreate())
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.run_until_complete(self._engine.dispose())
        self._loop.close()

    async def _recreate(self) -> None:
        # Dropped first: the test database outlives runs, and the table's columns change.
        async with self._engine.begin() as conn:
            await conn.run_sync(self.table.metadata.drop_all, tables=[self.table])
            await conn.run_sync(self.table.metadata.create_all, tables=[self.table])

    def answers(self, rows: Sequence[Mapping[str, Any]], clauses: Sequence[ColumnElement]) -> list[tuple]:
        """(id, each clause's answer) for every row, in id order; ``rows`` get the ids 0, 1, ...
        unless they carry their own. Nothing stays written."""
        return self._loop.run_until_complete(self._answers(rows, clauses))

    def ids_where(self, rows: Sequence[Mapping[str, Any]], clause: ColumnElement) -> list[int]:
        """The ids of the rows ``clause`` lets through."""
        return [row_id for row_id, allowed in self.answers(rows, [clause]) if allowed]

    async def _answers(self, rows, clauses) -> list[tuple]:
        table = self.table
        async with self._engine.connect() as conn, conn.begin() as tx:
            await conn.execute(table.delete())
            await conn.execute(table.insert(), [{"id": i, **r} for i, r in enumerate(rows)])
            labelled = [c.label(f"c{i}") for i, c in enumerate(clauses)]
            result = [tuple(r) for r in await conn.execute(select(table.c.id, *labelled).order_by(table.c.id))]
            await tx.rollback()
        return result
