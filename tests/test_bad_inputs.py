"""The bad inputs of docs/reliability.md, and the reliability guarantees built on them.

docs/reliability.md has a table of 68 bad inputs plus 36b; each row names the tests that check
it, as FILE::TEST under tests/. `test_the_table_in_the_docs_names_a_test_for_every_row` reads
that table and checks that every row is there and every named test exists. Tests in this
module cover what the unit suites cannot: the command line against the stand-in server's
fault scenarios, a real terminal (pty), a proxy, a private CA, the process's memory and its
output encoding.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import MASTER_KEY, run_meilichat, wait_for_hidden_input
from tests.inprocess import Outcome, invoke, run_cli
from tests.network_doubles import (
    ForwardProxy,
    PrivateCA,
    ScriptedServer,
    TlsFront,
    http_response,
    make_test_ca,
)
from tests.terminal_screen import Terminal

if TYPE_CHECKING:
    from meilichat_cli.standin import StandInServer

TESTS = Path(__file__).parent
QUESTION = "which space movies do you have?"
SENTINEL = "sk-SENTINEL-0123456789-abcdefghij"
MiB = 1024 * 1024
RSS_SCALE = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux


# -- running the real entry point, measured --------------------------------------------------


@dataclass
class Run:
    returncode: int
    stdout: str  # on a terminal: everything the terminal received
    stderr: str
    peak_rss: int  # bytes, the child's own high-water mark
    seconds: float


def _reap(proc: subprocess.Popen[bytes], started: float, timeout: float) -> tuple[int, int, float]:
    """Wait for `proc` with os.wait4, which reports that child's own peak memory."""
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        watchdog.cancel()
    seconds = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
    return proc.returncode, usage.ru_maxrss * RSS_SCALE, seconds


def run_measured(
    args: list[str], env: dict[str, str], *, stdin: bytes = b"", timeout: float = 60
) -> Run:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "meilichat_cli", *args],
            env=env,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=err,
        )
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(stdin)
        proc.stdin.close()
        code, rss, seconds = _reap(proc, started, timeout)
        out.seek(0)
        err.seek(0)
        return Run(code, out.read().decode(), err.read().decode(), rss, seconds)


@contextlib.contextmanager
def on_terminal(
    args: list[str], env: dict[str, str], *, rows: int = 40, columns: int = 100
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """Start meilichat with a pty as stdin, stdout and stderr; yield (process, pty master)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "meilichat_cli", *args],
        env={**env, "COLUMNS": str(columns), "LINES": str(rows), "TERM": "xterm-256color"},
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    try:
        yield proc, master
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.wait()
        os.close(master)


def read_until_closed(master: int, timeout: float = 60.0) -> bytes:
    """Everything the program writes until it closes the terminal; fails instead of hanging."""
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([master], [], [], left)[0]:
            raise AssertionError(f"still open after {timeout:g} s: {b''.join(chunks)!r}")
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every holder of the pty's other side has closed it
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def run_on_terminal(args: list[str], env: dict[str, str], *, timeout: float = 60) -> Run:
    started = time.monotonic()
    with on_terminal(args, env) as (proc, master):
        watchdog = threading.Timer(timeout, proc.kill)
        watchdog.start()
        try:
            raw = read_until_closed(master)
        finally:
            watchdog.cancel()
        code, rss, seconds = _reap(proc, started, timeout)
    return Run(code, raw.decode("utf-8", "replace"), "", rss, seconds)


class PtyReader:
    """What a program wrote to a pty, read as it comes; `expect` moves a cursor past each
    match, so the same prompt is never matched twice."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.seen = ""
        self.cursor = 0
        os.set_blocking(master, False)

    def expect(self, pattern: str, timeout: float = 20) -> str:
        """Wait for `pattern` (a regex) after the cursor; return the text up to its end."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.compile(pattern).search(self.seen, self.cursor)
            if found:
                text = self.seen[self.cursor : found.end()]
                self.cursor = found.end()
                return text
            if time.monotonic() > deadline:
                tail = self.seen[self.cursor :][-600:]
                raise AssertionError(f"{pattern!r} not seen; got {tail!r}")
            try:
                data = os.read(self.master, 65536)
            except BlockingIOError:
                time.sleep(0.02)
                continue
            except OSError:  # the program closed the terminal
                data = b""
            if not data:
                raise AssertionError(f"{pattern!r} not seen before the end: {self.seen[-600:]!r}")
            self.seen += data.decode("utf-8", "replace")

    def type_at_prompt(self, text: str) -> None:
        """Wait until the REPL's prompt is active (prompt_toolkit turns bracketed paste on in
        raw mode), answer its cursor-position request as a terminal would, then type."""
        drawn = self.expect(r"\x1b\[\?2004h")
        if "\x1b[6n" in drawn:
            os.write(self.master, b"\x1b[1;1R")
        os.write(self.master, text.encode())


def ask(env: dict[str, str], *args: str) -> Outcome:
    return run_cli(["ask", *args, QUESTION], env)


def history(env: dict[str, str]) -> list[dict[str, Any]]:
    listed = run_cli(["history", "list", "--json"], env)
    assert listed.returncode == 0, listed.stderr
    result: list[dict[str, Any]] = json.loads(listed.stdout)
    return result


def saved_answer(env: dict[str, str], conversation_id: str) -> tuple[str, str]:
    shown = run_cli(["history", "show", conversation_id, "--json"], env)
    assert shown.returncode == 0, shown.stderr
    turn = json.loads(shown.stdout)["turns"][-1]
    return turn["answer"], turn["status"]


def wait_for(condition: Any, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# -- a scripted server for streams the stand-in has no scenario for -------------------------


def sse_chunk(content: str | None, finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": content},
                "finish_reason": finish,
            }
        ],
    }


def data_line(payload: dict[str, Any] | str) -> bytes:
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return b"data: " + text.encode("utf-8") + b"\n\n"


def stream_reply(*frames: bytes, content_type: str = "text/event-stream") -> list[bytes]:
    return http_response("200 OK", {"Content-Type": content_type}, frames)


@pytest.fixture
def scripted_env(clean_env: dict[str, str]) -> dict[str, str]:
    return {
        **clean_env,
        "MEILICHAT_API_KEY": "k",
        "MEILICHAT_WORKSPACE": "w",
        "MEILICHAT_MODEL": "m",
    }


# == stream and SSE content (docs/reliability.md), through the command line ==================


@pytest.mark.parametrize("scenario", ["split-utf8", "crlf", "comments", "bom"])
def test_framing_variants_give_the_same_answer(server_env: dict[str, str], scenario: str) -> None:
    """Every byte in its own chunk (01), CRLF (02), comments and `event: ping` (06, 10), and a
    BOM (07) change the framing only: the answer is the same, character for character."""
    plain = ask(server_env, "--json", "--no-save")
    framed = ask(server_env, "--json", "--no-save", "-m", f"scenario:{scenario}")
    assert framed.returncode == 0, framed.stderr
    expected, got = json.loads(plain.stdout), json.loads(framed.stdout)
    assert got["answer"] == expected["answer"]
    assert "“" in got["answer"], "the answer has multi-byte characters to split"
    assert got["complete"] is True
    assert [s["q"] for s in got["searches"]] == [s["q"] for s in expected["searches"]]


def test_odd_line_ends_separators_and_done_spellings_give_the_same_answer(
    scripted_env: dict[str, str],
) -> None:
    """CR-only line ends (03), U+2028/U+2029/U+0085 and a form feed in content (04), and
    `data:[DONE]  ` (05) from a real HTTP server."""
    content = "a\u2028b\u2029c\u0085d\x0ce"
    body = (
        b"data: " + json.dumps(sse_chunk(content), ensure_ascii=False).encode() + b"\r\r"
        b"data: " + json.dumps(sse_chunk(None, "stop")).encode() + b"\r\r"
        b"data:[DONE]  \r\r"
    )
    with ScriptedServer(lambda: stream_reply(body)) as server:
        result = ask({**scripted_env, "MEILICHAT_URL": server.url}, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["answer"] == content
    assert data["complete"] is True


def test_invalid_utf8_in_the_stream_is_replaced(server_env: dict[str, str]) -> None:
    result = ask(server_env, "-m", "scenario:invalid-utf8")
    assert result.returncode == 0, result.stderr
    assert "Bytes: \ufffd" in result.stdout and " end." in result.stdout
    assert "Traceback" not in result.stderr


def test_a_latin1_charset_header_is_ignored(scripted_env: dict[str, str]) -> None:
    text = "café — 東京 ✓"
    reply = stream_reply(
        data_line(sse_chunk(text)),
        data_line(sse_chunk(None, "stop")),
        data_line("[DONE]"),
        content_type="text/event-stream; charset=latin-1",
    )
    with ScriptedServer(lambda: reply) as server:
        result = ask({**scripted_env, "MEILICHAT_URL": server.url})
    assert result.returncode == 0, result.stderr
    assert result.stdout == text + "\n"


def test_a_malformed_event_keeps_the_partial_and_exits_5(server_env: dict[str, str]) -> None:
    result = ask(server_env, "-m", "scenario:malformed")
    assert result.returncode == 5
    assert re.search(r"Malformed event #\d+ from server: \{\"choices\":\[", result.stderr)
    assert "hint: the partial answer is kept" in result.stderr
    assert result.stdout.strip(), "the text streamed before the bad event stays"
    latest = history(server_env)[0]
    answer, status = saved_answer(server_env, latest["id"])
    assert status == "truncated"
    assert answer.strip() == result.stdout.strip()


def test_wrong_chunk_shapes_end_to_end(server_env: dict[str, str]) -> None:
    lenient = ask(server_env, "-m", "scenario:wrong-shape")  # choices: [], delta: null
    assert lenient.returncode == 0, lenient.stderr
    assert lenient.stdout.strip()
    strict = ask(server_env, "-m", "scenario:wrong-shape?kind=number-content")
    assert strict.returncode == 5
    assert "`choices[0].delta.content` should be a string, got a number" in strict.stderr


def test_a_lone_surrogate_is_printed_as_a_replacement_character(
    server_env: dict[str, str],
) -> None:
    result = ask(server_env, "-m", "scenario:lone-surrogate")
    assert result.returncode == 0, result.stderr
    assert "Before \ufffd after." in result.stdout
    assert "UnicodeEncodeError" not in result.stderr
    on_terminal_run = run_on_terminal(
        ["ask", "-m", "scenario:lone-surrogate", QUESTION], server_env
    )
    assert on_terminal_run.returncode == 0
    assert "Before \ufffd after." in on_terminal_run.stdout


# == fault injection: the network breaks mid-answer =========================================


def test_a_connection_reset_keeps_the_partial_and_is_not_retried(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    result = ask(server_env, "-m", "scenario:reset?after=5")
    assert result.returncode == 5
    found = re.search(r"Connection lost after (\d+) tokens", result.stderr)
    assert found and int(found.group(1)) >= 5, result.stderr
    assert "partial answer is kept" in result.stderr
    assert result.stdout.strip()
    assert len(standin.completion_bodies()) == 1, "bytes had arrived: never retried"
    answer, status = saved_answer(server_env, history(server_env)[0]["id"])
    assert status == "truncated"
    assert answer.strip() == result.stdout.strip()


def test_a_huge_line_is_refused_with_bounded_memory(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    baseline = run_measured(["ask", "--no-save", QUESTION], server_env)
    assert baseline.returncode == 0, baseline.stderr
    huge = run_measured(["ask", "-m", "scenario:huge-line?mib=100", QUESTION], server_env)
    assert huge.returncode == 5
    assert "event exceeds 8 MiB limit" in huge.stderr
    assert huge.stdout.strip(), "the text before the huge line is kept"
    # Buffering the line would cost 100 MiB; the cap allows 8 MiB plus working copies.
    growth = huge.peak_rss - baseline.peak_rss
    assert growth < 40 * MiB, f"peak grew by {growth / MiB:.1f} MiB"
    assert wait_for(lambda: standin.stats.disconnects >= 1), "the client closed the connection"


def flood_text(events: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz "
    return "".join(letters[i % len(letters)] for i in range(events))


def test_a_flood_of_tiny_events_keeps_memory_flat(server_env: dict[str, str]) -> None:
    small = run_measured(["ask", "--no-save", "-m", "scenario:flood?events=10000", "q"], server_env)
    large = run_measured(["ask", "--no-save", "-m", "scenario:flood?events=40000", "q"], server_env)
    for run, events in ((small, 10_000), (large, 40_000)):
        assert run.returncode == 0, run.stderr
        assert run.stdout.endswith(flood_text(events) + "\n"), "every event's text is there"
    # Four times the events, the same memory: nothing is kept per event but its text.
    assert large.peak_rss - small.peak_rss < 8 * MiB


def test_a_flood_of_tiny_events_keeps_up_on_a_terminal(server_env: dict[str, str]) -> None:
    events = 50_000
    baseline = run_on_terminal(["ask", "--no-save", "-m", "scenario:no-search", "q"], server_env)
    flood = run_on_terminal(
        ["ask", "--no-save", "-m", f"scenario:flood?events={events}", "q"], server_env
    )
    assert baseline.returncode == 0 and flood.returncode == 0, flood.stdout[-500:]
    # Keeping up is structural, not timed (the benchmark times it): repaints are throttled,
    # so what reaches the terminal stays proportional to the answer, not to the events.
    text = flood_text(events)
    assert len(flood.stdout) < 3 * len(text) + 256 * 1024, len(flood.stdout)
    terminal = Terminal(100, 40)
    terminal.feed(flood.stdout)
    shown = re.sub(r"\s", "", "".join(terminal.lines()))
    assert re.sub(r"\s", "", flood_text(events)) in shown


def test_a_503_then_ok_is_retried_once_before_the_first_byte(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    result = ask(server_env, "--json", "-m", "scenario:unavailable-then-ok?times=1&retry_after=0")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["complete"] is True
    assert len(standin.completion_bodies()) == 2


def test_a_server_that_stays_unavailable_gets_two_retries(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    result = ask(server_env, "-m", "scenario:unavailable-then-ok?times=9&retry_after=0")
    assert result.returncode == 5
    assert "HTTP 503" in result.stderr
    assert result.stdout == ""
    assert len(standin.completion_bodies()) == 3


# == hostile text on a real terminal (docs/reliability.md) ====================================

CSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


def assert_only_layout_sequences(raw: str) -> None:
    """What the terminal received holds no control sequence but rich's own layout ones:
    no OSC (title, clipboard, hyperlink), no DCS/APC, no BEL, no C1, no screen clear, no blink."""
    assert "\x07" not in raw
    assert not re.search("[\x80-\x9f]", raw), "an 8-bit C1 control reached the terminal"
    sequences = CSI.findall(raw)
    assert "\x1b" not in CSI.sub("", raw), "an escape that is not a CSI reached the terminal"
    for sequence in sequences:
        assert sequence[-1] not in "JHf", f"screen clear or cursor jump: {sequence!r}"
        if sequence.endswith("m"):
            assert set(sequence[2:-1].split(";")) & {"5", "6"} == set(), "blink"


def test_hostile_escapes_never_reach_a_real_terminal(server_env: dict[str, str]) -> None:
    run = run_on_terminal(["ask", "-m", "scenario:escapes", QUESTION], server_env)
    assert run.returncode == 0, run.stdout[-800:]
    assert_only_layout_sequences(run.stdout)
    terminal = Terminal(100, 40)
    terminal.feed(run.stdout)
    assert terminal.screen.title == "", "the window title was not changed (reliability row 23)"
    lines = terminal.lines()
    text = "\n".join(lines)
    # Every numbered line survives (no clear screen, no erased line above the fake "done").
    numbered = [line.strip()[:2] for line in lines if re.match(r"\s*\d ", line)]
    assert numbered[:7] == ["1 ", "2 ", "3 ", "4 ", "5 ", "6 ", "7 "], lines
    assert "done" in text and "still here" in text and "click here" in text
    assert "saferm -rf ~" in text  # reliability row 26: the carriage return is dropped
    assert "[bold]not bold[/bold] [link=https://evil.example]x[/link]" in text  # reliability row 27
    assert "Totally Safe" in text  # reliability row 29: the hostile title is shown, defused


def test_escapes_in_a_server_error_message_are_neutralized(
    scripted_env: dict[str, str],
) -> None:
    message = "bad request \x1b]0;owned\x07 \x9b2J \x1b[2J done\x7f"
    body = json.dumps({"message": message, "code": "bad_request", "type": "invalid_request"})
    reply = [
        (
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body.encode())}\r\nConnection: close\r\n\r\n{body}"
        ).encode()
    ]
    with ScriptedServer(lambda: reply) as server:
        env = {**scripted_env, "MEILICHAT_URL": server.url}
        plain = ask(env)
        as_json = ask(env, "--json")
    assert plain.returncode == 5 and as_json.returncode == 5
    assert "bad request" in plain.stderr and "done" in plain.stderr
    for stream in (plain.stderr, as_json.stderr):
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", stream), repr(stream)
    # A message for people: cleaned in JSON too, its readable text kept.
    shown = json.loads(as_json.stderr)["error"]["message"]
    assert shown.startswith("bad request ]0;owned 2J [2J done")


# == HTTP: limits the server enforces (docs/reliability.md) ===================================


def test_a_server_413_is_explained(clean_env: dict[str, str]) -> None:
    from meilichat_cli.standin import StandInServer

    with StandInServer(master_key=MASTER_KEY, scenario="payload-limit?bytes=4096") as server:
        assert server.chat_key is not None
        env = {
            **clean_env,
            "MEILICHAT_URL": server.url,
            "MEILICHAT_API_KEY": server.chat_key,
            "MEILICHAT_WORKSPACE": server.workspace,
            "MEILICHAT_MODEL": "gpt-4o-mini",
        }
        result = run_cli(["ask", "x" * 10_000], env)
    assert result.returncode == 5
    # Meilisearch refuses a body whose Content-Length is above its limit with a 500 `internal`
    # ("JSON payload (N bytes) is larger than allowed …"), which is explained all the same.
    assert "larger than the server accepts (HTTP 500)" in result.stderr


# == network settings: private CAs, --insecure, proxies =====================================


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> PrivateCA:
    try:
        return make_test_ca(tmp_path_factory.mktemp("ca"))
    except RuntimeError as error:
        pytest.skip(str(error))


@pytest.fixture
def tls_front(standin: StandInServer, test_ca: PrivateCA) -> Iterator[TlsFront]:
    port = int(standin.url.rsplit(":", 1)[1])
    with TlsFront(port, test_ca.server_cert, test_ca.server_key) as front:
        yield front


@pytest.fixture
def tls_env(server_env: dict[str, str], tls_front: TlsFront) -> dict[str, str]:
    env = {**server_env, "MEILICHAT_URL": tls_front.url()}
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE"):
        env.pop(name, None)
    return env


def test_an_untrusted_certificate_names_the_host_and_the_fix(
    tls_env: dict[str, str], tls_front: TlsFront
) -> None:
    result = ask(tls_env)
    assert result.returncode == 6
    assert "TLS certificate verification failed for 127.0.0.1" in result.stderr
    assert "--ca-bundle" in result.stderr and "SSL_CERT_FILE" in result.stderr
    assert tls_front.wait_idle()
    assert tls_front.handshakes_failed == 1, "a refused certificate is not retried"


def test_doctor_on_an_untrusted_certificate_suggests_trusting_the_ca(
    tls_env: dict[str, str],
) -> None:
    # The server is up: "start Meilisearch, or check the URL" would send the user astray.
    result = invoke(["doctor"], env=tls_env)
    assert result.exit_code == 6, result.stderr
    assert "TLS certificate verification failed for 127.0.0.1" in result.stdout
    assert "--ca-bundle" in result.stdout and "SSL_CERT_FILE" in result.stdout
    assert "start Meilisearch" not in result.stdout


def test_max_time_ends_a_silent_answer_over_tls_too(
    tls_env: dict[str, str], test_ca: PrivateCA
) -> None:
    # The deadline wakes a read blocked inside TLS the same way as a plain one.
    env = {**tls_env, "SSL_CERT_FILE": str(test_ca.ca_cert)}
    result = ask(
        env, "--max-time", "1", "--timeout", "60", "-m", "scenario:stall?after=3&seconds=30"
    )
    assert result.returncode == 8, result.stderr
    assert "The answer took longer than 1 s (--max-time)" in result.stderr
    assert result.stdout.strip(), "the partial answer is kept"


def test_ssl_cert_dir_is_trusted_alongside_ssl_cert_file(
    tls_env: dict[str, str], test_ca: PrivateCA, tmp_path: Path
) -> None:
    # Many machines export both (a system bundle in the file): OpenSSL trusts both, so do we.
    directory = tmp_path / "certs"
    directory.mkdir()
    subject_hash = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", str(test_ca.ca_cert)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (directory / f"{subject_hash}.0").write_bytes(test_ca.ca_cert.read_bytes())
    other_bundle = tmp_path / "other.pem"
    other_bundle.write_bytes(test_ca.server_cert.read_bytes())  # a valid PEM, not our CA
    env = {**tls_env, "SSL_CERT_FILE": str(other_bundle), "SSL_CERT_DIR": str(directory)}
    result = ask(env)
    assert result.returncode == 0, result.stderr


def test_a_private_ca_is_trusted_from_flag_environment_or_profile(
    tls_env: dict[str, str], tls_front: TlsFront, test_ca: PrivateCA
) -> None:
    by_flag = ask(tls_env, "--ca-bundle", str(test_ca.ca_cert))
    assert by_flag.returncode == 0, by_flag.stderr
    by_env = ask({**tls_env, "SSL_CERT_FILE": str(test_ca.ca_cert)})
    assert by_env.returncode == 0, by_env.stderr
    added = run_cli(
        ["profile", "add", "corp", "--url", tls_front.url(), "--ca-bundle", str(test_ca.ca_cert)],
        tls_env,
    )
    assert added.returncode == 0, added.stderr
    profile_env = {k: v for k, v in tls_env.items() if k != "MEILICHAT_URL"}
    by_profile = ask(profile_env, "-p", "corp")
    assert by_profile.returncode == 0, by_profile.stderr
    assert "warning" not in by_flag.stderr + by_env.stderr + by_profile.stderr


def test_a_missing_or_unusable_ca_file_is_a_usage_error(
    tls_env: dict[str, str], tmp_path: Path
) -> None:
    missing = ask({**tls_env, "SSL_CERT_FILE": "/missing.pem"})
    assert missing.returncode == 2
    assert "SSL_CERT_FILE points to a missing file: /missing.pem" in missing.stderr
    flag = ask(tls_env, "--ca-bundle", str(tmp_path / "nope.pem"))
    assert flag.returncode == 2
    assert "--ca-bundle points to a missing file" in flag.stderr
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    unusable = ask(tls_env, "--ca-bundle", str(garbage))
    assert unusable.returncode == 2
    assert "holds no usable CA certificates" in unusable.stderr
    assert "Traceback" not in missing.stderr + flag.stderr + unusable.stderr


def test_insecure_warns_on_every_run(tls_env: dict[str, str]) -> None:
    for _ in range(2):
        result = ask(tls_env, "--insecure")
        assert result.returncode == 0, result.stderr
        assert "TLS certificate verification is off (--insecure)" in result.stderr


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    with ForwardProxy() as forward:
        yield forward


def test_requests_go_through_the_proxy_and_debug_names_it(
    server_env: dict[str, str], standin: StandInServer, proxy: ForwardProxy
) -> None:
    with_credentials = proxy.url.replace("http://", "http://alice:pr0xy-pass@")
    env = {**server_env, "HTTP_PROXY": with_credentials, "NO_PROXY": "example.com"}
    result = run_cli(["--debug", "ask", QUESTION], env)
    assert result.returncode == 0, result.stderr
    assert f"debug: proxy: {proxy.url} (from HTTP_PROXY)" in result.stderr
    assert "pr0xy-pass" not in result.stderr + result.stdout
    assert [r.method for r in proxy.requests] == ["POST"]
    sent = proxy.requests[0]
    assert sent.target == f"{standin.url}/chats/{standin.workspace}/chat/completions"
    assert sent.headers["proxy-authorization"].startswith("Basic ")
    assert len(standin.completion_bodies()) == 1


def test_a_cidr_no_proxy_entry_sends_requests_direct(
    server_env: dict[str, str], standin: StandInServer, proxy: ForwardProxy
) -> None:
    env = {**server_env, "HTTP_PROXY": proxy.url, "NO_PROXY": "10.0.0.0/8, 127.0.0.0/8"}
    direct = run_cli(["--debug", "ask", QUESTION], env)
    assert direct.returncode == 0, direct.stderr
    assert "debug: no proxy: NO_PROXY entry '127.0.0.0/8' matches 127.0.0.1" in direct.stderr
    assert proxy.requests == []
    # A network that does not hold the server changes nothing: the proxy is used.
    outside = run_cli(["ask", QUESTION], {**env, "NO_PROXY": "10.0.0.0/8"})
    assert outside.returncode == 0, outside.stderr
    assert len(proxy.requests) == 1
    assert len(standin.completion_bodies()) == 2


def test_https_through_a_proxy_is_tunnelled_with_the_key_inside(
    tls_env: dict[str, str], proxy: ForwardProxy, test_ca: PrivateCA
) -> None:
    env = {**tls_env, "HTTPS_PROXY": proxy.url, "HTTP_PROXY": "http://127.0.0.1:9"}
    result = run_cli(["ask", "--ca-bundle", str(test_ca.ca_cert), QUESTION], env)
    assert result.returncode == 0, result.stderr
    assert [r.method for r in proxy.requests] == ["CONNECT"]
    key = env["MEILICHAT_API_KEY"]
    assert all(key not in value for value in proxy.requests[0].headers.values())
    assert "authorization" not in proxy.requests[0].headers


def test_an_unreachable_proxy_is_named_without_its_credentials(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    env = {**server_env, "HTTP_PROXY": "http://alice:pr0xy-pass@127.0.0.1:9", "NO_PROXY": ""}
    result = ask(env)
    assert result.returncode == 6
    assert "through the proxy http://127.0.0.1:9 (HTTP_PROXY): connection refused" in result.stderr
    assert "NO_PROXY" in result.stderr
    assert "pr0xy-pass" not in result.stderr
    assert standin.completion_bodies() == []


# == secrets ================================================================================


def test_a_sentinel_key_never_appears_in_admin_or_doctor_output(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    assert standin.admin_key is not None
    wrong = {**server_env, "MEILICHAT_API_KEY": SENTINEL}
    admin = {**server_env, "MEILICHAT_API_KEY": standin.admin_key}
    refused = {**wrong, "MEILICHAT_URL": "http://127.0.0.1:9"}
    runs: list[tuple[list[str], dict[str, str], str]] = [
        # The sentinel as the provider key a workspace keeps, read back every way.
        (["workspace", "set", "--provider-key-stdin", "--source", "openAi"], admin, SENTINEL),
        (["workspace", "show"], admin, ""),
        (["workspace", "show", "--json"], admin, ""),
        (["--debug", "workspace", "list", "--long"], admin, ""),
        (["doctor"], admin, ""),
        (["doctor", "--json"], admin, ""),
        # The sentinel as a rejected key, through every admin command and doctor.
        (["workspace", "list"], wrong, ""),
        (["--debug", "workspace", "show", "--json"], wrong, ""),
        (["index", "chat-settings", "movies"], wrong, ""),
        (["--debug", "index", "chat-settings", "movies", "--limit", "3"], wrong, ""),
        (["key", "create", "--admin-key-stdin"], server_env, SENTINEL + "\n"),
        (["--debug", "key", "create", "--admin-key-stdin", "--json"], server_env, SENTINEL),
        (["workspace", "list", "--api-key", SENTINEL], server_env, ""),
        (["doctor"], wrong, ""),
        (["--debug", "doctor", "--json"], wrong, ""),
        (["--debug", "doctor"], refused, ""),
        (["--debug", "workspace", "list"], refused, ""),
        (["--debug", "ask", "-m", "scenario:reset?after=2", QUESTION], wrong, ""),
    ]
    for args, env, stdin in runs:
        result = run_cli(args, env, input=stdin)
        assert SENTINEL not in result.stdout, args
        assert SENTINEL not in result.stderr, args


SITECUSTOMIZE = """\
# Makes the renderer fail the way a bug would, after the key is loaded and the stream open.
import meilichat_cli.ui.output as output


def explode(self, event):
    api_key = "{sentinel}"  # a local holding a secret: a traceback must not show it
    raise RuntimeError("renderer exploded")


output.PlainOutput.on_event = explode
output.TerminalOutput.on_event = explode
"""


def test_an_internal_error_is_one_line_and_never_shows_secrets(
    clean_env: dict[str, str], tmp_path: Path
) -> None:
    from meilichat_cli.standin import StandInServer

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE.format(sentinel=SENTINEL))
    # Without a master key the server takes any key, so the sentinel opens the stream and
    # the renderer gets to run.
    with StandInServer() as server:
        env = {
            **clean_env,
            "MEILICHAT_URL": server.url,
            "MEILICHAT_API_KEY": SENTINEL,
            "MEILICHAT_WORKSPACE": server.workspace,
            "MEILICHAT_MODEL": "gpt-4o-mini",
            "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        }
        plain = run_meilichat(["ask", QUESTION], env)
        debug = run_meilichat(["--debug", "ask", QUESTION], env)
        terminal = run_on_terminal(["ask", QUESTION], env)
    assert plain.returncode == 1
    assert plain.stderr == (
        "meilichat: internal error (RuntimeError); rerun with --debug for details\n"
    )
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr and "renderer exploded" in debug.stderr
    assert terminal.returncode == 1
    assert "internal error (RuntimeError); rerun with --debug" in terminal.stdout
    assert "Traceback" not in terminal.stdout
    for text in (plain.stdout, plain.stderr, debug.stdout, debug.stderr, terminal.stdout):
        assert SENTINEL not in text, "no key, and no local variable, is ever printed"


def test_a_key_typed_at_a_hidden_prompt_never_reaches_the_repl_history(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    env = {**server_env, "MEILICHAT_STATE_DIR": str(state)}
    added = run_cli(["profile", "add", "local", "--url", env["MEILICHAT_URL"]], env)
    assert added.returncode == 0, added.stderr
    # `key set` on a terminal: the hidden prompt reads the sentinel.
    with on_terminal(["key", "set"], env) as (proc, master):
        PtyReader(master).expect("API key for profile 'local'")
        wait_for_hidden_input(master)
        os.write(master, SENTINEL.encode() + b"\r")
        typed = read_until_closed(master).decode("utf-8", "replace")
        assert proc.wait(timeout=30) == 0, typed
    assert SENTINEL not in typed, "the hidden prompt echoed the key"
    credentials = Path(env["MEILICHAT_CONFIG_DIR"]) / "credentials.toml"
    assert SENTINEL in credentials.read_text()
    # A REPL session (with the working key from the environment) writes its input history.
    with on_terminal(["chat"], env) as (proc, master):
        screen = PtyReader(master)
        screen.type_at_prompt("which space movies?\r")
        screen.expect(r"movies · ")
        screen.type_at_prompt("\x04")  # Ctrl-D at an empty prompt leaves
        assert proc.wait(timeout=15) == 0
    repl_history = state / "repl-history"
    saved = repl_history.read_text()
    assert "which space movies?" in saved
    assert SENTINEL not in saved
    # Every file meilichat wrote is private, and only the credentials file holds the key.
    config_dir, data_dir = Path(env["MEILICHAT_CONFIG_DIR"]), Path(env["MEILICHAT_DATA_DIR"])
    written = [*config_dir.iterdir(), *data_dir.iterdir(), repl_history]
    assert {path.name for path in written} >= {"config.toml", "credentials.toml", "history.sqlite3"}
    for path in written:
        assert path.stat().st_mode & 0o777 == 0o600, path
        if path != credentials and path.is_file():
            assert SENTINEL.encode() not in path.read_bytes(), path


# == limits =================================================================================


def test_an_answer_over_16_mib_is_cut_and_kept(scripted_env: dict[str, str]) -> None:
    piece = "a" * MiB

    def reply() -> Iterator[bytes]:
        yield from stream_reply(
            *(data_line(sse_chunk(piece)) for _ in range(17)),
            data_line(sse_chunk(None, "stop")),
            data_line("[DONE]"),
        )

    with ScriptedServer(reply) as server:
        result = ask({**scripted_env, "MEILICHAT_URL": server.url})
    assert result.returncode == 5
    assert "answer exceeds 16 MiB limit" in result.stderr
    assert result.stdout == piece * 16 + "\n", "the answer up to the limit is kept"
    assert history(scripted_env)[0]["last_status"] == "truncated"


# == environment, terminal and local storage (docs/reliability.md) ============================


@pytest.mark.parametrize("encoding", ["ascii", "cp1252"])
def test_an_output_encoding_without_the_characters_shows_question_marks(
    server_env: dict[str, str], encoding: str
) -> None:
    env = {**server_env, "PYTHONIOENCODING": encoding}
    result = subprocess.run(
        [sys.executable, "-m", "meilichat_cli", "ask", "-m", "scenario:escapes", QUESTION],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode(encoding)
    assert "?" in out and "done" in out  # "✓ done": the check mark cannot be shown
    failed = subprocess.run(
        [sys.executable, "-m", "meilichat_cli", "ask", "-w", "café→", QUESTION],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert failed.returncode == 2
    assert b"invalid workspace" in failed.stderr
    assert b"Traceback" not in failed.stderr + result.stderr


def test_undecodable_stdin_does_not_crash(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "meilichat_cli", "ask", "summarise"],
        env=server_env,
        input=b"caf\xe9 notes\n",
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    sent = standin.completion_bodies()[-1]["messages"][-1]["content"]
    assert sent == "caf\ufffd notes\n\nsummarise"


def test_ask_works_without_a_usable_home(server_env: dict[str, str]) -> None:
    xdg = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")
    drop = {"HOME", "MEILICHAT_CONFIG_DIR", "MEILICHAT_DATA_DIR", *xdg}
    base = {k: v for k, v in server_env.items() if k not in drop}
    # /proc cannot be written, not even by root: a read-only home anyone can reproduce.
    read_only = run_cli(["ask", QUESTION], {**base, "HOME": "/proc"})
    # HOME unset, and the XDG directories (where the files would go instead) unwritable.
    unset = run_cli(["ask", QUESTION], {**base, **{name: "/proc/meilichat" for name in xdg}})
    for result in (read_only, unset):
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip()
        assert "meilichat: warning: history is off for this run" in result.stderr
        assert "Traceback" not in result.stderr


# == the table in docs/reliability.md =========================================================

RELIABILITY = TESTS.parent / "docs" / "reliability.md"
ROW = re.compile(r"^\| (\d{2}b?) \|")
REFERENCE = re.compile(r"`(test_\w+\.py)::(\w+)`")


def parse_table(doc: str) -> dict[str, list[tuple[str, str]]]:
    """Row number -> the (file, test) pairs its last cell names."""
    rows: dict[str, list[tuple[str, str]]] = {}
    for line in doc.splitlines():
        found = ROW.match(line)
        if found:
            assert found.group(1) not in rows, f"row {found.group(1)} is listed twice"
            rows[found.group(1)] = REFERENCE.findall(line.rsplit("|", 2)[1])
    return rows


def test_the_table_in_the_docs_names_a_test_for_every_row() -> None:
    doc = RELIABILITY.read_text(encoding="utf-8")
    rows = parse_table(doc)
    expected = [f"{n:02d}" for n in range(1, 69)]
    expected.insert(expected.index("37"), "36b")
    assert list(rows) == expected, "every row, in order"
    for row, references in rows.items():
        assert references, f"row {row} has no test"
    missing = []
    for file_name, test_name in REFERENCE.findall(doc):
        path = TESTS / file_name
        if not path.exists() or not re.search(
            rf"^def {test_name}\(", path.read_text(encoding="utf-8"), re.MULTILINE
        ):
            missing.append(f"{file_name}::{test_name}")
    assert missing == [], "tests named in docs/reliability.md that do not exist"
