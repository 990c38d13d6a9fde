"""Benchmark meilichat against its floors, in one run, and print floor, meilichat and ratio.

    python tests/benchmark.py [--quick] [--repeat N] [--only GROUP,...] [--venv DIR] [--llm PATH]

What it measures, and against what (every line in the same run, contenders interleaved,
≥ 7 runs each by default after one untimed warm-up, three times as many for the groups
whose round is short; medians):

    startup  `meilichat --version` and `--help` against `python -c pass`
    ttft     time to first answer text on a pseudo-terminal (the server waits 300 ms)
             against `curl -sN`
    long     500 / 2,000 / 4,000 / 8,000-token markdown answers on a pseudo-terminal: CPU,
             wall, max RSS, bytes written, against a bare httpx script printing the bare text;
             a least-squares fit of CPU against tokens gives the marginal cost per token and
             shows whether it stays flat from 500 to 8,000
    paced    2,000 tokens at 100 tokens/s on a pseudo-terminal: client CPU against the bare
             httpx script on the same stream; display lag after the last event
    repl     `meilichat chat` start → prompt against a bare prompt_toolkit prompt
    batch    `meilichat batch` of 24 questions at concurrency 1 / 4 / 16 against a server
             that waits 300 ms per answer: questions/s against a bare httpx thread pool
    peers    `llm` (on PATH, or --llm PATH), as informative lines: `--version`, first token,
             the 8,000-token answer (CPU, max RSS) and the paced answer. llm needs an OpenAI
             stream with no leading `retry:` frame: these lines use a second server that
             leaves it out, with meilichat and the floors measured again on it; llm gets a
             private LLM_USER_PATH with one model per scenario

Honest floors: everything runs from a clean virtual environment the benchmark creates with
this same Python (default `.bench-venv/` in the checkout, re-used and refreshed): meilichat is
installed into it as a user would install it (from bytecode, no editable hooks), and the
floors (`python -c pass`, the bare httpx and prompt_toolkit scripts) run with its Python, so
no `.pth` hook of the developer's environment inflates them. The servers run in processes of
their own, not in a thread of the process that reads the terminals. Each client is one
process with private config and data directories; CPU and max RSS come from `os.wait4`.

Not collected by pytest (the file name does not match `test_*.py`); imports only the
standard library (the server runs inside the clean environment).
"""

from __future__ import annotations

import argparse
import datetime
import errno
import fcntl
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
import tempfile
import termios
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
ROWS, COLUMNS = 40, 100
MASTER_KEY = "benchmark-master-key-0123456789abcdef"
QUESTION = "space movies"
TTFT_MODEL = "scenario:first-delay?ms=300"
PACED_MODEL = "scenario:paced?rate=100&tokens=2000"
LONG_SIZES = (500, 2000, 4000, 8000)
REPL_MODEL = "scenario:long?tokens=50"
BATCH_MODEL = "scenario:first-delay?ms=300"
BATCH_QUESTIONS = 24
BATCH_CONCURRENCY = (1, 4, 16)
RUN_TIMEOUT = 120.0
GROUPS = ("startup", "ttft", "long", "paced", "repl", "batch", "peers")
# Groups whose round takes a second or two run three times as many rounds: their lines move by
# tens of milliseconds from one run to the next on a shared machine (a neighbour's burst adds
# 100 ms of CPU to a 250 ms answer), and the per-token slopes are differences of such medians.
SHORT_GROUPS = frozenset({"startup", "ttft", "long", "repl"})
SHORT_GROUP_ROUNDS = 3
# Rendering is flat when the CPU per token of the second half of the sizes (4,000 → 8,000) is
# at most this many times that of the first (500 → 4,000). Halves, not the three segments
# between neighbouring sizes: the 500 → 2,000 segment adds about 50 ms of work, less than one
# sample's spread on a shared host (a 500-token answer took 232 to 408 ms of CPU in one run),
# so its slope flipped between 7 and 84 µs/token from run to run; each half adds well over
# 100 ms. What the check must catch is growth: work redone per token makes the second half
# dearer (a quadratic term alone makes it 2.7 times the first).
FLAT_GROWTH = 1.5

# The stand-in server, in a process of its own, run by the clean environment's Python. It
# prints its address, then one JSON line per request arrival and per stream handed over in
# full (time.monotonic(), which is one clock for every process of the machine). With "plain",
# streams start without the `retry: 10000` frame, as an OpenAI endpoint would.
SERVER_SCRIPT = r"""
import json, sys, threading, time
from meilichat_cli.standin import StandInServer
import meilichat_cli.standin.completions as completions

if sys.argv[2] == "plain":
    completions.RETRY_PREAMBLE = b""
lock = threading.Lock()

def say(**item):
    with lock:
        sys.stdout.write(json.dumps(item) + "\n")
        sys.stdout.flush()

class Observed(StandInServer):
    def record(self, item):
        say(arrival=time.monotonic())
        super().record(item)

server = Observed(master_key=sys.argv[1])
server.start()
handed_over = server.stats.stream_sent

def stream_sent():
    handed_over()
    say(stream_end=time.monotonic())

server.stats.stream_sent = stream_sent
say(url=server.url, key=server.chat_key, workspace=server.workspace)
sys.stdin.read()  # until the benchmark closes our stdin
server.close()
"""

# A bare client: stream the request, print each content delta as it arrives.
# argv: URL KEY BODY_FILE.
HTTPX_CLIENT = """
import json, sys
import httpx
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
# The floor of `batch`: the same requests through a thread pool, answers read to the end.
# argv: URL KEY BODY_FILE COUNT CONCURRENCY.
HTTPX_POOL = """
import sys
from concurrent.futures import ThreadPoolExecutor
import httpx
url, key, body_file, count, workers = sys.argv[1:6]
body = open(body_file, "rb").read()
headers = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}
with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=int(workers))) as client:
    def one(_):
        with client.stream("POST", url, content=body, headers=headers) as response:
            for _line in response.iter_lines():
                pass
    with ThreadPoolExecutor(int(workers)) as pool:
        list(pool.map(one, range(int(count))))
"""
# The floor of the REPL's start: a bare prompt_toolkit prompt.
BARE_PROMPT = "from prompt_toolkit import prompt\nprompt('> ')\n"

# prompt_toolkit's empty prompt: ">" then a style reset, ready once the cursor is shown again.
PROMPT_READY = re.compile(rb">(?:\x1b\[[0-9;]*m)*.*?\x1b\[\?25h", re.S)
CURSOR_POSITION_REQUEST = b"\x1b[6n"


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
    rss: float = 0.0  # the child's maximum resident set, bytes


def _usage_seconds(usage: Any) -> float:
    return float(usage.ru_utime + usage.ru_stime)


def _rss(usage: Any) -> float:
    return float(usage.ru_maxrss) * 1024  # Linux reports KiB


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
    return Run(wall=wall, cpu=_usage_seconds(usage), out_bytes=len(output), rss=_rss(usage))


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
        self.rss = 0.0

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
            self.rss = _rss(usage)
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
    return Run(wall, cpu, len(terminal.output), first, end, terminal.started, terminal.rss)


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
# The clean environment and the server process.


def prepare_venv(path: Path, progress: Callable[[str], None]) -> Path:
    """A virtual environment of this Python with meilichat installed from the checkout (not
    editable: from bytecode, as a user has it). Created once, refreshed on every run."""
    python = path / "bin" / "python"
    if not python.exists():
        progress(f"creating the clean environment {path}")
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(REPO)], check=True)
    else:
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--force-reinstall",
                str(REPO),
            ],
            check=True,
        )
    return python


def extra_hooks(python: Path) -> list[str]:
    """`.pth` files of the environment other than pip's own: they run at every start-up."""
    found = subprocess.run(
        [
            str(python),
            "-c",
            "import site, glob; print('\\n'.join(glob.glob(site.getsitepackages()[0] + '/*.pth')))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [name for name in found if not Path(name).name.startswith("distutils-precedence")]


class ServerProcess:
    """The stand-in server in a process of its own (see SERVER_SCRIPT)."""

    def __init__(self, python: Path, *, plain: bool = False) -> None:
        self.process = subprocess.Popen(
            [str(python), "-c", SERVER_SCRIPT, MASTER_KEY, "plain" if plain else "meilisearch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        address = json.loads(self.process.stdout.readline())
        self.url: str = address["url"]
        self.chat_key: str = address["key"]
        self.workspace: str = address["workspace"]
        self.arrivals: list[float] = []
        self.stream_ends: list[float] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            item = json.loads(line)
            if "arrival" in item:
                self.arrivals.append(item["arrival"])
            elif "stream_end" in item:
                self.stream_ends.append(item["stream_end"])

    def settle(self) -> None:
        """Give the reader a moment to take in what the server has already written."""
        time.sleep(0.05)

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


@dataclass
class Bench:
    server: ServerProcess
    python: Path  # the clean environment's Python
    meilichat: list[str]
    env: dict[str, str]
    workdir: Path
    repeat: int
    progress: Callable[[str], None]
    llm: str | None = None  # the `llm` program, for the peers group
    bodies: dict[str, Path] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def completions_url(self) -> str:
        return f"{self.server.url}/chats/{self.server.workspace}/chat/completions"

    def body_file(self, model: str) -> Path:
        """The request meilichat sends for QUESTION, for curl and the bare clients."""
        if model not in self.bodies:
            path = self.workdir / f"body-{len(self.bodies)}.json"
            build = (
                "import json, sys\n"
                "from meilichat_cli.protocol.conversation import build_request\n"
                "body = build_request(sys.argv[1], [{'role': 'user', 'content': sys.argv[2]}])\n"
                "open(sys.argv[3], 'w').write(json.dumps(body))\n"
            )
            subprocess.run([str(self.python), "-c", build, model, QUESTION, str(path)], check=True)
            self.bodies[model] = path
        return self.bodies[model]

    def ask(self, model: str) -> list[str]:
        return [*self.meilichat, "ask", "--no-save", "-m", model, QUESTION]

    def curl(self, model: str) -> list[str]:
        return [
            "curl",
            "-sN",
            "-H",
            f"Authorization: Bearer {self.server.chat_key}",
            "-H",
            "Content-Type: application/json",
            "-H",
            "Accept: text/event-stream",
            "--data-binary",
            f"@{self.body_file(model)}",
            self.completions_url,
        ]

    def httpx_client(self, model: str) -> list[str]:
        return [
            str(self.python),
            "-c",
            HTTPX_CLIENT,
            self.completions_url,
            self.server.chat_key,
            str(self.body_file(model)),
        ]

    def first_answer_text(self, model: str) -> bytes:
        """The first plain words of the answer: what marks "first token" on the screen."""
        done = subprocess.run(
            self.httpx_client(model), capture_output=True, env=self.env, check=True, timeout=60
        )
        words = [w for w in done.stdout.decode().split()[:3] if re.fullmatch(r"[A-Za-z']+", w)]
        if not words:
            raise BenchError(f"no plain answer text from {model}")
        return " ".join(words[:2]).encode()


def client_environment(server: ServerProcess, workdir: Path, python: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEILICHAT_", "MEILI_"))}
    for variable in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_COLOR", "PYTHONPATH"):
        env.pop(variable, None)
        env.pop(variable.lower(), None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        {
            "PATH": f"{python.parent}{os.pathsep}{env.get('PATH', '')}",
            "MEILICHAT_URL": server.url,
            "MEILICHAT_API_KEY": server.chat_key,
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
    return env


def _add(results: Results, values: dict[str, float], name: str) -> None:
    for measure, value in values.items():
        results.setdefault(measure, {}).setdefault(name, Series()).samples.append(value)


# ---------------------------------------------------------------------------------------------
# The groups.


def bench_startup(bench: Bench, results: Results) -> None:
    def cold(argv: list[str]) -> Callable[[], dict[str, float]]:
        def measure() -> dict[str, float]:
            run = run_piped(argv, bench.env)
            return {"startup": run.wall, "startup:rss": run.rss}

        return measure

    contenders = {
        "python -c pass": cold([str(bench.python), "-c", "pass"]),
        "meilichat --version": cold([*bench.meilichat, "--version"]),
        "meilichat --help": cold([*bench.meilichat, "--help"]),
    }
    if bench.llm:
        contenders["llm --version"] = cold([bench.llm, "--version"])
    interleave(bench, contenders, results)


def bench_ttft(bench: Bench, results: Results) -> None:
    marker = bench.first_answer_text(TTFT_MODEL)
    arrivals = bench.server.arrivals

    def first(argv: list[str]) -> Callable[[], dict[str, float]]:
        def measure() -> dict[str, float]:
            seen = len(arrivals)
            run = run_on_terminal(argv, bench.env, marker)
            bench.server.settle()
            assert run.first is not None
            if len(arrivals) != seen + 1:
                raise BenchError(f"expected one request, the server saw {len(arrivals) - seen}")
            # Where the time goes: start-up until the request reaches the server.
            return {
                "ttft": run.first,
                "ttft:request": arrivals[seen] - run.started,
                "ttft:rss": run.rss,
            }

        return measure

    interleave(
        bench,
        {
            "meilichat": first(bench.ask(TTFT_MODEL)),
            "curl": first(bench.curl(TTFT_MODEL)),
            "bare httpx": first(bench.httpx_client(TTFT_MODEL)),
        },
        results,
    )


def bench_long(bench: Bench, results: Results) -> None:
    contenders: dict[str, Callable[[], dict[str, float]]] = {}

    def long(argv: list[str], tokens: int) -> Callable[[], dict[str, float]]:
        def measure() -> dict[str, float]:
            run = run_on_terminal(argv, bench.env)
            return {
                f"long{tokens}:wall": run.wall,
                f"long{tokens}:cpu": run.cpu,
                f"long{tokens}:rss": run.rss,
                f"long{tokens}:bytes": float(run.out_bytes),
            }

        return measure

    for tokens in LONG_SIZES:
        model = f"scenario:long?tokens={tokens}"
        contenders[f"meilichat {tokens}"] = long(bench.ask(model), tokens)
        contenders[f"bare httpx {tokens}"] = long(bench.httpx_client(model), tokens)
        contenders[f"curl {tokens}"] = long(bench.curl(model), tokens)
    interleave(bench, contenders, results)
    # One series per contender: fold "meilichat 500" into "meilichat".
    for tokens in LONG_SIZES:
        for kind in ("wall", "cpu", "rss", "bytes"):
            measure = results.get(f"long{tokens}:{kind}", {})
            for name in list(measure):
                measure[name.rsplit(" ", 1)[0]] = measure.pop(name)


def bench_paced(bench: Bench, results: Results) -> None:
    """meilichat, and the bare httpx client printing bare text: the CPU floor of the stream."""
    ends = bench.server.stream_ends

    def paced(argv: list[str]) -> Callable[[], dict[str, float]]:
        def measure() -> dict[str, float]:
            seen = len(ends)
            run = run_on_terminal(argv, bench.env)
            bench.server.settle()
            if len(ends) != seen + 1:
                raise BenchError("the server recorded no stream end")
            return {
                "paced:cpu": run.cpu,
                "paced:lag": run.last_byte_at - ends[seen],
                "paced:rss": run.rss,
            }

        return measure

    interleave(
        bench,
        {
            "meilichat": paced(bench.ask(PACED_MODEL)),
            "bare httpx": paced(bench.httpx_client(PACED_MODEL)),
        },
        results,
    )


def bench_repl(bench: Bench, results: Results) -> None:
    def to_prompt(argv: list[str]) -> Callable[[], dict[str, float]]:
        def measure() -> dict[str, float]:
            terminal = Terminal(argv, bench.env)
            try:
                ready = terminal.expect(PROMPT_READY, 0, timeout=30) - terminal.started
                terminal.send(b"\x04")  # Ctrl-D: leave
                terminal.finish(timeout=30)
            finally:
                terminal.kill()
            return {"repl:prompt": ready, "repl:rss": terminal.rss}

        return measure

    interleave(
        bench,
        {
            "meilichat chat": to_prompt([*bench.meilichat, "chat", "-m", REPL_MODEL]),
            "bare prompt_toolkit": to_prompt([str(bench.python), "-c", BARE_PROMPT]),
        },
        results,
    )


def bench_batch(bench: Bench, results: Results) -> None:
    questions = bench.workdir / "questions.jsonl"
    questions.write_text(
        "".join(json.dumps({"prompt": f"{QUESTION} {n}"}) + "\n" for n in range(BATCH_QUESTIONS))
    )
    contenders: dict[str, Callable[[], dict[str, float]]] = {}

    def batch(argv: list[str], measure_name: str) -> Callable[[], dict[str, float]]:
        def measure() -> dict[str, float]:
            run = run_piped(argv, bench.env)
            return {measure_name: BATCH_QUESTIONS / run.wall, f"{measure_name}:rss": run.rss}

        return measure

    for workers in BATCH_CONCURRENCY:
        contenders[f"meilichat {workers}"] = batch(
            [*bench.meilichat, "batch", str(questions), "-j", str(workers), "-m", BATCH_MODEL],
            f"batch{workers}",
        )
        contenders[f"bare httpx {workers}"] = batch(
            [
                str(bench.python),
                "-c",
                HTTPX_POOL,
                bench.completions_url,
                bench.server.chat_key,
                str(bench.body_file(BATCH_MODEL)),
                str(BATCH_QUESTIONS),
                str(workers),
            ],
            f"batch{workers}",
        )
    interleave(bench, contenders, results)
    for workers in BATCH_CONCURRENCY:
        for suffix in ("", ":rss"):
            measure = results.get(f"batch{workers}{suffix}", {})
            for name in list(measure):
                measure[name.rsplit(" ", 1)[0]] = measure.pop(name)


def llm_environment(bench: Bench, server: ServerProcess) -> dict[str, str]:
    """`llm` configured, in a private directory, with one model per scenario on `server`."""
    home = bench.workdir / "llm"
    home.mkdir(exist_ok=True)
    (home / "keys.json").write_text(json.dumps({"bench": server.chat_key}))
    entries = [
        f'- model_id: "bench-{kind}"\n'
        f"  model_name: {json.dumps(model)}\n"
        f'  api_base: "{server.url}/chats/{server.workspace}"\n'
        f'  api_key_name: "bench"\n'
        for kind, model in LLM_MODELS.items()
    ]
    (home / "extra-openai-models.yaml").write_text("".join(entries))
    return client_environment(server, bench.workdir, bench.python) | {"LLM_USER_PATH": str(home)}


def bench_peers(bench: Bench, results: Results) -> None:
    """`llm`, when installed, against meilichat and the floors, all on a server without the
    leading `retry:` frame (the OpenAI SDK under llm does not expect one)."""
    if not bench.llm:
        bench.progress("  llm is not installed (or --llm PATH): no peer lines")
        return
    llm = bench.llm
    server = ServerProcess(bench.python, plain=True)
    try:
        peer = Bench(
            server=server,
            python=bench.python,
            meilichat=bench.meilichat,
            env=client_environment(server, bench.workdir, bench.python),
            workdir=bench.workdir,
            repeat=bench.repeat,
            progress=bench.progress,
        )
        llm_env = llm_environment(peer, server)
        marker = peer.first_answer_text(TTFT_MODEL)
        big = max(LONG_SIZES)

        def first(argv: list[str], env: dict[str, str]) -> Callable[[], dict[str, float]]:
            return lambda: {"peers:ttft": _required(run_on_terminal(argv, env, marker).first)}

        def long(argv: list[str], env: dict[str, str]) -> Callable[[], dict[str, float]]:
            def measure() -> dict[str, float]:
                run = run_on_terminal(argv, env)
                return {"peers:long:cpu": run.cpu, "peers:long:rss": run.rss}

            return measure

        def paced(argv: list[str], env: dict[str, str]) -> Callable[[], dict[str, float]]:
            def measure() -> dict[str, float]:
                run = run_on_terminal(argv, env)
                return {"peers:paced:cpu": run.cpu, "peers:paced:rss": run.rss}

            return measure

        long_model = f"scenario:long?tokens={big}"
        llm_argv = {kind: [llm, "-n", "-m", f"bench-{kind}", QUESTION] for kind in LLM_MODELS}
        interleave(
            peer,
            {
                "meilichat": first(peer.ask(TTFT_MODEL), peer.env),
                "llm": first(llm_argv["ttft"], llm_env),
                "curl": first(peer.curl(TTFT_MODEL), peer.env),
            },
            results,
        )
        interleave(
            peer,
            {
                "meilichat": long(peer.ask(long_model), peer.env),
                "llm": long(llm_argv["long"], llm_env),
                "bare httpx": long(peer.httpx_client(long_model), peer.env),
            },
            results,
        )
        # The paced stream takes 20 s a run: llm alone (meilichat's line is the paced group's).
        interleave(peer, {"llm": paced(llm_argv["paced"], llm_env)}, results)
        bench.failures.extend(peer.failures)
    finally:
        server.close()


def _required(value: float | None) -> float:
    if value is None:
        raise BenchError("no first answer text")
    return value


# `llm -m bench-KIND` names the scenario the peers group asks for.
LLM_MODELS = {
    "ttft": TTFT_MODEL,
    "long": f"scenario:long?tokens={max(LONG_SIZES)}",
    "paced": PACED_MODEL,
}


BENCHES: dict[str, Callable[[Bench, Results], None]] = {
    "startup": bench_startup,
    "ttft": bench_ttft,
    "long": bench_long,
    "paced": bench_paced,
    "repl": bench_repl,
    "batch": bench_batch,
    "peers": bench_peers,
}
# ---------------------------------------------------------------------------------------------
# The report: one line per budget, with its floor and the ratio.


@dataclass
class Line:
    measure: str
    floor: str
    meilichat: str
    ratio: str
    budget: str
    verdict: str  # PASS, FAIL, info, n/a


def _median(results: Results, measure: str, contender: str) -> float | None:
    series = results.get(measure, {}).get(contender)
    return series.median if series is not None else None


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.0f} ms"


def _mib(size: float | None) -> str:
    return "n/a" if size is None else f"{size / 2**20:.0f} MiB"


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def _ratio(value: float | None, floor: float | None) -> float | None:
    return value / floor if value is not None and floor else None


def _over(value: float | None, base: float | None) -> float | None:
    return None if value is None or base is None else value - base


def _plus(seconds: float | None) -> str:
    """`+142 ms`, or n/a."""
    return "n/a" if seconds is None else f"+{seconds * 1000:.0f} ms"


def _x(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.2f}×"


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least squares: (intercept, slope) of y = a + b·x."""
    xs, ys = [x for x, _ in points], [y for _, y in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x in xs)
    return mean_y - slope * mean_x, slope


def half_slopes(points: list[tuple[float, float]]) -> tuple[float, float]:
    """CPU per token over the first half of the sizes (500 → 4,000) and the second (4,000 →
    8,000), from the medians at 500, 4,000 and 8,000 tokens."""
    by_size = dict(points)
    first, middle, last = LONG_SIZES[0], LONG_SIZES[-2], LONG_SIZES[-1]
    early = (by_size[middle] - by_size[first]) / (middle - first)
    late = (by_size[last] - by_size[middle]) / (last - middle)
    return early, late


def budget_lines(results: Results) -> list[Line]:
    lines: list[Line] = []
    add = lines.append

    floor = _median(results, "startup", "python -c pass")
    version = _median(results, "startup", "meilichat --version")
    ratio = _ratio(version, floor)
    add(
        Line(
            "--version, cold",
            f"python -c pass {_ms(floor)}",
            _ms(version),
            _x(ratio),
            "≤ 5×",
            _verdict(None if ratio is None else ratio <= 5),
        )
    )
    help_ = _median(results, "startup", "meilichat --help")
    add(
        Line(
            "--help, cold",
            f"python -c pass {_ms(floor)}",
            _ms(help_),
            _x(_ratio(help_, floor)),
            "≤ 80 ms",
            _verdict(None if help_ is None else help_ <= 0.080),
        )
    )
    llm = _median(results, "startup", "llm --version")
    if llm is not None:
        add(
            Line(
                "peer: --version, llm",
                f"python -c pass {_ms(floor)}",
                _ms(version),
                f"llm {_ms(llm)} ({_x(_ratio(llm, floor))})",
                "",
                "info",
            )
        )

    ttft = _median(results, "ttft", "meilichat")
    curl = _median(results, "ttft", "curl")
    over = _over(ttft, curl)
    add(
        Line(
            "first token, server waits 300 ms",
            f"curl {_ms(curl)}",
            _ms(ttft),
            _plus(over),
            "≤ curl + 100 ms",
            _verdict(None if over is None else over <= 0.100),
        )
    )
    # What any client built on httpx pays: the bare script's own first token against curl's.
    bare_ttft = _median(results, "ttft", "bare httpx")
    add(
        Line(
            "  a bare httpx client, same request",
            f"curl {_ms(curl)}",
            _ms(bare_ttft),
            _plus(_over(bare_ttft, curl)),
            "",
            "info",
        )
    )
    reached = _median(results, "ttft:request", "meilichat")
    bare_reached = _median(results, "ttft:request", "bare httpx")
    add(
        Line(
            "  of which spawn → request at server",
            f"bare httpx {_ms(bare_reached)}",
            _ms(reached),
            _x(_ratio(reached, bare_reached)),
            "",
            "info",
        )
    )

    big = max(LONG_SIZES)
    cpu = _median(results, f"long{big}:cpu", "meilichat")
    bare = _median(results, f"long{big}:cpu", "bare httpx")
    ratio = _ratio(cpu, bare)
    add(
        Line(
            f"{big:,}-token answer on a terminal, CPU",
            f"bare httpx {_ms(bare)}",
            _ms(cpu),
            _x(ratio),
            "≤ 1.5×",
            _verdict(None if ratio is None else ratio <= 1.5),
        )
    )
    wall = _median(results, f"long{big}:wall", "meilichat")
    curl_wall = _median(results, f"long{big}:wall", "curl")
    add(
        Line(
            f"{big:,}-token answer, wall",
            f"curl {_ms(curl_wall)}",
            _ms(wall),
            _x(_ratio(wall, curl_wall)),
            "",
            "info",
        )
    )
    rss = _median(results, f"long{big}:rss", "meilichat")
    bare_rss = _median(results, f"long{big}:rss", "bare httpx")
    add(
        Line(
            f"{big:,}-token answer, max RSS",
            f"bare httpx {_mib(bare_rss)}",
            _mib(rss),
            _x(_ratio(rss, bare_rss)),
            "",
            "info",
        )
    )
    points = [
        (float(n), value)
        for n in LONG_SIZES
        if (value := _median(results, f"long{n}:cpu", "meilichat")) is not None
    ]
    if len(points) == len(LONG_SIZES):
        fixed, per_token = fit(points)
        early, late = half_slopes(points)
        growth = late / early if early > 0 else None
        add(
            Line(
                "marginal CPU per token (fit 500→8,000)",
                f"bare httpx {_per_token(results)}",
                f"{per_token * 1e6:.0f} µs/token",
                f"fixed {fixed * 1000:.0f} ms",
                f"flat: late ≤ {FLAT_GROWTH}× early",
                _verdict(None if growth is None else growth <= FLAT_GROWTH),
            )
        )
        add(
            Line(
                "  early 500→4,000 / late 4,000→8,000",
                "",
                f"{early * 1e6:.0f} / {late * 1e6:.0f} µs/token",
                "n/a" if growth is None else f"{growth:.2f}×",
                "",
                "info",
            )
        )

    cpu = _median(results, "paced:cpu", "meilichat")
    bare = _median(results, "paced:cpu", "bare httpx")
    ratio = _ratio(cpu, bare)
    add(
        Line(
            "paced 100 tokens/s × 2,000, CPU",
            f"bare httpx {_ms(bare)}",
            _ms(cpu),
            _x(ratio),
            "≤ 1.5×",
            _verdict(None if ratio is None else ratio <= 1.5),
        )
    )
    lag = _median(results, "paced:lag", "meilichat")
    bare_lag = _median(results, "paced:lag", "bare httpx")
    add(
        Line(
            "paced: display lag after the last event",
            f"bare httpx {_ms(bare_lag)}",
            _ms(lag),
            "",
            "≤ 50 ms",
            _verdict(None if lag is None else lag <= 0.050),
        )
    )

    prompt = _median(results, "repl:prompt", "meilichat chat")
    bare = _median(results, "repl:prompt", "bare prompt_toolkit")
    ratio = _ratio(prompt, bare)
    add(
        Line(
            "REPL start → prompt",
            f"bare prompt_toolkit {_ms(bare)}",
            _ms(prompt),
            _x(ratio),
            "≤ 1.2×",
            _verdict(None if ratio is None else ratio <= 1.2),
        )
    )

    for workers in BATCH_CONCURRENCY:
        rate = _median(results, f"batch{workers}", "meilichat")
        bare = _median(results, f"batch{workers}", "bare httpx")
        ratio = _ratio(bare, rate)  # how many times slower than the floor
        add(
            Line(
                f"batch, concurrency {workers}: questions/s",
                "n/a" if bare is None else f"bare httpx {bare:.1f}/s",
                "n/a" if rate is None else f"{rate:.1f}/s",
                _x(ratio),
                "≤ 1.5× slower",
                _verdict(None if ratio is None else ratio <= 1.5),
            )
        )
    lines.extend(peer_lines(results))
    peaks = (
        ("startup:rss", "meilichat --version", "--version"),
        ("startup:rss", "meilichat --help", "--help"),
        ("ttft:rss", "meilichat", "first token (a short answer)"),
        ("paced:rss", "meilichat", "paced answer"),
        ("repl:rss", "meilichat chat", "REPL"),
        (f"batch{max(BATCH_CONCURRENCY)}:rss", "meilichat", "batch"),
    )
    for measure, contender, label in peaks:
        value = _median(results, measure, contender)
        if value is not None:
            add(Line(f"max RSS, {label}", "", _mib(value), "", "", "info"))
    return lines


def peer_lines(results: Results) -> list[Line]:
    """Informative lines for `llm`: meilichat's column is meilichat on the same server."""
    lines: list[Line] = []
    curl = _median(results, "peers:ttft", "curl")
    mine = _median(results, "peers:ttft", "meilichat")
    theirs = _median(results, "peers:ttft", "llm")
    if theirs is not None:
        over = _plus(_over(theirs, curl))
        lines.append(
            Line(
                "peer: first token, llm",
                f"curl {_ms(curl)}",
                _ms(mine),
                f"llm {_ms(theirs)} ({over})",
                "",
                "info",
            )
        )
    bare = _median(results, "peers:long:cpu", "bare httpx")
    mine = _median(results, "peers:long:cpu", "meilichat")
    theirs = _median(results, "peers:long:cpu", "llm")
    if theirs is not None:
        lines.append(
            Line(
                f"peer: {max(LONG_SIZES):,}-token answer CPU, llm",
                f"bare httpx {_ms(bare)}",
                _ms(mine),
                f"llm {_ms(theirs)} ({_x(_ratio(theirs, bare))})",
                "",
                "info",
            )
        )
    mine_rss = _median(results, "peers:long:rss", "meilichat")
    theirs_rss = _median(results, "peers:long:rss", "llm")
    if theirs_rss is not None:
        lines.append(
            Line(
                f"peer: {max(LONG_SIZES):,}-token answer max RSS, llm",
                f"bare httpx {_mib(_median(results, 'peers:long:rss', 'bare httpx'))}",
                _mib(mine_rss),
                f"llm {_mib(theirs_rss)}",
                "",
                "info",
            )
        )
    theirs = _median(results, "peers:paced:cpu", "llm")
    if theirs is not None:
        bare = _median(results, "paced:cpu", "bare httpx")
        lines.append(
            Line(
                "peer: paced answer CPU, llm",
                f"bare httpx {_ms(bare)}",
                _ms(_median(results, "paced:cpu", "meilichat")),
                f"llm {_ms(theirs)} ({_x(_ratio(theirs, bare))})",
                "",
                "info",
            )
        )
    return lines


def _per_token(results: Results) -> str:
    points = [
        (float(n), value)
        for n in LONG_SIZES
        if (value := _median(results, f"long{n}:cpu", "bare httpx")) is not None
    ]
    if len(points) < 3:
        return "n/a"
    return f"{fit(points)[1] * 1e6:.0f} µs/token"


def render_table(lines: list[Line]) -> str:
    header = Line("measure", "floor (median)", "meilichat (median)", "ratio", "budget", "result")
    rows = [header, *lines]
    names = list(Line.__dataclass_fields__)
    widths = [max(len(getattr(row, name)) for row in rows) for name in names]
    out = []
    for index, row in enumerate(rows):
        cells = [getattr(row, name).ljust(width) for name, width in zip(names, widths, strict=True)]
        out.append("| " + " | ".join(cells) + " |")
        if index == 0:
            out.append("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(out)


def machine(python: Path) -> dict[str, Any]:
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "arch": platform.machine(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "venv": str(python.parent.parent),
    }


def rounds(group: str, repeat: int) -> int:
    return repeat * SHORT_GROUP_ROUNDS if group in SHORT_GROUPS else repeat


def runs_each(repeat: int) -> str:
    short = ", ".join(g for g in GROUPS if g in SHORT_GROUPS)
    return f"{repeat} runs each ({repeat * SHORT_GROUP_ROUNDS} for {short})"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="3 runs each instead of 7 (9 for the short groups)"
    )
    parser.add_argument(
        "--repeat", type=int, help="runs per contender (default 7; quick 3); short groups 3×"
    )
    parser.add_argument("--json", default="bench-results.json", help="where to write samples")
    parser.add_argument("--venv", default=str(REPO / ".bench-venv"), help="clean environment")
    parser.add_argument(
        "--only", default=",".join(GROUPS), help=f"comma-separated groups: {','.join(GROUPS)}"
    )
    parser.add_argument(
        "--llm", default=shutil.which("llm"), help="the llm program for peer lines (default: PATH)"
    )
    args = parser.parse_args(argv)
    if args.repeat is None:
        args.repeat = 3 if args.quick else 7
    args.groups = [g.strip() for g in args.only.split(",") if g.strip()]
    unknown = set(args.groups) - set(GROUPS)
    if unknown or args.repeat < 1:
        parser.error(f"unknown groups {sorted(unknown)}" if unknown else "--repeat must be ≥ 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not shutil.which("curl"):
        print("curl is needed for a floor (/usr/bin/curl)", file=sys.stderr)
        return 2
    started = time.monotonic()

    def progress(text: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {text}", file=sys.stderr, flush=True)

    python = prepare_venv(Path(args.venv), progress)
    hooks = extra_hooks(python)
    if hooks:
        progress(f"warning: the clean environment has start-up hooks: {hooks}")
    meilichat = [str(python.parent / "meilichat")]
    load_before = os.getloadavg()[0]
    server = ServerProcess(python)
    try:
        with tempfile.TemporaryDirectory(prefix="meilichat-bench-") as tmp:
            workdir = Path(tmp)
            bench = Bench(
                server=server,
                python=python,
                meilichat=meilichat,
                env=client_environment(server, workdir, python),
                workdir=workdir,
                repeat=args.repeat,
                progress=progress,
                llm=args.llm,
            )
            progress(f"server {server.url} (own process); {runs_each(args.repeat)}")
            results: Results = {}
            for group in args.groups:
                progress(f"{group}…")
                BENCHES[group](replace(bench, repeat=rounds(group, args.repeat)), results)
    finally:
        server.close()
    lines = budget_lines(results)
    info = machine(python) | {"load_average": [load_before, os.getloadavg()[0]]}
    print()
    print(
        f"meilichat benchmark, {info['date']}: {info['nproc']} CPUs {info['arch']}, Python "
        f"{info['python']} (clean venv), load {load_before:.2f} → {os.getloadavg()[0]:.2f}, "
        f"{runs_each(args.repeat)}, medians"
    )
    print(render_table(lines))
    for failure in bench.failures:
        print(f"error: {failure}")
    report = {
        "machine": info,
        "repeat": args.repeat,
        "groups": args.groups,
        "seconds": round(time.monotonic() - started, 1),
        "lines": [asdict(line) for line in lines],
        "results": {
            measure: {name: asdict(s) | {"median": s.median} for name, s in by_name.items()}
            for measure, by_name in results.items()
        },
    }
    Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"samples written to {args.json} ({report['seconds']} s)")
    return 1 if bench.failures else 0


if __name__ == "__main__":
    sys.exit(main())
