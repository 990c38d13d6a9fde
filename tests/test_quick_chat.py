"""`meilichat chat` parsed without typer (`cli/quick.py`) means what typer would have parsed.

The quick parser repeats chat's options in a table: the table must equal the click command's
parameters, and every command line it accepts must give the very parameters click gives;
whatever it declines goes to typer, so declining is always safe.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tests.hypothesis_profiles  # noqa: F401  (loads the shared profile)
from meilichat_cli.cli.app import _command
from meilichat_cli.cli.quick import CHAT_OPTIONS, CONNECTION, parse_chat
from meilichat_cli.cli.typer_compat import ClickUsageError


def click_params(args: list[str]) -> dict[str, Any]:
    """The parameters click parses from `meilichat chat ARGS` (callbacks run, nothing more)."""
    command = _command("chat")
    with command.make_context("chat", list(args)) as ctx:
        return dict(ctx.params)


def quick_params(args: list[str]) -> dict[str, Any] | None:
    parsed = parse_chat(["chat", *args])
    if parsed is None:
        return None
    return {"question": parsed.question, **parsed.params}


def test_the_table_is_the_chat_commands_options_in_order() -> None:
    options = [param for param in _command("chat").params if param.param_type_name == "option"]
    assert [param.name for param in options] == [spec.name for spec in CHAT_OPTIONS]
    for param, spec in zip(options, CHAT_OPTIONS, strict=True):
        assert (tuple(param.opts), tuple(param.secondary_opts)) == (spec.opts, ()), spec.name
        assert param.is_flag == (spec.kind == "flag"), spec.name
        assert param.default == spec.default, spec.name
        assert not param.multiple and param.nargs == 1, spec.name
    arguments = [p.name for p in _command("chat").params if p.param_type_name == "argument"]
    assert arguments == ["question"]


def test_the_connection_options_are_the_connection_flags() -> None:
    from dataclasses import fields

    from meilichat_cli.api.connect import ConnectionFlags

    assert list(CONNECTION) == [field.name for field in fields(ConnectionFlags)]
    defaults = {spec.name: spec.default for spec in CHAT_OPTIONS}
    assert {name: defaults[name] for name in CONNECTION} == {
        field.name: field.default for field in fields(ConnectionFlags)
    }


ACCEPTED = [
    [],
    ["-m", "scenario:long?tokens=50"],
    ["--model=gpt-4o", "-w", "movies", "--url", "http://127.0.0.1:7700"],
    ["which", "space", "movies?", "-p", "demo"],
    ["-c", "--no-save", "--insecure", "--timeout", "2.5", "--ca-bundle", "ca.pem"],
    ["--conversation", "0f3c", "-s", "answer briefly", "--as", "alice", "--api-key", "k"],
    ["--system=", "--model=a=b", "hello"],
    ["--timeout=0.1"],
]


@pytest.mark.parametrize("args", ACCEPTED)
def test_a_plain_command_line_is_parsed_as_click_parses_it(args: list[str]) -> None:
    assert quick_params(args) == click_params(args)


def test_debug_before_the_command_is_the_roots_option() -> None:
    parsed = parse_chat(["--debug", "chat", "-m", "x"])
    assert parsed is not None and parsed.debug and parsed.params["model"] == "x"
    plain = parse_chat(["chat"])
    assert plain is not None and not plain.debug


DECLINED = [
    ["--help"],
    ["-h"],
    ["--", "-m"],
    ["-cm", "x"],  # bundled short options
    ["-mgpt"],  # a value glued to a short option
    ["-m", "a", "-m", "b"],  # repeated: click keeps the last, typer may say more
    ["--modle", "x"],  # a mistake: typer suggests --model
    ["-m"],  # a missing value
    ["-m", "-w"],  # a value that looks like an option
    ["--timeout", "0"],  # below the minimum
    ["--timeout", "nan"],
    ["--timeout", "soon"],
    ["--no-save=yes"],  # a flag given a value
    ["-"],
    ["-5"],
]


@pytest.mark.parametrize("args", DECLINED)
def test_anything_unusual_is_left_to_typer(args: list[str]) -> None:
    assert parse_chat(["chat", *args]) is None


@pytest.mark.parametrize(
    "args", [["ask", "chat"], ["chat-x"], ["--version", "chat"], ["-p", "x", "chat"], []]
)
def test_only_the_chat_command_is_parsed(args: list[str]) -> None:
    assert parse_chat(args) is None


WORDS = st.sampled_from(
    [
        *(spelling for spec in CHAT_OPTIONS for spelling in spec.opts),
        "--help",
        "--",
        "-",
        "-x",
        "-cm",
        "--model=",
        "--timeout=3",
        "--insecure=1",
        "hello",
        "two words",
        "0.5",
        "nan",
        "",
        "=",
        "-1",
    ]
)


@given(st.lists(WORDS, max_size=8))
def test_whatever_the_quick_parser_accepts_click_parses_the_same(args: list[str]) -> None:
    quick = quick_params(args)
    if quick is None:
        return
    try:
        expected = click_params(args)
    except ClickUsageError as error:  # pragma: no cover - the assertion says what differs
        raise AssertionError(f"click refuses {args}; the quick parser took it") from error
    assert quick == expected
