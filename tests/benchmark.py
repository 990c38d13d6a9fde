"""Benchmark meilichat against its performance budget, its floors and its peers.

    python tests/benchmark.py [--quick] [--repeat N] [--json FILE] [--only GROUP,...]

One run measures every budget line, interleaving the contenders of a group and repeating each
several times (7 by default, 3 with --quick; the 20-second paced answer runs at most 3 times),
after one untimed warm-up run of each. It prints a table of medians, ratios and PASS/FAIL,
and writes every sample as JSON (default bench-results.json).

Groups (`--only`):
    startup  `meilichat --version` / `--help` against `python -c pass` (and `llm`/`sgpt
             --version` when installed), output to a pipe
    pipe     `ask` to a pipe, 50 tokens, against `curl -sN` and a minimal raw httpx client
             sending the same request body
    ttft     time to first answer byte on a pseudo-terminal, the server waiting 300 ms
    long     500 / 2,000 / 8,000-token markdown answers on a pseudo-terminal: wall, CPU,
             bytes written, against curl
    paced    2,000 tokens at 100 tokens/s on a pseudo-terminal: client CPU, display lag;
             the raw httpx client's CPU on the same stream (bare text) as the floor
    repl     `meilichat chat`: start to prompt, the first turn typed at once, then a warm turn
             (the second of the session): Enter to first answer text, Enter to prompt back

The stand-in server runs in this process, in a thread, on 127.0.0.1; every client runs in
its own process with private config and data directories. meilichat is the console script
installed beside this Python (a shell shim such as pyenv's would add its own start-up), else
`python -m meilichat_cli`; it runs from bytecode, as an install would (the checkout is
compiled first, and PYTHONDONTWRITEBYTECODE is not passed on). Wall times are measured from
spawn; CPU times are the child's user+system time (`os.wait4`). Display lag is the time from
the server handing the last event of the stream to its socket to the last byte the client
wrote to the terminal (the answer's end, and the sources list printed after it: a
conservative measure).

To show where a difference comes from, the time-to-first-token group also reports when each
request reached the server, and both floors include a "lean" raw httpx client that turns off
the same two optional imports as meilichat's entry point (meilichat_cli/__main__.py).

Imports the stand-in server and the request builder of meilichat_cli (from this checkout);
meilichat itself only ever runs as a child process. Not collected by pytest (the file name
does not match `test_*.py`).
"""

from __future__ import annotations

import argparse
import compileall
import datetime
import errno
import fcntl
import http.client
import json
import os
import platform
import pty
import re
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import sysconfig
import tempfile
import termios
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from meilichat_cli.protocol.conversation import build_request  # noqa: E402
from meilichat_cli.standin import StandInServer  # noqa: E402

ROWS, COLUMNS = 40, 100
MASTER_KEY = "benchmark-master-key-0123456789abcdef"
QUESTION = "space movies"
PIPE_MODEL = "scenario:long?tokens=50"
TTFT_MODEL = "scenario:first-delay?ms=300"
PACED_MODEL = "scenario:paced?rate=100&tokens=2000"
LONG_SIZES = (500, 2000, 8000)
REPL_MODEL = "scenario:long?tokens=50"
PACED_MAX_REPEAT = 3
RUN_TIMEOUT = 120.0
GROUPS = ("startup", "pipe", "ttft", "long", "paced", "repl")
TTFT_CONTENDERS = ("meilichat ask", "curl -sN", "raw httpx", "raw httpx, lean imports")

# A "minimal raw httpx client": stream the same request, print each content delta as it
# arrives. Run with the same Python as meilichat; argv: URL KEY BODY_FILE.
HTTPX_CLIENT = """
import json, sys
{prelude}import httpx
url, key, body_file = sys.argv[1:4]
with open(body_file, "rb") as f:
    body = f.read()
headers = {"Authorization": "Bearer " + key, "Content-Type": "application/json",
           "Accept": "text/event-stream"}
out = sys.stdout
with httpx.Client(timeout=60) as client:
    with client.stream("POST", url, content=body, headers=headers) as response:
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            for choice in json.loads(line[6:]).get("choices") or []:
                text = (choice.get("delta") or {}).get("content")
                if text:
                    out.write(text)
                    out.flush()
out.write("\\n")
"""
# The same client with the two optional imports meilichat's entry point turns off (see
# meilichat_cli/__main__.py): what is left of the difference is meilichat's own work.
LEAN_PRELUDE = 'sys.modules.setdefault("httpx._main", None); sys.modules.setdefault("trio", None)\n'

# prompt_toolkit's empty prompt: ">" directly followed by a style reset (an accepted line has
# its text after the ">"), ready for input once the cursor is shown again.
PROMPT_READY = re.compile(rb">(?:\x1b\[[0-9;]*m)+.*?\x1b\[\?25h", re.S)
CURSOR_POSITION_REQUEST = b"\x1b[6n"


class TimedServer(StandInServer):
    """The stand-in server, noting when each request arrived (time.monotonic())."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.arrivals: list[float] = []

    def record(self, item: Any) -> None:
        self.arrivals.append(time.monotonic())
        super().record(item)


class BenchError(Exception):
    """A contender failed (exit status, timeout, missing output): reported, not fatal."""


# ---------------------------------------------------------------------------------------------
# Running one process.


@dataclass
class Run:
    """One process run: seconds from spawn, the child's CPU seconds, bytes it wrote."""

    wall: float
    cpu: float
    out_bytes: int
    first: float | None = None  # seconds from spawn to the marker (first answer text)
    last_byte_at: float = 0.0  # time.monotonic() of the last byte read from its output
    started: float = 0.0  # time.monotonic() at spawn


def _usage_seconds(usage: Any) -> float:
    return float(usage.ru_utime + usage.ru_stime)


def _exit_code(status: int) -> int:
    return os.waitstatus_to_exitcode(status)


def run_piped(argv: Sequence[str], env: dict[str, str]) -> Run:
    """Run with stdin from /dev/null and stdout to a pipe read to the end."""
    with tempfile.TemporaryFile() as errors:
        start = time.monotonic()
        process = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors, env=env
        )
        assert process.stdout is not None
        output = process.stdout.read()
        process.stdout.close()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - start
        process.returncode = _exit_code(status)
        if process.returncode != 0:
            errors.seek(0)
            tail = errors.read()[-600:].decode(errors="replace")
            raise BenchError(f"{argv[0]} exited {process.returncode}: {tail.strip()}")
    return Run(wall=wall, cpu=_usage_seconds(usage), out_bytes=len(output))


class Terminal:
    """A child on a pseudo-terminal, read the way a terminal emulator reads it: every byte as
    it comes, answering cursor-position requests (prompt_toolkit asks for them)."""

    def __init__(self, argv: Sequence[str], env: dict[str, str]) -> None:
        program = shutil.which(argv[0], path=env.get("PATH")) or argv[0]
        args = [program, *argv[1:]]
        self.output = bytearray()
        self.eof = False
        self._answered = 0
        self.started = time.monotonic()
        self.last_byte_at = self.started
        pid, fd = pty.fork()
        if pid == 0:  # the child: size the terminal, become the program
            try:
                winsize = struct.pack("HHHH", ROWS, COLUMNS, 0, 0)
                fcntl.ioctl(0, termios.TIOCSWINSZ, winsize)
                os.execve(program, args, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self._status: tuple[int, float] | None = None

    def _read(self, timeout: float) -> bool:
        """Read what is there (waiting up to `timeout`); False at the end of output."""
        if self.eof:
            return False
        ready, _, _ = select.select([self.fd], [], [], max(timeout, 0))
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError as error:  # EIO: every holder of the terminal's other side is gone
            if error.errno != errno.EIO:
                raise
            data = b""
        if not data:
            self.eof = True
            return False
        self.last_byte_at = time.monotonic()
        self.output += data
        self._answer_position_requests()
        return True

    def _answer_position_requests(self) -> None:
        while True:
            found = self.output.find(CURSOR_POSITION_REQUEST, self._answered)
            if found < 0:
                self._answered = max(self._answered, len(self.output) - 3)
                return
            self._answered = found + len(CURSOR_POSITION_REQUEST)
            os.write(self.fd, b"\x1b[1;1R")

    def expect(self, pattern: re.Pattern[bytes], start: int, timeout: float = RUN_TIMEOUT) -> float:
        """Read until `pattern` matches the output after `start`; return when (monotonic)."""
        deadline = time.monotonic() + timeout
        while True:
            match = pattern.search(self.output, start)
            if match is not None:
                return self.last_byte_at
            if not self._read(min(0.5, deadline - time.monotonic())):
                raise BenchError(f"output ended before {pattern.pattern!r}: {self.tail()}")
            if time.monotonic() > deadline:
                raise BenchError(f"no {pattern.pattern!r} within {timeout:.0f} s: {self.tail()}")

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def finish(self, timeout: float = RUN_TIMEOUT) -> tuple[int, float]:
        """Read to the end of output, reap the child: (exit code, CPU seconds)."""
        deadline = time.monotonic() + timeout
        while self._read(min(0.5, deadline - time.monotonic())):
            if time.monotonic() > deadline:
                self.kill()
                raise BenchError(f"still running after {timeout:.0f} s: {self.tail()}")
        return self._reap()

    def _reap(self) -> tuple[int, float]:
        if self._status is None:
            _, status, usage = os.wait4(self.pid, 0)
            self._status = (_exit_code(status), _usage_seconds(usage))
            os.close(self.fd)
        return self._status

    def kill(self) -> None:
        if self._status is None:
            os.kill(self.pid, signal.SIGKILL)
            self._reap()

    def tail(self) -> str:
        return bytes(self.output[-400:]).decode(errors="replace")


def run_on_terminal(argv: Sequence[str], env: dict[str, str], marker: bytes | None = None) -> Run:
    """Run on a pseudo-terminal to the end; `first` is when `marker` appeared."""
    terminal = Terminal(argv, env)
    try:
        first = None
        if marker is not None:
            first = terminal.expect(re.compile(re.escape(marker)), 0) - terminal.started
        code, cpu = terminal.finish()
        wall = time.monotonic() - terminal.started
    finally:
        terminal.kill()
    end = max(terminal.last_byte_at, terminal.started)
    if code != 0:
        raise BenchError(f"{argv[0]} exited {code}: {terminal.tail()}")
    return Run(wall, cpu, len(terminal.output), first, end, terminal.started)


# ---------------------------------------------------------------------------------------------
# Samples, groups and interleaving.


@dataclass
class Series:
    """The samples of one contender in one measure."""

    samples: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples and not self.error else None


Results = dict[str, dict[str, Series]]  # measure -> contender -> samples


def interleave(
    bench: Bench, contenders: dict[str, Callable[[], dict[str, float]]], results: Results
) -> None:
    """Warm each contender up once, then run them in rotating order `repeat` times.

    A contender returns {measure: value}; a failure marks its measures and drops it."""
    names = list(contenders)
    failed: dict[str, str] = {}
    for round_ in range(bench.repeat + 1):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            if name in failed:
                continue
            try:
                values = contenders[name]()
            except BenchError as error:
                failed[name] = str(error)
                bench.progress(f"  {name}: FAILED {error}")
                continue
            if round_ == 0:
                continue  # the warm-up: page cache, bytecode, the server's first search
            for measure, value in values.items():
                results.setdefault(measure, {}).setdefault(name, Series()).samples.append(value)
        bench.progress(f"  round {round_}/{bench.repeat} done" if round_ else "  warm-up done")
    for name, message in failed.items():
        bench.failures.append(f"{name}: {message}")
        for per_contender in results.values():
            if name in per_contender:
                per_contender[name].error = message


# ---------------------------------------------------------------------------------------------
# The environment: server, commands, request bodies.


@dataclass
class Bench:
    server: TimedServer
    env: dict[str, str]
    meilichat: list[str]
    meilichat_how: str
    workdir: Path
    repeat: int
    paced_repeat: int
    progress: Callable[[str], None]
    bodies: dict[str, Path] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        key = self.server.chat_key
        assert key is not None
        return key

    @property
    def completions_url(self) -> str:
        return f"{self.server.url}/chats/{self.server.workspace}/chat/completions"

    def body_file(self, model: str) -> Path:
        """The exact body meilichat sends for QUESTION, for curl and the httpx client."""
        if model not in self.bodies:
            body = build_request(model, [{"role": "user", "content": QUESTION}])
            path = self.workdir / f"body-{len(self.bodies)}.json"
            path.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
            self.bodies[model] = path
        return self.bodies[model]

    def ask(self, model: str) -> list[str]:
        return [*self.meilichat, "ask", "-m", model, QUESTION]

    def curl(self, model: str) -> list[str]:
        return [
            "curl",
            "-sN",
            "-H",
            f"Authorization: Bearer {self.key}",
            "-H",
            "Content-Type: application/json",
            "-H",
            "Accept: text/event-stream",
            "--data-binary",
            f"@{self.body_file(model)}",
            self.completions_url,
        ]

    def httpx_client(self, model: str, *, lean: bool = False) -> list[str]:
        return [
            sys.executable,
            "-c",
            HTTPX_CLIENT.replace("{prelude}", LEAN_PRELUDE if lean else ""),
            self.completions_url,
            self.key,
            str(self.body_file(model)),
        ]

    def first_answer_text(self, model: str) -> bytes:
        """The first words of the answer's first content delta: what marks "first token"."""
        parts = urlsplit(self.server.url)
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
        try:
            connection.request(
                "POST",
                urlsplit(self.completions_url).path,
                body=self.body_file(model).read_bytes(),
                headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
            )
            raw = connection.getresponse().read().decode("utf-8")
        finally:
            connection.close()
        for line in raw.splitlines():
            if not line.startswith("data: {"):
                continue
            for choice in json.loads(line[6:]).get("choices") or []:
                text = (choice.get("delta") or {}).get("content") or ""
                words = text.split()
                if words:
                    # Plain words only: markdown or quotes could be drawn differently.
                    plain = [w for w in words[:2] if re.fullmatch(r"[A-Za-z']+", w)]
                    return " ".join(plain or words[:1]).encode()
        raise BenchError(f"no answer text from {model}")


def find_meilichat() -> tuple[list[str], str]:
    """The installed console script beside this Python, else `python -m meilichat_cli`."""
    candidates = [Path(sysconfig.get_path("scripts")) / "meilichat"]
    on_path = shutil.which("meilichat")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        try:
            first_line = candidate.read_bytes().split(b"\n", 1)[0]
        except OSError:
            continue
        # A console script starts with a Python shebang; a version manager's shim is a shell
        # script whose own start-up would be measured too.
        if first_line.startswith(b"#!") and b"python" in first_line:
            return [str(candidate)], f"console script {candidate}"
    return [
        sys.executable,
        "-m",
        "meilichat_cli",
    ], f"{sys.executable} -m meilichat_cli (not installed)"


def client_environment(server: StandInServer, workdir: Path, *, installed: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEILICHAT_", "MEILI_"))}
    # People run meilichat from bytecode (pip writes it at install time); with this set, every
    # run of a checkout would compile it from source again (~30 ms) and be measured doing so.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for variable in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_COLOR"):
        env.pop(variable, None)
        env.pop(variable.lower(), None)
    env.update(
        {
            "MEILICHAT_URL": server.url,
            "MEILICHAT_API_KEY": server.chat_key or "",
            "MEILICHAT_WORKSPACE": server.workspace,
            "MEILICHAT_MODEL": "gpt-4o-mini",
            "MEILICHAT_CONFIG_DIR": str(workdir / "config"),
            "MEILICHAT_DATA_DIR": str(workdir / "data"),
            "MEILICHAT_STATE_DIR": str(workdir / "state"),
            "TERM": "xterm-256color",
            "COLUMNS": str(COLUMNS),
            "LINES": str(ROWS),
            "LANG": env.get("LANG") or "C.UTF-8",
        }
    )
    if not installed:  # `python -m meilichat_cli` must find this checkout
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


# ---------------------------------------------------------------------------------------------
# The groups.


def bench_startup(bench: Bench, results: Results) -> None:
    env = bench.env
    contenders: dict[str, Callable[[], dict[str, float]]] = {}

    def cold(argv: list[str], measure: str) -> Callable[[], dict[str, float]]:
        return lambda: {measure: run_piped(argv, env).wall}

    contenders["python -c pass"] = cold([sys.executable, "-c", "pass"], "startup")
    contenders["meilichat --version"] = cold([*bench.meilichat, "--version"], "startup")
    contenders["meilichat --help"] = cold([*bench.meilichat, "--help"], "startup")
    for peer in ("llm", "sgpt"):
        program = shutil.which(peer)
        if program:
            contenders[f"{peer} --version"] = cold([program, "--version"], "startup")
    interleave(bench, contenders, results)


def bench_pipe(bench: Bench, results: Results) -> None:
    env, model = bench.env, PIPE_MODEL

    def pipe(argv: list[str]) -> Callable[[], dict[str, float]]:
        return lambda: {"pipe": run_piped(argv, env).wall}

    check_same_answer(bench)
    interleave(
        bench,
        {
            "meilichat ask": pipe(bench.ask(model)),
            "curl -sN": pipe(bench.curl(model)),
            "raw httpx": pipe(bench.httpx_client(model)),
            "raw httpx, lean imports": pipe(bench.httpx_client(model, lean=True)),
        },
        results,
    )


def check_same_answer(bench: Bench) -> None:
    """meilichat in a pipe and the raw httpx client must print the same text."""
    outputs = []
    for argv in (bench.ask(PIPE_MODEL), bench.httpx_client(PIPE_MODEL)):
        done = subprocess.run(
            argv,
            env=bench.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
            check=False,
        )
        outputs.append(done.stdout.rstrip(b"\n"))
    if outputs[0] != outputs[1]:
        bench.progress("  warning: meilichat and the httpx client printed different answers")


def bench_ttft(bench: Bench, results: Results) -> None:
    env, model = bench.env, TTFT_MODEL
    marker = bench.first_answer_text(model)

    arrivals = bench.server.arrivals

    def first(argv: list[str]) -> Callable[[], dict[str, float]]:
        def measure() -> dict[str, float]:
            seen = len(arrivals)
            run = run_on_terminal(argv, env, marker)
            assert run.first is not None
            if len(arrivals) != seen + 1:
                raise BenchError(f"expected one request, the server saw {len(arrivals) - seen}")
            # Where the time goes: start-up until the request reaches the server.
            return {"ttft": run.first, "ttft:request": arrivals[seen] - run.started}

        return measure

    interleave(
        bench,
        {
            "meilichat ask": first(bench.ask(model)),
            "curl -sN": first(bench.curl(model)),
            "raw httpx": first(bench.httpx_client(model)),
            "raw httpx, lean imports": first(bench.httpx_client(model, lean=True)),
        },
        results,
    )


def bench_long(bench: Bench, results: Results) -> None:
    env = bench.env
    contenders: dict[str, Callable[[], dict[str, float]]] = {}

    def long(argv: list[str], tokens: int) -> Callable[[], dict[str, float]]:
        def measure() -> dict[str, float]:
            run = run_on_terminal(argv, env)
            return {
                f"long{tokens}:wall": run.wall,
                f"long{tokens}:cpu": run.cpu,
                f"long{tokens}:bytes": float(run.out_bytes),
            }

        return measure

    for tokens in LONG_SIZES:
        model = f"scenario:long?tokens={tokens}"
        contenders[f"meilichat ask {tokens}"] = long(bench.ask(model), tokens)
        contenders[f"curl -sN {tokens}"] = long(bench.curl(model), tokens)
    interleave(bench, contenders, results)
    # One series per contender name: fold "meilichat ask 500" into "meilichat ask".
    for tokens in LONG_SIZES:
        for kind in ("wall", "cpu", "bytes"):
            measure = results.get(f"long{tokens}:{kind}", {})
            for name in list(measure):
                measure[name.rsplit(" ", 1)[0]] = measure.pop(name)


def bench_paced(bench: Bench, results: Results) -> None:
    """meilichat, and the raw httpx client printing bare text: the CPU floor of the stream."""
    env = bench.env
    stats = bench.server.stats
    contenders = {
        "meilichat ask": bench.ask(PACED_MODEL),
        "raw httpx": bench.httpx_client(PACED_MODEL),
    }

    def paced(argv: list[str]) -> dict[str, float]:
        stats.last_stream_end = None  # so a run whose stream never ended cannot reuse one
        run = run_on_terminal(argv, env)
        server_end = stats.last_stream_end
        if server_end is None:
            raise BenchError("the server recorded no stream end")
        return {"paced:cpu": run.cpu, "paced:lag": run.last_byte_at - server_end}

    repeat = bench.paced_repeat
    names = list(contenders)
    for number in range(repeat):
        for name in names[number % 2 :] + names[: number % 2]:
            try:
                values = paced(contenders[name])
            except BenchError as error:
                bench.failures.append(f"{name} (paced): {error}")
                return
            for measure, value in values.items():
                results.setdefault(measure, {}).setdefault(name, Series()).samples.append(value)
        bench.progress(f"  paced run {number + 1}/{repeat} done")


def bench_repl(bench: Bench, results: Results) -> None:
    env = bench.env
    marker = re.compile(re.escape(bench.first_answer_text(REPL_MODEL)))

    def session() -> dict[str, float]:
        terminal = Terminal([*bench.meilichat, "chat", "-m", REPL_MODEL], env)
        try:
            prompt = terminal.expect(PROMPT_READY, 0, timeout=30) - terminal.started
            timings: dict[str, float] = {"repl:prompt": prompt}
            for turn in ("first", "warm"):
                start = len(terminal.output)
                terminal.send(QUESTION.encode())
                terminal.expect(re.compile(re.escape(QUESTION.encode())), start, timeout=10)
                start = len(terminal.output)
                sent = time.monotonic()
                terminal.send(b"\r")
                first = terminal.expect(marker, start, timeout=30)
                answered = len(terminal.output)
                back = terminal.expect(PROMPT_READY, answered - 1, timeout=30)
                timings[f"repl:{turn}:first"] = first - sent
                timings[f"repl:{turn}:prompt"] = back - sent
            terminal.send(b"\x04")
            code, _ = terminal.finish(timeout=30)
        finally:
            terminal.kill()
        if code != 0:
            raise BenchError(f"meilichat chat exited {code}: {terminal.tail()}")
        return timings

    interleave(bench, {"meilichat chat": session}, results)


# ---------------------------------------------------------------------------------------------
# The report.


@dataclass
class Line:
    """One row of the table: a budget line (or an informative one)."""

    measure: str
    measured: str
    compared: str
    budget: str
    verdict: str  # PASS, FAIL, info, n/a


def _median(results: Results, measure: str, contender: str) -> float | None:
    series = results.get(measure, {}).get(contender)
    return series.median if series is not None else None


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.0f} ms"


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def budget_lines(results: Results) -> list[Line]:
    lines: list[Line] = []

    floor = _median(results, "startup", "python -c pass")
    for what in ("--version", "--help"):
        cold = _median(results, "startup", f"meilichat {what}")
        ratio = cold / floor if cold is not None and floor else None
        ok = None if ratio is None else ratio <= 7
        lines.append(
            Line(
                f"meilichat {what} cold start",
                _ms(cold),
                f"python -c pass {_ms(floor)}; {ratio:.1f}×" if ratio else "n/a",
                "≤ 7× python -c pass" if what == "--version" else "(none)",
                _verdict(ok) if what == "--version" else "info",
            )
        )
    for peer in ("llm", "sgpt"):
        cold = _median(results, "startup", f"{peer} --version")
        if cold is not None and floor:
            lines.append(
                Line(
                    f"peer: {peer} --version",
                    _ms(cold),
                    f"{cold / floor:.1f}× python -c pass",
                    "",
                    "info",
                )
            )

    ask = _median(results, "pipe", "meilichat ask")
    raw = _median(results, "pipe", "raw httpx")
    curl = _median(results, "pipe", "curl -sN")
    ok = None if ask is None or raw is None else ask <= raw + 0.040
    lean = _median(results, "pipe", "raw httpx, lean imports")
    compared = (
        f"raw httpx {_ms(raw)} ({_signed(ask, raw)}); "
        f"lean {_ms(lean)} ({_signed(ask, lean)}); curl {_ms(curl)}"
    )
    lines.append(
        Line("ask to a pipe, 50 tokens", _ms(ask), compared, "≤ raw httpx + 40 ms", _verdict(ok))
    )

    ttft = _median(results, "ttft", "meilichat ask")
    curl = _median(results, "ttft", "curl -sN")
    raw = _median(results, "ttft", "raw httpx")
    ok = None if ttft is None or curl is None else ttft - curl <= 0.140
    lean = _median(results, "ttft", "raw httpx, lean imports")
    compared = f"curl {_ms(curl)} ({_signed(ttft, curl)}); raw httpx {_ms(raw)}; lean {_ms(lean)}"
    lines.append(
        Line(
            "time to first token, server waits 300 ms",
            _ms(ttft),
            compared,
            "≤ curl + 140 ms",
            _verdict(ok),
        )
    )

    reached = {name: _median(results, "ttft:request", name) for name in TTFT_CONTENDERS}
    if any(value is not None for value in reached.values()):
        lines.append(
            Line(
                "  of which: spawn → request at the server",
                _ms(reached["meilichat ask"]),
                f"curl {_ms(reached['curl -sN'])}; raw httpx {_ms(reached['raw httpx'])}; "
                f"lean {_ms(reached['raw httpx, lean imports'])}",
                "",
                "info",
            )
        )

    for tokens in LONG_SIZES:
        wall = _median(results, f"long{tokens}:wall", "meilichat ask")
        curl = _median(results, f"long{tokens}:wall", "curl -sN")
        cpu = _median(results, f"long{tokens}:cpu", "meilichat ask")
        size = _median(results, f"long{tokens}:bytes", "meilichat ask")
        curl_size = _median(results, f"long{tokens}:bytes", "curl -sN")
        ratio = wall / curl if wall is not None and curl else None
        measured = f"{_ms(wall)} wall, {_ms(cpu)} CPU, {_kib(size)}"
        compared = f"curl {_ms(curl)}, {_kib(curl_size)}" + (f"; {ratio:.1f}×" if ratio else "")
        if tokens == max(LONG_SIZES):
            ok = None if ratio is None else ratio <= 12
            lines.append(
                Line(
                    f"{tokens}-token answer on a terminal",
                    measured,
                    compared,
                    "≤ 12× curl",
                    _verdict(ok),
                )
            )
        else:
            lines.append(
                Line(f"{tokens}-token answer on a terminal", measured, compared, "", "info")
            )
    big = _median(results, f"long{max(LONG_SIZES)}:wall", "meilichat ask")
    mid = _median(results, "long2000:wall", "meilichat ask")
    growth = big / mid if big is not None and mid else None
    lines.append(
        Line(
            f"growth wall({max(LONG_SIZES)})/wall(2000)",
            "n/a" if growth is None else f"{growth:.2f}",
            "4.0 would be linear with no fixed cost",
            "≤ 2",
            _verdict(None if growth is None else growth <= 2),
        )
    )

    cpu = _median(results, "paced:cpu", "meilichat ask")
    raw_cpu = _median(results, "paced:cpu", "raw httpx")
    lag = _median(results, "paced:lag", "meilichat ask")
    lines.append(
        Line(
            "paced 100 tokens/s, 2,000 tokens: CPU",
            _ms(cpu),
            f"raw httpx, bare text: {_ms(raw_cpu)}" if raw_cpu is not None else "",
            "≤ 1.5 s",
            _verdict(None if cpu is None else cpu <= 1.5),
        )
    )
    lines.append(
        Line(
            "paced: display lag after the last token",
            _ms(lag),
            "",
            "≤ 0.3 s",
            _verdict(None if lag is None else lag <= 0.3),
        )
    )

    prompt = _median(results, "repl:prompt", "meilichat chat")
    lines.append(
        Line(
            "REPL start → prompt",
            _ms(prompt),
            "",
            "≤ 350 ms",
            _verdict(None if prompt is None else prompt <= 0.350),
        )
    )
    for turn, label in (("first", "first turn"), ("warm", "warm turn")):
        first = _median(results, f"repl:{turn}:first", "meilichat chat")
        back = _median(results, f"repl:{turn}:prompt", "meilichat chat")
        lines.append(
            Line(
                f"REPL {label}: Enter → first token / prompt back",
                f"{_ms(first)} / {_ms(back)}",
                "",
                "",
                "info",
            )
        )
    return lines


def _signed(value: float | None, reference: float | None) -> str:
    if value is None or reference is None:
        return "n/a"
    return f"{(value - reference) * 1000:+.0f} ms"


def _kib(size: float | None) -> str:
    return "n/a" if size is None else f"{size / 1024:.0f} KiB"


def render_table(lines: list[Line]) -> str:
    header = Line("measure", "meilichat (median)", "compared with", "budget", "result")
    rows = [header, *lines]
    widths = [max(len(getattr(row, name)) for row in rows) for name in Line.__dataclass_fields__]
    out = []
    for index, row in enumerate(rows):
        cells = [
            getattr(row, name).ljust(width)
            for name, width in zip(Line.__dataclass_fields__, widths, strict=True)
        ]
        out.append("| " + " | ".join(cells) + " |")
        if index == 0:
            out.append("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(out)


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def machine() -> dict[str, Any]:
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "arch": platform.machine(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


# ---------------------------------------------------------------------------------------------


BENCHES: dict[str, Callable[[Bench, Results], None]] = {
    "startup": bench_startup,
    "pipe": bench_pipe,
    "ttft": bench_ttft,
    "long": bench_long,
    "paced": bench_paced,
    "repl": bench_repl,
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats, 1 paced run")
    parser.add_argument("--repeat", type=int, help="runs per contender (default 7; quick 3)")
    parser.add_argument("--json", default="bench-results.json", help="where to write samples")
    parser.add_argument(
        "--only", default=",".join(GROUPS), help=f"comma-separated groups: {','.join(GROUPS)}"
    )
    args = parser.parse_args(argv)
    if args.repeat is None:
        args.repeat = 3 if args.quick else 7
    args.paced_repeat = 1 if args.quick else min(args.repeat, PACED_MAX_REPEAT)
    args.groups = [g.strip() for g in args.only.split(",") if g.strip()]
    unknown = set(args.groups) - set(GROUPS)
    if unknown or args.repeat < 1:
        parser.error(f"unknown groups {sorted(unknown)}" if unknown else "--repeat must be ≥ 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not shutil.which("curl"):
        print("curl is needed for the floors (/usr/bin/curl)", file=sys.stderr)
        return 2
    meilichat, how = find_meilichat()
    # The checkout's bytecode, as an install would have it, whatever PYTHONDONTWRITEBYTECODE
    # says (see client_environment); __pycache__ is ignored by git.
    compileall.compile_dir(REPO / "meilichat_cli", quiet=1)
    started = time.monotonic()
    load_before = load_average()

    def progress(text: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {text}", file=sys.stderr, flush=True)

    server = TimedServer(master_key=MASTER_KEY)
    with tempfile.TemporaryDirectory(prefix="meilichat-bench-") as tmp, server:
        workdir = Path(tmp)
        bench = Bench(
            server=server,
            env=client_environment(server, workdir, installed=len(meilichat) == 1),
            meilichat=meilichat,
            meilichat_how=how,
            workdir=workdir,
            repeat=args.repeat,
            paced_repeat=args.paced_repeat,
            progress=progress,
        )
        progress(f"meilichat: {how}; server {server.url}; {args.repeat} runs each")
        results: Results = {}
        for group in args.groups:
            progress(f"{group}…")
            BENCHES[group](bench, results)
    lines = budget_lines(results)
    info = machine() | {"load_average": {"before": load_before, "after": load_average()}}
    print()
    print(
        f"meilichat benchmark — {info['date']}, {info['nproc']} CPUs {info['arch']}, "
        f"Python {info['python']}, load average {load_before[0]} → {load_average()[0]}, "
        f"{args.repeat} runs each (median); meilichat = {how}"
    )
    print(render_table(lines))
    failures = bench.failures
    for failure in failures:
        print(f"error: {failure}")
    report = {
        "machine": info,
        "meilichat": how,
        "repeat": args.repeat,
        "groups": args.groups,
        "seconds": round(time.monotonic() - started, 1),
        "lines": [asdict(line) for line in lines],
        "results": {
            measure: {
                name: asdict(series) | {"median": series.median} for name, series in m.items()
            }
            for measure, m in results.items()
        },
    }
    Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"samples written to {args.json} ({report['seconds']} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
