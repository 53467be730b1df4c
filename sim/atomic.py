"""Writing output files atomically: a file is either written whole or not at all, and a failure leaves nothing behind.

Every file mandate-sim writes (tables, reports, the schema, calibrated overlays, a sweep's parts and manifest) goes
through ``atomic_path``: the writer writes a temporary file in the target's own folder (``.tmp-<name>-<pid>-<random>``,
so a sweep's resume can recognise and remove one left by a killed process), which is renamed over the target only
when the writer has finished; ``durable=True`` also flushes the file and the folder to disk (the sweep store), so
the rename survives a crash. On any failure the temporary file is removed. The target's folder must exist: a
missing one is an error (a typo in a path should not silently create folders).

A path that exists and is not a regular file (``/dev/stdout``, ``/dev/null``, a pipe) is written in place: renaming
over a device would replace it. A symbolic link is followed: the file it points to is replaced, the link stays.

An operating-system error (a full disk, a read-only or missing folder, a folder where a file should be) becomes an
``OutputError``: an ``InputError`` naming the path and what went wrong, which the command line shows as one message
with exit code 2.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path
from typing import Iterator

from sim.errors import InputError

#: How temporary files start (a sweep's resume removes ``.tmp-*`` files left by a killed process).
TMP_PREFIX = ".tmp-"

_HINTS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOENT: "its folder does not exist",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder",
    errno.EFBIG: "the file is too large",
    errno.ENAMETOOLONG: "the name is too long",
}


class OutputError(InputError):
    """An output file could not be written (a full disk, a read-only folder, ...); nothing was left behind."""

    def __init__(self, message: str, *, source: str, error: OSError | None = None):
        self.errno = getattr(error, "errno", None)
        super().__init__(message, source=source)


def _explain(e: OSError) -> str:
    hint = _HINTS.get(e.errno or -1)
    text = e.strerror or str(e) or type(e).__name__
    return f"{hint} ({text})" if hint and hint.lower() != text.lower() else text


def write_error(path: "str | Path", e: OSError) -> OutputError:
    """The ``OutputError`` for an OS error while writing ``path``."""
    return OutputError(f"cannot be written: {_explain(e)}; nothing was written", source=str(path), error=e)


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries to disk (so a rename in it survives a crash); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _check_folder(folder: Path, shown: str) -> None:
    """The folder a file is written into must exist and be a folder."""
    if folder.is_dir():
        return
    if not folder.exists():
        p = folder
        while not p.exists() and p.parent != p:
            p = p.parent
        if p.exists() and not p.is_dir():
            raise OutputError(f"cannot be written: {p} is a file, not a folder", source=shown)
        raise OutputError(f"cannot be written: the folder {folder} does not exist (create it first)", source=shown)
    raise OutputError(f"cannot be written: {folder} is a file, not a folder", source=shown)


@contextlib.contextmanager
def atomic_path(path: "str | Path", *, durable: bool = False, source: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder for a writer (``df.to_parquet(tmp)``, ``open(tmp, "wb")``); when the block
    ends without error, rename it over ``path``. On any error the temporary file (and any folder created for it) is removed,
    and an OS error is raised as an ``OutputError`` naming ``source`` (default: the path).

    ``durable``: fsync the file before and the folder after the rename (so the file survives a crash or power cut).
    """
    shown = source or str(path)
    target = Path(path)
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    try:
        st = target.stat()
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise write_error(shown, e) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise OutputError("is a folder; give the path of a file in it", source=shown)
    if st is not None and not stat.S_ISREG(st.st_mode):
        # A device or pipe (/dev/stdout, /dev/null, /dev/full): written in place, there is nothing to rename or leave behind.
        try:
            yield target
        except OSError as e:
            raise write_error(shown, e) from None
        return

    folder = target.parent
    _check_folder(folder, shown)
    tmp = folder / f"{TMP_PREFIX}{target.name}-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        try:
            # Created here (not by the writer) with the permissions a plain open() would give: 0666 less the umask.
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            if st is not None:
                os.chmod(tmp, stat.S_IMODE(st.st_mode))  # replacing a file keeps its permissions
            yield tmp
            if durable:
                fd = os.open(tmp, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            os.replace(tmp, target)
            if durable:
                fsync_dir(folder)
        except OSError as e:
            raise write_error(shown, e) from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def check_writable(path: "str | Path", *, source: str | None = None) -> None:
    """Refuse, before any work, an output path that cannot be written: a folder, a path in a missing folder or under a
    file, or in a folder this process may not write in."""
    shown = source or str(path)
    p = Path(path)
    if p.is_dir():
        raise OutputError("is a folder; give the path of a file in it", source=shown)
    if p.exists() and not p.is_file():
        return  # a device or pipe, written in place
    folder = Path(os.path.realpath(p)).parent if p.is_symlink() else p.parent
    _check_folder(folder, shown)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot be written: the folder {folder} is not writable (permission denied)", source=shown)


def atomic_write_bytes(path: "str | Path", data: bytes, *, durable: bool = False, source: str | None = None) -> Path:
    """Write ``data`` to ``path`` atomically (see ``atomic_path``); returns the path."""
    with atomic_path(path, durable=durable, source=source) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
    return Path(path)


def atomic_write_text(path: "str | Path", text: str, *, encoding: str = "utf-8", durable: bool = False, source: str | None = None) -> Path:
    """Write ``text`` to ``path`` atomically (see ``atomic_path``); returns the path."""
    return atomic_write_bytes(path, text.encode(encoding), durable=durable, source=source)
