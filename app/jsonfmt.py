"""Compact JSON (no spaces after separators) for what we store or sign: event envelopes, JWT
claims, audit rows. One encoder object, built once: json.dumps with ``separators`` builds a
new encoder on every call."""
from __future__ import annotations

import json

compact_json = json.JSONEncoder(separators=(",", ":")).encode
