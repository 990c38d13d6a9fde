"""No command line ends in an internal error: hypothesis drives `meilichat` in-process with
generated arguments, stdin, config files and question files (deeply nested JSON, 5000-digit
numbers, lone surrogates, bad URLs, huge numbers, escapes), against the stand-in server, and
every run must exit with a documented code other than 1 and print no traceback."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import hypothesis_profiles  # noqa: F401 - loads the shared hypothesis profile
import pytest
from conftest import MASTER_KEY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from inprocess import invoke

from meilichat_cli.standin import StandInServer

COMMANDS = [
    ["ask"],
    ["ask", "--json"],
    ["ask", "--events"],
    ["ask", "--plain", "--sources"],
    ["ask", "--input", "json"],
    ["batch"],
    ["history", "list"],
    ["history", "show"],
    ["history", "search"],
    ["history", "export"],
    ["profile", "list"],
    ["profile", "add"],
    ["profile", "show"],
    ["key", "show"],
    ["workspace", "list"],
    ["workspace", "show"],
    ["index", "chat-settings"],
    ["doctor"],
    ["help"],
    [],
]
OPTIONS = [
    "-n",
    "--limit",
    "--timeout",
    "--url",
    "-w",
    "-p",
    "--conversation",
    "-c",
    "--json",
    "--plain",
    "--no-save",
    "-s",
    "--output",
    "--resume",
    "-j",
    "--",
]
NASTY = [
    "1e300",
    "nan",
    "-1",
    "0",
    "9" * 5000,
    "99999999999999999999999",
    "http://[::1",
    "http://[::1]:99999",
    "http://127.0.0.1:9",
    "https://",
    "ftp://x",
    "",
    " ",
    "\udcff",
    "hi \ud800 there",
    "\x1b]52;c;cm0=\x07",
    "\u202eevil",
    "[" * 2000,
    '{"prompt": ' + "[" * 5000 + "]" * 5000 + "}",
    "demo",
    "movies",
    "/dev/null",
    "/",
]
_EXCLUDED = ("MEILICHAT_", "MEILI_")

tokens = st.one_of(
    st.sampled_from(OPTIONS),
    st.sampled_from(NASTY),
    st.text(max_size=30),
)
stdins = st.one_of(
    st.none(),
    st.sampled_from(NASTY),
    st.text(max_size=200),
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.sampled_from(["prompt", "messages", "id", "x"]), inner, max_size=3),
        ),
        max_leaves=20,
    ).map(json.dumps),
)
configs = st.one_of(
    st.none(),
    st.text(max_size=200),
    st.sampled_from(
        [
            '[profiles.p]\nurl = "http://[::1"\nworkspace = "demo"\n',
            '[profiles.p]\nurl = "http://127.0.0.1:9"\nworkspace = "x\\u001b[2J"\n',
            "a = " + "[" * 3000 + "]" * 3000 + "\n",
            'default_profile = "nope"\n',
            "[profiles]\np = 1\n",
            '[profiles.p]\nurl = 5\nkey_command = ["x"]\n',
        ]
    ),
)
question_files = st.lists(
    st.one_of(stdins.filter(lambda value: value is not None), st.sampled_from(NASTY)),
    max_size=3,
)


@pytest.fixture(scope="module")
def module_standin() -> Iterator[StandInServer]:
    server = StandInServer(master_key=MASTER_KEY)
    server.start()
    try:
        yield server
    finally:
        server.close()


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    command=st.sampled_from(COMMANDS),
    words=st.lists(tokens, max_size=6),
    stdin=stdins,
    config=configs,
    questions=question_files,
)
def test_no_command_line_is_an_internal_error(
    module_standin: StandInServer,
    clean_env: dict[str, str],
    command: list[str],
    words: list[str],
    stdin: str | None,
    config: str | None,
    questions: list[str],
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        config_dir = root / "config"
        config_dir.mkdir(mode=0o700)
        if config is not None:
            (config_dir / "config.toml").write_text(config, encoding="utf-8", errors="replace")
        question_file = root / "q.jsonl"
        question_file.write_text(
            "\n".join(questions) + "\n", encoding="utf-8", errors="surrogatepass"
        )
        env = {k: v for k, v in clean_env.items() if not k.startswith(_EXCLUDED)}
        env.update(
            {
                "MEILICHAT_CONFIG_DIR": str(config_dir),
                "MEILICHAT_DATA_DIR": str(root / "data"),
                "MEILICHAT_URL": module_standin.url,
                "MEILICHAT_API_KEY": module_standin.chat_key or "",
                "MEILICHAT_WORKSPACE": module_standin.workspace,
                "MEILI_MASTER_KEY": MASTER_KEY,
            }
        )
        argv = [*command, *(str(question_file) if word == "FILE" else word for word in words)]
        if command == ["batch"]:
            argv = ["batch", str(question_file), *words]
        result = invoke(argv, env=env, input=stdin)
    assert result.exit_code != 1, (argv, result.output[-2000:])
    assert "Traceback" not in result.output, (argv, result.output[-2000:])
    assert "internal error" not in result.output, (argv, result.output[-2000:])
