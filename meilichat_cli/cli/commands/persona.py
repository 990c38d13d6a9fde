"""`meilichat persona`: named scopes to chat as (`ask --as NAME`), kept per profile.

`persona add NAME --index 'tickets:customer_id = 42'` stores the rules, the lifetime of the
tokens signed for each run (`--expires`, default 1h) and the uid of the profile's key (the
tokens' apiKeyUid: `--parent-uid`, or looked up through `/keys` with an admin key). Nothing
secret is stored. The work is in `meilichat_cli.tenancy.personas`; only typer is imported at
module level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from meilichat_cli.cli.admin_options import AdminKeyStdinOption, JsonOption
from meilichat_cli.cli.completion.completers import complete_persona, complete_profile
from meilichat_cli.cli.context import run_context
from meilichat_cli.cli.help.text import PROFILE_ENV, epilog
from meilichat_cli.cli.tenancy_options import (
    IndexOption,
    ParentUidOption,
    RulesOption,
    rules_from_options,
)

if TYPE_CHECKING:
    from meilichat_cli.local.context import RunContext
    from meilichat_cli.tenancy.personas import Persona

app = typer.Typer(
    help="Personas: named tenant scopes to chat as (ask/chat/batch --as NAME).",
    epilog=epilog(
        "meilichat persona add alice --index 'tickets:customer_id = 42' --expires 1h",
        "meilichat ask --as alice 'what is the status of my tickets?'",
        "meilichat scope check --as alice,bob",
        env=PROFILE_ENV + ", MEILI_MASTER_KEY (to look up the parent key's uid)",
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
)

ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        help="Profile the persona belongs to (default: MEILICHAT_PROFILE, then the default).",
        metavar="NAME",
        show_default=False,
        autocompletion=complete_profile,
    ),
]
NameArgument = Annotated[
    str, typer.Argument(help="The persona's name.", autocompletion=complete_persona)
]
ExpiresOption = Annotated[
    str,
    typer.Option(
        "--expires",
        help="Lifetime of the token signed for each run: 30m, 1h, 2d…",
        metavar="DURATION",
    ),
]


@app.command(
    "add",
    epilog=epilog(
        "meilichat persona add alice --index 'tickets:customer_id = 42'",
        "meilichat persona add support --index 'tickets' --index 'faq:lang = en' --expires 8h",
        "meilichat persona add bob --rules @bob-rules.json --parent-uid 6062abda-…",
        env=PROFILE_ENV + ", MEILI_MASTER_KEY",
    ),
)
def add(
    typer_ctx: typer.Context,
    name: NameArgument,
    index: IndexOption = None,
    rules: RulesOption = None,
    expires: ExpiresOption = "1h",
    parent_uid: ParentUidOption = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite a persona of the same name.")
    ] = False,
    admin_key_stdin: AdminKeyStdinOption = False,
    profile: ProfileOption = None,
) -> None:
    """Add a persona: its search rules, token lifetime and parent key uid."""
    from meilichat_cli.tenancy.personas import Persona, save_persona, validate_name, validate_uid
    from meilichat_cli.tenancy.token import parse_expires
    from meilichat_cli.ui.admin_view import write_line

    ctx = run_context(typer_ctx)
    validate_name(name)
    search_rules = rules_from_options(index, rules)
    parse_expires(expires)
    from meilichat_cli.cli.options import ConnectionFlags

    flags = ConnectionFlags(profile=profile)
    connection = flags.resolve(ctx)
    if connection.profile is None:
        from meilichat_cli.errors import ConfigError

        raise ConfigError(
            "personas belong to a profile, and none is in use",
            hint="pass -p PROFILE, or add one: meilichat profile add NAME --url URL",
        )
    uid = validate_uid(parent_uid) if parent_uid else None
    if uid is None:
        uid = _look_up_parent_uid(ctx, flags, connection.api_key, admin_key_stdin)
    persona = Persona(name, connection.profile, search_rules, expires, uid)
    replaced = save_persona(ctx.paths.config_file, persona, warn=ctx.warn, replace_existing=replace)
    verb = "Replaced" if replaced else "Added"
    write_line(ctx, f"{verb} persona {name!r} in profile {connection.profile!r}:")
    for line in _describe(persona):
        write_line(ctx, f"  {line}")


def _look_up_parent_uid(
    ctx: RunContext, flags: object, parent_key: str | None, admin_key_stdin: bool
) -> str:
    """The uid of the profile's key, read from /keys with an admin key."""
    from meilichat_cli.api import admin
    from meilichat_cli.cli.admin_options import explicit_admin_key, with_admin_key
    from meilichat_cli.cli.options import ConnectionFlags
    from meilichat_cli.errors import AuthError, UsageError

    assert isinstance(flags, ConnectionFlags)
    if parent_key is None:
        raise UsageError(
            "the profile has no key to be the parent of the persona's tokens",
            hint="store one with `meilichat key set` (a key holding search and chatCompletions)",
        )
    admin_key = explicit_admin_key(ctx, from_stdin=admin_key_stdin, prompt=False)
    if admin_key is None:
        raise UsageError(
            "the uid of the profile's key is needed (the tokens' apiKeyUid)",
            hint="pass --parent-uid UID, or set MEILI_MASTER_KEY (or --admin-key-stdin) to look"
            " it up",
        )
    connection = with_admin_key(ctx, flags.resolve(ctx), admin_key)
    with flags.open_client(ctx, connection) as client:
        found = admin.find_key(admin.list_keys(client), parent_key)
    if found is None:
        raise AuthError(
            "the profile's key is not an API key of this server, so it cannot sign tenant"
            " tokens (a master key cannot either)",
            hint="store a key holding search and chatCompletions: MEILI_MASTER_KEY=… meilichat"
            " key create --actions chatCompletions,search --save",
        )
    return str(found.get("uid"))


def _describe(persona: Persona) -> list[str]:
    from meilichat_cli.tenancy.rules import describe

    lines = [f"rule  {line}" for line in describe(persona.rules)]
    lines.append(f"token lifetime  {persona.expires} (a new token for each run)")
    lines.append(f"parent key uid  {persona.parent_uid or '- (add --parent-uid)'}")
    return lines


def _personas(ctx: RunContext, profile: str | None) -> tuple[str, dict[str, Persona]]:
    from meilichat_cli.local.profiles import read_config, select_profile
    from meilichat_cli.tenancy.personas import personas_of

    config = read_config(ctx.paths, warn=ctx.warn)
    chosen = select_profile(config, profile, ctx.environ)
    return chosen.name, personas_of(config, chosen)


@app.command("list", epilog=epilog("meilichat persona list --json", env=PROFILE_ENV))
def list_personas(
    typer_ctx: typer.Context, profile: ProfileOption = None, json_mode: JsonOption = False
) -> None:
    """List the personas of a profile."""
    from meilichat_cli.tenancy.rules import describe
    from meilichat_cli.ui.admin_view import print_table, write_json, write_line

    ctx = run_context(typer_ctx)
    profile_name, personas = _personas(ctx, profile)
    if json_mode:
        write_json(ctx, [_json(p) for p in personas.values()])
        return
    if not personas:
        write_line(ctx, f"No personas in profile {profile_name!r}; add one with `persona add`.")
        return
    rows = [[p.name, "; ".join(describe(p.rules)), p.expires] for p in personas.values()]
    print_table(ctx, ["persona", "rules", "token lifetime"], rows)


@app.command("show", epilog=epilog("meilichat persona show alice", env=PROFILE_ENV))
def show(
    typer_ctx: typer.Context,
    name: NameArgument,
    profile: ProfileOption = None,
    json_mode: JsonOption = False,
) -> None:
    """Show one persona: rules, token lifetime, parent key uid."""
    from meilichat_cli.local.profiles import read_config, select_profile
    from meilichat_cli.tenancy.personas import find_persona
    from meilichat_cli.ui.admin_view import write_json, write_line

    ctx = run_context(typer_ctx)
    config = read_config(ctx.paths, warn=ctx.warn)
    chosen = select_profile(config, profile, ctx.environ)
    persona = find_persona(config, chosen, name)
    if json_mode:
        write_json(ctx, _json(persona))
        return
    write_line(ctx, f"persona {persona.name} (profile {persona.profile})")
    for line in _describe(persona):
        write_line(ctx, f"  {line}")


@app.command("rm", epilog=epilog("meilichat persona rm alice", env=PROFILE_ENV))
def remove(typer_ctx: typer.Context, name: NameArgument, profile: ProfileOption = None) -> None:
    """Remove a persona."""
    from meilichat_cli.local.profiles import read_config, select_profile
    from meilichat_cli.tenancy.personas import remove_persona
    from meilichat_cli.ui.admin_view import write_line

    ctx = run_context(typer_ctx)
    chosen = select_profile(read_config(ctx.paths, warn=ctx.warn), profile, ctx.environ)
    remove_persona(ctx.paths.config_file, chosen.name, name, warn=ctx.warn)
    write_line(ctx, f"Removed persona {name!r} from profile {chosen.name!r}.")


def _json(persona: Persona) -> dict[str, object]:
    return {
        "name": persona.name,
        "profile": persona.profile,
        "rules": persona.rules,
        "expires": persona.expires,
        "parent_uid": persona.parent_uid,
    }
