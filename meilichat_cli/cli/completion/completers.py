"""Completion callbacks for typer options and arguments (`autocompletion=`), one per kind of value.

Each callback reads what the command line already says (`-p/--profile`, `--url`, `--api-key`,
or the NAME of `profile set NAME`) from the partly parsed context, asks
`meilichat_cli.cli.completion.values` for candidates, and never raises: a broken config file or an
unreachable server must leave the shell quiet, not print a traceback under the prompt. typer
keeps the candidates that start with what was typed.

Imports typer and the standard library at module level; the value providers load when a TAB
asks for them, so `--help` and command-name completion never pay for them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import typer

Candidates = list[tuple[str, str]]


def complete_profile(ctx: typer.Context, incomplete: str) -> Candidates:
    from meilichat_cli.cli.completion import values as completion_values

    return _quietly(lambda: completion_values.profile_candidates(_environ(ctx)))


def complete_persona(ctx: typer.Context, incomplete: str) -> Candidates:
    from meilichat_cli.cli.completion import values as completion_values

    profile, _url, _api_key = _connection_hints(ctx)
    return _quietly(lambda: completion_values.persona_candidates(_environ(ctx), profile=profile))


def complete_workspace(ctx: typer.Context, incomplete: str) -> Candidates:
    from meilichat_cli.cli.completion import values as completion_values

    profile, url, api_key = _connection_hints(ctx)
    return _quietly(
        lambda: completion_values.workspace_candidates(
            _environ(ctx), profile=profile, url=url, api_key=api_key
        )
    )


def complete_index(ctx: typer.Context, incomplete: str) -> Candidates:
    from meilichat_cli.cli.completion import values as completion_values

    profile, url, api_key = _connection_hints(ctx)
    return _quietly(
        lambda: completion_values.index_candidates(
            _environ(ctx), profile=profile, url=url, api_key=api_key
        )
    )


def complete_conversation(ctx: typer.Context, incomplete: str) -> Candidates:
    from meilichat_cli.cli.completion import values as completion_values

    return _quietly(lambda: completion_values.conversation_candidates(_environ(ctx), incomplete))


def complete_model(ctx: typer.Context, incomplete: str) -> Candidates:
    from meilichat_cli.cli.completion import values as completion_values

    profile, _url, _api_key = _connection_hints(ctx)
    return _quietly(lambda: completion_values.model_candidates(_environ(ctx), profile=profile))


def choices(*values: str) -> Callable[[typer.Context, str], Candidates]:
    """A callback offering fixed values (an option that takes one of a few words)."""

    def complete(ctx: typer.Context, incomplete: str) -> Candidates:
        return [(value, "") for value in values]

    return complete


def _connection_hints(ctx: typer.Context) -> tuple[str | None, str | None, str | None]:
    """Profile, URL and API key given earlier on the line being completed."""
    params = ctx.params
    profile = _text(params.get("profile"))
    parent = ctx.parent
    if parent is not None and parent.info_name == "profile" and ctx.info_name != "add":
        # `profile set NAME -w …`: the profile being edited is the one to ask about. While
        # an option still lacks its value, click leaves NAME unparsed in ctx.args.
        leftover = ctx.args[0] if ctx.args else None
        profile = _text(params.get("name")) or _text(leftover) or profile
    return profile, _text(params.get("url")), _text(params.get("api_key"))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _quietly(provider: Callable[[], Candidates]) -> Candidates:
    try:
        return provider()
    except Exception:  # any failure means "nothing to offer": the shell owns the screen
        return []


def _environ(ctx: typer.Context) -> Mapping[str, str]:
    """The run's environment (completion runs under the same root context as commands)."""
    from meilichat_cli.cli.context import run_context

    return run_context(ctx).environ
