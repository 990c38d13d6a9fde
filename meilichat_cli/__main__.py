"""Entry point for `meilichat` and `python -m meilichat_cli`; must import nothing heavy.

Before anything else, `main()` tells Python that two optional imports will not be needed in
this process, so they fail at once instead of costing time on every run that talks HTTP:

- `httpx._main`, httpx's own command-line tool, which `import httpx` loads whenever click is
  installed, pulling in click, pygments and rich's console, progress, syntax and table
  (~40 ms, and rich is then loaded even where meilichat prints to a pipe);
- `trio`, which httpcore imports whenever it is installed, for the async locks of its async
  client (~50 ms on the first `httpx.Client()`); meilichat runs no async code.

Both imports sit in `try: … except ImportError` in those libraries, which is what a `None`
entry in `sys.modules` triggers. A process that already imported them keeps them.
"""

from __future__ import annotations

import sys

NOT_NEEDED = ("httpx._main", "trio")


def main() -> None:
    for name in NOT_NEEDED:
        # None in sys.modules makes `import name` raise ImportError (documented behaviour).
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
    from meilichat_cli.cli.app import run

    run()


if __name__ == "__main__":
    main()
