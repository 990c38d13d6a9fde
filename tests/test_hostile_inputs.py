"""Every failure the hostile-input review found reported as an internal error (exit 1) now has
its documented code, a one-line message and a hint: deeply nested JSON, 5000-digit ids, lone
surrogates, malformed URLs from a flag, the environment or config.toml, a deeply nested
config.toml, a huge `history list -n`, `--timeout 1e300`, whitespace beyond the prompt cap on
stdin, and output that cannot be written (the partial answer is then saved)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_meilichat
from inprocess import invoke

DEEP = "[" * 100_000 + "]" * 100_000


def assert_clean_failure(result: object, code: int) -> None:
    assert result.exit_code == code, result.output  # type: ignore[attr-defined]
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert "internal error" not in stderr and "Traceback" not in stderr
    assert stderr.count("meilichat: error:") <= 1


@pytest.mark.parametrize(
    "stdin",
    [
        DEEP,
        '{"prompt": "x", "messages": ' + DEEP + "}",
        '{"prompt": "x", "id": ' + "9" * 5000 + "}",
    ],
    ids=["deep", "deep-inside", "5000-digit-id"],
)
def test_unreadable_json_input_is_a_usage_error(stdin: str, server_env: dict[str, str]) -> None:
    result = invoke(["ask", "--input", "json"], env=server_env, input=stdin)
    assert_clean_failure(result, 2)


@pytest.mark.parametrize(
    "line",
    ['{"prompt": "x", "id": ' + "9" * 5000 + "}", '{"prompt": ' + DEEP + "}"],
    ids=["5000-digit-id", "deep"],
)
def test_unreadable_batch_lines_are_usage_errors(
    line: str, tmp_path: Path, server_env: dict[str, str]
) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(line + "\n", encoding="utf-8")
    assert_clean_failure(invoke(["batch", str(questions)], env=server_env), 2)


def test_a_resume_file_of_unreadable_lines_is_ignored_with_a_warning(
    tmp_path: Path, server_env: dict[str, str]
) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"prompt": "Dune"}\n', encoding="utf-8")
    resume = tmp_path / "out.jsonl"
    resume.write_text(DEEP + "\n" + '{"line": ' + "9" * 5000 + "}\n", encoding="utf-8")
    result = invoke(["batch", str(questions), "--resume", str(resume)], env=server_env)
    assert result.exit_code == 0, result.output
    assert "2 unreadable line(s) ignored" in result.stderr


def test_a_lone_surrogate_in_the_prompt_is_sent_as_a_replacement_character(
    server_env: dict[str, str],
) -> None:
    result = invoke(["ask", "--json", "Dune \udcff please"], env=server_env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["complete"] is True


@pytest.mark.parametrize("url", ["http://[::1", "http://[::1]:99999", "http://exa mple"])
def test_a_malformed_url_is_a_usage_error_wherever_it_comes_from(
    url: str, clean_env: dict[str, str]
) -> None:
    from_flag = invoke(["ask", "--url", url, "-w", "movies", "hi"], env=clean_env)
    assert_clean_failure(from_flag, 2)
    from_env = invoke(["ask", "-w", "movies", "hi"], env={**clean_env, "MEILICHAT_URL": url})
    assert_clean_failure(from_env, 2)
    config = Path(clean_env["MEILICHAT_CONFIG_DIR"])
    config.mkdir(mode=0o700)
    (config / "config.toml").write_text(
        f'[profiles.p]\nurl = "{url}"\nworkspace = "movies"\n', encoding="utf-8"
    )
    from_config = invoke(["ask", "-p", "p", "hi"], env=clean_env)
    assert from_config.exit_code == 2, from_config.output
    for admin in (["doctor", "--url", url], ["workspace", "list", "--url", url]):
        assert_clean_failure(invoke(admin, env={**clean_env, "MEILI_MASTER_KEY": "k"}), 2)


def test_a_deeply_nested_config_file_is_a_config_error(clean_env: dict[str, str]) -> None:
    config = Path(clean_env["MEILICHAT_CONFIG_DIR"])
    config.mkdir(mode=0o700)
    (config / "config.toml").write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    result = invoke(["profile", "list"], env=clean_env)
    assert_clean_failure(result, 2)
    assert "nested too deeply" in result.stderr


def test_a_huge_history_limit_lists_everything(server_env: dict[str, str]) -> None:
    assert invoke(["ask", "Dune"], env=server_env).exit_code == 0
    result = invoke(["history", "list", "-n", "9" * 40], env=server_env)
    assert result.exit_code == 0, result.output
    assert "Dune" in result.stdout


def test_an_enormous_timeout_means_no_practical_limit(server_env: dict[str, str]) -> None:
    result = invoke(["ask", "--timeout", "1e300", "Dune"], env=server_env)
    assert result.exit_code == 0, result.output


def test_whitespace_beyond_the_prompt_cap_on_stdin_is_refused(
    server_env: dict[str, str],
) -> None:
    # The question after 3 MiB of blanks would otherwise be silently dropped.
    stdin = " " * (3 * 1024 * 1024) + "the real question"
    result = invoke(["ask", "x"], env=server_env, input=stdin)
    assert_clean_failure(result, 2)
    assert "larger than the 2 MiB limit" in result.stderr


@pytest.mark.parametrize("mode", [[], ["--json"], ["--events"]])
def test_stdout_that_cannot_be_written_is_exit_2_and_the_answer_is_saved(
    mode: list[str], server_env: dict[str, str]
) -> None:
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "meilichat_cli", "ask", *mode, "Stanley Kubrick movies"],
            env=server_env,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2, proc.stderr
    assert "cannot write the output" in proc.stderr
    assert "Traceback" not in proc.stderr
    listed = run_meilichat(["history", "list", "--json"], server_env)
    (conversation,) = json.loads(listed.stdout)
    assert conversation["title"] == "Stanley Kubrick movies"


def test_a_batch_output_file_that_cannot_be_written_is_exit_2(
    tmp_path: Path, server_env: dict[str, str]
) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"prompt": "Dune"}\n{"prompt": "Alien"}\n', encoding="utf-8")
    result = run_meilichat(["batch", str(questions), "--output", "/dev/full"], server_env)
    assert result.returncode == 2, result.stderr
    assert "cannot write the output" in result.stderr
    assert "Traceback" not in result.stderr
