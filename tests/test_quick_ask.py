"""`meilichat ask` comes out the same whether the entry point parsed it without typer
(`cli/quick.py`) or typer did: the same output, errors, exit code and request.

In process, each command line runs both ways through the error boundary (`execute` with and
without the quick parse) against the stand-in server. Through the real entry point, a plain
command line (parsed without typer) is compared with the same line with each option given
twice, which the quick parser leaves to typer (click keeps the last, the same value).
tests/test_quick_parse.py checks the parse itself.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

import pytest

from meilichat_cli.cli.app import execute
from meilichat_cli.cli.quick import parse
from meilichat_cli.local.context import RunContext
from tests import inprocess

if TYPE_CHECKING:
    from meilichat_cli.standin import StandInServer

QUESTION = "which space movies do you have?"
# What differs from run to run whichever way it was parsed: ids and timings.
VARYING = (
    (re.compile(r"\b(?:call_)?[0-9a-f]{24,32}\b"), "ID"),
    (re.compile(r'(_ms": )[0-9.]+'), r"\1MS"),
)


# The frames of a --debug traceback: they name the parser's functions.
FRAMES = re.compile(r"(?m)^  .*\n")


def same_everywhere(text: str) -> str:
    if "Traceback (most recent call last):" in text:
        text = FRAMES.sub("", text)
    for pattern, replacement in VARYING:
        text = pattern.sub(replacement, text)
    return text


def quickly(argv: list[str], context: RunContext) -> int:
    """`execute` as the entry point calls it for a command line the quick parser takes."""
    quick = parse(argv)
    assert quick is not None, f"the quick parser declined {argv}"
    return execute(argv, context, quick)


Seen = tuple[int, str, str, "str | None", list[Any]]


def run_once(
    parsed_by: str, args: list[str], env: dict[str, str], server: StandInServer, **options: Any
) -> Seen:
    """What a run shows (exit code, stdout, stderr, the error's class) and the requests it
    sent, with `args` parsed by typer or by the quick parser."""
    before = len(server.completion_bodies())
    if parsed_by == "typer":
        result = inprocess.invoke(args, env=env, **options)
    else:
        with mock.patch.object(inprocess, "execute", quickly):
            result = inprocess.invoke(args, env=env, **options)
    error = type(result.exception).__name__ if result.exception is not None else None
    sent = [body["messages"] for body in server.completion_bodies()[before:]]
    return (
        result.exit_code,
        same_everywhere(result.stdout),
        same_everywhere(result.stderr),
        error,
        json.loads(same_everywhere(json.dumps(sent))),
    )


def both_ways(
    args: list[str], env: dict[str, str], server: StandInServer, **options: Any
) -> tuple[Seen, Seen]:
    """The run parsed by typer, then by the quick parser."""
    return (
        run_once("typer", args, env, server, **options),
        run_once("quick", args, env, server, **options),
    )


CASES: list[tuple[list[str], str | None]] = [
    (["ask", QUESTION], None),
    (["ask", "--json", QUESTION], None),
    (["ask", "--events", "--no-save", QUESTION], None),
    (["ask", "--plain", "--sources", "-s", "answer briefly", QUESTION], None),
    (["ask", "summarise", "these"], "notes piped in\n"),  # stdin first, then the words
    (["ask", "--input", "json", "--json"], json.dumps({"prompt": QUESTION, "model": "gpt-4o"})),
    (
        ["ask", "--input", "json", "-c"],
        json.dumps({"messages": [{"role": "user", "content": "x"}]}),
    ),
    (["ask", "--input", "yaml"], "{}"),
    (["ask", "--input", "json", QUESTION], "{}"),
    (["ask", "--json", "-w", "nope", QUESTION], None),
    (["ask", "-w", "nope", "--url", "URL", QUESTION], None),  # the hint repeats --url and -w
    (["ask", "--events", "--plain", QUESTION], None),
    (["ask", "-c", "--conversation", "x", QUESTION], None),
    (["ask", "--conversation", " ", QUESTION], None),
    (["ask"], None),  # an empty prompt
    (["--debug", "ask", "-m", "scenario:provider-error", QUESTION], None),
    (["ask", "--json", "--api-key", "not-the-key", QUESTION], None),
    (["ask", "-p", "nobody", QUESTION], None),
    (["ask", "--timeout", "0.5", "-m", "scenario:stall?ms=3000", QUESTION], None),
    (["ask", "--as", "nobody", QUESTION], None),
    (["ask", "--no-save", "--", "-v is my question"], None),  # a question starting with a dash
    (["ask", "--json", "--", "--", "--json"], None),  # the words `--` and `--json`
    (["ask", "--", "--events", "--plain"], None),  # words, not two output modes
]


@pytest.mark.parametrize(("args", "stdin"), CASES)
def test_a_run_is_the_same_whichever_way_it_was_parsed(
    args: list[str], stdin: str | None, server_env: dict[str, str], standin: StandInServer
) -> None:
    args = [standin.url if word == "URL" else word for word in args]
    typer_run, quick_run = both_ways(args, server_env, standin, input=stdin)
    assert quick_run == typer_run


def test_the_terminal_output_is_the_same_whichever_way_it_was_parsed(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    from tests.terminal_screen import replay

    # Truecolor, as every other rendering test in the suite: rich keeps the escape codes of a
    # style it drew once (whatever the colour system), and the pygments theme's styles are
    # shared by the whole process.
    env = {**server_env, "TERM": "xterm-256color", "COLORTERM": "truecolor"}
    env.pop("NO_COLOR", None)
    typer_run, quick_run = both_ways(
        ["ask", "-m", "scenario:long?tokens=200", QUESTION], env, standin, stdout_isatty=True
    )
    assert typer_run[0] == 0 and "\x1b[48;2;" in typer_run[1]  # a code fence, in truecolor
    # The live region is repainted as time goes: what stays on the terminal is compared.
    screens = [
        replay(run[1], width=100, height=40).styled_lines() for run in (typer_run, quick_run)
    ]
    assert screens[1] == screens[0]
    assert quick_run[0] == typer_run[0] and quick_run[2:] == typer_run[2:]


def test_a_continued_conversation_is_the_same_whichever_way_it_was_parsed(
    server_env: dict[str, str], standin: StandInServer, tmp_path: Path
) -> None:
    runs = []
    for parsed_by in ("typer", "quick"):
        env = {**server_env, "MEILICHAT_DATA_DIR": str(tmp_path / parsed_by)}
        first = inprocess.invoke(["ask", QUESTION], env=env)
        assert first.exit_code == 0, first.stderr
        runs.append(run_once(parsed_by, ["ask", "-c", "--json", "more"], env, standin))
    assert runs[0][0] == 0, runs[0][2]
    assert len(runs[0][4][0]) > 2  # the first turn went with the question
    assert runs[1] == runs[0]


# Runs the real entry point with the arguments in argv[1:], writing to the file named by the
# environment who parsed the command line, and whether typer was loaded by then. (An error
# may load typer afterwards: a hint that names a command is checked against the click tree.)
ENTRY_POINT = r"""
import os, sys
import meilichat_cli.cli.app as app
from meilichat_cli.__main__ import main

execute = app.execute

def reporting(argv, context, quick=None):
    with open(os.environ["QUICK_ASK_REPORT"], "w") as report:
        report.write("quick" if quick is not None else "typer")
        report.write(" after typer" if "typer" in sys.modules else "")
    return execute(argv, context, quick)

app.execute = reporting
sys.argv = ["meilichat", *sys.argv[1:]]
main()
"""


def entry_point(
    args: list[str], env: dict[str, str], tmp_path: Path, stdin: str = ""
) -> tuple[subprocess.CompletedProcess[str], str]:
    """The run of `meilichat ARGS`, and who parsed ARGS ("quick" or "typer")."""
    report = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-c", ENTRY_POINT, *args],
        env={**env, "QUICK_ASK_REPORT": str(report)},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    parsed_by = report.read_text()
    os.unlink(report)
    return done, parsed_by


def quick_and_typer(
    options: list[str], words: list[str], env: dict[str, str], tmp_path: Path, stdin: str = ""
) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """`meilichat ask OPTIONS WORDS` (the quick parser's) and `… OPTIONS OPTIONS WORDS`
    (typer's: a repeated option is left to it)."""
    assert options, "only a repeated option sends the line to typer"
    quick, quick_parsed = entry_point(["ask", *options, *words], env, tmp_path, stdin)
    typer, typer_parsed = entry_point(["ask", *options, *options, *words], env, tmp_path, stdin)
    assert (quick_parsed, typer_parsed) == ("quick", "typer")
    return quick, typer


def test_json_errors_come_out_as_json_both_ways(server_env: dict[str, str], tmp_path: Path) -> None:
    for options in (["--json", "-w", "nope"], ["--events", "--plain"]):
        quick, typer = quick_and_typer(options, [QUESTION], server_env, tmp_path)
        assert quick.returncode == typer.returncode != 0
        assert quick.stdout == typer.stdout == ""
        assert quick.stderr == typer.stderr
        error = json.loads(quick.stderr)["error"]
        assert error["kind"] in {"not_found", "usage"}


def test_a_piped_prompt_and_json_input_are_asked_the_same_both_ways(
    server_env: dict[str, str], standin: StandInServer, tmp_path: Path
) -> None:
    quick, typer = quick_and_typer(
        ["--no-save"], ["summarise", "them"], server_env, tmp_path, "notes\n"
    )
    assert quick.returncode == typer.returncode == 0, quick.stderr + typer.stderr
    assert quick.stdout == typer.stdout and quick.stdout.strip()
    asked = [body["messages"] for body in standin.completion_bodies()]
    assert asked == [[{"role": "user", "content": "notes\n\nsummarise them"}]] * 2
    stdin = json.dumps({"prompt": QUESTION, "model": "gpt-4o"})
    quick, typer = quick_and_typer(["--input", "json", "--plain"], [], server_env, tmp_path, stdin)
    assert quick.returncode == typer.returncode == 0, quick.stderr + typer.stderr
    assert quick.stdout == typer.stdout and quick.stdout.strip()
    bodies = standin.completion_bodies()[-2:]
    assert [body["model"] for body in bodies] == ["gpt-4o"] * 2
    assert bodies[0]["messages"] == bodies[1]["messages"] == [{"role": "user", "content": QUESTION}]


def test_a_usage_mistake_still_gets_typers_message_and_exit_2(
    server_env: dict[str, str], standin: StandInServer, tmp_path: Path
) -> None:
    done, parsed_by = entry_point(["ask", "--modle", "x", QUESTION], server_env, tmp_path)
    assert (done.returncode, parsed_by) == (2, "typer")
    assert "No such option: --modle" in done.stderr and "--model" in done.stderr
    assert "see `meilichat ask --help`" in done.stderr
    done, parsed_by = entry_point(
        ["ask", "--json", "--timeout", "0", QUESTION], server_env, tmp_path
    )
    assert (done.returncode, parsed_by) == (2, "typer")
    assert json.loads(done.stderr)["error"]["kind"] == "usage"
    assert "--timeout" in done.stderr
    assert standin.completion_bodies() == []


@pytest.mark.parametrize("debug", [[], ["--debug"]])
def test_an_eof_error_escaping_ask_is_the_same_bug_report_both_ways(
    debug: list[str],
    server_env: dict[str, str],
    standin: StandInServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Nothing in `ask` reads a line that could end at EOF: an EOFError out of its body is a
    # bug, reported by the boundary (exit 1), not typer's "Aborted!" on one path only.
    from meilichat_cli.chat import ask as chat_ask

    def read_past_the_end(*_args: object, **_kwargs: object) -> str:
        raise EOFError("EOF when reading a line")

    monkeypatch.setattr(chat_ask, "read_prompt", read_past_the_end)
    typer_run, quick_run = both_ways([*debug, "ask", QUESTION], server_env, standin)
    assert quick_run == typer_run
    code, stdout, stderr, error, sent = typer_run
    assert (code, stdout, error, sent) == (1, "", "EOFError", [])
    assert stderr.splitlines()[-1] == (
        "meilichat: internal error (EOFError); rerun with --debug for details"
    )
    assert "Aborted" not in stderr
    if debug:
        assert stderr.startswith("Traceback (most recent call last):\n")
        assert "EOFError: EOF when reading a line\n" in stderr
    else:
        assert stderr.count("\n") == 1
