"""The user's editor: which one, and starting it on a file. The one way meilichat opens it.

Which editor: $VISUAL, then $EDITOR (either may carry arguments: "code --wait"), then the
first of `editor`, `nano`, `vi` found on PATH; one that cannot be started is skipped. Used by
`workspace edit` (the settings as a JSON file, through `edit_json_object`: a file that is not
a JSON object is kept, so the user's edits are not lost) and by the REPL (Ctrl-X Ctrl-E and
`/edit`, through `edit_text`: a private temporary file removed afterwards, read back leniently
so an editor that writes Latin-1 cannot crash the REPL).

Stdlib and `errors` only; the environment comes from the caller (the run context), never
os.environ.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from meilichat_cli.errors import UsageError

# Editors tried when neither $VISUAL nor $EDITOR names one that runs, in order.
FALLBACK_EDITORS = ("editor", "nano", "vi")


@dataclass(frozen=True)
class EditorRun:
    """An editor that was started: its command line as configured, and how it exited."""

    command: str
    returncode: int


def editor_commands(environ: Mapping[str, str]) -> list[str]:
    """The editors to try, in order (see the module docstring)."""
    named = [environ.get("VISUAL", ""), environ.get("EDITOR", "")]
    commands = [command for command in named if _split_command(command)]
    commands += [name for name in FALLBACK_EDITORS if shutil.which(name)]
    return commands


def editor_name(environ: Mapping[str, str]) -> str:
    """The editor that will most likely open (to tell the user before it takes the screen)."""
    commands = editor_commands(environ)
    return commands[0] if commands else FALLBACK_EDITORS[-1]


def open_in_editor(path: str, environ: Mapping[str, str]) -> EditorRun | None:
    """Edit `path` in the first editor that starts and wait for it; None when none could be
    started. A non-zero exit status is the editor's way to say "cancel" (`:cq` in vi)."""
    for command in editor_commands(environ):
        try:
            # The editor sees the run's environment (the one VISUAL/EDITOR came from).
            returncode = subprocess.call([*_split_command(command), path], env=dict(environ))
        except OSError:
            continue  # not installed: try the next one
        return EditorRun(command, returncode)
    return None


def edit_text(text: str, environ: Mapping[str, str]) -> str | None:
    """`text` edited in the user's editor; None when no editor could be started or the
    editor exited with an error."""
    descriptor, name = tempfile.mkstemp(prefix="meilichat-", suffix=".md")  # 0600
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", errors="replace") as file:
            file.write(text + "\n" if text else "")
        run = open_in_editor(name, environ)
        if run is None or run.returncode != 0:
            return None
        with open(name, "rb") as file:
            edited = file.read().decode("utf-8", errors="replace")
        return edited[:-1] if edited.endswith("\n") else edited
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


def edit_json_object(
    data: Mapping[str, Any], environ: Mapping[str, str], *, prefix: str
) -> tuple[dict[str, Any], str]:
    """`data` as edited, and the file (0600) holding it, which the caller removes once it is
    used; removed here when the editing itself fails, kept when the text is not a JSON object
    (the user's work is not thrown away). Both failures are usage errors."""
    handle, path = tempfile.mkstemp(prefix=prefix, suffix=".json")
    keep_file = False
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        result = open_in_editor(path, environ)
        if result is None:
            raise UsageError(
                f"cannot start an editor (tried VISUAL, EDITOR, {', '.join(FALLBACK_EDITORS)})",
                hint="set VISUAL or EDITOR to your editor",
            )
        if result.returncode != 0:
            raise UsageError(f"the editor exited with status {result.returncode}; nothing sent")
        with open(path, encoding="utf-8") as edited:
            text = edited.read()
        try:
            edited_data = json.loads(text)
        except ValueError as error:
            keep_file = True
            raise UsageError(
                f"the edited settings are not valid JSON: {error}",
                hint=f"your edits are kept in {path}; nothing was sent",
            ) from None
        if not isinstance(edited_data, dict):
            keep_file = True
            raise UsageError(
                "the edited settings must be a JSON object",
                hint=f"your edits are kept in {path}; nothing was sent",
            )
        keep_file = True  # the caller's now
        return edited_data, path
    finally:
        if not keep_file:
            with contextlib.suppress(OSError):
                os.unlink(path)


def _split_command(command: str) -> list[str]:
    try:
        return shlex.split(command)  # $VISUAL may carry arguments: "code --wait"
    except ValueError:
        return []
