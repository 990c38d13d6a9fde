"""Whether the installed rich draws a probe block exactly as one of our direct drawings does.

The direct drawings (`md_code`, `md_list`, `md_table`) build the segments rich 15 builds for
a simple block. meilichat allows older rich versions, which draw some blocks differently, so
each drawing is taken only after its probe (a small block drawn both ways, once per process,
about a millisecond) agreed segment for segment; otherwise rich draws every such block.

Imports rich. Must not import httpx, typer, prompt_toolkit or the other `md_*` modules.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from rich.console import Console
from rich.segment import Segment

# Draws the probe with `console`: (what rich draws, what the direct drawing gives).
DrawBoth = Callable[[Console], tuple[list[Segment], list[Segment] | None]]


def draws_alike(draw_both: DrawBoth) -> bool:
    """Whether both drawings of the probe are the same segments on a truecolor terminal."""
    console = Console(
        file=io.StringIO(),
        width=80,
        force_terminal=True,
        color_system="truecolor",
        legacy_windows=False,
    )
    try:
        expected, drawn = draw_both(console)
    # Any failure means a rich unlike the one the drawing copies (an older one lacks a style
    # it uses, for instance): rich then draws every such block itself.
    except Exception:
        return False
    return drawn == expected
