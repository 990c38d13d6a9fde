"""Start-up guard: `--version`, `--help` and shell completion must not load the heavy libraries,
and `meilichat chat` must reach its prompt, and `ask` its request, with only what they need.

Each check runs in a fresh interpreter and reads `sys.modules` at the end: a module imported
at the top level of anything these paths load (cli.py, commands/*, settings, config, paths…)
shows up there whatever the timing. httpx, prompt_toolkit, pydantic and sqlite3 are never
needed to print a version, a help page or completion candidates, nor is tomlkit (config.toml
is only *written* with it; reading uses tomllib, so `ask` does not load it); rich and the markdown
stack are needed only by typer's help formatter, so building the command tree, `--version`
and completion must not load them either.

`ask` and `chat` are parsed without typer (`cli/quick.py`): a plain `ask` loads neither typer
nor click, nor any command module. `chat`'s prompt is shown before the slash commands, the
history store, the protocol modules, httpx and rich are imported (the REPL imports those in
the background once the prompt is on screen): the chat probe runs the real entry point on a
pseudo-terminal and reads `sys.modules` when the prompt is asked for.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from meilichat_cli import __version__
from tests.conftest import MASTER_KEY

if TYPE_CHECKING:
    from meilichat_cli.standin import StandInServer

# Never needed before a command really runs.
HEAVY = ("httpx", "httpcore", "prompt_toolkit", "pydantic", "sqlite3", "tomlkit")
# Needed by typer's rich help pages (typer.rich_utils imports rich.markdown), nothing else.
RENDERING = ("rich", "markdown_it", "pygments")

# Records every dataclass *class* created from here on in `created` (module.qualname). Creating
# one costs most of a millisecond (docs/performance.md): `ask` before its request and `chat`
# before its prompt must create none of meilichat's. The canary proves the recording works.
RECORD_DATACLASSES = r"""
import dataclasses
created = []
_process_class = dataclasses._process_class

def _recording(cls, *args, **kwargs):
    created.append(cls.__module__ + "." + cls.__qualname__)
    return _process_class(cls, *args, **kwargs)

dataclasses._process_class = _recording

@dataclasses.dataclass
class Canary:
    pass

assert created == [__name__ + ".Canary"], created
created.clear()
"""


def ours(created: object) -> list[str]:
    """The dataclasses of meilichat among those a probe saw created."""
    assert isinstance(created, list)
    return [name for name in created if name.startswith("meilichat_cli.")]


# Prints the loaded modules (as JSON) after running the snippet in MODE.
PROBE = r"""
import json, sys
@@RECORD_DATACLASSES@@
mode = sys.argv[1]
result = {}
if mode == "tree":
    # What --help and completion need from meilichat: every command built, nothing rendered.
    import typer.main
    from meilichat_cli.cli.app import build_app

    def walk(command, path, ctx):
        paths = [path] if path else []
        names = command.list_commands(ctx) if hasattr(command, "list_commands") else []
        for name in names:
            child = command.get_command(ctx, name)
            paths += walk(child, [*path, name], ctx)
        return paths

    root = typer.main.get_command(build_app())
    ctx = root.make_context("meilichat", ["--debug"], resilient_parsing=True)
    result["paths"] = walk(root, [], ctx)
elif mode == "help":
    # Every help page, rendered the way a terminal user sees it.
    import contextlib, io, os
    from meilichat_cli.cli.app import execute
    from meilichat_cli.local.context import RunContext

    pages = {}
    for path in json.loads(sys.argv[2]):
        out = io.StringIO()
        context = RunContext(
            stdin=io.StringIO(), stdout=out, stderr=out, environ=dict(os.environ),
            stdin_isatty=False, stdout_isatty=False, stderr_isatty=False,
        )
        with contextlib.redirect_stdout(out):
            code = execute([*path, "--help"], context)
        pages[" ".join(path) or "(root)"] = [code, out.getvalue()[:200]]
    result["pages"] = pages
else:  # run the real entry point with these arguments
    import contextlib, io
    from meilichat_cli.__main__ import main

    # The dataclasses created before the first connection is opened (the request).
    result["dataclasses_at_request"] = None

    def at_the_request(event, args):
        if event == "socket.connect" and result["dataclasses_at_request"] is None:
            result["dataclasses_at_request"] = list(created)

    sys.addaudithook(at_the_request)

    sys.argv = ["meilichat", *json.loads(sys.argv[2])]
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main()
    result["stdout"] = out.getvalue()
result["modules"] = sorted(name for name, module in sys.modules.items() if module is not None)
sys.__stdout__.write("\n@@PROBE@@" + json.dumps(result))
""".replace("@@RECORD_DATACLASSES@@", RECORD_DATACLASSES)


def probe(
    mode: str, argument: object = None, env: dict[str, str] | None = None
) -> dict[str, object]:
    args = [sys.executable, "-c", PROBE, mode]
    if argument is not None:
        args.append(json.dumps(argument))
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env, check=False)
    assert "@@PROBE@@" in done.stdout, done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout.rsplit("@@PROBE@@", 1)[1])
    return result


def loaded(result: dict[str, object], families: tuple[str, ...]) -> list[str]:
    """Which of these top-level packages the probe had imported."""
    modules = result["modules"]
    assert isinstance(modules, list)
    return sorted({m.split(".")[0] for m in modules} & set(families))


@pytest.fixture(scope="module")
def command_paths() -> list[list[str]]:
    result = probe("tree")
    assert loaded(result, HEAVY + RENDERING) == []
    paths = result["paths"]
    assert isinstance(paths, list)
    return paths


def test_building_every_command_loads_nothing_heavy(command_paths: list[list[str]]) -> None:
    # The walk must really reach the leaves, or the check above proves nothing.
    joined = {" ".join(path) for path in command_paths}
    assert {"ask", "chat", "demo", "doctor", "profile add", "key set", "history list"} <= joined
    assert len(command_paths) > 20


def test_version_loads_nothing_heavy_not_even_typer() -> None:
    result = probe("run", ["--version"])
    assert result["stdout"] == f"meilichat {__version__}\n"
    assert loaded(result, (*HEAVY, *RENDERING, "typer")) == []


@pytest.mark.parametrize("args", [["--help"], ["-h"], []])
def test_root_help_is_printed_from_the_command_table_alone(args: list[str]) -> None:
    # No typer, no command module, not even rich: the page is drawn from the table by hand.
    result = probe("run", args)
    assert "Commands" in str(result["stdout"]) and "ask" in str(result["stdout"])
    assert loaded(result, (*HEAVY, *RENDERING, "typer")) == []
    modules = result["modules"]
    assert isinstance(modules, list)
    assert not [name for name in modules if name.startswith("meilichat_cli.cli.commands.")]


def test_every_help_page_loads_only_the_help_renderer(command_paths: list[list[str]]) -> None:
    result = probe("help", [[], *command_paths])
    pages = result["pages"]
    assert isinstance(pages, dict) and len(pages) == len(command_paths) + 1
    for name, (exit_code, text) in pages.items():
        assert exit_code == 0 and "Usage" in text, (name, text)
    assert loaded(result, HEAVY) == []


@pytest.mark.parametrize(
    "line", ["meilichat pro", "meilichat profile ", "meilichat ask --", "meilichat history li"]
)
def test_completion_loads_nothing_heavy(line: str, tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MEILICHAT_")},
        "_MEILICHAT_COMPLETE": "complete_bash",
        "_MEILICHAT_COMPLETE_LINE": line,
        "MEILICHAT_CONFIG_DIR": str(tmp_path),
        "MEILICHAT_DATA_DIR": str(tmp_path),
    }
    result = probe("run", [], env=env)
    assert str(result["stdout"]).strip(), "no completion candidates"
    assert loaded(result, HEAVY + RENDERING) == []


def test_ask_with_a_profile_reads_config_without_the_toml_writer(
    standin: StandInServer, clean_env: dict[str, str], tmp_path: Path
) -> None:
    config_dir = Path(clean_env["MEILICHAT_CONFIG_DIR"])
    config_dir.mkdir(mode=0o700)
    (config_dir / "config.toml").write_text(
        f'# mine\ndefault_profile = "demo"\n\n[profiles.demo]\nurl = "{standin.url}"\n'
        f'workspace = "{standin.workspace}"\n'
    )
    env = {**clean_env, "MEILICHAT_API_KEY": standin.chat_key or MASTER_KEY}
    result = probe("run", ["ask", "--no-save", "which space movies?"], env=env)
    assert str(result["stdout"]).strip(), "ask printed no answer"
    assert loaded(result, ("tomlkit",)) == []


def test_ask_without_saving_never_loads_the_history_store(
    server_env: dict[str, str],
) -> None:
    # With history off, nothing is saved: sqlite3 and the store would be start-up cost alone.
    result = probe("run", ["ask", "--no-save", "which space movies?"], env=server_env)
    assert str(result["stdout"]).strip(), "ask printed no answer"
    assert loaded(result, ("sqlite3",)) == []
    saved = probe("run", ["ask", "which space movies?"], env=server_env)
    assert loaded(saved, ("sqlite3",)) == ["sqlite3"]  # the probe does see the store when used


# Runs the entry point with the arguments in argv[1] on a terminal; when the REPL asks
# prompt_toolkit for its first line, records the loaded modules and answers Ctrl-D.
CHAT_PROBE = r"""
import importlib.abc, importlib.machinery, json, sys
seen = {}
@@RECORD_DATACLASSES@@

class AtThePrompt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "prompt_toolkit.shortcuts.prompt":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)

            def prompt(self, *args, **kwargs):
                seen["modules"] = sorted(n for n, m in sys.modules.items() if m is not None)
                seen["dataclasses"] = list(created)
                raise EOFError

            module.PromptSession.prompt = prompt

        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, AtThePrompt())
sys.argv = ["meilichat", *json.loads(sys.argv[1])]
from meilichat_cli.__main__ import main
try:
    main()
finally:
    sys.__stdout__.write("\n@@PROBE@@" + json.dumps(seen) + "\n")
    sys.__stdout__.flush()
""".replace("@@RECORD_DATACLASSES@@", RECORD_DATACLASSES)

# What the REPL's first prompt must not wait for (and the quick parse must not need).
NOT_BEFORE_THE_PROMPT = (
    "meilichat_cli.cli.root",
    "meilichat_cli.cli.commands",
    "meilichat_cli.cli.options",
    "meilichat_cli.cli.help",
    "meilichat_cli.repl.slash_commands",
    "meilichat_cli.repl.transcript",
    "meilichat_cli.chat.ask",
    "meilichat_cli.chat.recorder",
    "meilichat_cli.chat.turn",
    "meilichat_cli.history",
    "meilichat_cli.protocol",
    "meilichat_cli.api.client",
    "meilichat_cli.ui.output",
    "meilichat_cli.ui.stream",
    "meilichat_cli.ui.editor",
    "meilichat_cli.local.credentials",
)


def chat_probe(args: list[str], env: dict[str, str]) -> tuple[int, list[str] | None]:
    """Exit status and the modules loaded when `meilichat ARGS` first asked for a line (None
    when it never did)."""
    code, seen = chat_probe_seen(args, env)
    return code, seen.get("modules")


def chat_probe_seen(args: list[str], env: dict[str, str]) -> tuple[int, dict[str, list[str]]]:
    """Exit status and what the probe saw when `meilichat ARGS` first asked for a line:
    `modules` loaded and `dataclasses` created (empty when it never asked)."""
    import pexpect

    child = pexpect.spawn(
        sys.executable,
        ["-c", CHAT_PROBE, json.dumps(args)],
        env=env,
        encoding="utf-8",
        timeout=60,
        dimensions=(40, 100),
    )
    child.expect(pexpect.EOF)
    child.close()
    output = str(child.before)
    assert "@@PROBE@@" in output, output[-2000:]
    seen: dict[str, list[str]] = json.loads(output.rsplit("@@PROBE@@", 1)[1].strip())
    return int(child.exitstatus or 0), seen


def repl_env(clean_env: dict[str, str], **more: str) -> dict[str, str]:
    """A terminal and a server that need never answer: the probes stop at the first prompt."""
    return {
        **clean_env,
        "MEILICHAT_URL": "http://127.0.0.1:9",
        "MEILICHAT_WORKSPACE": "movies",
        "TERM": "xterm-256color",
        **more,
    }


def test_chat_shows_its_prompt_without_typer_history_or_the_network_stack(
    clean_env: dict[str, str],
) -> None:
    env = repl_env(clean_env, MEILICHAT_API_KEY="a-key-from-the-environment")
    code, modules = chat_probe(["chat", "-m", "gpt-4o-mini"], env)
    assert code == 0 and modules is not None
    families = {name.split(".")[0] for name in modules}
    heavy = ("httpx", "httpcore", "pydantic", "sqlite3", "tomlkit", "typer", "click")
    assert sorted(families & {*heavy, *RENDERING}) == []
    assert "tomllib" not in families  # no config file to read
    early = [m for m in modules if m.startswith(NOT_BEFORE_THE_PROMPT)]
    assert early == []
    assert "prompt_toolkit" in families and "meilichat_cli.repl.loop" in modules


def test_chat_creates_no_dataclass_of_ours_before_its_prompt(
    clean_env: dict[str, str],
) -> None:
    env = repl_env(clean_env, MEILICHAT_API_KEY="a-key-from-the-environment")
    code, seen = chat_probe_seen(["chat", "-m", "gpt-4o-mini", "-s", "be brief"], env)
    assert code == 0 and "modules" in seen
    assert ours(seen["dataclasses"]) == []


def test_a_chat_command_line_the_quick_parser_declines_goes_through_typer(
    clean_env: dict[str, str],
) -> None:
    env = repl_env(clean_env)
    # A repeated option is left to typer (click keeps the last one): the same REPL opens.
    code, modules = chat_probe(["chat", "-m", "a", "-m", "b"], env)
    assert code == 0 and modules is not None
    assert "typer" in {name.split(".")[0] for name in modules}
    assert "meilichat_cli.repl.loop" in modules
    # A mistake gets typer's words and exit 2, and no prompt.
    code, modules = chat_probe(["chat", "--modle", "a"], env)
    assert code == 2 and modules is None


def test_ask_from_the_environment_loads_only_what_its_request_needs(
    server_env: dict[str, str],
) -> None:
    # No config file, a key from the environment, nothing saved: no TOML parser, no secrets
    # (random, hashlib, hmac), no credentials module, no other command and no option group
    # of other commands.
    result = probe("run", ["ask", "--no-save", "which space movies?"], env=server_env)
    assert str(result["stdout"]).strip(), "ask printed no answer"
    assert loaded(result, ("tomllib", "tomlkit", "secrets", "sqlite3")) == []
    # Nor the async side of httpx and httpcore (`NOT_NEEDED` in __main__.py), nor httpx's CLI.
    assert loaded(result, ("anyio", "trio", "sniffio")) == []
    modules = result["modules"]
    assert isinstance(modules, list)
    assert "httpx._main" not in modules
    cli_modules = [name for name in modules if name.startswith("meilichat_cli.cli.")]
    # Parsed without typer (cli/quick.py): no command module at all.
    assert [name for name in cli_modules if name.startswith("meilichat_cli.cli.commands.")] == []
    assert "meilichat_cli.cli.quick" in modules
    assert not {
        "meilichat_cli.cli.admin_options",
        "meilichat_cli.cli.replay_options",
        "meilichat_cli.local.credentials",
    } & set(modules)


@pytest.mark.parametrize(
    "args",
    [
        ["ask", "--no-save", "which space movies?"],
        ["ask", "--json", "-m", "gpt-4o-mini", "which space movies?"],
        ["ask", "--no-save", "--", "-v which space movies?"],
    ],
)
def test_ask_creates_no_dataclass_of_ours_before_its_request(
    args: list[str], server_env: dict[str, str]
) -> None:
    seen = probe("run", args, env=server_env)
    assert str(seen["stdout"]).strip(), "ask printed no answer"
    assert seen["dataclasses_at_request"] is not None, "ask never connected"
    assert ours(seen["dataclasses_at_request"]) == []


@pytest.mark.parametrize(
    "args",
    [
        ["ask", "--no-save", "which space movies?"],
        ["--debug", "ask", "--plain", "--no-save", "-m", "gpt-4o-mini", "which space movies?"],
        ["ask", "--json", "--no-save", "--timeout", "30", "which", "space", "movies?"],
        ["ask", "--no-save", "--", "-v is a flag? which space movies?"],
    ],
)
def test_a_plain_ask_runs_without_typer(args: list[str], server_env: dict[str, str]) -> None:
    # The entry point parses a plain `ask` line itself (cli/quick.py): typer and its
    # click are never imported, nor the option groups, nor the history store without saving.
    result = probe("run", args, env=server_env)
    assert str(result["stdout"]).strip(), "ask printed no answer"
    assert loaded(result, ("typer", "click", "shellingham", "sqlite3")) == []
    modules = result["modules"]
    assert isinstance(modules, list)
    assert not [
        m
        for m in modules
        if m.startswith(
            ("meilichat_cli.cli.root", "meilichat_cli.cli.options", "meilichat_cli.cli.commands")
        )
    ]


def test_an_ask_the_quick_parser_declines_still_runs_through_typer(
    server_env: dict[str, str],
) -> None:
    # A repeated option is left to typer: the same question, asked through the app.
    args = ["ask", "--no-save", "--no-save", "which space movies?"]
    result = probe("run", args, env=server_env)
    assert str(result["stdout"]).strip(), "ask printed no answer"
    assert loaded(result, ("typer",)) == ["typer"]
    assert loaded(result, ("sqlite3",)) == []
    modules = result["modules"]
    assert isinstance(modules, list)
    assert "meilichat_cli.cli.commands.ask" in modules
