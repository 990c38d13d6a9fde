"""Child programs meilichat starts see the run's environment, not the process's: in process
(tests, `demo`) the two differ, and the environment VISUAL or EDITOR came from is the one the
editor must get."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from meilichat_cli.ui.editor import edit_text


def test_the_editor_gets_the_run_environment(tmp_path: Path) -> None:
    script = tmp_path / "editor.py"
    script.write_text(
        "import os, sys\nopen(sys.argv[1], 'w').write(os.environ['MEILICHAT_TEST_TEXT'])\n",
        encoding="utf-8",
    )
    assert "MEILICHAT_TEST_TEXT" not in os.environ
    environ = {**os.environ, "VISUAL": f"{sys.executable} {script}", "MEILICHAT_TEST_TEXT": "ok"}
    assert edit_text("before", environ) == "ok"
