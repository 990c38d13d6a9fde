"""The README and docs/: short where they must be, runnable as written, linked, and the only
documents the code and tests refer to.

- The README stays a five-minute read: at most 300 lines, no dated benchmark figures.
- Its two set-up commands: CI runs the second exactly as written (`.ci/run`), and the first
  one's install path works in a brand-new virtual environment.
- Its tour runs as written against the stand-in server, with the URL and keys it prints.
- Every relative link in README.md and docs/*.md points to a file (and heading) that exists.
- No code or test refers to a design document outside the repository.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import MASTER_KEY

if TYPE_CHECKING:
    from meilichat_cli.standin import StandInServer

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
DOCS = REPO / "docs"


def readme() -> str:
    return README.read_text(encoding="utf-8")


def code_blocks(text: str, after_heading: str) -> list[str]:
    """The ```sh blocks of the section under `after_heading` (up to the next `## `)."""
    section = text.split(after_heading, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.DOTALL)


def commands(block: str) -> list[str]:
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def setup_commands() -> list[str]:
    (block,) = code_blocks(readme(), "## Set-up in two commands")
    found = commands(block)
    assert len(found) == 2, found
    return found


# --------------------------------------------------------------------------- the README


def test_the_readme_is_a_five_minute_read() -> None:
    text = readme()
    assert len(text.splitlines()) <= 300
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", text), "no dated figures in the README"
    for name in ("usage", "reference", "reliability", "protocol", "design", "performance"):
        assert f"(docs/{name}.md" in text, f"the README links docs/{name}.md"


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1] == setup_commands()[1]
    assert ci[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in ci


def test_the_setup_commands_install_into_a_virtual_environment() -> None:
    """PEP 668 systems refuse `pip install` into the system Python: both commands must create
    and use .venv, and never call a bare `pip` or `meilichat` before it exists."""
    for command in setup_commands():
        steps = [step.strip() for step in command.split("&&")]
        assert steps[0] == "python3 -m venv .venv", command
        for step in steps[1:]:
            assert step.startswith(".venv/bin/"), step


@pytest.mark.slow
def test_the_first_setup_command_installs_and_runs_the_demo(tmp_path: Path) -> None:
    """What set-up command 1 does, in a brand-new virtual environment outside the checkout:
    install the project from its path, then run `meilichat --version` and the demo."""
    steps = [step.strip() for step in setup_commands()[0].split("&&")]
    assert steps[1] == ".venv/bin/python -m pip install ."
    question = re.fullmatch(r'\.venv/bin/meilichat demo "(.+)"', steps[2])
    assert question is not None, steps[2]
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEILICHAT_", "MEILI_"))}
    env.pop("PYTHONPATH", None)
    env.update(
        {
            "MEILICHAT_CONFIG_DIR": str(tmp_path / "config"),
            "MEILICHAT_DATA_DIR": str(tmp_path / "data"),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }
    )

    def run(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(arg) for arg in args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=tmp_path,
        )
        assert result.returncode == 0, (args, result.stdout[-2000:], result.stderr[-2000:])
        return result

    run(sys.executable, "-m", "venv", venv)
    run(venv / "bin" / "python", "-m", "pip", "install", "-q", REPO, timeout=600)
    version = run(venv / "bin" / "meilichat", "--version")
    assert version.stdout.startswith("meilichat ")
    demo = run(venv / "bin" / "meilichat", "demo", question.group(1), "--plain", "--delay", "0")
    assert "Gravity" in demo.stdout
    assert "\x1b" not in demo.stdout
    # The installed command is the venv's own copy, not this checkout on sys.path.
    where = run(
        venv / "bin" / "python", "-c", "import meilichat_cli; print(meilichat_cli.__file__)"
    )
    assert str(venv) in where.stdout


def test_the_tour_runs_as_written(clean_env: dict[str, str], standin: StandInServer) -> None:
    """Every non-interactive line of the tour, in order, against a stand-in server: the URL
    and the keys are the ones `demo --serve` prints in place of those in the README."""
    assert standin.chat_key is not None
    blocks = code_blocks(readme(), "## A tour")
    serve, against_the_server = blocks[1], blocks[2]
    assert commands(serve)[0].startswith("meilichat demo --serve --port 7700")
    script = "\n".join(commands(blocks[0]) + commands(against_the_server))
    script = (
        script.replace("http://127.0.0.1:7700", standin.url)
        .replace("CHAT_KEY", standin.chat_key)
        .replace("ADMIN_KEY", MASTER_KEY)
    )
    env = {
        **clean_env,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), clean_env.get("PATH", "")]),
    }
    outputs = []
    for line in script.splitlines():
        words = line.split("#", 1)[0].split()
        if words[0] == "source" or words in (["meilichat", "demo"], ["meilichat", "chat"]):
            continue  # activating the venv, and the REPLs: they need a person at a terminal
        result = subprocess.run(
            ["bash", "-o", "pipefail", "-c", line],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, (line, result.stdout[-1500:], result.stderr[-1500:])
        outputs.append((line, result.stdout))
    ran = {line.split("#")[0].strip(): out for line, out in outputs}
    assert "Gravity" in ran['meilichat ask "which space movies do you have?"']
    assert "Gravity" in ran['meilichat ask -c "tell me more about the second one"']
    assert '"complete": true' in ran['meilichat ask --json "space movies after 2010"']
    assert "which space movies" in ran["meilichat history list"]
    assert standin.chat_key not in "".join(ran.values())


# --------------------------------------------------------------------------- docs/


def test_the_exit_code_recipe_reaches_its_case(clean_env: dict[str, str]) -> None:
    usage = (DOCS / "usage.md").read_text(encoding="utf-8")
    recipe = usage.split("# exit codes in scripts", 1)[1].split("\n\n", 1)[0]
    env = {
        **clean_env,
        "MEILICHAT_URL": "http://127.0.0.1:9",  # nothing listens: exit 6
        "MEILICHAT_API_KEY": "k",
        "MEILICHAT_WORKSPACE": "w",
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), clean_env.get("PATH", "")]),
    }
    result = subprocess.run(
        ["bash", "-c", 'question="space"\n' + recipe.split("\n", 1)[1]],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 6, result.stderr
    assert "server unreachable or slow; retry later" in result.stderr


def slug(heading: str) -> str:
    """The anchor GitHub gives a markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE):
        base = slug(heading)
        name, n = base, 0
        while name in found:
            n += 1
            name = f"{base}-{n}"
        found.add(name)
    return found


def documents() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("document", documents(), ids=lambda path: path.name)
def test_every_relative_link_points_to_a_file_and_heading_that_exist(document: Path) -> None:
    text = re.sub(r"```.*?```", "", document.read_text(encoding="utf-8"), flags=re.DOTALL)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        file_part, _, anchor = target.partition("#")
        linked = (document.parent / file_part).resolve() if file_part else document
        if not linked.exists() or (
            anchor and linked.suffix == ".md" and anchor not in anchors(linked)
        ):
            broken.append(target)
    assert broken == [], f"{document.name}: links to nothing"


def test_docs_has_an_index_that_links_every_document() -> None:
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    for path in DOCS.glob("*.md"):
        if path.name != "README.md":
            assert f"({path.name}" in index, (
                f"add a line linking {path.name} to docs/README.md (the index of docs/)"
            )


def test_code_and_tests_refer_only_to_documents_in_the_repo() -> None:
    """The design lives in docs/: no section signs pointing at notes kept elsewhere, no names
    of documents outside the repository."""
    outside = re.compile(r"§|meilisearch-chat-protocol|bad-inputs|protocol notes|design notes")
    offenders = []
    for path in [*REPO.joinpath("meilichat_cli").rglob("*.py"), *REPO.joinpath("tests").rglob("*")]:
        if path.suffix not in (".py", ".md", ".txt") or path == Path(__file__):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if outside.search(line) or re.search(r"(?<!docs/)\bdesign\.md", line):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == []


def test_every_docs_reference_in_code_and_tests_resolves() -> None:
    """`docs/protocol.md#order-of-checks` in a comment names a file and a heading that exist."""
    broken = []
    reference = re.compile(r"docs/([\w-]+\.md)(?:#([\w-]+))?")
    for path in [*REPO.joinpath("meilichat_cli").rglob("*.py"), *REPO.joinpath("tests").rglob("*")]:
        if path.suffix not in (".py", ".md") or path == Path(__file__):
            continue
        for name, anchor in reference.findall(path.read_text(encoding="utf-8")):
            target = DOCS / name
            if not target.exists() or (anchor and anchor not in anchors(target)):
                broken.append(f"{path.relative_to(REPO)}: docs/{name}#{anchor}")
    assert broken == []
