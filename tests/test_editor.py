"""The one way meilichat starts the user's editor (`ui/editor.py`), for the REPL and for
`workspace edit` alike: $VISUAL, then $EDITOR, then editor/nano/vi; one that cannot start is
skipped; a non-zero exit means cancel."""

from __future__ import annotations

import sys
from pathlib import Path

from meilichat_cli.ui.editor import edit_text, editor_commands, editor_name, open_in_editor


def _script(tmp_path: Path, body: str) -> str:
    script = tmp_path / "fake_editor.py"
    script.write_text(f"import sys\npath = sys.argv[1]\n{body}\n", encoding="utf-8")
    return f"{sys.executable} {script}"


def test_visual_comes_before_editor_and_blank_values_are_skipped() -> None:
    commands = editor_commands({"VISUAL": "code --wait", "EDITOR": "nano"})
    assert commands[:2] == ["code --wait", "nano"]
    assert editor_commands({"VISUAL": "  ", "EDITOR": "ed"})[0] == "ed"
    assert editor_name({"VISUAL": "code --wait"}) == "code --wait"


def test_an_editor_that_cannot_start_is_skipped_for_the_next(tmp_path: Path) -> None:
    editor = _script(tmp_path, "open(path, 'a').write('more')")
    target = tmp_path / "file.txt"
    target.write_text("text ", encoding="utf-8")
    run = open_in_editor(str(target), {"VISUAL": "/nonexistent/editor", "EDITOR": editor})
    assert run is not None and (run.command, run.returncode) == (editor, 0)
    assert target.read_text(encoding="utf-8") == "text more"


def test_edit_text_returns_the_edit_or_none_when_the_editor_cancels(tmp_path: Path) -> None:
    appended = _script(tmp_path, "open(path, 'a').write('and more\\n')")
    assert edit_text("question", {"EDITOR": appended}) == "question\nand more"
    cancelled = _script(tmp_path, "sys.exit(1)")
    assert edit_text("question", {"EDITOR": cancelled}) is None
