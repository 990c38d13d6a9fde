"""The reference tables (exit codes, environment, files, JSON shapes): one source, two
renderings (`meilichat help TOPIC` and docs/reference.md, which also lists every command and
option), and checks that the source matches the code.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meilichat_cli.cli.app import build_app
from meilichat_cli.cli.command_table import COMMANDS
from meilichat_cli.cli.help import render as reference_render
from meilichat_cli.cli.help import topics as reference
from meilichat_cli.errors import ExitCode, MeilichatError
from tests.inprocess import run_cli

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "meilichat_cli"
WRITE = "python -m meilichat_cli.cli.help.topics --write"


# --------------------------------------------------------------------------- docs/reference.md


def test_the_reference_file_is_current() -> None:
    path = REPO / "docs" / "reference.md"
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    assert not reference_render.stale(current), f"docs/reference.md is out of date; run: {WRITE}"


def test_the_reference_lists_every_command_and_option() -> None:
    document = reference_render.reference_document()
    for name in COMMANDS:
        assert f"### `meilichat {name}`" in document, name
    for words in (["profile", "add"], ["history", "export"], ["index", "chat-settings"]):
        assert f"#### `meilichat {' '.join(words)}`" in document, words
    for option in ("--timeout", "--no-save", "--master-key", "--conversation", "--key-command"):
        assert f"{option}" in document, option
    for topic in reference.topic_names():
        assert reference_render.markdown_block(topic) in document
    assert "[bold]" not in document


def test_the_module_entry_point_checks_and_writes(tmp_path: Path) -> None:
    target = tmp_path / "docs" / "reference.md"

    def entry(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "meilichat_cli.cli.help.topics", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60)

    check = entry("--check", str(target))
    assert check.returncode == 1 and WRITE in check.stderr
    assert entry("--write", str(target)).returncode == 0
    assert target.read_text(encoding="utf-8") == reference_render.reference_document()
    assert entry("--check", str(target)).returncode == 0
    target.write_text(target.read_text(encoding="utf-8").replace("| 130 |", "| 131 |"))
    assert entry("--check", str(target)).returncode == 1
    markdown = entry("--markdown")
    assert markdown.returncode == 0
    assert markdown.stdout == reference_render.markdown_section()
    assert entry("--bogus").returncode == 2


def test_markdown_tables_have_a_cell_per_column() -> None:
    for topic in reference.topic_names():
        columns = None
        for line in reference_render.markdown_block(topic).splitlines():
            if not line.startswith("|"):
                columns = None
                continue
            cells = len(re.findall(r"(?<!\\)\|", line)) - 1
            columns = cells if columns is None else columns
            assert cells == columns, (topic, line)


# --------------------------------------------------------------------------- `meilichat help`


@pytest.mark.parametrize("topic", reference.topic_names())
def test_help_topic_prints_the_reference(topic: str) -> None:
    result = CliRunner().invoke(build_app(), ["help", topic], prog_name="meilichat")
    assert result.exit_code == 0, result.output
    assert result.stdout == reference_render.text(topic)
    assert all(len(line) <= reference_render.WIDTH for line in result.stdout.splitlines())


def test_help_lists_the_topics_and_shows_command_help() -> None:
    runner = CliRunner()
    listing = runner.invoke(build_app(), ["help"], prog_name="meilichat")
    assert listing.stdout == reference_render.topics_text()
    for topic in reference.TOPICS:
        assert topic.name in listing.stdout
    via_help = runner.invoke(build_app(), ["help", "workspace", "set"], prog_name="meilichat")
    direct = runner.invoke(build_app(), ["workspace", "set", "--help"], prog_name="meilichat")
    assert via_help.exit_code == 0 and via_help.stdout == direct.stdout


def test_an_unknown_topic_is_a_usage_error(clean_env: dict[str, str]) -> None:
    result = run_cli(["help", "exit-code"], clean_env)
    assert result.returncode == 2
    assert "exit-codes, environment, files, json" in result.stderr
    assert result.stdout == ""


# --------------------------------------------------------------------------- the data vs the code


def test_every_exit_code_is_documented_once_in_order() -> None:
    codes = [row.code for row in reference.EXIT_CODES]
    assert codes == sorted(ExitCode)


def _error_classes() -> list[type[MeilichatError]]:
    # Every module that defines an error class; importing them makes the list complete.
    for module in ("meilichat_cli.history.database", "meilichat_cli.text.template"):
        importlib.import_module(module)
    found: list[type[MeilichatError]] = []
    pending = [MeilichatError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_every_error_kind_is_listed_under_its_exit_code() -> None:
    kinds = {row.code: set(row.kinds) for row in reference.EXIT_CODES}
    for cls in _error_classes():
        if cls.__module__.startswith("tests"):
            continue
        assert cls.kind in kinds[cls.exit_code], (cls.__name__, cls.kind, cls.exit_code)
    documented = {kind for row in reference.EXIT_CODES for kind in row.kinds}
    assert documented == {cls.kind for cls in _error_classes()}


def _variables_read_by_the_code() -> set[str]:
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if path.name.startswith("reference"):
            continue
        source = path.read_text(encoding="utf-8")
        names.update(re.findall(r"[\"'](MEILI(?:CHAT)?_[A-Z][A-Z_]*[A-Z])[\"']", source))
        names.update(re.findall(r"environ(?:\.get)?[\[(][\"']([A-Za-z_]+)[\"']", source))
        names.update(re.findall(r"\benv\.get\([\"']([A-Z][A-Z_]+)[\"']", source))
    return names


def test_every_variable_the_code_reads_is_documented() -> None:
    documented = {name.upper() for name in reference.env_names()}
    missing = {name.upper() for name in _variables_read_by_the_code()} - documented
    assert not missing, f"add {sorted(missing)} to meilichat_cli/cli/help/topics.py"


def test_every_documented_meilichat_variable_is_read_by_the_code() -> None:
    read = _variables_read_by_the_code()
    source = (REPO / "tests" / "hypothesis_profiles.py").read_text(encoding="utf-8")
    for name in reference.env_names():
        if name.startswith("MEILI"):
            assert name in read or name in source, f"{name} is documented but never read"


def test_files_are_the_ones_paths_knows() -> None:
    from meilichat_cli.local.paths import Paths

    where = Paths(Path("/c"), Path("/d"), Path("/s"))
    names = {row.name for row in reference.FILES}
    for path in (where.config_file, where.credentials_file, where.history_db, where.repl_history):
        assert path.name in names
