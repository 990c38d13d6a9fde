"""Messages cleaned and plain: no colour-code remnants from a proxy's page, TLS against a
plain-HTTP server explained in words, option-type errors in plain language, and `ask
--help` that keeps option names whole and examples indented at 80 columns."""

from __future__ import annotations

import re

import httpx

from meilichat_cli.standin import StandInServer
from meilichat_cli.text.sanitize import strip_tags_excerpt
from tests.conftest import run_meilichat
from tests.inprocess import invoke


def test_a_proxy_page_with_colours_leaves_no_code_remnants(clean_env: dict[str, str]) -> None:
    assert strip_tags_excerpt("<p>\x1b[31mBad gateway\x1b[0m now</p>") == "Bad gateway now"

    def proxy(request: httpx.Request) -> httpx.Response:
        page = "<html><body><h1>\x1b[31m502 Bad Gateway\x1b[0m</h1></body></html>"
        return httpx.Response(502, headers={"content-type": "text/html"}, text=page)

    env = {
        **clean_env,
        "MEILICHAT_URL": "http://meili.test",
        "MEILICHAT_API_KEY": "k",
        "MEILICHAT_WORKSPACE": "demo",
    }
    result = invoke(["ask", "hello"], env=env, transport=httpx.MockTransport(proxy))
    assert result.exit_code == 5, result.output
    assert "502 Bad Gateway" in result.stderr
    assert "[31m" not in result.stderr and "[0m" not in result.stderr


def test_https_to_a_plain_http_server_is_explained_in_words(
    clean_env: dict[str, str], standin: StandInServer
) -> None:
    secure = standin.url.replace("http://", "https://")
    env = {**clean_env, "MEILICHAT_API_KEY": standin.chat_key or ""}
    result = invoke(["ask", "--url", secure, "-w", "demo", "hello"], env=env)
    assert result.exit_code == 6, result.output
    assert "the server speaks plain HTTP; use http://" in result.stderr
    assert "WRONG_VERSION_NUMBER" not in result.stderr
    assert f"--url {standin.url}" in result.stderr
    # One attempt: a protocol mismatch is not worth retrying.
    assert not any(r.path.startswith("/chats") for r in standin.recorded)


def test_an_option_of_the_wrong_type_is_said_plainly(clean_env: dict[str, str]) -> None:
    result = invoke(["ask", "--timeout", "abc", "hello"], env=clean_env)
    assert result.exit_code == 2
    assert "'abc' is not a number" in result.stderr
    assert "float" not in result.stderr
    count = invoke(["history", "list", "-n", "many"], env=clean_env)
    assert count.exit_code == 2 and "is not a whole number" in count.stderr


def test_ask_help_at_80_columns_keeps_option_names_whole_and_examples_indented(
    clean_env: dict[str, str],
) -> None:
    result = run_meilichat(["ask", "--help"], {**clean_env, "COLUMNS": "80", "TERM": "dumb"})
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for option in (
        "--system", "--json", "--events", "--plain", "--sources", "--continue",
        "--conversation", "--no-save", "--input", "--profile", "--url", "--workspace",
        "--model", "--api-key", "--timeout", "--ca-bundle", "--insecure",
    ):  # fmt: skip
        assert re.search(rf"{option}(?![\w-])", text), option
    assert "…" not in text
    examples = text[text.index("Examples") :].splitlines()[1:]
    for line in examples:
        if line.strip().startswith("Environment"):
            break
        assert not line.strip() or line.startswith("   "), repr(line)
    assert all(len(line) <= 80 for line in text.splitlines())
