"""Reading the files the service depends on, and saying plainly what is wrong with one.

A config file, an included file or a signing certificate that is not a
plain readable file must never be skipped or read as empty: a hosting panel
that moved its folder leaves a dangling symlink, a deploy script a folder
where a file was, a copy a FIFO that would block the reader for good. Each
gets an error naming the file and what it is instead, and the caller keeps
what it had (the last good config, the last good signer).
"""

from __future__ import annotations

import errno
import os
import stat

__all__ = ["FileTrouble", "describe", "read_regular"]

# Larger than any config or certificate: a file past this is not one (a
# device, a log written to by mistake), and reading it whole would cost memory.
MAX_BYTES = 512 * 1024 * 1024


class FileTrouble(Exception):
    """A file that cannot be read as a plain file; ``reason`` says why, as a clause ("it is a folder, not a file")."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def describe(path: str, error: OSError | None = None, *, folder: bool = False) -> str:
    """Why ``path`` is not a readable plain file (``folder``: a folder that can be listed), in words an admin acts on.

    ``error``: what opening or reading it raised, when that is how it was
    found out; the link and type are looked at again either way.
    """
    try:
        own = os.lstat(path)
    except OSError as exc:
        above = _folder_trouble(path)
        if above is not None:
            return above
        if isinstance(exc, FileNotFoundError):
            return "it does not exist"
        return f"it cannot be looked at: {exc.strerror or exc}"
    if stat.S_ISLNK(own.st_mode):
        target = _readlink(path)
        try:
            os.stat(path)
        except FileNotFoundError:
            return f'it is a symbolic link to "{target}", which does not exist'
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return f'it is a symbolic link loop (it points at "{target}", which leads back to itself)'
            return f'it is a symbolic link to "{target}", which cannot be reached: {exc.strerror or exc}'
    try:
        status = os.stat(path)
    except OSError as exc:  # gone between the two looks
        return f"it cannot be looked at: {exc.strerror or exc}"
    if folder:
        if not stat.S_ISDIR(status.st_mode):
            return "it is a file, not a folder"
    elif stat.S_ISDIR(status.st_mode):
        return "it is a folder, not a file"
    elif not stat.S_ISREG(status.st_mode):
        return f"it is not a plain file but a {_kind(status.st_mode)}"
    if error is not None:
        return str(error.strerror or error)
    return "it cannot be read"


def read_regular(path: str) -> bytes:
    """The bytes of ``path``, a plain file (through symlinks); raises FileTrouble saying what it is otherwise.

    The type is checked on the opened descriptor, so a FIFO or device is
    refused without a read that could block, and a file swapped between
    a look and the open cannot slip through.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise FileTrouble(path, describe(path, exc)) from None
    try:
        status = os.fstat(descriptor)
        if stat.S_ISDIR(status.st_mode):
            raise FileTrouble(path, describe(path))
        if not stat.S_ISREG(status.st_mode):
            raise FileTrouble(path, f"it is not a plain file but a {_kind(status.st_mode)}")
        if status.st_size > MAX_BYTES:
            raise FileTrouble(path, f"it is {status.st_size} bytes long, too large for a config file or certificate")
        chunks = []
        while chunk := os.read(descriptor, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise FileTrouble(path, describe(path, exc)) from None
    finally:
        os.close(descriptor)


def _folder_trouble(path: str) -> str | None:
    """What is wrong with a folder above ``path`` (the first from the top), or None.

    A config folder replaced by a file, or by a link to nowhere, makes
    every file in it "not exist": say which folder is the cause.
    """
    folders = []
    folder = os.path.dirname(os.path.abspath(path))
    while folder != os.path.dirname(folder):
        folders.append(folder)
        folder = os.path.dirname(folder)
    for folder in reversed(folders):
        try:
            status = os.stat(folder)
        except FileNotFoundError:
            if os.path.islink(folder):
                return f'its folder {folder} is a symbolic link to "{_readlink(folder)}", which does not exist'
            return f"its folder {folder} does not exist"
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return f"its folder {folder} is a symbolic link loop"
            return f"its folder {folder} cannot be looked at: {exc.strerror or exc}"
        if not stat.S_ISDIR(status.st_mode):
            return f"its folder {folder} is a file, not a folder"
    return None


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "named pipe"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"
