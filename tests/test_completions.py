"""Shell completion: the generated scripts, the protocol they speak, the values it offers, and
TAB pressed in real bash, zsh and fish.

The scripts in completions/ are generated; `test_generated_script_is_current` fails with the
command that regenerates them. The protocol is exercised in-process (typer's CliRunner, the
real root app) because each case would otherwise cost a whole interpreter start; the real
entry point is run as a subprocess for the import guard, and by the real shells.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from meilichat_cli.cli.app import build_app
from meilichat_cli.cli.completion import values as completion_values
from meilichat_cli.cli.completion.scripts import SHELLS, script_for
from meilichat_cli.history.store import HistoryStore
from meilichat_cli.local.config import load_config
from meilichat_cli.local.context import RunContext
from meilichat_cli.local.credentials import CredentialsFile
from meilichat_cli.local.paths import Paths
from meilichat_cli.local.profiles import ProfileFields, add_profile
from meilichat_cli.protocol.conversation import Turn
from meilichat_cli.protocol.events import Done, Finished, SearchProgress, SearchSources, TextDelta
from tests.conftest import MASTER_KEY, run_meilichat
from tests.inprocess import run_cli

REPO = Path(__file__).resolve().parent.parent
SCRIPT_FILES = {
    "bash": "meilichat.bash",
    "zsh": "_meilichat",
    "fish": "meilichat.fish",
    "powershell": "meilichat.ps1",
}
REGENERATE = " && ".join(
    f"meilichat completions {shell} > completions/{name}" for shell, name in SCRIPT_FILES.items()
)
BASH_WORDBREAKS = " \t\n\"'><=;|&(:"
HOSTILE = "\x1b]52;c;cHduZWQ=\x07\x1b[2J\x9b31m"


def _ignore(_message: str) -> None:
    pass


# --------------------------------------------------------------------------- helpers


def complete(shell: str, line: str, env: dict[str, str]) -> str:
    """What `meilichat` prints when the `shell` script asks it to complete `line`."""
    settings: dict[str, str | None] = {
        name: None for name in os.environ if name.startswith(("MEILICHAT_", "MEILI_"))
    }
    settings.update(env)
    settings["_MEILICHAT_COMPLETE"] = f"complete_{shell}"
    settings["_MEILICHAT_COMPLETE_LINE"] = line
    settings["_MEILICHAT_COMPLETE_WORDBREAKS"] = BASH_WORDBREAKS
    # Shell completion is decided by click from the process environment, which CliRunner
    # patches in place; the run context reads the same live mapping.
    context = RunContext.from_process()
    result = CliRunner().invoke(build_app(), [], env=settings, prog_name="meilichat", obj=context)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.stdout


def offered(line: str, env: dict[str, str]) -> list[str]:
    """The plain values bash would be offered for `line`."""
    lines = complete("bash", line, env).splitlines()
    return [entry.split(",", 1)[1] for entry in lines if entry.startswith("plain,")]


def paths(env: dict[str, str]) -> Paths:
    return Paths.from_env(env)


def make_profile(
    env: dict[str, str], name: str, url: str, *, default: bool = False, **fields: Any
) -> None:
    add_profile(
        paths(env), name, ProfileFields(url=url, **fields), make_default=default, warn=_ignore
    )


def save_turn(
    env: dict[str, str],
    title: str,
    *,
    model: str = "gpt-4o-mini",
    workspace: str = "movies",
    index_uid: str = "movies",
) -> str:
    """One saved conversation of one searched turn; returns its id."""
    turn = Turn(prompt_messages=[{"role": "user", "content": title}])
    for event in (
        SearchProgress("call_1", index_uid, "space", "", "{}"),
        SearchSources("call_1", [{"id": 1, "title": "Alien"}]),
        TextDelta("Alien."),
        Finished("stop"),
        Done(),
    ):
        turn.feed(event)
    turn.close()
    with HistoryStore.open(paths(env).history_db) as store:
        conversation = store.new_conversation(
            title=title,
            profile=None,
            server_url="http://127.0.0.1:7700",
            workspace=workspace,
            model=model,
        )
        store.save_turn(
            conversation,
            turn,
            question=title,
            workspace=workspace,
            model=model,
            timings={"first_search_ms": 1.0, "first_token_ms": 2.0, "total_ms": 3.0},
        )
    return conversation


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A loopback port that accepts connections and never answers (a hung server)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


# --------------------------------------------------------------------------- the scripts


@pytest.mark.parametrize("shell", sorted(SCRIPT_FILES))
def test_generated_script_is_current(shell: str) -> None:
    path = REPO / "completions" / SCRIPT_FILES[shell]
    result = CliRunner().invoke(build_app(), ["completions", shell], prog_name="meilichat")
    assert result.exit_code == 0, result.output
    assert result.stdout == script_for(shell)
    current = path.read_text(encoding="utf-8") if path.exists() else None
    assert current == result.stdout, (
        f"{path.relative_to(REPO)} is stale; regenerate every script with:\n  {REGENERATE}"
    )


def test_the_real_entry_point_prints_the_same_script(clean_env: dict[str, str]) -> None:
    result = run_meilichat(["completions", "bash"], clean_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (REPO / "completions" / "meilichat.bash").read_text(encoding="utf-8")
    assert result.stderr == ""


def test_scripts_hold_no_path_and_call_meilichat_back_through_the_protocol() -> None:
    for shell in SHELLS:
        script = script_for(shell)
        assert "_MEILICHAT_COMPLETE=" in script or "_MEILICHAT_COMPLETE " in script, shell
        assert f"complete_{shell}" in script
        assert "/home/" not in script and "/root" not in script and sys.prefix not in script


def test_an_unknown_shell_is_a_usage_error_naming_the_choices(clean_env: dict[str, str]) -> None:
    result = run_cli(["completions", "tcsh"], clean_env)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "bash, zsh, fish, powershell" in result.stderr


def test_the_source_instruction_prints_the_same_script() -> None:
    result = CliRunner().invoke(
        build_app(), [], env={"_MEILICHAT_COMPLETE": "source_zsh"}, prog_name="meilichat"
    )
    assert result.exit_code == 0
    assert result.stdout == script_for("zsh")


def test_pwsh_is_an_alias_of_powershell() -> None:
    result = CliRunner().invoke(build_app(), ["completions", "pwsh"], prog_name="meilichat")
    assert result.stdout == script_for("powershell")


# --------------------------------------------------------------------------- the protocol


def test_commands_subcommands_and_options(clean_env: dict[str, str]) -> None:
    assert offered("meilichat pro", clean_env) == ["profile"]
    assert {"ask", "chat", "completions", "help", "workspace"} <= set(
        offered("meilichat ", clean_env)
    )
    assert offered("meilichat profile ", clean_env) == [
        "add",
        "list",
        "show",
        "use",
        "set",
        "rename",
        "remove",
        "path",
    ]
    assert offered("meilichat ask --pro", clean_env) == ["--profile"]
    assert offered("meilichat completions ", clean_env) == ["bash", "zsh", "fish", "powershell"]
    assert offered("meilichat help ", clean_env) == ["exit-codes", "environment", "files", "json"]


def test_profile_names_in_every_place_a_profile_is_named(clean_env: dict[str, str]) -> None:
    make_profile(clean_env, "local", "http://127.0.0.1:7700", workspace="movies")
    make_profile(clean_env, "prod", "https://search.example.com")
    for line in (
        "meilichat ask -p ",
        "meilichat chat --profile ",
        "meilichat profile use ",
        "meilichat profile show ",
        "meilichat profile remove ",
        "meilichat profile set ",
        "meilichat key set --profile ",
        "meilichat key create -p ",
        "meilichat workspace list -p ",
    ):
        assert offered(line, clean_env) == ["local", "prod"], line
    assert offered("meilichat ask -p pr", clean_env) == ["prod"]
    # A new profile's name is not one of the existing ones.
    assert offered("meilichat profile add ", clean_env) == []


def test_descriptions_reach_zsh_and_fish(clean_env: dict[str, str]) -> None:
    make_profile(clean_env, "local", "http://127.0.0.1:7700", workspace="movies")
    zsh = complete("zsh", "meilichat ask -p ", clean_env).splitlines()
    assert zsh == ["plain", "local", "http://127.0.0.1:7700, workspace movies (default)"]
    fish = complete("fish", "meilichat ask -p l", clean_env).rstrip("\n")
    assert fish == "plain\t\tlocal\thttp://127.0.0.1:7700, workspace movies (default)"
    # Commands are described by their whole summary, not click's 45 characters.
    ask = complete("fish", "meilichat as", clean_env).rstrip("\n")
    assert ask == (
        "plain\t\task\tAsk one question and stream the answer, with the searches and sources"
        " behind it."
    )
    assert complete("zsh", "meilichat --ver", clean_env).splitlines() == [
        "plain",
        "--version",
        "Print the version and exit.",
    ]


def test_an_option_typed_with_equals_completes_its_value(clean_env: dict[str, str]) -> None:
    make_profile(clean_env, "local", "http://127.0.0.1:7700")
    # bash: readline replaces only what follows the '=' (a word break).
    assert complete("bash", "meilichat ask --profile=lo", clean_env) == "plain,local\n"
    assert complete("bash", "meilichat ask --profile=", clean_env) == "plain,local\n"
    # fish and PowerShell replace the whole word: the option comes back in front.
    fish = complete("fish", "meilichat ask --profile=lo", clean_env)
    assert fish.startswith("plain\t--profile=\tlocal\t")
    zsh = complete("zsh", "meilichat ask --profile=lo", clean_env)
    assert zsh.splitlines()[:2] == ["plain", "--profile=local"]


def test_bash_gets_only_the_part_after_a_colon(clean_env: dict[str, str]) -> None:
    save_turn(clean_env, "q", model="llama3:8b")
    assert "8b" in offered("meilichat ask -m llama3:", clean_env)
    assert "llama3:8b" in offered("meilichat ask -m ", clean_env)


def test_free_text_values_fall_back_to_file_names(clean_env: dict[str, str]) -> None:
    assert complete("bash", "meilichat ask --ca-bundle ", clean_env) == "file,\n"
    assert complete("bash", "meilichat batch ", clean_env) == "file,\n"
    fish = complete("fish", "meilichat ask --ca-bundle=/etc/pa", clean_env)
    assert fish == "file\t--ca-bundle=\t/etc/pa\t\n"
    # Numbers and flags are not paths.
    assert complete("bash", "meilichat ask --timeout ", clean_env) == "\n"


def test_powershell_reads_the_line_up_to_the_cursor(clean_env: dict[str, str]) -> None:
    out = complete("powershell", "meilichat profile ", clean_env)
    assert out.splitlines()[0].startswith("plain\t\tadd\t")
    assert complete("powershell", "meilichat ask --ver", clean_env) == "\n"


def test_conversation_ids_complete_from_a_prefix(clean_env: dict[str, str]) -> None:
    first = save_turn(clean_env, "Which films are set in space?")
    second = save_turn(clean_env, "And the oldest one?")
    everything = offered("meilichat history show ", clean_env)
    assert everything == [second, first]  # the most recent first
    assert offered(f"meilichat history rm {first[:6]}", clean_env) == [first]
    assert offered(f"meilichat ask --conversation {second[:4]}", clean_env) == [second]
    assert offered(f"meilichat chat --conversation {first[:5]}", clean_env) == [first]
    assert offered(f"meilichat history export {first[:3]}", clean_env)[0] in (first, second)
    zsh = complete("zsh", f"meilichat history show {first[:8]}", clean_env).splitlines()
    assert zsh == ["plain", first, "Which films are set in space?"]
    assert offered("meilichat history show zz", clean_env) == []


def test_a_hostile_title_is_described_without_its_control_characters(
    clean_env: dict[str, str],
) -> None:
    conversation = save_turn(clean_env, f"title {HOSTILE} end")
    zsh = complete("zsh", "meilichat history show ", clean_env).splitlines()
    assert zsh[:2] == ["plain", conversation]
    assert "\x1b" not in zsh[2] and "\x07" not in zsh[2] and "\x9b" not in zsh[2]
    assert zsh[2].startswith("title ")


def test_models_recent_first_then_the_profile_and_the_default(clean_env: dict[str, str]) -> None:
    make_profile(clean_env, "local", "http://127.0.0.1:7700", model="mistral-large")
    save_turn(clean_env, "old", model="gpt-4o")
    save_turn(clean_env, "new", model="claude-ish")
    save_turn(clean_env, "spaced", model="has a space")  # not a token a shell can take back
    assert offered("meilichat ask -m ", clean_env) == [
        "claude-ish",
        "gpt-4o",
        "mistral-large",
        "gpt-4o-mini",
    ]
    assert offered("meilichat profile set local --model g", clean_env) == ["gpt-4o", "gpt-4o-mini"]


def test_workspaces_come_from_the_server_when_it_answers(
    clean_env: dict[str, str], standin: Any
) -> None:
    env = {**clean_env, "MEILICHAT_URL": standin.url, "MEILI_MASTER_KEY": MASTER_KEY}
    assert offered("meilichat ask -w ", env) == ["demo"]
    assert offered("meilichat workspace show ", env) == ["demo"]
    assert offered("meilichat workspace delete d", env) == ["demo"]
    assert offered("meilichat batch --compare ", env) == ["demo"]
    assert offered("meilichat index chat-settings ", env) == ["books", "movies", "tickets"]
    assert offered("meilichat key create --index m", env) == ["movies"]


def test_the_profile_named_on_the_line_chooses_the_server(
    clean_env: dict[str, str], standin: Any
) -> None:
    make_profile(clean_env, "elsewhere", "http://127.0.0.1:9", workspace="nowhere", default=True)
    make_profile(clean_env, "local", standin.url, workspace="demo")
    CredentialsFile(paths(clean_env).credentials_file, warn=_ignore).set("local", MASTER_KEY)
    assert offered("meilichat ask -p local -w ", clean_env) == ["demo"]
    assert offered("meilichat index chat-settings --profile local ", clean_env) == [
        "books",
        "movies",
        "tickets",
    ]
    # `profile set NAME -w`: the profile being edited is the one asked about.
    assert offered("meilichat profile set local -w ", clean_env) == ["demo"]
    # `profile add NAME --url URL -w`: the new profile's server.
    env = {**clean_env, "MEILI_MASTER_KEY": MASTER_KEY}
    assert offered(f"meilichat profile add other --url {standin.url} -w ", env) == ["demo"]


def test_a_chat_key_cannot_list_workspaces_so_local_names_are_offered(
    clean_env: dict[str, str], standin: Any
) -> None:
    make_profile(clean_env, "local", standin.url, workspace="support")
    CredentialsFile(paths(clean_env).credentials_file, warn=_ignore).set("local", standin.chat_key)
    save_turn(clean_env, "q", workspace="films")
    env = {**clean_env, "MEILICHAT_WORKSPACE": "staging"}
    assert offered("meilichat ask -w ", env) == ["support", "staging", "films"]


def test_an_unreachable_server_falls_back_quickly(
    clean_env: dict[str, str], silent_server: str
) -> None:
    make_profile(clean_env, "hung", silent_server, workspace="support")
    env = {**clean_env, "MEILI_MASTER_KEY": MASTER_KEY}
    started = time.monotonic()
    assert offered("meilichat ask -w ", env) == ["support"]
    # LOOKUP_TIMEOUT is 0.5 s; a generous bound keeps a loaded machine from failing this.
    assert time.monotonic() - started < 3.0
    assert offered("meilichat index chat-settings ", env) == []


def test_no_key_is_sent_in_clear_text_to_another_host(clean_env: dict[str, str]) -> None:
    make_profile(clean_env, "far", "http://search.example.com", workspace="support")
    env = {**clean_env, "MEILI_MASTER_KEY": MASTER_KEY}
    assert completion_values.lookup_connection(env) is None
    assert completion_values.lookup_connection({**clean_env}) is not None  # no key: fine


def test_a_key_command_is_never_run_on_tab(clean_env: dict[str, str], tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    make_profile(
        clean_env,
        "vault",
        "http://127.0.0.1:9",
        key_command=f"{shutil.which('touch')} {marker}",
    )
    connection = completion_values.lookup_connection(clean_env)
    assert connection is not None and connection.api_key is None
    assert not marker.exists()


def test_a_broken_config_offers_nothing_and_stays_quiet(clean_env: dict[str, str]) -> None:
    config = paths(clean_env).config_file
    config.parent.mkdir(parents=True)
    config.write_text("[profiles.local\nurl = ", encoding="utf-8")
    with pytest.raises(Exception):  # noqa: B017 - the provider raises; the callback must not
        load_config(config, warn=_ignore)
    for line in ("meilichat ask -p ", "meilichat ask -w ", "meilichat ask -m "):
        assert offered(line, clean_env) in ([], ["gpt-4o-mini"]), line


def test_a_damaged_history_file_offers_nothing(clean_env: dict[str, str]) -> None:
    database = paths(clean_env).history_db
    database.parent.mkdir(parents=True)
    database.write_bytes(b"this is not a database" * 100)
    assert offered("meilichat history show ", clean_env) == []
    assert database.read_bytes().startswith(b"this is not")  # read only: never "repaired"


def test_completing_creates_no_file(clean_env: dict[str, str]) -> None:
    for line in ("meilichat history show ", "meilichat ask -m ", "meilichat ask -p "):
        offered(line, clean_env)
    created = [
        path
        for root in (clean_env["MEILICHAT_CONFIG_DIR"], clean_env["MEILICHAT_DATA_DIR"])
        for path in Path(root).parent.rglob("*")
        if path.is_file() and "home" not in path.parts
    ]
    assert created == []


def test_a_line_that_does_not_parse_offers_nothing(clean_env: dict[str, str]) -> None:
    assert complete("bash", "meilichat ask --no-such-option ", clean_env) in ("\n", "file,\n")
    assert complete("bash", 'meilichat ask "unterminated', clean_env) in ("\n", "file,\n")


# --------------------------------------------------------------------------- import guard

GUARD = """
import atexit, sys
HEAVY = ("httpx", "rich", "prompt_toolkit", "sqlite3", "meilichat_cli.api.client")
atexit.register(lambda: sys.stderr.write(
    "LOADED " + ",".join(m for m in HEAVY if m in sys.modules) + "\\n"))
from meilichat_cli.cli.app import run
run([])
"""


@pytest.mark.parametrize(
    ("line", "allowed"),
    [
        ("meilichat pro", set()),
        ("meilichat workspace set --", set()),
        ("meilichat ask -p ", set()),  # profiles come from config.toml alone
        ("meilichat history show ", {"sqlite3"}),
    ],
)
def test_completion_imports_nothing_heavy(
    clean_env: dict[str, str], line: str, allowed: set[str]
) -> None:
    env = {**clean_env, "_MEILICHAT_COMPLETE": "complete_bash", "_MEILICHAT_COMPLETE_LINE": line}
    result = subprocess.run(
        [sys.executable, "-c", GUARD], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    loaded = re.search(r"LOADED (.*)", result.stderr)
    assert loaded is not None, result.stderr
    assert set(filter(None, loaded.group(1).split(","))) <= allowed


def test_the_guard_sees_the_client_when_a_server_is_asked(
    clean_env: dict[str, str], silent_server: str
) -> None:
    env = {
        **clean_env,
        "MEILICHAT_URL": silent_server,
        "_MEILICHAT_COMPLETE": "complete_bash",
        "_MEILICHAT_COMPLETE_LINE": "meilichat ask -w ",
    }
    result = subprocess.run(
        [sys.executable, "-c", GUARD], env=env, capture_output=True, text=True, timeout=60
    )
    assert "httpx" in result.stderr and "meilichat_cli.api.client" in result.stderr


# --------------------------------------------------------------------------- real shells


class Terminal:
    """An interactive shell on a pseudo-terminal, with the completion script loaded.

    What the shell writes is replayed on an emulated screen (`tests/terminal_screen.py`), and
    every step waits for what the screen shows (the completed line, the listing, a marker
    printed by `echo`) rather than for a time: a loaded machine only makes the wait longer.
    """

    PROMPT = "$ "
    WIDTH = 200

    def __init__(self, shell: str, env: dict[str, str], bin_dir: Path) -> None:
        import pexpect

        from tests.terminal_screen import Terminal as Screen

        base = {
            **env,
            "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
            "TERM": "xterm",
            "PS1": self.PROMPT,
        }
        completions = REPO / "completions"
        if shell == "bash":
            argv = ["bash", "--norc", "--noprofile", "-i"]
            setup = [
                "bind 'set enable-bracketed-paste off'",
                f"source {completions / 'meilichat.bash'}",
            ]
        elif shell == "zsh":
            argv = ["zsh", "-f", "-i"]
            setup = [
                f"unsetopt PROMPT_SP; fpath=({completions} $fpath)",
                "autoload -Uz compinit && compinit -u -D",
            ]
        else:
            argv = ["fish", "--no-config", "-i"]
            setup = [
                "function fish_prompt; echo -n '$ '; end",
                f"source {completions / 'meilichat.fish'}",
            ]
        self.screen = Screen(self.WIDTH, 40)
        self.raw = ""
        self.child = pexpect.spawn(
            argv[0], argv[1:], env=base, encoding="utf-8", dimensions=(40, self.WIDTH)
        )
        for line in setup:
            self.child.sendline(line)
        self._ready()

    # ---- what the screen shows

    def pump(self, wait: float = 0.05) -> None:
        import pexpect

        try:
            data = self.child.read_nonblocking(65536, timeout=wait)
        except pexpect.TIMEOUT:
            return
        except pexpect.EOF:
            raise AssertionError(f"the shell exited; it showed:\n{self.shown()}") from None
        self.raw += data
        self.screen.feed(data)

    def wait_for(self, what: str, ready: Callable[[], bool], timeout: float = 60) -> None:
        """Read the shell's output until `ready()`; `timeout` only bounds a failure."""
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                raise AssertionError(f"the shell never showed {what}; it showed:\n{self.shown()}")
            self.pump()

    def shown(self) -> str:
        return "\n".join(self.screen.lines())

    def edited_line(self) -> str:
        """The command line being edited: the cursor's line, without the prompt."""
        screen = self.screen.screen
        line = str(screen.display[screen.cursor.y]).rstrip()
        return line.removeprefix(self.PROMPT.rstrip()).strip()

    def prompt_shown(self) -> bool:
        """The shell waits for a command: the cursor's line is the bare prompt."""
        screen = self.screen.screen
        return str(screen.display[screen.cursor.y]).rstrip() == self.PROMPT.rstrip()

    def _count(self, line: str) -> int:
        return sum(1 for shown in self.screen.lines() if shown.startswith(line))

    def _ready(self) -> None:
        """Have the shell print READY, and wait until it has: every key sent before is
        handled by then, and the line being edited is empty."""
        before = self._count("READY")
        self.child.sendline('echo RE""ADY')
        self.wait_for("READY", lambda: self._count("READY") > before)
        self.wait_for("an empty prompt", self.prompt_shown)

    # ---- typing

    def tab(self, typed: str, completed: str) -> str:
        """Type `typed`, press TAB, wait until the line shows `completed`, and return the
        line the shell holds then.

        The line is read back by turning it into `echo RESULT: <line>` (Ctrl-A, then type):
        what the shell prints is exactly its buffer, not a display that could also show a
        suggestion beyond the cursor.
        """
        before = self._count("RESULT: ")
        self.child.send(typed + "\t")
        self.wait_for(f"{completed!r} on the command line", lambda: self.edited_line() == completed)
        self.child.send('\x01echo RES""ULT: \r')
        self.wait_for("the RESULT line", lambda: self._count("RESULT: ") > before)
        results = [line for line in self.screen.lines() if line.startswith("RESULT: ")]
        self.wait_for("the next prompt", self.prompt_shown)
        return results[before].removeprefix("RESULT: ").strip()

    def listing(self, typed: str, presses: int, *expected: str) -> None:
        """Type `typed`, press TAB `presses` times, and wait for the expected texts in order."""
        mark = len(self.raw)

        def listed() -> bool:
            position = mark
            for text in expected:
                position = self.raw.find(text, position)
                if position < 0:
                    return False
                position += len(text)
            return True

        self.child.send(typed + "\t" * presses)
        self.wait_for(f"the listing {expected!r}", listed)
        self.child.send("\x03")  # Ctrl-C: drop the line
        self._ready()

    def close(self) -> None:
        self.child.sendline("exit")
        self.child.close(force=True)


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    """A `meilichat` on PATH that is this checkout under this interpreter."""
    directory = tmp_path / "bin"
    directory.mkdir()
    launcher = directory / "meilichat"
    launcher.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" -m meilichat_cli "$@"\n', encoding="utf-8"
    )
    launcher.chmod(0o755)
    return directory


@pytest.mark.slow
@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_tab_in_a_real_shell(
    shell: str, clean_env: dict[str, str], standin: Any, bin_dir: Path
) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    if not Path("/etc/passwd").exists():
        pytest.skip("needs a POSIX system")
    pytest.importorskip("pexpect")
    make_profile(clean_env, "localdev", standin.url, workspace="demo", default=True)
    make_profile(clean_env, "prod", "https://search.example.com")
    conversation = save_turn(clean_env, "Which films are set in space?")
    env = {
        **clean_env,
        "MEILI_MASTER_KEY": MASTER_KEY,
        "PYTHONPATH": str(REPO),
    }
    terminal = Terminal(shell, env, bin_dir)
    try:
        for typed, completed in (
            ("meilichat pro", "meilichat profile"),
            ("meilichat profile use l", "meilichat profile use localdev"),
            ("meilichat ask --prof", "meilichat ask --profile"),
            ("meilichat ask --profile=lo", "meilichat ask --profile=localdev"),
            ("meilichat ask -w d", "meilichat ask -w demo"),
            ("meilichat index chat-settings bo", "meilichat index chat-settings books"),
            (
                f"meilichat history show {conversation[:5]}",
                f"meilichat history show {conversation}",
            ),
            ("meilichat ask --ca-bundle /etc/passw", "meilichat ask --ca-bundle /etc/passwd"),
        ):
            assert terminal.tab(typed, completed) == completed
        # Two profiles: the shell lists both (zsh and fish with their descriptions).
        if shell == "bash":
            terminal.listing("meilichat profile use ", 2, "localdev", "prod")
        else:
            terminal.listing("meilichat profile use ", 1, "localdev", "workspace demo", "prod")
    finally:
        terminal.close()
