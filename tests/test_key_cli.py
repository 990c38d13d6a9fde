"""`meilichat key set/show/remove`, and the promise that a key never leaks into output."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from meilichat_cli.errors import ConfigError, MeilichatError, UsageError
from meilichat_cli.local import credentials as credentials_module
from meilichat_cli.local.credentials import CredentialsFile
from tests.conftest import run_meilichat
from tests.inprocess import Outcome, invoke, run_cli

SECRET = "sk-SENTINEL-0123456789-abcdefghij"
OTHER = "sk-OTHER-KEY-9876543210-zyxwvu"
MEILICHAT_VARS = ["MEILICHAT_PROFILE", "MEILICHAT_API_KEY", "MEILICHAT_URL"]


def run(
    group: str, env: dict[str, str], *args: str, input: str | None = None, tty: bool = False
) -> Outcome:
    isolated: dict[str, str | None] = {name: None for name in MEILICHAT_VARS}
    isolated.update(env)
    return invoke([group, *args], env=isolated, input=input, stdin_isatty=tty)


def key(env: dict[str, str], *args: str, input: str | None = None, tty: bool = False) -> Outcome:
    return run("key", env, *args, input=input, tty=tty)


def failure(result: Outcome) -> MeilichatError:
    assert isinstance(result.exception, MeilichatError), (result.output, result.exception)
    return result.exception


def credentials_file(env: dict[str, str]) -> Path:
    return Path(env["MEILICHAT_CONFIG_DIR"]) / "credentials.toml"


@pytest.fixture
def env(clean_env: dict[str, str]) -> dict[str, str]:
    """clean_env with two profiles, 'local' the default."""
    for name, port in (("local", 7700), ("other", 7701)):
        added = run("profile", clean_env, "add", name, "--url", f"http://127.0.0.1:{port}")
        assert added.exit_code == 0, added.output
    return clean_env


def test_set_from_a_pipe_show_and_remove(env: dict[str, str]) -> None:
    result = key(env, "set", input=f"  {SECRET}  \n")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"Stored the key for profile 'local' (sk-S…ij) in {credentials_file(env)}.\n"
    )
    assert SECRET not in result.output
    assert os.stat(credentials_file(env)).st_mode & 0o777 == 0o600
    assert CredentialsFile(credentials_file(env), warn=pytest.fail).get("local") == SECRET

    shown = key(env, "show")
    assert shown.stdout == f"sk-S…ij (credentials file: {credentials_file(env)})\n"
    assert key(env, "show", "--reveal").stdout == SECRET + "\n"

    removed = key(env, "remove")
    assert removed.stdout == f"Removed the key of profile 'local' from {credentials_file(env)}.\n"
    assert key(env, "remove").stdout == "No key was stored for profile 'local'.\n"
    error = failure(key(env, "show"))
    assert isinstance(error, ConfigError)
    assert error.message == "no key stored for profile 'local'"
    assert "meilichat key set --profile local" in (error.hint or "")


def test_profile_option_and_environment_choose_the_profile(env: dict[str, str]) -> None:
    key(env, "set", "-p", "other", input=OTHER + "\n")
    key(env, "set", input=SECRET + "\n")
    assert key(env, "show", "--reveal", "--profile", "other").stdout == OTHER + "\n"
    assert key({**env, "MEILICHAT_PROFILE": "other"}, "show", "--reveal").stdout == OTHER + "\n"
    assert key(env, "show", "--reveal").stdout == SECRET + "\n"


@pytest.mark.parametrize(
    ("piped", "complaint"),
    [
        ("", "empty key refused"),
        ("\n  \n", "empty key refused"),
        (f"{SECRET}\n{OTHER}\n", "expected exactly one line (the key) on stdin, got 2 lines"),
        (f"{SECRET} trailing-words\n", "spaces, control or non-ASCII"),
        ("x" * (64 * 1024 + 1), "more than 64 KiB"),
    ],
)
def test_bad_piped_keys_are_refused_without_echo(
    env: dict[str, str], piped: str, complaint: str
) -> None:
    result = key(env, "set", input=piped)
    error = failure(result)
    assert isinstance(error, UsageError)
    assert complaint in error.message
    assert SECRET not in error.message + result.output
    assert not credentials_file(env).exists()


def test_set_on_a_terminal_prompts_with_hidden_input(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = key(env, "set", input=SECRET + "\n", tty=True)
    assert result.exit_code == 0, result.output
    assert "API key for profile 'local'" in result.output
    assert SECRET not in result.output
    assert CredentialsFile(credentials_file(env), warn=pytest.fail).get("local") == SECRET


def test_set_warns_when_a_key_command_takes_precedence(env: dict[str, str]) -> None:
    run("profile", env, "set", "local", "--key-command", "pass show meili")
    result = key(env, "set", input=SECRET + "\n")
    assert result.exit_code == 0
    assert "has a key_command, which is used instead of a stored key" in result.stderr


def test_show_runs_the_key_command(env: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "key.py"
    script.write_text(f"print('{SECRET}')\n")
    command = f"{sys.executable} {script}"
    run("profile", env, "set", "local", "--key-command", command)
    assert key(env, "show").stdout == f"sk-S…ij (key_command: {command})\n"
    assert key(env, "show", "--reveal").stdout == SECRET + "\n"


def test_a_loose_credentials_file_works_with_a_chmod_hint(env: dict[str, str]) -> None:
    key(env, "set", input=SECRET + "\n")
    credentials_file(env).chmod(0o644)
    credentials_module._warned_loose_modes.clear()
    result = key(env, "show")
    assert result.exit_code == 0
    assert f"chmod 600 {credentials_file(env)}" in result.stderr
    assert result.stderr.count("chmod 600") == 1


def test_key_commands_name_the_known_profiles(env: dict[str, str]) -> None:
    for args in (["set", "-p", "prod"], ["show", "-p", "prod"], ["remove", "-p", "prod"]):
        error = failure(key(env, *args, input=SECRET + "\n"))
        assert error.message == "Unknown profile 'prod' (known: local, other)"
    assert not credentials_file(env).exists()


def test_no_profile_at_all(clean_env: dict[str, str]) -> None:
    error = failure(key(clean_env, "set", input=SECRET + "\n"))
    assert error.message == "no profile configured"
    assert "meilichat profile add NAME --url URL" in (error.hint or "")


# --- end to end (processes where children or PYTHONPATH are involved) -----------------------------


def test_key_never_leaks_into_output(env: dict[str, str], tmp_path: Path) -> None:
    """The sentinel key appears in no output of any profile or key command but `--reveal`.

    A real process: a key command that prints the key must not reach the terminal either,
    and only a process shows what its children write to the inherited stdout and stderr."""
    assert run_meilichat(["key", "set"], env, input=SECRET + "\n").returncode == 0
    failing = tmp_path / "failing.py"
    failing.write_text(f"import sys\nprint('{SECRET}')\nprint('{SECRET}', file=sys.stderr)\n")
    failing.write_text(failing.read_text() + "sys.exit(1)\n")
    leaky_env = {**env, "MEILICHAT_API_KEY": SECRET}
    runs: list[tuple[list[str], dict[str, str], str | None]] = [
        (["profile", "list"], env, None),
        (["profile", "list", "--json"], env, None),
        (["profile", "show"], env, None),
        (["profile", "show", "--json"], leaky_env, None),
        (["profile", "path", "--json"], env, None),
        (["profile", "use", "local"], env, None),
        (["profile", "set", "local", "-m", "gpt-4.1"], env, None),
        (["profile", "add", "lan", "--url", "http://10.0.0.5:7700"], env, None),
        (["profile", "add", "bad", "--url", f"http://user:{SECRET}@host"], env, None),
        (["key", "show"], leaky_env, None),
        (["key", "set", "-p", "other"], env, f"{SECRET} {SECRET}\n"),
        (["key", "set", "-p", "other"], env, f"{SECRET}\n{SECRET}\n"),
        (["key", "show", "-p", "nobody"], env, None),
        (["key", "show", "-p", "other"], env, None),
        (["profile", "set", "other", "--key-command", f"{sys.executable} {failing}"], env, None),
        (["key", "show", "-p", "other"], env, None),
        (["--debug", "key", "show", "-p", "other"], env, None),
        (["--debug", "profile", "show", "nobody"], env, None),
    ]
    for args, run_env, piped in runs:
        result = run_meilichat(args, run_env, input=piped)
        assert SECRET not in result.stdout, args
        assert SECRET not in result.stderr, args
        assert "Traceback" not in result.stderr or "--debug" in args, args
    # A corrupt key file: the parse error names the place, never the content.
    credentials = credentials_file(env)
    credentials.write_text(credentials.read_text() + f'\n[broken\napi_key = "{SECRET}"\n')
    for args in (["key", "show"], ["--debug", "key", "show"], ["profile", "remove", "local"]):
        result = run_meilichat(args, env)
        assert result.returncode == 2, args
        assert str(credentials) in result.stderr
        assert SECRET not in result.stdout + result.stderr, args
    credentials.write_text(f'[profiles.local]\napi_key = "{SECRET}"\n')
    credentials.chmod(0o600)
    revealed = run_meilichat(["key", "show", "--reveal"], env)
    assert revealed.stdout == SECRET + "\n"
    removed = run_meilichat(["profile", "remove", "local"], env)
    assert removed.returncode == 0
    assert SECRET not in removed.stdout + removed.stderr
    assert SECRET not in credentials.read_text()


def test_entry_point_exit_codes(env: dict[str, str]) -> None:
    result = run_cli(["key", "set"], env, input="")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines()[0] == "meilichat: error: empty key refused"
    result = run_cli(["key", "show", "-p", "prod"], env)
    assert result.returncode == 2
    assert "Unknown profile 'prod' (known: local, other)" in result.stderr


def test_set_on_a_real_terminal_does_not_echo(env: dict[str, str]) -> None:
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(
        sys.executable, ["-m", "meilichat_cli", "key", "set"], env=env, encoding="utf-8", timeout=30
    )
    child.expect("API key for profile 'local'")
    child.sendline(SECRET)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert SECRET not in (child.before or "")
    assert CredentialsFile(credentials_file(env), warn=pytest.fail).get("local") == SECRET


def test_an_absent_keyring_falls_back_with_a_notice(env: dict[str, str]) -> None:
    run_cli(["profile", "set", "local", "--key-store", "keyring"], env)
    # In process: whether keyring imports is this interpreter's answer (skipped below if so).
    result = run_cli(["key", "set"], env, input=SECRET + "\n")
    if result.returncode == 0 and "keyring package is not installed" not in result.stderr:
        pytest.skip("a real keyring package is installed here")
    assert result.returncode == 0, result.stderr
    assert f"storing the key in {credentials_file(env)} instead" in result.stderr


@pytest.mark.slow
def test_a_locked_keyring_does_not_hang(env: dict[str, str], tmp_path: Path) -> None:
    package = tmp_path / "fake-site" / "keyring"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        textwrap.dedent(
            """
            import threading

            def _locked(*args):
                threading.Event().wait()  # a locked keyring on a headless session never answers

            get_password = set_password = delete_password = _locked
            """
        )
    )
    (package / "errors.py").write_text("class PasswordDeleteError(Exception):\n    pass\n")
    locked_env = {**env, "PYTHONPATH": str(package.parent)}
    run_meilichat(["profile", "set", "local", "--key-store", "keyring"], locked_env)
    started = time.monotonic()
    result = run_meilichat(["key", "set"], locked_env, input=SECRET + "\n", timeout=30)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < 10
    assert (
        f"the system keyring did not answer within 3 s; storing the key in {credentials_file(env)}"
        in result.stderr
    )
    assert CredentialsFile(credentials_file(env), warn=pytest.fail).get("local") == SECRET
