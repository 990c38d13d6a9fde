"""Putting text on the clipboard for the REPL's `/copy`.

A clipboard tool when one fits the session (pbcopy on macOS, wl-copy under Wayland, xclip or
xsel under X11); otherwise OSC 52, the escape sequence that asks the terminal itself to set
the clipboard, which also works over SSH and in tmux with `set-clipboard on`. That sequence
is the only escape meilichat ever writes on purpose, and only here.

Stdlib only; no rich, httpx or prompt_toolkit.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
from collections.abc import Mapping
from typing import TextIO

TOOL_TIMEOUT = 3.0  # seconds; a tool that hangs (no display) must not hang the REPL


def tools_for(environ: Mapping[str, str], platform: str = sys.platform) -> list[list[str]]:
    """The clipboard commands worth trying in this session, best first."""
    candidates: list[list[str]] = []
    if platform == "darwin":
        candidates.append(["pbcopy"])
    if environ.get("WAYLAND_DISPLAY"):
        candidates.append(["wl-copy"])
    if environ.get("DISPLAY"):
        candidates.append(["xclip", "-selection", "clipboard"])
        candidates.append(["xsel", "--clipboard", "--input"])
    return [command for command in candidates if shutil.which(command[0])]


def osc52(text: str) -> str:
    """The OSC 52 sequence that sets the system clipboard to `text`."""
    payload = base64.b64encode(text.encode("utf-8", errors="replace")).decode("ascii")
    return f"\x1b]52;c;{payload}\x07"


def copy_text(text: str, *, environ: Mapping[str, str], terminal: TextIO) -> str:
    """Copy `text`; return how it was done, for the confirmation line."""
    data = text.encode("utf-8", errors="replace")
    for command in tools_for(environ):
        try:
            # Output to DEVNULL: xclip forks a server that would keep a captured pipe open.
            done = subprocess.run(
                command,
                input=data,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=TOOL_TIMEOUT,
                env=dict(environ),  # DISPLAY, WAYLAND_DISPLAY: the run's, not the process's
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return f"with {command[0]}"
    terminal.write(osc52(text))
    terminal.flush()
    return "through the terminal, OSC 52"
