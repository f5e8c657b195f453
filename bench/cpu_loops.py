"""CPU-bound baselines run in their own process; prints one JSON line.

  argon2 --seconds S --threads N   argon2id verify loop at the service's parameters on N threads
                                   (argon2-cffi releases the GIL, so N threads use N cores)
  jwt --seconds S                  PyJWT EdDSA verify loop (one thread, like one event loop)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

# The app package under test (run.sh's snapshot of the last commit, or the work tree).
sys.path.insert(0, os.environ.get("BENCH_APP_ROOT", str(Path(__file__).resolve().parent.parent)))


def argon2_rate(seconds: float, threads: int) -> dict:
    from argon2 import PasswordHasher, Type

    from app.settings import load_settings

    pw = load_settings().password
    ph = PasswordHasher(time_cost=pw.time_cost, memory_cost=pw.memory_kib, parallelism=pw.parallelism,
                        type=Type.ID)
    encoded = ph.hash("correct horse battery staple 42")
    counts = [0] * threads
    stop = time.monotonic() + seconds

    def loop(i: int) -> None:
        while time.monotonic() < stop:
            ph.verify(encoded, "correct horse battery staple 42")
            counts[i] += 1

    start = time.monotonic()
    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.monotonic() - start
    return {"ops_per_s": sum(counts) / elapsed, "threads": threads,
            "params": f"t={pw.time_cost} m={pw.memory_kib}KiB p={pw.parallelism}"}


def jwt_rate(seconds: float) -> dict:
    import jwt
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    now = int(time.time())
    token = jwt.encode({"iss": "http://127.0.0.1:8080", "aud": "authsvc", "sub": "u1", "iat": now,
                        "nbf": now, "exp": now + 900, "jti": "j1", "roles": []}, key, algorithm="EdDSA",
                       headers={"kid": "k1", "typ": "at+jwt"})
    public = key.public_key()
    n = 0
    start = time.monotonic()
    stop = start + seconds
    while time.monotonic() < stop:
        for _ in range(100):
            jwt.decode(token, public, algorithms=["EdDSA"], audience="authsvc", issuer="http://127.0.0.1:8080",
                       leeway=30)
        n += 100
    return {"ops_per_s": n / (time.monotonic() - start)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["argon2", "jwt"])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    out = argon2_rate(a.seconds, a.threads) if a.kind == "argon2" else jwt_rate(a.seconds)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
