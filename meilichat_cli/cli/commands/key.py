"""`meilichat key`: the API key kept for a profile.

`key set` reads the key from a hidden prompt on a terminal, or exactly one line from stdin when
piped (`echo "$KEY" | meilichat key set`); `key show` prints it masked (`--reveal` prints the
bare key, for scripts); `key remove` forgets it. The key is never echoed in any other output
or error message.

Only typer is imported at module level; the stores load inside the commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from meilichat_cli.cli.completion.completers import complete_profile
from meilichat_cli.cli.context import run_context
from meilichat_cli.cli.help.text import PROFILE_ENV, epilog
from meilichat_cli.ui.admin_view import write_line

if TYPE_CHECKING:
    from meilichat_cli.local.context import RunContext

app = typer.Typer(
    help="The API key stored for a profile: set, show (masked) or remove it.",
    epilog=epilog(
        "meilichat key set --profile local",
        "MEILI_MASTER_KEY=… meilichat key create --save --profile local",
        env=PROFILE_ENV + ", MEILI_MASTER_KEY (key create, key list --server)",
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
)

MAX_STDIN_BYTES = 64 * 1024

ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        help="Profile (default: MEILICHAT_PROFILE, then the default profile).",
        metavar="NAME",
        show_default=False,
        autocompletion=complete_profile,
    ),
]


@app.command(
    "set",
    epilog=epilog(
        "meilichat key set                        # hidden prompt, default profile",
        "pass show meili/prod | meilichat key set --profile prod",
        env=PROFILE_ENV,
    ),
)
def set_key(typer_ctx: typer.Context, profile: ProfileOption = None) -> None:
    """Store the key: hidden prompt on a terminal, one line from stdin when piped."""
    from meilichat_cli.local.connection import validate_api_key
    from meilichat_cli.local.credentials import mask_key
    from meilichat_cli.local.profiles import read_config, select_profile, set_key

    ctx = run_context(typer_ctx)
    # Check the profile before asking for the key; the lock is taken only after it is typed.
    config = read_config(ctx.paths, warn=ctx.warn)
    chosen = select_profile(config, profile, ctx.environ)
    key = validate_api_key(_read_key(ctx, chosen.name))
    chosen, stored = set_key(ctx.paths, chosen.name, ctx.environ, key, warn=ctx.warn)
    if chosen.key_command:
        ctx.warn(
            f"profile {chosen.name!r} has a key_command, which is used instead of a stored key;"
            f" clear it with: meilichat profile set {chosen.name} --key-command ''"
        )
    write_line(
        ctx, f"Stored the key for profile {chosen.name!r} ({mask_key(key)}) in {stored.location}."
    )


@app.command(
    "show",
    epilog=epilog(
        "meilichat key show --profile prod",
        'curl -H "Authorization: Bearer $(meilichat key show --reveal)" "$URL/health"',
        env=PROFILE_ENV,
    ),
)
def show_key(
    typer_ctx: typer.Context,
    profile: ProfileOption = None,
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Print the whole key and nothing else (for scripts).")
    ] = False,
) -> None:
    """Show the profile's key, masked, and where it comes from (runs its key_command)."""
    from meilichat_cli.errors import ConfigError
    from meilichat_cli.local.credentials import mask_key, read_profile_key
    from meilichat_cli.local.profiles import read_config, select_profile

    ctx = run_context(typer_ctx)
    config = read_config(ctx.paths, warn=ctx.warn)
    chosen = select_profile(config, profile, ctx.environ)
    stored = read_profile_key(config, chosen, ctx.paths.credentials_file, warn=ctx.warn)
    if stored is None:
        raise ConfigError(
            f"no key stored for profile {chosen.name!r}",
            hint=f"store one with: meilichat key set --profile {chosen.name}",
        )
    if reveal:
        write_line(ctx, stored.value)  # validated printable ASCII: nothing to sanitize
        return
    write_line(ctx, f"{mask_key(stored.value)} ({stored.source}: {stored.location})")


@app.command("remove", epilog=epilog("meilichat key remove --profile old", env=PROFILE_ENV))
def remove_key(typer_ctx: typer.Context, profile: ProfileOption = None) -> None:
    """Forget the profile's stored key (credentials file and keyring)."""
    from meilichat_cli.local.profiles import remove_key

    ctx = run_context(typer_ctx)
    chosen, removed = remove_key(ctx.paths, profile, ctx.environ, warn=ctx.warn)
    if removed:
        write_line(ctx, f"Removed the key of profile {chosen.name!r} from {' and '.join(removed)}.")
    else:
        write_line(ctx, f"No key was stored for profile {chosen.name!r}.")
    if chosen.key_command:
        ctx.note(f"Its key_command is unchanged: {chosen.key_command}")


def _read_key(ctx: RunContext, profile: str) -> str:
    from meilichat_cli.errors import UsageError

    if ctx.stdin_isatty:
        from meilichat_cli.cli.prompts import ask_secret

        return ask_secret(
            ctx, f"API key for profile {profile!r}", cancelled="cancelled; no key was stored"
        )
    data = ctx.stdin.read(MAX_STDIN_BYTES + 1)
    if len(data) > MAX_STDIN_BYTES:
        raise UsageError("stdin holds more than 64 KiB; expected one line with the key")
    lines = [line for line in data.splitlines() if line.strip()]
    if len(lines) > 1:
        raise UsageError(f"expected exactly one line (the key) on stdin, got {len(lines)} lines")
    return lines[0] if lines else ""


# `key create` and `key list --server` talk to the server; they live in their own module.
from meilichat_cli.cli.commands.key_admin import register as _register_server_commands  # noqa: E402

_register_server_commands(app)
