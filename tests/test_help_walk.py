"""Every command's and group's --help: it works, it says what the command is for, it shows
examples (for commands) and the environment variables, and the variables it names are the
documented ones.

The walk runs in-process through the real root app (a subprocess per command would take
seconds); one subprocess checks the real entry point.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest

from meilichat_cli.cli.app import build_app
from meilichat_cli.cli.help.topics import env_names
from meilichat_cli.cli.typer_compat import Context
from tests.conftest import run_meilichat
from tests.inprocess import invoke, run_cli

# Names that look like environment variables in help text.
ENV_NAME = re.compile(
    r"\b(?:MEILI(?:CHAT)?_[A-Z][A-Z_]*[A-Z]|NO_COLOR|SSL_CERT_[A-Z]+|[A-Z]+_PROXY|VISUAL|"
    r"EDITOR|XDG_[A-Z_]+[A-Z])\b"
)
SUMMARY_CHARS = 160


def command_paths() -> list[tuple[tuple[str, ...], Any]]:
    """(path, click command) for the root, every group and every command."""
    import typer.main

    found: list[tuple[tuple[str, ...], Any]] = []

    def walk(command: Any, path: tuple[str, ...], parent: Context | None) -> None:
        found.append((path, command))
        ctx = Context(command, info_name=path[-1] if path else "meilichat", parent=parent)
        if hasattr(command, "list_commands"):
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), (*path, name), ctx)

    walk(typer.main.get_command(build_app()), (), None)
    return found


COMMANDS = command_paths()


def help_of(path: tuple[str, ...]) -> str:
    result = invoke([*path, "--help"], env={**os.environ, "COLUMNS": "100"})
    assert result.exit_code == 0, (path, result.output)
    assert result.exception is None
    assert "Traceback" not in result.output
    return result.output


def flat(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


def test_the_walk_finds_every_group_and_command() -> None:
    paths = {" ".join(path) for path, _ in COMMANDS}
    assert {"", "ask", "chat", "demo", "batch", "doctor", "completions", "help"} <= paths
    assert {"profile add", "key create", "workspace edit", "index chat-settings"} <= paths
    assert {"history export", "key list", "profile path", "workspace delete"} <= paths
    assert len(paths) >= 38


@pytest.mark.parametrize(
    ("path", "command"), COMMANDS, ids=[" ".join(path) or "meilichat" for path, _ in COMMANDS]
)
def test_help(path: tuple[str, ...], command: Any) -> None:
    output = help_of(path)
    summary = (command.help or "").strip().split("\n\n")[0]
    assert summary, f"{path}: no help text"
    assert len(flat(summary)) <= SUMMARY_CHARS, f"{path}: the summary is not one line"
    assert flat(re.sub(r"\[/?bold\]", "", summary)) in flat(output)
    if not hasattr(command, "list_commands"):
        assert "Examples" in output, f"{path}: no examples"
        assert "meilichat " + " ".join(path) in flat(output) or path == ("help",)
    assert "Environment" in output, f"{path}: no environment variables"
    undocumented = set(ENV_NAME.findall(output)) - set(env_names())
    assert not undocumented, f"{path}: {sorted(undocumented)} are not in `meilichat help env…`"


def test_prose_in_help_wraps_to_the_terminal_not_to_the_source() -> None:
    # typer keeps every newline of an epilog: a paragraph wrapped in the source came out as
    # a long line and a stub on an 80-column terminal.
    output = invoke(["demo", "--help"], env={**os.environ, "COLUMNS": "80"}).output
    lines = [line.strip() for line in output.splitlines()]
    start = next(n for n, line in enumerate(lines) if line.startswith("The demo answers"))
    paragraph = lines[start : lines.index("", start)]
    assert len(paragraph) >= 2 and all(len(line) >= 50 for line in paragraph[:-1]), paragraph
    for path, command in COMMANDS:
        for block in (command.epilog or "").split("\n\n"):
            indented = any(line.startswith((" ", "- ")) for line in block.split("\n"))
            assert indented or "\n" not in block, (path, block)


def test_help_through_the_real_entry_point(clean_env: dict[str, str]) -> None:
    for args in (["--help"], ["workspace", "set", "--help"], ["history", "--help"]):
        result = run_meilichat(args, clean_env)
        assert result.returncode == 0, (args, result.stderr)
        assert "Traceback" not in result.stdout + result.stderr
        assert "Usage" in result.stdout
    root = run_meilichat(["--help"], clean_env).stdout
    for name in ("ask", "chat", "completions", "help", "profile", "workspace"):
        assert re.search(rf"^│ {name}\b", root, re.MULTILINE), name


def test_an_option_missing_its_value_points_at_its_own_commands_help(
    clean_env: dict[str, str],
) -> None:
    # click raises this one without a context: the hint must still name the command's help.
    cases = {
        ("ask", "x", "--timeout"): "see `meilichat ask --help`",
        ("history", "list", "-n"): "see `meilichat history list --help`",
        ("batch", "q.jsonl", "-o"): "see `meilichat batch --help`",
        ("profile", "add", "x", "--url"): "see `meilichat profile add --help`",
    }
    for args, hint in cases.items():
        result = run_cli(list(args), clean_env)
        assert result.returncode == 2, args
        first, second = result.stderr.splitlines()
        assert "requires an argument" in first, result.stderr
        assert second == f"hint: {hint}", result.stderr


def test_command_line_mistakes_are_reported_like_every_other_error(
    clean_env: dict[str, str],
) -> None:
    cases = {
        ("ask", "--jsn", "x"): (
            "No such option: --jsn (Possible options: --as, --json)",
            "ask --help",
        ),
        ("ask", "--timeout", "abc", "x"): ("Invalid value for '--timeout'", "ask --help"),
        ("ask", "--timeout", "nan", "x"): ("nan is not a finite number", "ask --help"),
        ("ask", "--timeout", "inf", "x"): ("inf is not a finite number", "ask --help"),
        ("demo", "--delay", "nan", "x"): ("nan is not a finite number", "demo --help"),
        ("histroy",): (
            "No such command 'histroy'. Did you mean 'history'?",
            "see `meilichat --help`",
        ),
        ("history", "shwo"): ("Did you mean 'show'?", "see `meilichat history --help`"),
        ("profile", "add", "x"): ("Missing option '--url'.", "profile add --help"),
    }
    for args, (message, hint) in cases.items():
        result = run_cli(list(args), clean_env)
        assert result.returncode == 2, args
        assert result.stdout == ""
        first, second = result.stderr.splitlines()
        assert first.startswith("meilichat: error: ") and message in first, result.stderr
        assert second.startswith("hint: ") and hint in second, result.stderr
    as_json = run_cli(["ask", "--json", "--bogus", "x"], clean_env)
    assert as_json.returncode == 2 and as_json.stdout == ""
    error = json.loads(as_json.stderr)["error"]
    assert error["kind"] == "usage" and error["message"] == "No such option: --bogus"
