"""Admin commands on a real terminal (pexpect) and the admin views on a terminal console:
hidden prompts never echo, confirmations are asked and honoured, tables and the doctor
report never read server text as rich markup."""

from __future__ import annotations

import io
import sys
from typing import Any

import pytest

from meilichat_cli.doctor.checks import FAIL, OK, Check, Report
from meilichat_cli.doctor.view import print_report
from meilichat_cli.local.context import RunContext
from meilichat_cli.standin import StandInServer
from meilichat_cli.ui import admin_view
from tests.admin_support import PROVIDER_KEY, admin_env
from tests.conftest import MASTER_KEY, wait_for_hidden_input

pexpect = pytest.importorskip("pexpect")


def _spawn(args: list[str], env: dict[str, str]) -> Any:
    return pexpect.spawn(
        sys.executable, ["-m", "meilichat_cli", *args], env=env, encoding="utf-8", timeout=30
    )


@pytest.fixture
def env(clean_env: dict[str, str], standin: StandInServer) -> dict[str, str]:
    return admin_env(clean_env, standin)


def test_key_create_asks_for_the_admin_key_without_echo(
    env: dict[str, str], standin: StandInServer
) -> None:
    del env["MEILI_MASTER_KEY"]
    child = _spawn(["key", "create"], env)
    child.expect("Admin or master key")
    wait_for_hidden_input(child.child_fd)
    child.sendline(MASTER_KEY)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    output = child.before or ""
    assert MASTER_KEY not in output
    created = [k for k in standin.state.keys.values() if k.name == "meilichat chat key"]
    assert len(created) == 1 and created[0].value in output


def test_workspace_set_prompts_for_the_provider_key_without_echo(
    env: dict[str, str], standin: StandInServer
) -> None:
    child = _spawn(["workspace", "set", "demo", "--prompt-provider-key"], env)
    child.expect("Provider API key")
    wait_for_hidden_input(child.child_fd)
    child.sendline(PROVIDER_KEY)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert PROVIDER_KEY not in (child.before or "")
    assert standin.state.workspaces["demo"]["apiKey"] == PROVIDER_KEY


def test_ctrl_d_at_a_hidden_prompt_cancels_with_130(
    env: dict[str, str], standin: StandInServer
) -> None:
    # typer reports it as "Aborted." with exit 1, the code of a bug.
    child = _spawn(["workspace", "set", "demo", "--prompt-provider-key"], env)
    child.expect("Provider API key")
    wait_for_hidden_input(child.child_fd)
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    assert "meilichat: error: cancelled; nothing was changed" in (child.before or "")
    assert "Aborted" not in (child.before or "")
    assert not [r for r in standin.recorded if r.method == "PATCH"]


def test_delete_declined_changes_nothing(env: dict[str, str], standin: StandInServer) -> None:
    child = _spawn(["workspace", "delete", "demo"], env)
    child.expect(r"Delete workspace 'demo' on .*\?")
    child.sendline("n")
    child.expect("Cancelled; nothing was changed.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "demo" in standin.state.workspaces


def test_reset_confirmed_on_a_terminal(env: dict[str, str], standin: StandInServer) -> None:
    child = _spawn(["workspace", "reset", "demo"], env)
    child.expect(r"Reset workspace 'demo'")
    child.sendline("y")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert standin.state.workspaces["demo"]["apiKey"] is None


def _terminal_context() -> tuple[RunContext, io.StringIO]:
    out = io.StringIO()
    ctx = RunContext(
        stdin=io.StringIO(),
        stdout=out,
        stderr=io.StringIO(),
        environ={"COLUMNS": "120"},
        stdin_isatty=True,
        stdout_isatty=True,
        stderr_isatty=True,
    )
    return ctx, out


def test_tables_show_server_text_literally_on_a_terminal() -> None:
    ctx, out = _terminal_context()
    admin_view.print_table(ctx, ["NAME"], [["[bold]x[/bold] [link=https://evil]y[/link]\x1b[2J"]])
    text = out.getvalue()
    assert "[bold]x[/bold]" in text and "[link=https://evil]y[/link]" in text
    assert "\x1b[2J" not in text


def test_doctor_report_on_a_terminal_is_literal_and_sanitized() -> None:
    ctx, out = _terminal_context()
    report = Report(
        checks=[
            Check("server", OK, "up"),
            Check("workspace", FAIL, "bad [red]thing[/red]\x1b]52;c;aGk=\x07", "do [b]this[/b]"),
        ]
    )
    print_report(ctx, report)
    text = out.getvalue()
    assert "bad [red]thing[/red]" in text and "do [b]this[/b]" in text
    # The OSC 52 sequence loses its ESC and BEL; only harmless printable residue is left.
    assert "\x07" not in text and "\x1b]" not in text
    assert "some checks failed: 1 ok, 1 failed" in text
