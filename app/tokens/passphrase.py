"""Where the key passphrase comes from: the setting, else a generated file.

The file is made once (256 random bits, mode 0600, in ``tokens.keys_dir``, which
lives under the git-ignored var/), so a fresh install encrypts its keys without
any configuration. Deployments with web processes on several hosts set
``tokens.keys_passphrase`` (or share the directory) so every host can decrypt.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
FILE_NAME = "passphrase"


def keys_dir(configured: str) -> Path:
    path = Path(configured)
    # Relative to the project, not the working directory: the CLI and the web agree.
    return path if path.is_absolute() else PROJECT_ROOT / path


def load_passphrase(configured_passphrase: str, configured_dir: str) -> bytes:
    if configured_passphrase:
        return configured_passphrase.encode()
    directory = keys_dir(configured_dir)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / FILE_NAME
    try:
        # O_EXCL: two processes starting together cannot both write a passphrase.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(32))
    return _read(path)


def _read(path: Path) -> bytes:
    for _ in range(50):
        value = path.read_text().strip()
        if value:
            return value.encode()
        import time

        time.sleep(0.01)  # written by a process that won the O_EXCL race a moment ago
    raise RuntimeError(f"{path} is empty; delete it only if no signing key was made with it")
