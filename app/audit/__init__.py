"""The audit trail: events drained from the stream into an append-only Postgres table."""
