"""What tests of real clients need from the loopback-only namespace tests/run.sh makes.

Real clients resolve names and open connections on their own. They run only
inside ``unshare --net --mount`` (tests/isolated.sh): a namespace with
nothing but ``lo``, where /etc/hosts and /etc/resolv.conf can be replaced by
bind mounts that no other process sees.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

__all__ = ["ISOLATED", "bind_file", "requires_isolation"]


def _isolated() -> bool:
    if os.environ.get("MAILAUTOCONF_ISOLATED") != "1":
        return False
    # The interfaces of this process's own network namespace (/sys/class/net
    # would show the host's unless sysfs were mounted again).
    return [name for _, name in socket.if_nameindex()] == ["lo"]


ISOLATED = _isolated()
requires_isolation = pytest.mark.skipif(
    not ISOLATED, reason="needs the loopback-only namespace that `bash tests/run.sh` runs the tests in"
)


@contextlib.contextmanager
def bind_file(target: str, content: str) -> Iterator[None]:
    """Show ``content`` at ``target`` (e.g. /etc/hosts) for the duration; namespace only."""
    if not ISOLATED:
        raise RuntimeError("bind_file outside the test namespace would change the machine's own files")
    with tempfile.NamedTemporaryFile("w", prefix="mailautoconf-", suffix=os.path.basename(target), delete=False) as f:
        f.write(content)
        source = f.name
    os.chmod(source, 0o644)
    subprocess.run(["mount", "--bind", source, target], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", target], check=False)
        os.unlink(source)
