"""Tasks by concern; each is a thin, idempotent wrapper around a domain function."""
