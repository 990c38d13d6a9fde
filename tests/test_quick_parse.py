"""`meilichat ask` and `meilichat chat` parsed without typer (`cli/quick.py`) mean what typer
would have parsed.

The quick parser repeats each command's options in a table: the table must equal the click
command's parameters, and every command line it accepts must give the very parameters click
gives; whatever it declines goes to typer, so declining is always safe. What runs afterwards
is one body for both parsers; `tests/test_quick_ask.py` checks that a run comes out the same
either way.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tests.hypothesis_profiles  # noqa: F401  (loads the shared profile)
from meilichat_cli.__main__ import QUICK_COMMANDS as ENTRY_POINT_COMMANDS
from meilichat_cli.cli.app import _command
from meilichat_cli.cli.quick import (
    ASK_OPTIONS,
    CHAT_OPTIONS,
    CONNECTION,
    QUICK_COMMANDS,
    REPRODUCED_CALLBACKS,
    Spec,
    parse,
)
from meilichat_cli.cli.typer_compat import ClickUsageError
from tests.inprocess import string_context

# Each command's table and the name of its words (click's argument).
TABLES: dict[str, tuple[tuple[Spec, ...], str]] = {
    "ask": (ASK_OPTIONS, "prompt"),
    "chat": (CHAT_OPTIONS, "question"),
}
KINDS = {"flag": "boolean", "text": "str", "seconds": "float range"}


def click_params(command: str, args: list[str]) -> dict[str, Any]:
    """The parameters click parses from `meilichat COMMAND ARGS` (callbacks run, nothing more;
    the `--json` callback needs the run's context, so it is given one)."""
    with _command(command).make_context(command, list(args), obj=string_context()) as ctx:
        return dict(ctx.params)


def quick_params(command: str, args: list[str]) -> dict[str, Any] | None:
    parsed = parse([command, *args])
    if parsed is None:
        return None
    assert parsed.command == command
    return {TABLES[command][1]: parsed.words, **parsed.params}


def test_the_entry_point_and_the_parser_name_the_same_commands() -> None:
    assert set(ENTRY_POINT_COMMANDS) == set(QUICK_COMMANDS) == set(TABLES)
    assert all(QUICK_COMMANDS[name][0] is TABLES[name][0] for name in TABLES)


@pytest.mark.parametrize("command", sorted(TABLES))
def test_the_table_is_the_commands_options_in_order(command: str) -> None:
    table, argument = TABLES[command]
    params = _command(command).params
    options = [param for param in params if param.param_type_name == "option"]
    assert [param.name for param in options] == [spec.name for spec in table]
    for param, spec in zip(options, table, strict=True):
        assert (tuple(param.opts), tuple(param.secondary_opts)) == (spec.opts, ()), spec.name
        assert param.is_flag == (spec.kind == "flag"), spec.name
        assert param.type.name == KINDS[spec.kind], spec.name
        assert param.default == spec.default, spec.name
        assert not param.multiple and param.nargs == 1, spec.name
        # Nothing read from elsewhere, asked for or run before the others.
        assert param.envvar is None and param.prompt is None, spec.name
        assert not param.is_eager and not param.required and not param.hidden, spec.name
        # A callback the quick path does not repeat would be skipped: each is named.
        callback = getattr(param.callback, "__name__", None)
        assert callback == spec.callback, spec.name
        assert callback is None or callback in REPRODUCED_CALLBACKS, spec.name
    # "seconds": click's range, which the quick parser checks as it converts.
    timeout = next(param for param in options if param.name == "timeout")
    assert (timeout.type.min, timeout.type.max, timeout.type.min_open) == (0.1, None, False)
    arguments = [param for param in params if param.param_type_name == "argument"]
    assert [param.name for param in arguments] == [argument]
    assert arguments[0].nargs == -1 and arguments[0].callback is None
    assert not arguments[0].required


def test_the_connection_options_are_the_connection_flags() -> None:
    import inspect

    from meilichat_cli.api.connect import ConnectionFlags

    parameters = list(inspect.signature(ConnectionFlags).parameters.values())
    assert list(CONNECTION) == [parameter.name for parameter in parameters]
    for table, _ in TABLES.values():
        defaults = {spec.name: spec.default for spec in table}
        assert {name: defaults[name] for name in CONNECTION} == {
            parameter.name: parameter.default for parameter in parameters
        }


CHAT_ACCEPTED = [
    [],
    ["-m", "scenario:long?tokens=50"],
    ["--model=gpt-4o", "-w", "movies", "--url", "http://127.0.0.1:7700"],
    ["which", "space", "movies?", "-p", "demo"],
    ["-c", "--no-save", "--insecure", "--timeout", "2.5", "--ca-bundle", "ca.pem"],
    ["--conversation", "0f3c", "-s", "answer briefly", "--as", "alice", "--api-key", "k"],
    ["--system=", "--model=a=b", "hello"],
    ["--timeout=0.1"],
]
ASK_ACCEPTED = [
    [],
    ["which", "space", "movies?"],
    ["--json", "-w", "movies", "top 3 sci-fi movies"],
    ["--events", "--no-save", "-m", "scenario:long?tokens=50", "hi"],
    ["--plain", "--sources", "-c", "more", "please"],
    ["--input", "json", "--json"],
    ["--input=JSON", "--conversation=0f3c"],
    ["-s", "be brief", "--as", "alice", "--api-key", "k", "--insecure", "q"],
    ["--json", "--events", "--plain", "q"],  # click takes them all; the body refuses them
    ["q", "--timeout", "0.5", "--ca-bundle=ca.pem", "--url=http://x", "-p", "demo"],
]


# `--` ends the options (click's parser): every word after it is a word, whatever it looks like.
SEPARATED = [
    ["--", "-v is my question"],
    ["--"],
    ["--", "--"],  # `--` as the question itself
    ["--", "--", "--"],
    ["--", "--", "x"],
    ["--", "-m", "x"],  # an option's spelling after `--` is a word
    ["--", "-"],
    ["--", ""],
    ["--", "--help"],
    ["--", "-h"],
    ["--", "--debug"],  # the root's option, after the command: a word here
    ["--", "--timeout", "0"],  # nothing after `--` is checked as an option's value
    ["--", "-cm", "x", "--model=y"],
    ["--", "--no-save=yes", "-5"],
    ["--", "-m", "a", "-m", "b"],  # not a repeated option
    ["-m", "x", "--", "-m", "y"],
    ["--model=x", "--", "--model=y"],
    ["q", "--", "-s", "more"],  # words before and after it, in order
    ["-c", "q", "--", "-w", "--", "r"],
    ["--no-save", "--"],  # `--` last: nothing after it
    ["--timeout=0.5", "--", "--timeout", "nan"],
]
ASK_SEPARATED = [
    ["--json", "--", "--json"],  # once as the option, once as a word: not a repeat
    ["--", "--json", "--events"],
    ["--input", "json", "--", "--input"],
]


@pytest.mark.parametrize(
    ("command", "args"),
    [("chat", args) for args in [*CHAT_ACCEPTED, *SEPARATED]]
    + [("ask", args) for args in [*ASK_ACCEPTED, *SEPARATED, *ASK_SEPARATED]],
)
def test_a_plain_command_line_is_parsed_as_click_parses_it(command: str, args: list[str]) -> None:
    quick = quick_params(command, args)
    assert quick is not None, f"the quick parser declined {command} {args}"
    assert quick == click_params(command, args)


def test_the_words_after_a_double_dash_are_the_question_as_given() -> None:
    parsed = parse(["ask", "-m", "x", "--", "-v is my question", "--", "-m", "y"])
    assert parsed is not None
    assert parsed.words == ("-v is my question", "--", "-m", "y")
    assert parsed.params["model"] == "x"


def test_debug_before_the_command_is_the_roots_option() -> None:
    for command in TABLES:
        parsed = parse(["--debug", command, "-m", "x"])
        assert parsed is not None and parsed.debug and parsed.params["model"] == "x"
        plain = parse([command])
        assert plain is not None and not plain.debug


@pytest.mark.parametrize(
    ("flag", "as_json"), [("--json", True), ("--events", True), ("--plain", False)]
)
def test_json_and_events_make_errors_json_as_their_callback_does(
    flag: str, as_json: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = string_context()
    with _command("ask").make_context("ask", [flag, "q"], obj=context):
        assert context.errors_as_json is as_json
    # The quick path sets it before the body runs, as click's callback does while parsing.
    seen: list[bool] = []
    options, _ = QUICK_COMMANDS["ask"]
    monkeypatch.setitem(
        QUICK_COMMANDS, "ask", (options, lambda ctx, _quick: seen.append(ctx.errors_as_json))
    )
    quick = parse(["ask", flag, "q"])
    assert quick is not None
    quick.run(string_context())
    assert seen == [as_json]


DECLINED = [
    ["--help"],
    ["-h"],
    ["-cm", "x"],  # bundled short options
    ["-mgpt"],  # a value glued to a short option
    ["-m", "a", "-m", "b"],  # repeated: click keeps the last, typer may say more
    ["--modle", "x"],  # a mistake: typer suggests --model
    ["-m"],  # a missing value
    ["-m", "-w"],  # a value that looks like an option
    ["-m", "--", "x"],  # click takes `--` as the value here: left to typer like "-w"
    ["--timeout", "--", "1"],
    ["-", "--", "x"],  # a lone dash before `--`
    ["-m", "a", "-m", "b", "--", "x"],  # what is unusual before `--` still is
    ["--help", "--", "x"],
    ["--timeout", "0"],  # below the minimum
    ["--timeout", "nan"],
    ["--timeout", "inf"],
    ["--timeout", "soon"],
    ["--no-save=yes"],  # a flag given a value
    ["--debug"],  # the root's option, after the command
    ["--version"],
    ["-"],
    ["-5"],
]
ASK_DECLINED = [
    ["--json=1"],
    ["--input"],
    ["--input", "-"],
    ["--json", "--json"],
    ["-s"],
    ["--no-json"],
]


@pytest.mark.parametrize(
    ("command", "args"),
    [(command, args) for command in sorted(TABLES) for args in DECLINED]
    + [("ask", args) for args in ASK_DECLINED],
)
def test_anything_unusual_is_left_to_typer(command: str, args: list[str]) -> None:
    assert parse([command, *args]) is None


@pytest.mark.parametrize(
    "args",
    [
        ["history", "chat"],
        ["chat-x"],
        ["asks"],
        ["--version", "chat"],
        ["--version", "ask", "x"],
        ["-p", "x", "ask"],
        ["-h", "ask"],
        [],
        ["--debug"],
    ],
)
def test_only_the_quick_commands_are_parsed(args: list[str]) -> None:
    assert parse(args) is None


def words(table: tuple[Spec, ...]) -> st.SearchStrategy[str]:
    return st.sampled_from(
        [
            *(spelling for spec in table for spelling in spec.opts),
            "--help",
            "--",
            "-",
            "-x",
            "-cm",
            "--model=",
            "--timeout=3",
            "--insecure=1",
            "--json=",
            "--input=json",
            "hello",
            "two words",
            "0.5",
            "nan",
            "",
            "=",
            "-1",
            "ask",
            "chat",
        ]
    )


@given(
    st.sampled_from(sorted(TABLES)).flatmap(
        lambda c: st.tuples(st.just(c), st.lists(words(TABLES[c][0]), max_size=8))
    )
)
def test_whatever_the_quick_parser_accepts_click_parses_the_same(
    command_and_args: tuple[str, list[str]],
) -> None:
    command, args = command_and_args
    quick = quick_params(command, args)
    if quick is None:
        return
    try:
        expected = click_params(command, args)
    except ClickUsageError as error:  # pragma: no cover - the assertion says what differs
        raise AssertionError(f"click refuses {command} {args}; the quick parser took it") from error
    assert quick == expected


@given(
    st.sampled_from(sorted(TABLES)).flatmap(
        lambda c: st.tuples(
            st.just(c),
            st.lists(words(TABLES[c][0]), max_size=5),
            st.lists(words(TABLES[c][0]), max_size=5),
        )
    )
)
def test_after_a_double_dash_click_and_the_quick_parser_read_the_same_words(
    command_before_after: tuple[str, list[str], list[str]],
) -> None:
    command, before, after = command_before_after
    args = [*before, "--", *after]
    quick = quick_params(command, args)
    # What follows `--` never makes the quick parser decline: only what comes before it.
    assert (quick is None) == (quick_params(command, before) is None)
    if quick is None:
        return
    try:
        expected = click_params(command, args)
    except ClickUsageError as error:  # pragma: no cover - the assertion says what differs
        raise AssertionError(f"click refuses {command} {args}; the quick parser took it") from error
    assert quick == expected
