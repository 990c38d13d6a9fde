"""History people can find again: titles they can change, a pager on a terminal only, and
an export that refuses to overwrite a file without --force (like /save without -f)."""

from __future__ import annotations

import sys
from pathlib import Path

import pexpect

from tests.inprocess import invoke
from tests.test_history_cli import seed


def test_rename_gives_a_conversation_the_title_shown_in_lists(clean_env: dict[str, str]) -> None:
    conversation = seed(clean_env, "Which films are set in space?", "Alien.")
    renamed = invoke(["history", "rename", conversation[:6], "Space", "films"], env=clean_env)
    assert renamed.exit_code == 0, renamed.output
    assert "Space films" in renamed.stderr
    listed = invoke(["history", "list"], env=clean_env).stdout
    assert listed.rstrip().split("\t")[-1] == "Space films"
    shown = invoke(["history", "show", conversation[:6]], env=clean_env).stdout
    assert shown.startswith("# Space films\n")
    missing = invoke(["history", "rename", "ffff", "x"], env=clean_env)
    assert missing.exit_code == 4


def test_export_to_an_existing_file_needs_force(clean_env: dict[str, str], tmp_path: Path) -> None:
    conversation = seed(clean_env, "Which films are set in space?", "Alien.")
    target = tmp_path / "notes.md"
    target.write_text("keep me")
    refused = invoke(["history", "export", conversation[:8], "-o", str(target)], env=clean_env)
    assert refused.exit_code == 2
    assert "exists; nothing was written" in refused.stderr and "--force" in refused.stderr
    assert target.read_text() == "keep me"
    forced = invoke(
        ["history", "export", conversation[:8], "-o", str(target), "--force"], env=clean_env
    )
    assert forced.exit_code == 0, forced.output
    assert target.read_text().startswith("# Which films are set in space?")


def test_export_onto_a_directory_says_so_without_suggesting_force(
    clean_env: dict[str, str], tmp_path: Path
) -> None:
    # --force cannot overwrite a directory: suggesting it only leads to a second error.
    conversation = seed(clean_env, "Which films are set in space?", "Alien.")
    for extra in ([], ["--force"]):
        refused = invoke(
            ["history", "export", conversation[:8], "-o", str(tmp_path), *extra], env=clean_env
        )
        assert refused.exit_code == 2
        assert f"cannot write {tmp_path}: Is a directory" in refused.stderr
        assert "--force" not in refused.stderr


def test_show_goes_through_the_pager_on_a_terminal_only(clean_env: dict[str, str]) -> None:
    conversation = seed(clean_env, "Which films are set in space?", "Alien.")
    env = {**clean_env, "PAGER": "sed s/^/PAGED:/"}
    child = pexpect.spawn(
        sys.executable,
        ["-m", "meilichat_cli", "history", "show", conversation[:8]],
        env=env,
        dimensions=(40, 100),
    )
    child.expect(pexpect.EOF, timeout=60)
    child.close()
    assert child.exitstatus == 0
    screen = child.before.decode()
    assert "PAGED:" in screen and "Alien" in screen
    piped = invoke(["history", "show", conversation[:8]], env=env)
    assert "PAGED:" not in piped.stdout and "Alien" in piped.stdout
