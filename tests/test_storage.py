"""Private directories, atomic writes with exact modes, and the advisory lock."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from meilichat_cli.errors import ConfigError
from meilichat_cli.local import files as storage
from meilichat_cli.local.files import atomic_write, ensure_private_dir, file_lock, read_bytes

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes and flock")


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def leftovers(directory: Path) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.endswith(".tmp"))


def test_round_trip_and_replace(tmp_path: Path) -> None:
    target = tmp_path / "private" / "file.toml"
    atomic_write(target, b"first")
    atomic_write(target, b"second\x00bytes")
    assert read_bytes(target) == b"second\x00bytes"
    assert mode_of(target) == 0o600
    assert mode_of(target.parent) == 0o700
    assert leftovers(target.parent) == []


def test_given_mode_is_applied_exactly(tmp_path: Path) -> None:
    target = tmp_path / "shared.txt"
    atomic_write(target, b"x", mode=0o644)
    assert mode_of(target) == 0o644
    target.chmod(0o666)
    atomic_write(target, b"y", mode=0o600)
    assert mode_of(target) == 0o600


@pytest.mark.parametrize("umask", [0o000, 0o277])
def test_modes_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    """In a subprocess: the umask is process-wide and pytest-xdist runs tests in threads' peers."""
    target = tmp_path / "missing" / "parents" / "new-dir" / "credentials.toml"
    script = textwrap.dedent(
        f"""
        import os, pathlib
        os.umask({umask:#o})
        from meilichat_cli.local.files import atomic_write, file_lock
        target = pathlib.Path({str(target)!r})
        with file_lock(target):
            atomic_write(target, b"secret")
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=30)
    assert mode_of(target) == 0o600
    assert mode_of(target.parent) == 0o700
    # Missing parents too (XDG): under umask 000 they were world-writable, so anyone could
    # rename the private directory away and put their own in its place.
    assert mode_of(tmp_path / "missing") == mode_of(tmp_path / "missing" / "parents") == 0o700
    assert mode_of(storage.lock_path_for(target)) == 0o600


def test_failed_rename_keeps_the_original_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "config.toml"
    atomic_write(target, b"original")

    def broken_replace(source: object, destination: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(ConfigError) as caught:
        atomic_write(target, b"replacement")
    assert caught.value.message == f"cannot write {target}: No space left on device"
    assert target.read_bytes() == b"original"
    assert leftovers(tmp_path) == []


def test_interrupted_write_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "config.toml"

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, b"data")
    assert not target.exists()
    assert leftovers(tmp_path) == []


def test_directory_in_the_way_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "config"
    blocker.write_text("I am a file")
    with pytest.raises(ConfigError, match=f"{blocker} is a file, not a directory"):
        atomic_write(blocker / "config.toml", b"x")
    with pytest.raises(ConfigError, match="is not a directory"):
        read_bytes(blocker / "config.toml")
    with pytest.raises(ConfigError, match="a parent of this path is a file"):
        ensure_private_dir(blocker / "deeper")


def test_directory_of_another_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: os.stat(tmp_path).st_uid + 1)
    with pytest.raises(ConfigError, match="owned by another user"):
        ensure_private_dir(tmp_path)


def test_existing_directory_mode_is_left_alone(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    ensure_private_dir(tmp_path)
    assert mode_of(tmp_path) == 0o755


def test_missing_file_reads_as_none(tmp_path: Path) -> None:
    assert read_bytes(tmp_path / "absent") is None
    with pytest.raises(ConfigError, match="it is a directory"):
        read_bytes(tmp_path)


def test_lock_excludes_a_second_holder_until_released(tmp_path: Path) -> None:
    target = tmp_path / "config.toml"
    # flock locks belong to the open file: a second open in this process conflicts too.
    with (
        file_lock(target),
        pytest.raises(ConfigError, match="another meilichat process holds"),
        file_lock(target, timeout=0.05),
    ):
        pass
    with file_lock(target, timeout=0.05):
        pass


def test_lock_waits_for_the_holder(tmp_path: Path) -> None:
    target = tmp_path / "config.toml"
    order: list[str] = []
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with file_lock(target):
            held.set()
            release.wait(5)
            order.append("holder done")

    thread = threading.Thread(target=holder)
    thread.start()
    assert held.wait(5)
    threading.Timer(0.05, release.set).start()
    with file_lock(target, timeout=5):
        order.append("waiter in")
    thread.join(5)
    assert order == ["holder done", "waiter in"]


def test_lock_serialises_read_modify_write_across_processes(tmp_path: Path) -> None:
    counter = tmp_path / "counter"
    atomic_write(counter, b"0")
    script = textwrap.dedent(
        f"""
        import pathlib
        from meilichat_cli.local.files import atomic_write, file_lock, read_bytes
        counter = pathlib.Path({str(counter)!r})
        for _ in range(25):
            with file_lock(counter):
                value = int(read_bytes(counter))
                atomic_write(counter, str(value + 1).encode())
        """
    )
    workers = [subprocess.Popen([sys.executable, "-c", script]) for _ in range(4)]
    assert [worker.wait(timeout=60) for worker in workers] == [0, 0, 0, 0]
    assert counter.read_bytes() == b"100"
    assert leftovers(tmp_path) == []
