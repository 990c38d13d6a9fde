"""The package layout is the architecture: imports point down, and each module says its job.

The layers and the forbidden imports are declared once, in pyproject.toml
(`[tool.importlinter]`); this test runs import-linter over them so an upward import fails CI.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "meilichat_cli"
PYPROJECT = PACKAGE.parent / "pyproject.toml"


def test_imports_respect_the_declared_layers() -> None:
    from importlinter.cli import lint_imports

    assert lint_imports(config_filename=str(PYPROJECT)) == 0, "an import points the wrong way"


@pytest.mark.parametrize(
    "module", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_every_module_says_what_it_does_and_what_it_imports(module: Path) -> None:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    if not tree.body and module.name == "__init__.py":
        return
    docstring = ast.get_docstring(tree)
    assert docstring, f"{module} has no module docstring"
    # The second half of a module's contract: what it may or must not import.
    assert re.search(
        r"\bimport(s|ed|ing)?\b|\bstdlib\b|standard library", docstring, re.IGNORECASE
    ), f"{module}'s docstring does not say what it imports"


def test_no_catch_all_helper_modules() -> None:
    vague = {"utils.py", "helpers.py", "misc.py", "common.py"}
    assert not [p for p in PACKAGE.rglob("*.py") if p.name in vague]
