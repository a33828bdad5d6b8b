"""A tmpfs of a test's own, in the mount namespace tests/run.sh makes (root only): a small or read-only disk."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["mount", "tmpfs"]


def mount(*arguments: str) -> None:
    subprocess.run(["mount", *arguments], check=True, capture_output=True, timeout=30)


@contextlib.contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """``folder`` made a tmpfs of ``size`` (``8m``), unmounted afterwards; skips the test without root."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs (bash tests/run.sh runs as root)")
    folder.mkdir(exist_ok=True)
    try:
        mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder))
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc.stderr.decode(errors='replace').strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False, timeout=30)
