"""The root help page is printed from the command table; it must say what the commands say."""

from __future__ import annotations

import pytest

from meilichat_cli.cli.app import _command
from meilichat_cli.cli.command_table import COMMANDS
from tests.conftest import run_meilichat
from tests.inprocess import invoke


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_summary_is_the_first_paragraph_of_the_commands_own_help(name: str) -> None:
    help_text = _command(name).help or ""
    first_paragraph = " ".join(help_text.strip().split("\n\n")[0].split())
    assert COMMANDS[name].summary == first_paragraph


def test_the_entry_points_page_equals_the_one_the_app_prints(clean_env: dict[str, str]) -> None:
    # The entry point answers --help before typer is imported; the root group of the app
    # (reached here with --debug in front) prints the very same page.
    env = {**clean_env, "COLUMNS": "90"}
    fast = run_meilichat(["--help"], env)
    through_typer = invoke(["--debug", "--help"], env=env)
    assert fast.returncode == 0 and through_typer.exit_code == 0
    assert fast.stdout == through_typer.stdout
    assert not [line for line in fast.stdout.splitlines() if line.endswith(" ")]


def test_a_bare_meilichat_prints_the_page_and_exits_2(clean_env: dict[str, str]) -> None:
    bare = run_meilichat([], clean_env)
    assert bare.returncode == 2
    assert "Usage: meilichat [OPTIONS] COMMAND [ARGS]..." in bare.stdout


def test_wrapped_examples_keep_their_indent(clean_env: dict[str, str]) -> None:
    narrow = run_meilichat(["--help"], {**clean_env, "COLUMNS": "50"})
    example_lines = narrow.stdout.split(" Examples")[1].split(" Environment")[0].splitlines()
    assert all(line == "" or line.startswith("   ") for line in example_lines), example_lines


def test_colours_only_add_styles_to_the_same_page() -> None:
    import io
    import re

    from meilichat_cli.cli.help.root import print_root_help

    plain, coloured = io.StringIO(), io.StringIO()
    print_root_help(plain, color=False, width=72)
    print_root_help(coloured, color=True, width=72)
    assert "\x1b[" in coloured.getvalue() and "\x1b" not in plain.getvalue()
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured.getvalue()) == plain.getvalue()


@pytest.mark.parametrize("width", [40, 60, 100, 160])
def test_every_line_fits_the_width_and_the_panels_close(width: int) -> None:
    import io

    from meilichat_cli.cli.help.root import print_root_help

    page = io.StringIO()
    print_root_help(page, color=False, width=width)
    lines = page.getvalue().splitlines()
    assert max(len(line) for line in lines) <= width
    boxed = [line for line in lines if line.startswith(("│", "╭", "╰"))]
    assert boxed and all(len(line) == width for line in boxed)
