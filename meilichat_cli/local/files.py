"""Safe local files: private directories, atomic writes with an exact mode, advisory locks.

- `ensure_private_dir` creates a directory 0700 (whatever the umask) and refuses a path that is
  a file or a directory owned by someone else; `make_missing_dirs` creates missing parents
  0700 too (as the XDG spec asks); `open_private_text` opens an export file 0600.
- `atomic_write` writes a temporary file in the same directory (created with its final mode in
  one `os.open` call, so it is never readable by others even for an instant), fsyncs it, renames
  it over the target and fsyncs the directory. Readers see the old file or the new one, never
  half of one; a failed write leaves the old file and no temporary file behind.
- `file_lock` holds an exclusive advisory lock on a sibling `.NAME.lock` file for a
  read-modify-write, so concurrent meilichat processes do not lose each other's changes.

Local files are trusted the way ssh and gpg trust theirs (`check_trusted_dir`,
`check_trusted_file`): a directory of meilichat's that other users can write, or a config or
credentials file owned by another user (root excepted) or writable by others, is refused with
ConfigError (exit 2) and the command that fixes it; another account could otherwise set a
`key_command` that runs as you, or point a profile at a server that collects your key.

Every failure is raised as ConfigError naming the path. Works on Linux and macOS; on Windows
locks use msvcrt and modes are best effort (NTFS has no POSIX modes).

Imports: standard library and meilichat_cli.errors only.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from meilichat_cli.errors import ConfigError

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
LOCK_TIMEOUT_SECONDS = 10.0


def ensure_private_dir(directory: Path) -> None:
    """Create `directory` (mode 0700) and its parents if needed; check an existing one is usable."""
    try:
        info = os.stat(directory)
    except FileNotFoundError:
        _create_dir(directory)
        return
    except NotADirectoryError:
        raise ConfigError(
            f"{directory}: a parent of this path is a file, not a directory",
            hint="move that file away or point MEILICHAT_CONFIG_DIR / MEILICHAT_DATA_DIR elsewhere",
        ) from None
    except OSError as exc:
        raise ConfigError(f"{directory}: {_reason(exc)}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigError(
            f"{directory} is a file, not a directory",
            hint="move it away or point MEILICHAT_CONFIG_DIR / MEILICHAT_DATA_DIR elsewhere",
        )
    check_trusted_dir(directory, info)


def check_owner(path: Path, info: os.stat_result) -> None:
    """Refuse a file or directory another user owns (they could swap or rewrite our files);
    root gets no exemption: its files are as private as anyone's."""
    geteuid = getattr(os, "geteuid", None)
    if geteuid is None:  # Windows: ownership is ACL-based; nothing cheap and reliable to check
        return
    uid = geteuid()
    if info.st_uid != uid:
        raise ConfigError(
            f"{path} is owned by another user (uid {info.st_uid}, you are uid {uid})",
            hint=f"if it is yours, take it back with `chown {uid} {path}`; otherwise point"
            " MEILICHAT_CONFIG_DIR / MEILICHAT_DATA_DIR at a directory of your own",
        )


def check_trusted_dir(directory: Path, info: os.stat_result | None = None) -> None:
    """Refuse a directory of meilichat's owned by another user or writable by others (they
    could replace config.toml, credentials.toml or the history database)."""
    if not hasattr(os, "geteuid"):
        return
    if info is None:
        try:
            info = os.stat(directory)
        except OSError:
            return  # missing: whoever creates it makes it 0700
    check_owner(directory, info)
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(
            f"{directory} can be written by other users (mode {stat.S_IMODE(info.st_mode):o})",
            hint=f"make it private: `chmod 700 {directory}`",
        )


def check_trusted_file(path: Path, info: os.stat_result) -> None:
    """Refuse a config or credentials file owned by another user or writable by others."""
    if not hasattr(os, "geteuid"):
        return
    check_owner(path, info)
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(
            f"{path} can be written by other users (mode {stat.S_IMODE(info.st_mode):o})",
            hint=f"make it private: `chmod 600 {path}`",
        )


def make_missing_dirs(directory: Path) -> None:
    """Create `directory` and its missing parents, each exactly 0700 whatever the umask;
    directories that exist are left as they are. Raises OSError."""
    missing: list[Path] = []
    while not directory.exists():
        missing.append(directory)
        if directory.parent == directory:
            break
        directory = directory.parent
    for created in reversed(missing):
        try:
            created.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            continue  # another process made it first: theirs to keep
        # Filtered by the umask: 0o277 would leave a parent we cannot create the next one in.
        os.chmod(created, PRIVATE_DIR_MODE)


def _create_dir(directory: Path) -> None:
    parent = directory.parent
    if parent != directory and not parent.exists():
        # Missing parents (~/.config on a new account) are made 0700 too, as the XDG spec asks:
        # under a loose umask (000) "ordinary" permissions would let anyone rename our
        # private directory away and put their own in its place.
        try:
            make_missing_dirs(parent)
        except OSError as exc:
            raise ConfigError(f"cannot create {parent}: {_reason(exc)}") from None
    try:
        os.mkdir(directory, PRIVATE_DIR_MODE)
    except FileExistsError:
        pass  # another process won the race; fine as long as it is a directory
    except OSError as exc:
        raise ConfigError(f"cannot create {directory}: {_reason(exc)}") from None
    if not directory.is_dir():
        raise ConfigError(f"{directory} is a file, not a directory")
    # mkdir's mode is filtered by the umask (0o277 would leave it unwritable): set it exactly.
    with contextlib.suppress(OSError):
        os.chmod(directory, PRIVATE_DIR_MODE)


def open_private_text(path: Path, *, overwrite: bool) -> IO[str]:
    """A UTF-8 text file for writing that nobody else can read if it is new (0600 in one
    step); an existing one is truncated and keeps its mode, or, without `overwrite`,
    FileExistsError; a directory is IsADirectoryError either way. For exports the user
    names: conversations are private by default.
    Not `atomic_write`, which polices its directory as meilichat's own (owner, 0700): an
    export goes wherever the user says, /tmp included."""
    if os.path.isdir(path):  # before FileExistsError: no overwrite can help there
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    fd = os.open(path, flags, PRIVATE_FILE_MODE)
    return os.fdopen(fd, "w", encoding="utf-8")


def atomic_write(
    path: Path, data: bytes, *, mode: int = PRIVATE_FILE_MODE, own_directory: bool = True
) -> None:
    """Replace `path` with `data` atomically; the new file has exactly `mode`.

    `own_directory=False` is for a file the user placed (a batch output file, in /tmp say):
    its directory is not held to the rules of meilichat's own."""
    directory = path.parent
    if own_directory:
        ensure_private_dir(directory)
    temp_path, fd = _create_temp(path, mode)
    try:
        try:
            if hasattr(os, "fchmod"):
                # os.open's mode was filtered by the umask; only ever removing bits, so the file
                # was never more open than `mode`. Now make it exactly `mode`.
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp_path, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp_path)
        if isinstance(exc, OSError):
            raise ConfigError(f"cannot write {path}: {_reason(exc)}") from None
        raise
    _fsync_directory(directory)


def _token() -> str:
    # secrets loads random, hashlib and hmac (~5 ms): only a run that writes a file pays.
    import secrets

    return secrets.token_hex(6)


def _create_temp(path: Path, mode: int) -> tuple[Path, int]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _attempt in range(100):
        temp_path = path.with_name(f".{path.name}.{_token()}.tmp")
        try:
            return temp_path, os.open(temp_path, flags, mode)
        except FileExistsError:
            continue
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {_reason(exc)}") from None
    raise ConfigError(f"cannot write {path}: could not create a temporary file beside it")


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable; directories cannot be opened on Windows."""
    if sys.platform == "win32":
        return
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on directories; the data itself is synced
    finally:
        os.close(fd)


def lock_path_for(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


@contextlib.contextmanager
def file_lock(path: Path, *, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold an exclusive advisory lock for a read-modify-write of `path`.

    The lock lives on a sibling file that is never deleted: deleting lock files lets two
    processes each hold a lock on a different inode. Waits up to `timeout` seconds, then
    raises ConfigError rather than hang forever behind a stuck process.
    """
    ensure_private_dir(path.parent)
    lock_file = lock_path_for(path)
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(lock_file, flags, PRIVATE_FILE_MODE)
    except OSError as exc:
        raise ConfigError(f"cannot open lock file {lock_file}: {_reason(exc)}") from None
    if hasattr(os, "fchmod"):
        # A strict umask (0o277) would leave a lock file its owner cannot reopen for writing.
        with contextlib.suppress(OSError):
            os.fchmod(fd, PRIVATE_FILE_MODE)
    try:
        _acquire(fd, lock_file, timeout)
        try:
            yield
        finally:
            _release(fd)
    finally:
        os.close(fd)


def _acquire(fd: int, lock_file: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        if _try_lock(fd):
            return
        if time.monotonic() >= deadline:
            raise ConfigError(
                f"another meilichat process holds {lock_file} (waited {timeout:g} s)",
                hint="wait for it to finish, or remove the lock file if no meilichat is running",
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _release(fd: int) -> None:
        with contextlib.suppress(OSError):
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return False
            raise ConfigError(f"cannot lock: {_reason(exc)}") from None
        return True

    def _release(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def read_bytes(path: Path) -> bytes | None:
    """The bytes of one of meilichat's own files (config.toml, credentials.toml), or None when
    it does not exist; other failures name the path. The file and its directory must be
    trusted (see `check_trusted_file`); a symlink is followed (dotfile managers use them) and
    its target checked."""
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if stat.S_ISREG(info.st_mode):
                check_trusted_dir(path.parent)
                check_trusted_file(path, info)
            return handle.read()
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        raise ConfigError(
            f"cannot read {path}: {path.parent} is not a directory",
            hint="move that file away or point MEILICHAT_CONFIG_DIR elsewhere",
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"cannot read {path}: it is a directory") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {_reason(exc)}") from None


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__
