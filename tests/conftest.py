"""Shared fixtures: an isolated environment, the real entry point as a subprocess, the
stand-in Meilisearch server on 127.0.0.1, and a resolved connection for client tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from meilichat_cli.local.connection import Connection
    from meilichat_cli.standin import StandInServer

MASTER_KEY = "test-master-key-0123456789abcdef"

# A shell starts a background job (`pytest … &`) with SIGINT ignored, every child inherits
# that, and a Python started so never turns Ctrl-C into KeyboardInterrupt: the tests that
# interrupt a child would wait out their timeouts. Give the children the usual Ctrl-C.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def local_connection(url: str) -> Connection:
    """What profile `local` resolves to when it points at `url`: a key, workspace `movies`."""
    from meilichat_cli.local.connection import Connection

    return Connection(
        profile="local",
        url=url,
        api_key="secret-key",
        api_key_source="test",
        workspace="movies",
        model="gpt-4o-mini",
    )


@pytest.fixture
def clean_env(tmp_path: Path) -> dict[str, str]:
    """An environment with private config/data dirs and no MEILICHAT_* settings leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEILICHAT_", "MEILI_"))}
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        env.pop(var, None)
    home = tmp_path / "home"
    home.mkdir()
    env.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local/share"),
            "XDG_STATE_HOME": str(home / ".local/state"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "MEILICHAT_CONFIG_DIR": str(tmp_path / "config"),
            "MEILICHAT_DATA_DIR": str(tmp_path / "data"),
            "NO_COLOR": "1",
            "COLUMNS": "100",
            "PYTHONIOENCODING": "utf-8",
        }
    )
    return env


def run_meilichat(
    args: list[str],
    env: dict[str, str],
    *,
    input: str | bytes | None = None,
    timeout: float = 60,
    **kwargs: Any,
) -> subprocess.CompletedProcess[str]:
    """Run the real entry point (`python -m meilichat_cli`) and capture text output."""
    data = input.decode() if isinstance(input, bytes) else input
    return subprocess.run(
        [sys.executable, "-m", "meilichat_cli", *args],
        env=env,
        input=data if data is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def run_meilichat_into(
    args: list[str], reader: str, env: dict[str, str], *, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`meilichat ARGS | READER` in bash with pipefail: how a script meets a reader that
    leaves early (`| head -1`); the exit status is meilichat's unless the reader fails."""
    import shlex

    command = shlex.join([sys.executable, "-m", "meilichat_cli", *args]) + " | " + reader
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def standin() -> Iterator[StandInServer]:
    """A stand-in Meilisearch with a master key, the chat feature on and the demo workspace."""
    from meilichat_cli.standin import StandInServer

    server = StandInServer(master_key=MASTER_KEY)
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def server_env(clean_env: dict[str, str], standin: StandInServer) -> dict[str, str]:
    """`clean_env` pointed at the stand-in server with its chat key, workspace and a model."""
    assert standin.chat_key is not None
    return {
        **clean_env,
        "MEILICHAT_URL": standin.url,
        "MEILICHAT_API_KEY": standin.chat_key,
        "MEILICHAT_WORKSPACE": standin.workspace,
        "MEILICHAT_MODEL": "gpt-4o-mini",
    }


def wait_for_hidden_input(terminal_fd: int, timeout: float = 15.0) -> None:
    """Return once the program on this pty has turned echo off for a hidden prompt.

    getpass prints its prompt, then switches echo off with TCSAFLUSH, which discards what
    was typed in between: typing as soon as the prompt shows loses the keys on a busy machine.
    """
    deadline = time.monotonic() + timeout
    while termios.tcgetattr(terminal_fd)[3] & termios.ECHO:
        if time.monotonic() > deadline:
            raise AssertionError("the hidden prompt never turned echo off")
        time.sleep(0.01)


# The Meilisearch releases the client's integration tests run against (the stand-in
# emulates each one: meilichat_cli/standin/versions.py).
EMULATED_VERSIONS = ("1.15.1", "1.16", "1.17", "1.48", "1.50")


@pytest.fixture(params=EMULATED_VERSIONS)
def versioned_standin(request: pytest.FixtureRequest) -> Iterator[StandInServer]:
    """Like `standin`, once per emulated Meilisearch release (`server.state.version`)."""
    from meilichat_cli.standin import StandInServer

    server = StandInServer(master_key=MASTER_KEY, version=request.param)
    server.start()
    try:
        yield server
    finally:
        server.close()
