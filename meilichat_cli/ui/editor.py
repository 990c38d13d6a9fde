"""Editing a piece of text in the user's editor ($VISUAL, $EDITOR), for the REPL.

Used by Ctrl-X Ctrl-E at the prompt and by `/edit`. The text goes through a private
temporary file that is removed afterwards; what comes back is decoded leniently (an editor
that writes Latin-1 must not crash the REPL).

Stdlib only.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Mapping

# Editors tried when neither $VISUAL nor $EDITOR names one that runs, in order.
FALLBACK_EDITORS = ("editor", "nano", "vi")


def edit_text(text: str, environ: Mapping[str, str] | None = None) -> str | None:
    """`text` edited in $VISUAL / $EDITOR (else editor, nano, vi).

    None when no editor could be started or the editor exited with an error (the usual way
    to say "cancel", e.g. `:cq` in vi)."""
    env = os.environ if environ is None else environ
    commands = [env.get("VISUAL", ""), env.get("EDITOR", "")]
    commands += [name for name in FALLBACK_EDITORS if shutil.which(name)]
    descriptor, name = tempfile.mkstemp(prefix="meilichat-", suffix=".md")  # 0600
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", errors="replace") as file:
            file.write(text + "\n" if text else "")
        for command in commands:
            words = _split_command(command)
            if not words:
                continue
            try:
                returncode = subprocess.call([*words, name], env=dict(env))
            except OSError:
                continue  # not installed: try the next one
            if returncode != 0:
                return None
            with open(name, "rb") as file:
                edited = file.read().decode("utf-8", errors="replace")
            return edited[:-1] if edited.endswith("\n") else edited
        return None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


def _split_command(command: str) -> list[str]:
    try:
        return shlex.split(command)  # $VISUAL may carry arguments: "code --wait"
    except ValueError:
        return []
