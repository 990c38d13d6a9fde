"""The parts of typer meilichat relies on beyond its public API (`cli/typer_compat.py`).

Each test names the behaviour that a typer upgrade must keep; when one fails, the message
says which piece of typer changed, before any command test fails for a less obvious reason.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Annotated, Any

import pytest
import typer
from typer.testing import CliRunner

INCOMPATIBLE = f"typer {typer.__version__} is not compatible with meilichat_cli.cli.typer_compat"


def test_typer_version_is_the_pinned_range() -> None:
    major, minor = (int(part) for part in typer.__version__.split(".")[:2])
    assert (0, 16) <= (major, minor) < (0, 29), f"{INCOMPATIBLE}: pyproject pins >=0.16,<0.29"


def test_every_private_name_still_imports() -> None:
    try:
        compat = importlib.import_module("meilichat_cli.cli.typer_compat")
    except ImportError as error:  # pragma: no cover - the failure message is the point
        pytest.fail(f"{INCOMPATIBLE}: {error}")
    for name in compat.__all__:
        assert hasattr(compat, name), f"{INCOMPATIBLE}: {name} is missing"


def _app() -> typer.Typer:
    app = typer.Typer(add_completion=False)

    @app.command()
    def first(name: Annotated[str, typer.Option("--name")] = "x") -> None:
        typer.echo(name)

    @app.command()
    def second() -> None:
        pass

    return app


def test_usage_errors_carry_their_context_and_a_message() -> None:
    from meilichat_cli.cli.typer_compat import ClickUsageError, NoArgsIsHelpError, click_command

    assert issubclass(NoArgsIsHelpError, ClickUsageError), (
        f"{INCOMPATIBLE}: the boundary lets NoArgsIsHelpError through before UsageError"
    )
    group = click_command(_app())
    with pytest.raises(ClickUsageError) as caught:
        group.main(["first", "--nope"], standalone_mode=False)
    assert caught.value.ctx is not None, f"{INCOMPATIBLE}: UsageError.ctx is gone"
    assert caught.value.ctx.command_path.endswith("first")
    assert "--nope" in caught.value.format_message()


def test_a_typer_app_becomes_a_click_group_with_its_commands() -> None:
    from meilichat_cli.cli.typer_compat import TyperGroup, click_command

    group = click_command(_app())
    assert isinstance(group, TyperGroup), f"{INCOMPATIBLE}: get_command no longer a TyperGroup"
    assert sorted(group.commands) == ["first", "second"]


def test_the_completion_machinery_resolves_a_partial_line() -> None:
    from meilichat_cli.cli.typer_compat import (
        CompletionItem,
        has_custom_completion,
        resolve_context,
        resolve_incomplete,
        split_arg_string,
    )

    group = click_command_of_app()
    assert split_arg_string("meilichat 'a b' c") == ["meilichat", "a b", "c"]
    ctx = resolve_context(group, {}, "prog", ["first"])
    assert ctx.command.name == "first", f"{INCOMPATIBLE}: _resolve_context changed"
    target, text = resolve_incomplete(ctx, ["first"], "--na")
    assert text == "--na"
    items = target.shell_complete(ctx, "--na")
    assert [item.value for item in items] == ["--name"]
    assert isinstance(items[0], CompletionItem)
    option = next(param for param in ctx.command.params if param.name == "name")
    assert has_custom_completion(option) is False


def click_command_of_app() -> Any:
    from meilichat_cli.cli.typer_compat import click_command

    return click_command(_app())


def test_typer_reads_parameters_through_inspect_signature() -> None:
    """cli/options.py declares the connection options once by giving a command function a
    `__signature__`; typer must build the command from it."""

    def body(**values: Any) -> None:
        typer.echo(repr(sorted(values.items())))

    body.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                "shown",
                inspect.Parameter.KEYWORD_ONLY,
                default="d",
                annotation=Annotated[str, typer.Option("--shown")],
            )
        ]
    )
    body.__annotations__ = {"shown": Annotated[str, typer.Option("--shown")]}
    app = typer.Typer(add_completion=False)
    app.command()(body)
    result = CliRunner().invoke(app, ["--shown", "v"])
    assert result.exit_code == 0, f"{INCOMPATIBLE}: {result.output}"
    assert result.output.strip() == "[('shown', 'v')]"


def test_no_other_module_reaches_into_typer_internals() -> None:
    import re
    from pathlib import Path

    package = Path(importlib.import_module("meilichat_cli").__file__ or "").parent
    internal = re.compile(
        r"typer\._|typer\.(core|main|utils|models|rich_utils)\b|\bclick\.|import click\b|"
        r"_resolve_context|_resolve_incomplete|_custom_shell_complete"
    )
    offenders = [
        f"{path.relative_to(package)}:{number}"
        for path in sorted(package.rglob("*.py"))
        if path.name != "typer_compat.py"
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if internal.search(line.split("#")[0]) and not line.lstrip().startswith(('"', "`"))
    ]
    assert not offenders, f"use meilichat_cli.cli.typer_compat instead: {offenders}"
