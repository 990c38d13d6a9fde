"""Entry point for `meilichat` and `python -m meilichat_cli`; must import nothing heavy."""

from __future__ import annotations


def main() -> None:
    from meilichat_cli.cli import run

    run()


if __name__ == "__main__":
    main()
