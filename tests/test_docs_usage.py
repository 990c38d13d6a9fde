"""The examples of docs/usage.md, docs/history.md and docs/explain.md run as written.

Each test takes one code block from its document and runs its meilichat lines, in order, in
this process (`tests/inprocess.invoke`) against the stand-in server, in a private directory:
`echo …`/`printf …`/`cat FILE` piped into meilichat become its stdin, `> FILE` its stdout
written to FILE, `export NAME=value` and `$NAME` the environment. Only the server's URL is put
in place of the documents' `http://127.0.0.1:7700`, `…` in place of the master key, and a
saved conversation's id in place of the documents' `3f2a`. A hidden prompt is answered on
stdin, as a person at a terminal would answer it.

tests/test_docs_examples.py checks that every command line of the documents parses; the
README's tour is run by tests/test_docs.py.
"""

from __future__ import annotations

import json
import re
import shlex
import string
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import MASTER_KEY
from tests.inprocess import Outcome, invoke
from tests.test_docs_examples import meilichat_words

if TYPE_CHECKING:
    from meilichat_cli.standin import StandInServer

DOCS = Path(__file__).resolve().parent.parent / "docs"
DOC_URL = "http://127.0.0.1:7700"

# One shell line of a document: what is piped in, the meilichat command, where stdout goes.
_LINE = re.compile(
    r"""(?:(?P<feed>echo|printf\ '%s\\n'|cat)\ (?P<feed_arg>.+?)\ \|\ )?
        (?P<command>meilichat\ .+?)
        (?:\ >\ (?P<out>\S+))?
        \s*(?:\#.*)?$""",
    re.VERBOSE,
)


def block(document: str, heading: str, starting: str) -> list[str]:
    """The lines of the first ```sh block under `heading` (up to the next heading of its
    level) whose first line starts with `starting`."""
    text = (DOCS / document).read_text(encoding="utf-8")
    level = heading.split(" ", 1)[0]
    section = text.split(heading + "\n", 1)[1].split(f"\n{level} ", 1)[0]
    for found in re.findall(r"```sh\n(.*?)```", section, re.DOTALL):
        if found.startswith(starting):
            return [line for line in found.splitlines() if line.strip()]
    raise AssertionError(f"no ```sh block starting {starting!r} under {heading!r}")


class Shell:
    """Runs document lines in process, keeping the environment `export` changes."""

    def __init__(self, env: Mapping[str, str], directory: Path, standin: StandInServer) -> None:
        self.env = dict(env)
        self.directory = directory
        self.standin = standin
        self.conversation: str | None = None  # what the documents' `3f2a` stands for

    def expand(self, text: str) -> str:
        text = text.replace(DOC_URL, self.standin.url)
        if self.conversation is not None:
            text = re.sub(r"\b3f2a\b", self.conversation, text)
        return string.Template(text).safe_substitute(self.env)

    def run(self, line: str, *, answers: str | None = None, expect: int = 0) -> Outcome:
        """Run one line; `answers` are typed at a terminal's prompts (stdin is then one)."""
        export = re.fullmatch(r"export (\w+)=(\S+)\s*(?:#.*)?", line)
        if export:
            value = export.group(2)
            self.env[export.group(1)] = MASTER_KEY if value == "…" else value
            return invoke(["--version"], env=self.env)
        match = _LINE.fullmatch(line.strip())
        assert match is not None, f"not a line this runner knows: {line}"
        (words,) = list(meilichat_words(self.expand(match.group("command"))))
        stdin = answers
        if match.group("feed") == "cat":
            stdin = (self.directory / match.group("feed_arg")).read_text(encoding="utf-8")
        elif match.group("feed"):
            (text,) = shlex.split(self.expand(match.group("feed_arg")))
            stdin = text + "\n"
        result = invoke(list(words), env=self.env, input=stdin, stdin_isatty=answers is not None)
        assert result.exit_code == expect, (line, result.stdout[-1500:], result.stderr[-1500:])
        if match.group("out"):
            (self.directory / match.group("out")).write_text(result.stdout, encoding="utf-8")
        return result

    def latest_conversation(self) -> str:
        listing = json.loads(invoke(["history", "list", "--json"], env=self.env).stdout)
        prefix: str = listing[0]["id"][:8]
        return prefix


@pytest.fixture
def shell(
    clean_env: dict[str, str],
    standin: StandInServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Shell:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # the documents' relative file names: answers.jsonl, prompt.md
    return Shell(clean_env, work, standin)


def test_profiles_and_keys_run_as_written(shell: Shell, standin: StandInServer) -> None:
    """usage.md, "Profiles and keys": a profile, its key through a pipe, a question. The
    example's server has a `movies` workspace: the stand-in gets one first."""
    assert standin.chat_key is not None
    made = invoke(
        ["workspace", "set", "movies", "--url", standin.url, "--provider-key-stdin"],
        env={**shell.env, "MEILI_MASTER_KEY": MASTER_KEY},
        input="sk-provider\n",
    )
    assert made.exit_code == 0, made.stderr
    shell.env["MEILI_CHAT_KEY"] = standin.chat_key
    lines = block("usage.md", "## Profiles and keys", "meilichat profile add")
    assert len(lines) == 3, lines
    for line in lines[:-1]:
        shell.run(line)
    answer = shell.run(lines[-1])
    assert "Gravity" in answer.stdout
    assert standin.chat_key not in answer.output


def test_setting_up_a_workspace_runs_as_written(shell: Shell, standin: StandInServer) -> None:
    """usage.md, "Setting up a workspace": doctor finds the missing workspace, --fix creates
    it after asking, then the workspace, key, index and a question, on a new profile."""
    lines = block("usage.md", "## Setting up a workspace", "export MEILI_MASTER_KEY")
    (Path.cwd() / "prompt.md").write_text("Answer from the search results only.\n")
    shell.run(lines[0])
    missing = shell.run(lines[1], expect=3)  # the first failure: no chat key yet
    assert "no API key for this connection" in missing.stdout
    assert "workspace 'support' does not exist" in missing.stdout
    # The provider key, then yes. No profile holds a key for this server yet, so the key
    # check still fails after the fix (exit 3): the key is the `key create --save` line's.
    fixed = shell.run(lines[2], answers="sk-provider\ny\n", expect=3)
    assert "create workspace 'support'" in fixed.stderr
    assert "[ok  ] workspace      workspace 'support' uses openAi" in fixed.stdout
    updated = shell.run(lines[3], answers="sk-provider-2\n")
    assert "prompts.system set" in updated.output
    shell.run(lines[4])
    preview = shell.run(lines[5])
    assert "--- document 1" in preview.stdout
    answer = shell.run(lines[6])
    assert "Gravity" in answer.stdout
    assert len(lines) == 7, lines


def test_scripts_and_history_examples_run_as_written(
    shell: Shell, server_env: dict[str, str]
) -> None:
    """usage.md, "Questions as JSON" and the batch lines (but `--demo`, which starts a
    server of its own); then history.md's rename and exports on the conversation saved."""
    shell.env = server_env
    (asked,) = block("usage.md", "### Questions as JSON", "echo")
    result = json.loads(shell.run(asked).stdout)
    assert result["complete"] is True and "Gravity" in result["answer"]

    batch = block("usage.md", "### Batches: `meilichat batch`", "meilichat batch --demo")
    for line in batch[1:]:  # --demo starts a demo server of its own: tests/test_batch.py
        shell.run(line)
    answers = (shell.directory / "answers.jsonl").read_text(encoding="utf-8").splitlines()
    questions = (shell.directory / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(answers) == len(questions) > 0
    assert all(json.loads(line)["complete"] for line in answers)

    shell.conversation = shell.latest_conversation()
    (rename,) = block("history.md", "## Titles", "meilichat history rename")
    shell.run(rename)
    exports = block("history.md", "## Exporting to a file", "meilichat history export")
    for line in exports:
        shell.run(line)
    markdown = (shell.directory / "conversation.md").read_text(encoding="utf-8")
    assert markdown.startswith("# SSO plans compared")
    assert json.loads((shell.directory / "conversation.json").read_text())["id"].startswith(
        shell.conversation
    )
    shell.run(exports[0], expect=2)  # the file exists: refused without --force


def test_the_evaluation_gate_example_fails_short_of_its_threshold(
    shell: Shell, server_env: dict[str, str]
) -> None:
    """explain.md's gate example on the bundled question set: one question is meant to miss,
    so --min-hit-rate 1.0 fails the run (exit 5) after every line is written."""
    shell.env = server_env
    shell.run("meilichat batch --print-example > questions.jsonl")
    (gate,) = block("explain.md", "## Evaluation gates in `batch`", "meilichat batch")
    result = shell.run(gate, expect=5)
    assert "is below --min-hit-rate 1" in result.stderr
    written = (shell.directory / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(written) == len(
        (shell.directory / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    )
