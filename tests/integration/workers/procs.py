"""Real Celery processes for the tests: a worker or beat started with ``celery -A
workers ...`` and configured, like production, only through AUTH_* variables."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from app.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
CELERY = str(Path(sys.executable).with_name("celery"))


def env_for(settings: Settings, **extra: object) -> dict[str, str]:
    """The environment that makes a process load exactly ``settings`` (plus ``extra``,
    given as AUTH_* names)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTH_")}
    for section in ("database", "redis", "broker", "events", "workers", "session", "tokens"):
        for name, value in getattr(settings, section).model_dump().items():
            env[f"AUTH_{section.upper()}__{name.upper()}"] = str(value)
    env["PYTHONUNBUFFERED"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


class CeleryProcess:
    """One ``celery -A workers <kind>`` process (its own process group, so a kill
    reaches prefork children too)."""

    READY = {"worker": " ready.", "beat": "beat: Starting"}

    def __init__(self, kind: str, env: dict[str, str], log_dir: Path, *args: str) -> None:
        self.kind = kind
        self.log_path = log_dir / f"{kind}-{uuid.uuid4().hex[:8]}.log"
        command = [CELERY, "-A", "workers", kind, "--loglevel=" + os.environ.get("TEST_CELERY_LOGLEVEL", "INFO"), *args]
        if kind == "worker":
            # Unique node name; no mingle/gossip/heartbeat: nothing to sync with, faster start.
            command += ["-n", f"t{uuid.uuid4().hex[:8]}@%h", "--without-mingle", "--without-gossip",
                        "--without-heartbeat"]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 30.0) -> "CeleryProcess":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.READY[self.kind] in self.log():
                return self
            if self.proc.poll() is not None:
                raise AssertionError(f"celery {self.kind} exited {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.05)
        raise AssertionError(f"celery {self.kind} not ready in {timeout}s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no clean-up, no acknowledgement, exactly like a machine dying."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)
        self._log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            except ProcessLookupError:
                pass
        self._log.close()
