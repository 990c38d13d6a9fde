"""A hostile local account and a hostile kill: local files are trusted the way ssh trusts its
own (directories other users can write, files another user owns and a symlinked history
database are refused with exit 2 and the fix), every directory meilichat creates is 0700
parents included, SIGTERM and SIGHUP keep the partial answer like Ctrl-C, and `batch
--resume` finishes the compaction a killed run left undone.

Ownership is given away with chown, so those tests need root (as CI runs them)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_meilichat
from inprocess import invoke

from meilichat_cli.standin import StandInServer

NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a file away needs root")


def write_config(env: dict[str, str], text: str) -> Path:
    directory = Path(env["MEILICHAT_CONFIG_DIR"])
    directory.mkdir(mode=0o700, exist_ok=True)
    path = directory / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


PROFILE = '[profiles.local]\nurl = "http://127.0.0.1:9"\nworkspace = "movies"\n'


def test_a_config_directory_others_can_write_is_refused(clean_env: dict[str, str]) -> None:
    config = write_config(clean_env, PROFILE)
    config.parent.chmod(0o777)
    result = invoke(["profile", "list"], env=clean_env)
    assert result.exit_code == 2, result.output
    assert "can be written by other users" in result.stderr
    assert f"chmod 700 {config.parent}" in result.stderr


def test_a_config_file_others_can_write_is_refused(clean_env: dict[str, str]) -> None:
    config = write_config(clean_env, PROFILE)
    config.chmod(0o666)
    result = invoke(["profile", "list"], env=clean_env)
    assert result.exit_code == 2, result.output
    assert f"chmod 600 {config}" in result.stderr


@as_root
def test_a_config_file_owned_by_another_user_is_refused(clean_env: dict[str, str]) -> None:
    # Another account could set key_command (run as you) or point a profile elsewhere.
    config = write_config(clean_env, PROFILE + 'key_command = "touch /tmp/owned"\n')
    os.chown(config, NOBODY, NOBODY)
    result = invoke(["ask", "-p", "local", "hello"], env=clean_env)
    assert result.exit_code == 2, result.output
    assert "owned by another user" in result.stderr
    assert f"chown {os.geteuid()} {config}" in result.stderr


@as_root
def test_a_credentials_file_owned_by_another_user_is_refused(
    clean_env: dict[str, str],
) -> None:
    write_config(clean_env, PROFILE)
    credentials = Path(clean_env["MEILICHAT_CONFIG_DIR"]) / "credentials.toml"
    credentials.write_text('[profiles.local]\napi_key = "their-key"\n', encoding="utf-8")
    credentials.chmod(0o600)
    os.chown(credentials, NOBODY, NOBODY)
    result = invoke(["key", "show", "-p", "local"], env=clean_env)
    assert result.exit_code == 2, result.output
    assert "owned by another user" in result.stderr


@as_root
def test_a_data_directory_of_another_user_is_refused(server_env: dict[str, str]) -> None:
    data = Path(server_env["MEILICHAT_DATA_DIR"])
    data.mkdir(mode=0o700)
    os.chown(data, NOBODY, NOBODY)
    result = invoke(["ask", "hello"], env=server_env)
    assert result.exit_code == 2, result.output
    assert "owned by another user" in result.stderr
    assert not (data / "history.sqlite3").exists()


def test_a_data_directory_others_can_write_is_refused(server_env: dict[str, str]) -> None:
    data = Path(server_env["MEILICHAT_DATA_DIR"])
    data.mkdir(mode=0o700)
    data.chmod(0o777)
    result = invoke(["ask", "hello"], env=server_env)
    assert result.exit_code == 2, result.output
    assert "can be written by other users" in result.stderr


def test_a_history_database_that_is_a_symlink_is_refused(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    data = Path(server_env["MEILICHAT_DATA_DIR"])
    data.mkdir(mode=0o700)
    elsewhere = tmp_path / "theirs.sqlite3"
    elsewhere.write_bytes(b"")
    (data / "history.sqlite3").symlink_to(elsewhere)
    result = invoke(["ask", "hello"], env=server_env)
    assert result.exit_code == 2, result.output
    assert "symbolic link" in result.stderr
    assert elsewhere.read_bytes() == b""  # nothing was written through the link
    listed = invoke(["history", "list"], env=server_env)
    assert listed.exit_code == 2, listed.output


def completions_sent(server: StandInServer) -> int:
    return sum(1 for r in server.recorded if r.path.endswith("/chat/completions"))


@pytest.mark.parametrize("how", ["others can write it", "a symlinked database"])
def test_an_untrusted_history_location_is_refused_before_the_request_is_sent(
    server_env: dict[str, str], standin: StandInServer, tmp_path: Path, how: str
) -> None:
    data = Path(server_env["MEILICHAT_DATA_DIR"])
    data.mkdir(mode=0o700)
    if how == "others can write it":
        data.chmod(0o777)
    else:
        (tmp_path / "theirs.sqlite3").write_bytes(b"")
        (data / "history.sqlite3").symlink_to(tmp_path / "theirs.sqlite3")
    for args in (["ask", "hello"], ["ask", "-c", "hello"], ["demo", "hello"]):
        result = invoke(args, env=server_env)
        assert result.exit_code == 2, result.output
        assert result.stdout == ""
        assert "--no-save" in result.stderr
    assert completions_sent(standin) == 0
    # Nothing to save, nothing to refuse: --no-save still answers.
    answered = invoke(["ask", "--no-save", "hello"], env=server_env)
    assert answered.exit_code == 0, answered.output
    assert answered.stdout.strip()
    assert completions_sent(standin) == 1


def test_batch_save_refuses_an_untrusted_history_location_before_asking(
    server_env: dict[str, str], standin: StandInServer, tmp_path: Path
) -> None:
    data = Path(server_env["MEILICHAT_DATA_DIR"])
    data.mkdir(mode=0o700)
    data.chmod(0o777)
    questions = tmp_path / "questions.jsonl"
    questions.write_text('{"prompt": "space movies"}\n', encoding="utf-8")
    result = invoke(["batch", str(questions), "--save"], env=server_env)
    assert result.exit_code == 2, result.output
    assert "can be written by other users" in result.stderr
    assert "or run without --save" in result.stderr
    assert completions_sent(standin) == 0


def test_every_directory_created_on_a_fresh_account_is_private(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    home = tmp_path / "fresh"
    home.mkdir()
    env = {
        k: v
        for k, v in server_env.items()
        if k not in ("MEILICHAT_CONFIG_DIR", "MEILICHAT_DATA_DIR", "MEILICHAT_STATE_DIR")
    }
    env.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": "",
            "XDG_DATA_HOME": "",
            "XDG_STATE_HOME": "",
        }
    )
    old = os.umask(0o022)
    try:
        assert invoke(["ask", "hello"], env=env).exit_code == 0
        added = invoke(["profile", "add", "p", "--url", "http://127.0.0.1:9"], env=env)
        assert added.exit_code == 0, added.output
        from meilichat_cli.repl.prompt import prepare_history_file

        assert prepare_history_file(home / ".local/state/meilichat/repl-history") is None
    finally:
        os.umask(old)
    created = [path for path in home.rglob("*") if path.is_dir()]
    for made in (".config", ".config/meilichat", ".local", ".local/share", ".local/state"):
        assert home / made in created, made
    for directory in created:
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory


# --------------------------------------------------------------------------- signals


@pytest.mark.parametrize(("name", "code"), [("SIGTERM", 143), ("SIGHUP", 129)])
def test_sigterm_and_sighup_keep_the_partial_answer_like_ctrl_c(
    name: str, code: int, server_env: dict[str, str], standin: StandInServer
) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "meilichat_cli",
            "ask",
            "--events",
            "-m",
            "scenario:drip?interval=0.2",
            "Stanley Kubrick movies",
        ],
        env=server_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    while b'"event": "delta"' not in (line := proc.stdout.readline()):
        assert line, "the stream ended before any text"
    proc.send_signal(getattr(signal, name))
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == code, err
    assert b"Traceback" not in err
    done = json.loads(out.decode().strip().splitlines()[-1])
    assert done["event"] == "done" and done["complete"] is False
    error = json.loads(err.decode().strip().splitlines()[-1])["error"]
    assert error["kind"] == "interrupted"
    shown = run_meilichat(["history", "show", done["conversation_id"], "--json"], server_env)
    (turn,) = json.loads(shown.stdout)["turns"]
    assert turn["status"] == "interrupted"
    assert turn["answer"] and done["answer"].startswith(turn["answer"][:20])


def test_sigterm_on_a_terminal_restores_the_cursor(server_env: dict[str, str]) -> None:
    pexpect = pytest.importorskip("pexpect")
    env = {k: v for k, v in server_env.items() if k != "NO_COLOR"}
    env["TERM"] = "xterm-256color"
    child = pexpect.spawn(
        sys.executable,
        ["-m", "meilichat_cli", "ask", "-m", "scenario:drip?interval=0.2", "Kubrick movies"],
        env=env,
        timeout=30,
        dimensions=(40, 100),
    )
    child.expect("search")
    child.kill(signal.SIGTERM)
    child.expect(pexpect.EOF)
    child.close()
    output = child.before or b""
    assert child.exitstatus == 143, output[-1000:]
    if b"\x1b[?25l" in output:  # the cursor was hidden while the answer streamed
        assert output.rindex(b"\x1b[?25h") > output.rindex(b"\x1b[?25l")
    assert b"Traceback" not in output


# --------------------------------------------------------------------------- batch resume


def test_resume_compacts_a_file_a_killed_run_left_uncompacted(
    tmp_path: Path, server_env: dict[str, str]
) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "a", "prompt": "Dune"}) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    first = run_meilichat(["batch", str(questions), "-o", str(out)], server_env)
    assert first.returncode == 0, first.stderr
    line = out.read_text(encoding="utf-8")
    failed = json.loads(line)
    failed["complete"] = False
    # Killed after appending the retried answer, before compacting: two lines for "a".
    out.write_text(json.dumps(failed) + "\n" + line, encoding="utf-8")
    again = run_meilichat(
        ["batch", str(questions), "-o", str(out), "--resume", str(out)], server_env
    )
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stderr
    assert out.read_text(encoding="utf-8") == line


def test_sigterm_during_a_repl_answer_saves_it_and_ends_the_session(
    server_env: dict[str, str],
) -> None:
    from test_repl_pty import Session

    session = Session([sys.executable, "-m", "meilichat_cli", "chat"], server_env)
    try:
        session.wait_for_prompt()
        session.send("/model scenario:drip?interval=0.2\r")
        # What the terminal shows, not a quiet moment: the old prompt is still on the screen
        # until the command has been handled.
        session.wait_for_text("Model: scenario:drip?interval=0.2")
        session.wait_for_prompt()
        session.send("Stanley Kubrick movies\r")
        # The first words of the answer are on the screen: there is a partial answer to keep.
        session.wait_for_text("I'll search for")
        session.child.kill(signal.SIGTERM)
        code = session.wait_exit()
    finally:
        session.close()
    assert code == 143, session.transcript()
    assert "Traceback" not in session.screen_text()
    listed = run_meilichat(["history", "list", "--json"], server_env)
    (conversation,) = json.loads(listed.stdout)
    assert conversation["last_status"] == "interrupted"


def test_the_repl_input_history_is_never_kept_where_others_could_read_or_swap_it(
    tmp_path: Path,
) -> None:
    from meilichat_cli.repl.prompt import prepare_history_file

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    warning = prepare_history_file(shared / "repl-history")
    assert warning is not None and "can be written by other users" in warning
    assert not (shared / "repl-history").exists()

    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    elsewhere = tmp_path / "theirs"
    elsewhere.write_text("")
    (private / "repl-history").symlink_to(elsewhere)
    warning = prepare_history_file(private / "repl-history")
    assert warning is not None and "input history is not saved" in warning
