"""`meilichat profile`: named connections (URL, default workspace, model, key source).

add, list, show, use, set, rename, remove, and `path` (where every file lives). Listing never shows
keys; `show` shows the key masked with where it comes from. Human output is sanitized; `--json`
prints one JSON document on stdout.

Only typer is imported at module level; the config store and everything else load inside the
commands (`meilichat --help` and completion import this module).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from meilichat_cli.cli.completion.completers import (
    choices,
    complete_model,
    complete_profile,
    complete_workspace,
)
from meilichat_cli.cli.context import errors_as_json, run_context
from meilichat_cli.cli.help.text import CONFIG_ENV, PROFILE_ENV, epilog
from meilichat_cli.ui.admin_view import write_json, write_line

if TYPE_CHECKING:
    from meilichat_cli.local.config import Config, Profile
    from meilichat_cli.local.context import RunContext
    from meilichat_cli.local.profiles import ProfileFields

app = typer.Typer(
    help="Named connections: URL, default workspace and model, and where the key comes from.",
    epilog=epilog(
        "meilichat profile add local --url http://127.0.0.1:7700 -w movies --use",
        "meilichat profile list",
        'meilichat ask -p prod "which plans include SSO?"',
        env=PROFILE_ENV,
        note="Settings resolve as: command-line flag, then environment, then profile.",
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
)

NewNameArgument = Annotated[
    str, typer.Argument(help="Profile name (letters, digits, '-', '_').", metavar="NAME")
]
NameArgument = Annotated[
    str,
    typer.Argument(
        help="Profile name (letters, digits, '-', '_').",
        metavar="NAME",
        autocompletion=complete_profile,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", callback=errors_as_json, help="Print JSON instead of text.")
]
WorkspaceOption = Annotated[
    str | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Default chat workspace.",
        metavar="WORKSPACE",
        show_default=False,
        autocompletion=complete_workspace,
    ),
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Default model (built-in: gpt-4o-mini).",
        metavar="MODEL",
        show_default=False,
        autocompletion=complete_model,
    ),
]
KeyCommandOption = Annotated[
    str | None,
    typer.Option(
        "--key-command",
        help="Command whose first line of output is the key, e.g. 'pass show meili/prod'"
        " (run without a shell).",
        metavar="CMD",
        show_default=False,
    ),
]
KeyStoreOption = Annotated[
    str | None,
    typer.Option(
        "--key-store",
        help="Where `key set` keeps this profile's key: 'file' or 'keyring'.",
        metavar="STORE",
        show_default=False,
        autocompletion=choices("file", "keyring"),
    ),
]
CaBundleOption = Annotated[
    str | None,
    typer.Option(
        "--ca-bundle",
        help="PEM file of CA certificates to trust.",
        metavar="FILE",
        show_default=False,
    ),
]


@app.command(
    "add",
    epilog=epilog(
        "meilichat profile add local --url http://127.0.0.1:7700 -w movies",
        "meilichat profile add prod --url https://search.example.com -w support --use",
        "meilichat profile add work --url https://meili.corp --key-command 'pass meili'",
        env=CONFIG_ENV,
    ),
)
def add(
    typer_ctx: typer.Context,
    name: NewNameArgument,
    url: Annotated[
        str,
        typer.Option("--url", help="Meilisearch URL, e.g. http://127.0.0.1:7700.", metavar="URL"),
    ],
    workspace: WorkspaceOption = None,
    model: ModelOption = None,
    use: Annotated[bool, typer.Option("--use", help="Make it the default profile.")] = False,
    key_command: KeyCommandOption = None,
    key_store: KeyStoreOption = None,
    ca_bundle: CaBundleOption = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Do not verify TLS certificates (not recommended).")
    ] = False,
) -> None:
    """Add a profile; it becomes the default when there is none (or with --use)."""
    from meilichat_cli.local.profiles import ProfileFields, add_profile

    ctx = run_context(typer_ctx)
    fields = ProfileFields(
        url=url,
        workspace=workspace,
        model=model,
        key_command=key_command,
        key_store=key_store,
        ca_bundle=ca_bundle,
        insecure=insecure or None,
    )
    is_default = add_profile(ctx.paths, name, fields, make_default=use, warn=ctx.warn)
    suffix = " (default)" if is_default else ""
    write_line(ctx, f"Added profile {name!r}{suffix}.")
    if not key_command:
        ctx.note(f"Store its API key with: meilichat key set --profile {name}")


@app.command(
    "list",
    epilog=epilog("meilichat profile list", "meilichat profile list --json", env=CONFIG_ENV),
)
def list_profiles(typer_ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List profiles; the default is marked with '*'. Keys are never shown."""

    from meilichat_cli.local.profiles import read_config

    ctx = run_context(typer_ctx)
    config = read_config(ctx.paths, warn=ctx.warn)
    rows = [_profile_json(config, config.profiles[name]) for name in config.profile_names()]
    if as_json:
        write_json(ctx, rows)
        return
    if not rows:
        ctx.note("No profiles. Add one with: meilichat profile add NAME --url URL")
        return
    table = [
        [
            "*" if row["default"] else " ",
            str(row["name"]),
            str(row["url"]),
            str(row["workspace"] or "-"),
            str(row["model"] or "-"),
        ]
        for row in rows
    ]
    widths = [max(len(cells[column]) for cells in table) for column in range(5)]
    for cells in table:
        write_line(
            ctx,
            "  ".join(
                cell.ljust(width) for cell, width in zip(cells, widths, strict=True)
            ).rstrip(),
        )


@app.command(
    "show",
    epilog=epilog(
        "meilichat profile show",
        "meilichat profile show prod --json",
        env=PROFILE_ENV + ", MEILICHAT_API_KEY (noted when it overrides the stored key)",
    ),
)
def show(
    typer_ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Argument(
            help="Profile name (default: MEILICHAT_PROFILE, then the default).",
            metavar="[NAME]",
            autocompletion=complete_profile,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show a profile, with its key masked and where the key comes from."""

    from meilichat_cli.local.profiles import read_config, select_profile

    ctx = run_context(typer_ctx)
    config = read_config(ctx.paths, warn=ctx.warn)
    profile = select_profile(config, name, ctx.environ)
    key = _describe_key(ctx, config, profile)
    if ctx.environ.get("MEILICHAT_API_KEY", "").strip():
        ctx.note("note: MEILICHAT_API_KEY is set and overrides this profile's key")
    if as_json:
        write_json(ctx, {**_profile_json(config, profile, full=True), "key": key})
        return
    from meilichat_cli.local.connection import DEFAULT_MODEL

    default = " (default)" if config.default_profile == profile.name else ""
    lines = [
        ("profile", f"{profile.name}{default}"),
        ("url", profile.url),
        ("workspace", profile.workspace or "-"),
        ("model", profile.model or f"{DEFAULT_MODEL} (built-in default)"),
        ("key", _key_line(key, profile)),
        ("key store", config.key_store_for(profile)),
    ]
    if profile.key_command:
        lines.append(("key command", profile.key_command))
    if profile.ca_bundle:
        lines.append(("CA bundle", profile.ca_bundle))
    if profile.insecure:
        lines.append(("TLS", "not verified (insecure)"))
    width = max(len(label) for label, _ in lines) + 2
    for label, value in lines:
        write_line(ctx, f"{label + ':':<{width}}{value}")


@app.command("use", epilog=epilog("meilichat profile use prod", env=CONFIG_ENV))
def use(typer_ctx: typer.Context, name: NameArgument) -> None:
    """Make NAME the default profile."""
    from meilichat_cli.local.profiles import use_profile

    ctx = run_context(typer_ctx)
    use_profile(ctx.paths, name, warn=ctx.warn)
    write_line(ctx, f"Default profile is now {name!r}.")


@app.command(
    "set",
    epilog=epilog(
        "meilichat profile set local -w books -m gpt-4o",
        "meilichat profile set prod --url https://new.example.com",
        "meilichat profile set local --key-command ''      # clear a field",
        env=CONFIG_ENV,
    ),
)
def set_fields(
    typer_ctx: typer.Context,
    name: NameArgument,
    url: Annotated[
        str | None,
        typer.Option("--url", help="New Meilisearch URL.", metavar="URL", show_default=False),
    ] = None,
    workspace: WorkspaceOption = None,
    model: ModelOption = None,
    key_command: KeyCommandOption = None,
    key_store: KeyStoreOption = None,
    ca_bundle: CaBundleOption = None,
    insecure: Annotated[
        bool | None,
        typer.Option(
            "--insecure/--no-insecure", help="Skip or restore TLS verification.", show_default=False
        ),
    ] = None,
) -> None:
    """Change fields of a profile. An empty value ('') clears an optional field."""
    from meilichat_cli.local.profiles import ProfileFields, update_profile

    ctx = run_context(typer_ctx)
    fields = ProfileFields(
        url=url,
        workspace=workspace,
        model=model,
        key_command=key_command,
        key_store=key_store,
        ca_bundle=ca_bundle,
        insecure=insecure,
    )
    update_profile(ctx.paths, name, fields, warn=ctx.warn)
    changed = ", ".join(_changed_names(fields))
    write_line(ctx, f"Updated profile {name!r}: {changed}.")


@app.command("rename", epilog=epilog("meilichat profile rename demo demo-server", env=CONFIG_ENV))
def rename(
    typer_ctx: typer.Context,
    name: NameArgument,
    new_name: Annotated[
        str, typer.Argument(help="Its new name (letters, digits, '-', '_').", metavar="NEW_NAME")
    ],
) -> None:
    """Rename a profile, with its stored key (saved conversations keep the old name)."""
    from meilichat_cli.local.profiles import rename_profile

    ctx = run_context(typer_ctx)
    rename_profile(ctx.paths, name, new_name, warn=ctx.warn)
    write_line(ctx, f"Renamed profile {name!r} to {new_name!r}.")


@app.command("remove", epilog=epilog("meilichat profile remove old", env=CONFIG_ENV))
def remove(typer_ctx: typer.Context, name: NameArgument) -> None:
    """Remove a profile and the key stored for it."""
    from meilichat_cli.local.profiles import remove_profile

    ctx = run_context(typer_ctx)
    removal = remove_profile(ctx.paths, name, warn=ctx.warn)
    key_note = " and its key" if removal.key_removed_from else ""
    write_line(ctx, f"Removed profile {name!r}{key_note}.")
    if removal.was_default:
        if removal.new_default:
            ctx.note(f"The default profile is now {removal.new_default!r}.")
        else:
            ctx.note("There is no default profile now; choose one with: meilichat profile use NAME")


@app.command(
    "path",
    epilog=epilog(
        "meilichat profile path",
        "meilichat profile path --json | jq -r .history_db",
        env="MEILICHAT_CONFIG_DIR, MEILICHAT_DATA_DIR, MEILICHAT_STATE_DIR, XDG_CONFIG_HOME,"
        " XDG_DATA_HOME, XDG_STATE_HOME",
    ),
)
def path(typer_ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Print where meilichat keeps its files (config, keys, history, REPL history)."""

    ctx = run_context(typer_ctx)
    locations = ctx.paths.as_dict()
    if as_json:
        write_json(ctx, locations)
        return
    labels = [
        ("config file", "config_file"),
        ("credentials file", "credentials_file"),
        ("data dir", "data_dir"),
        ("history database", "history_db"),
        ("state dir", "state_dir"),
        ("REPL history", "repl_history"),
    ]
    width = max(len(label) for label, _ in labels) + 2
    for label, key in labels:
        write_line(ctx, f"{label + ':':<{width}}{locations[key]}")


def _profile_json(config: Config, profile: Profile, *, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": profile.name,
        "default": config.default_profile == profile.name,
        "url": profile.url,
        "workspace": profile.workspace,
        "model": profile.model,
    }
    if full:
        data.update(
            {
                "key_command": profile.key_command,
                "key_store": config.key_store_for(profile),
                "ca_bundle": profile.ca_bundle,
                "insecure": profile.insecure,
            }
        )
    return data


def _describe_key(
    ctx: RunContext, config: Config, profile: Profile
) -> dict[str, str | None] | None:
    """The stored key, masked, and its source; a key_command is not run just to show it."""
    if profile.key_command:
        return {"masked": None, "source": "key_command", "location": profile.key_command}
    from meilichat_cli.local.credentials import mask_key, read_profile_key

    stored = read_profile_key(config, profile, ctx.paths.credentials_file, warn=ctx.warn)
    if stored is None:
        return None
    return {"masked": mask_key(stored.value), "source": stored.source, "location": stored.location}


def _key_line(key: dict[str, str | None] | None, profile: Profile) -> str:
    if key is None:
        return f"none (store one with: meilichat key set --profile {profile.name})"
    if key["source"] == "key_command":
        return "from key_command (not run here; `meilichat key show` runs it)"
    return f"{key['masked']} ({key['source']}: {key['location']})"


def _changed_names(fields: ProfileFields) -> list[str]:
    return [name.replace("_", " ") for name, value in vars(fields).items() if value is not None]
