"""`key set` on a terminal: Ctrl-C at the hidden prompt is an interruption (exit 130), stores
nothing and echoes nothing, through the real entry point on a pseudo-terminal.

typer 0.28 carries its own copy of click, so an install made by pip or pipx has no `click`
package; the test hides the one this machine may have (Flask brings it) to run like that."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from meilichat_cli.local.paths import Paths
from tests.conftest import wait_for_hidden_input
from tests.inprocess import run_cli


def test_ctrl_c_at_the_hidden_prompt_exits_130(clean_env: dict[str, str], tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    no_click = tmp_path / "no_click" / "click"
    no_click.mkdir(parents=True)
    (no_click / "__init__.py").write_text("raise ImportError('click is not installed')\n")
    env = {**clean_env, "PYTHONPATH": os.pathsep.join([str(no_click.parent), os.getcwd()])}
    added = run_cli(["profile", "add", "local", "--url", "http://127.0.0.1:7700"], clean_env)
    assert added.returncode == 0, added.stderr
    child = pexpect.spawn(
        sys.executable,
        ["-m", "meilichat_cli", "key", "set", "--profile", "local"],
        env=env,
        encoding="utf-8",
        timeout=30,
    )
    child.expect("API key for profile 'local'")
    wait_for_hidden_input(child.child_fd)
    child.send("secret-typed-so-far")
    child.sendcontrol("c")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    assert "secret-typed-so-far" not in (child.before or "")
    assert "Aborted" not in (child.before or "")
    assert not Paths.from_env(clean_env).credentials_file.exists()
