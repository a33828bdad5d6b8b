"""Writing a config file, as ``import`` and ``init`` do: validated first, then atomically.

The watcher reloads on every change to the file, so a half-written config
must never be on disk where it looks: the text is written beside it and
renamed into place. And a command that writes a config must never leave one
``check`` refuses, so it is loaded (and judged by the client rules) first.

The renamed file takes the old one's place, so it must also take its
permissions: the service often runs as another user (systemd's ``User=``)
that reads the config through its group, and a file left with a temporary
file's 0600 silently stops it from reading the next change. So an existing
file keeps its mode, and its owner and group as far as the process may set
them; a new file gets what a plain ``open()`` would give it (0666 less the
umask). A config reached through a symbolic link (``/etc/mailautoconf/
autoconfig.toml`` pointing into a deployment's checkout, say) is written
where the link points, and the link stays, as an editor writing through it
does. A folder that cannot take the file is named in one line, as ``cp``
does, and never created: a typo in a path should not leave new folders.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import sys

from mailautoconf import clientrules
from mailautoconf import config

__all__ = ["WriteError", "check_target", "validate", "write"]

# The temporary file's name beside the target; a leftover is easy to tell from a config.
_TEMPORARY = ".write-{}.toml"


class WriteError(Exception):
    """A config cannot be written where asked; the message names the path and why, in one line."""


def validate(text: str, source: str) -> list[str]:
    """The warnings ``check`` would print for ``text``; raises config.ConfigError when it would refuse it."""
    return [str(warning) for warning in clientrules.warnings(config.loads(text, source))]


def check_target(path: str) -> None:
    """Raise WriteError now if ``path`` plainly cannot be written (a folder, or in a folder that is missing).

    The commands call it before any work, so a typo is said first and
    alone; ``write`` still reports anything found only when writing (a
    read-only disk, a folder the user may not write to).
    """
    target = _target(path)
    folder = _folder(target)
    if os.path.isdir(target):
        raise WriteError(f"{path}: cannot write: it is a folder, not a file")
    if os.path.exists(target) and not os.path.isfile(target):
        # A device or a pipe: renaming over it would replace, say, /dev/null with a config.
        raise WriteError(f"{path}: cannot write: it is not a regular file")
    if not os.path.exists(folder):
        raise WriteError(f"{path}: cannot write: the folder {folder} does not exist")
    if not os.path.isdir(folder):
        raise WriteError(f"{path}: cannot write: {folder} is not a folder")


def write(path: str | None, text: str) -> None:
    """Write ``text`` to ``path`` atomically, or to stdout when ``path`` is None; WriteError when it cannot."""
    if path is None:
        sys.stdout.write(text)
        return
    check_target(path)
    target = _target(path)
    folder = _folder(target)
    try:
        existing: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        existing = None
    except OSError as exc:
        raise WriteError(f"{path}: cannot write: {exc.strerror}") from None
    try:
        handle, temporary = _create(folder, existing)
    except OSError as exc:
        raise WriteError(f"{path}: cannot write: {_reason(exc, folder)}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            if existing is not None:
                _keep_owner_and_mode(stream.fileno(), existing)
            stream.write(text)
        os.replace(temporary, target)
    except OSError as exc:
        _remove(temporary)
        raise WriteError(f"{path}: cannot write: {_reason(exc, folder)}") from None
    except BaseException:
        _remove(temporary)
        raise


def _target(path: str) -> str:
    """The file a write to ``path`` replaces: a symbolic link's target (the link stays), else ``path``."""
    if not os.path.islink(path):
        return path
    try:
        return os.path.realpath(path, strict=True)
    except FileNotFoundError:
        # A dangling link: the file is created where it points, as open() would.
        return os.path.realpath(path)
    except OSError as exc:  # a loop of links (ELOOP)
        raise WriteError(f"{path}: cannot write: {exc.strerror}") from None


def _folder(target: str) -> str:
    return os.path.dirname(target) or "."


def _create(folder: str, existing: os.stat_result | None) -> tuple[int, str]:
    """A new empty file in ``folder`` with a name of its own: (descriptor, path).

    Replacing a file, it starts as 0600 and gets the old file's owner and
    mode before any text is written (a wider mode for an instant would let
    another user open it and read on). A new file is created with 0666 and
    the kernel applies the umask (and a default ACL), exactly as for open().
    """
    mode = 0o600 if existing is not None else 0o666
    for _ in range(100):
        temporary = os.path.join(folder, _TEMPORARY.format(secrets.token_hex(8)))
        try:
            return os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode), temporary
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", folder)


def _keep_owner_and_mode(handle: int, existing: os.stat_result) -> None:
    """Give the new file the old one's owner, group and mode, the owner first (chown clears setuid/setgid)."""
    created = os.fstat(handle)
    if (created.st_uid, created.st_gid) != (existing.st_uid, existing.st_gid):
        try:
            os.fchown(handle, existing.st_uid, existing.st_gid)
        except PermissionError:
            # Not root: the owner is ours now; the group can stay if we are in it.
            with contextlib.suppress(PermissionError):
                os.fchown(handle, -1, existing.st_gid)
    os.fchmod(handle, stat.S_IMODE(existing.st_mode))


def _reason(exc: OSError, folder: str) -> str:
    """Why the file could not be written, naming the folder the error is about."""
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"no permission to write in the folder {folder}"
    if exc.errno == errno.EROFS:
        return f"the folder {folder} is on a read-only file system"
    if exc.errno == errno.ENOENT:
        return f"the folder {folder} does not exist"
    return f"{exc.strerror or exc} (in the folder {folder})"


def _remove(temporary: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)
