"""Commands stay thin: options arrive as typed groups, declared once (`cli/options.py`), and
no function of the command line takes a long list of parameters."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer

import meilichat_cli
from meilichat_cli.cli.admin_options import AdminConnection
from meilichat_cli.cli.commands.doctor import DoctorConnection
from meilichat_cli.cli.options import ChatConnection, option_group, with_option_groups
from meilichat_cli.cli.typer_compat import click_command

PACKAGE = Path(meilichat_cli.__file__).parent
# ask, batch and demo carry many options of their own; 30 was the count that made this rule.
MAX_PARAMETERS = 20
CHAT_OPTIONS = ["profile", "url", "workspace", "model", "api_key", "timeout", "ca_bundle"]


def test_no_function_of_the_command_line_takes_a_long_parameter_list() -> None:
    long = []
    for path in sorted((PACKAGE / "cli").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.FunctionDef):
                count = len(node.args.args) + len(node.args.kwonlyargs)
                if count > MAX_PARAMETERS:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.name} ({count})")
    assert not long, f"group options into an option_group dataclass: {long}"


def _command(name: str) -> Any:
    from meilichat_cli.cli.app import _command as build

    return build(name)


@pytest.mark.parametrize(("name", "timeout"), [("ask", 120.0), ("chat", 120.0), ("doctor", 60.0)])
def test_the_connection_group_lands_where_the_command_declares_it(
    name: str, timeout: float
) -> None:
    params = [param.name for param in _command(name).params]
    at = params.index("profile")
    assert params[at : at + len(CHAT_OPTIONS) + 1] == [*CHAT_OPTIONS, "insecure"]
    timeout_option = next(p for p in _command(name).params if p.name == "timeout")
    assert timeout_option.default == timeout


def test_admin_commands_share_one_declaration_of_the_admin_connection() -> None:
    group = _command("workspace")
    for sub in ("list", "show", "set", "edit", "reset", "delete"):
        names = [param.name for param in group.commands[sub].params]
        fields = [field.name for field in dataclasses.fields(AdminConnection)]
        at = names.index("profile")
        assert names[at : at + len(fields)] == fields, sub


@option_group
@dataclasses.dataclass(frozen=True)
class Colour:
    """A group defined at module level, as annotations are resolved in the module."""

    name: Annotated[str, typer.Option("--name")] = "red"
    bright: Annotated[bool, typer.Option("--bright")] = False


def test_a_command_receives_its_groups_built_from_the_parsed_options() -> None:
    received: list[Any] = []
    app = typer.Typer(add_completion=False)

    @app.command()
    @with_option_groups
    def paint(
        size: Annotated[int, typer.Option("--size")] = 1,
        *,
        colour: Colour,
        server: ChatConnection,
    ) -> None:
        received.extend([size, colour, server])

    @app.command()
    def other() -> None:
        pass

    command = click_command(app)
    command.main(["paint", "--name", "blue", "-w", "movies", "--size", "3"], standalone_mode=False)
    assert received == [3, Colour(name="blue"), ChatConnection(workspace="movies")]
    assert received[2].flags.workspace == "movies" and received[2].flags.timeout == 120.0
    assert DoctorConnection().flags.timeout == 60.0
