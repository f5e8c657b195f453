"""Authorization check cost: a caller with a few dozen rules vs a plain dict lookup.

Builds the same compiled per-caller view the service caches (inherited roles,
wildcard permissions, CASL-like rules with conditions and placeholders), then times
``view.check`` on a mix of requests against a baseline of a dict lookup in the same
run, and prints checks per second, microseconds per check and the ratio.

Usage: python bench/authz_bench.py [--seconds S] [--rules N] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.environ.get("BENCH_APP_ROOT", str(Path(__file__).resolve().parent.parent)))

from app.authz.engine import Subject, view_from  # noqa: E402
from app.authz.repository import Snapshot  # noqa: E402
from app.authz.rules import RuleSpec, validate_rule  # noqa: E402

ACTIONS = frozenset({"create", "read", "update", "delete", "list", "manage"})
TYPES = ["post", "comment", "invoice", "project", "ticket", "document"]


def _rules(n: int) -> dict[str, tuple[RuleSpec, ...]]:
    templates = [
        ("allow", "read", None),
        ("allow", "update", {"author_id": "${user.id}"}),
        ("allow", "delete", {"author_id": "${user.id}", "status": {"$in": ["draft", "review"]}}),
        ("deny", "update", {"locked": True}),
        ("allow", "list", {"$or": [{"published": True}, {"team": {"$in": "${user.roles}"}}]}),
        ("deny", "read", {"score": {"$lt": 0}, "tags": {"$any": ["secret", "embargo"]}}),
    ]
    by_role: dict[str, list[RuleSpec]] = {}
    for i in range(n):
        effect, action, conds = templates[i % len(templates)]
        subject_type = TYPES[(i // len(templates)) % len(TYPES)]
        *_, node = validate_rule(effect=effect, action=action, subject_type=subject_type, conditions_=conds,
                                 fields=None, actions=ACTIONS)
        role = ["reader", "writer", "team-a"][i % 3]
        by_role.setdefault(role, []).append(RuleSpec(
            id=str(i), effect=effect, action=action, subject_type=subject_type, conditions=conds, fields=None,
            role=role, node=node))
    return {k: tuple(v) for k, v in by_role.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rules", type=int, default=36)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    snapshot = Snapshot(version="1", roles=frozenset({"reader", "writer", "team-a", "staff"}),
                        parents={"staff": ("writer", "team-a"), "writer": ("reader",), "team-a": ("reader",)},
                        permissions={"reader": ("report:read", "*:list")}, role_rules=_rules(args.rules))
    view = view_from(snapshot, Subject(kind="user", id="u1", email="u1@example.com", roles=("staff",)))
    requests = [
        ("update", "post", {"author_id": "u1", "locked": False}),
        ("update", "post", {"author_id": "u2", "locked": False}),
        ("delete", "invoice", {"author_id": "u1", "status": "final"}),
        ("read", "ticket", {"score": -1, "tags": ["secret"]}),
        ("list", "project", {"published": False, "team": "team-a"}),
        ("read", "report", {}),
        ("create", "document", {}),
        ("update", "comment", {"author_id": "u1", "locked": True}),
    ]
    baseline_table = {(a, t): True for a, t, _ in requests}

    def timed(fn) -> float:
        done, start = 0, time.perf_counter()
        deadline = start + args.seconds
        while time.perf_counter() < deadline:
            for _ in range(200):
                for action, subject_type, attrs in requests:
                    fn(action, subject_type, attrs)
            done += 200 * len(requests)
        return done / (time.perf_counter() - start)

    check_rate = timed(view.check)
    dict_rate = timed(lambda a, t, attrs: baseline_table.get((a, t)))
    subject = Subject(kind="user", id="u1", email="u1@example.com", roles=("staff",))
    start, compiles = time.perf_counter(), 0
    while time.perf_counter() - start < args.seconds / 4:
        view_from(snapshot, subject).check("update", "post", {"author_id": "u1"})
        compiles += 1
    compile_us = (time.perf_counter() - start) / compiles * 1e6
    result = {"rules": args.rules, "checks_per_s": round(check_rate), "us_per_check": round(1e6 / check_rate, 2),
              "dict_lookups_per_s": round(dict_rate), "ratio_check_to_dict": round(check_rate / dict_rate, 4),
              "us_cold_view_compile": round(compile_us, 1)}
    if args.json:
        print(json.dumps(result))
        return
    print(f"rules per caller     {args.rules}")
    print(f"authz checks         {result['checks_per_s']:>12,} /s   ({result['us_per_check']} us each)")
    print(f"dict lookup baseline {result['dict_lookups_per_s']:>12,} /s")
    print(f"cold view (cache miss: closure + compile + first check) {result['us_cold_view_compile']} us")
    print(f"ratio check/dict     {result['ratio_check_to_dict']:.4f}  "
          f"(the check costs {dict_rate / check_rate:.1f}x a dict lookup)")


if __name__ == "__main__":
    main()
