"""`make run` starts beat with --schedule=var/celerybeat-schedule (Procfile); var/ is
git-ignored, so on a fresh clone beat itself must make it (else FileNotFoundError,
and honcho stops web and worker with it)."""
import os
import subprocess
import time
from pathlib import Path

from tests.integration.workers.procs import CELERY, ROOT


def test_beat_starts_in_a_checkout_without_var(tmp_path: Path):
    for name in ("app", "workers", "config"):
        (tmp_path / name).symlink_to(ROOT / name)
    # Closed ports: this beat reaches no shared service (it keeps retrying the broker).
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AUTH_")},
           "AUTH_REDIS__URL": "redis://127.0.0.1:1/0",
           "AUTH_DATABASE__URL": "postgresql+asyncpg://postgres@127.0.0.1:1/x"}
    proc = subprocess.Popen([CELERY, "-A", "workers", "beat", "--loglevel=INFO", "--schedule=var/celerybeat-schedule"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        while proc.poll() is None and time.monotonic() < deadline:
            if list((tmp_path / "var").glob("celerybeat-schedule*")):
                break
            time.sleep(0.1)
        time.sleep(0.5)  # past opening the schedule, still running
        assert proc.poll() is None, f"beat exited with {proc.returncode}:\n{proc.communicate()[0][-2000:]}"
        assert list((tmp_path / "var").glob("celerybeat-schedule*")), "beat never opened its schedule"
    finally:
        proc.kill()
        proc.communicate()
