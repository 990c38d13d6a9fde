"""`meilichat key create` and `meilichat key list --server`: chat keys on the server.

`key create` asks Meilisearch for a key holding only `chatCompletions` and `search` (limited
to some indexes and given an expiry when asked), using an admin or master key read from
--admin-key-stdin, a hidden prompt, or MEILI_MASTER_KEY; that admin key is never echoed.
`--save` stores the new key for a profile (creating the profile when --url names its server;
refusing, before anything is created, a profile whose URL is another server's).

`key list --server` shows the server's keys that can chat, masked, marks the one the profile
uses, and warns when that one could manage keys. Registered on the `key` sub-app by
`register`. Only typer is imported at module level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from meilichat_cli.cli.admin_options import JsonOption
from meilichat_cli.cli.completion.completers import complete_index, complete_profile
from meilichat_cli.cli.context import run_context
from meilichat_cli.cli.help.text import ADMIN_ENV, epilog
from meilichat_cli.cli.options import (
    AdminKeyStdinOption,
    CaBundleOption,
    ConnectionFlags,
    InsecureOption,
    PromptAdminKeyOption,
    TimeoutOption,
    UrlOption,
    WorkspaceOption,
    option_group,
    with_option_groups,
)

if TYPE_CHECKING:
    from meilichat_cli.local.connection import Connection
    from meilichat_cli.local.context import RunContext

DEFAULT_KEY_NAME = "meilichat chat key"

ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        metavar="NAME",
        help="Profile whose server is used and, with --save, that gets the key.",
        show_default=False,
        autocompletion=complete_profile,
    ),
]

CREATE_EPILOG = """[bold]Examples[/bold]

  MEILI_MASTER_KEY=… meilichat key create --save --profile local

  meilichat key create --prompt-admin-key --index movies --index books --expires 90d

  pass show meili/master | meilichat key create --admin-key-stdin --save

  meilichat key create --url http://127.0.0.1:7700 --save --profile local -w support

Without --save the new key is printed on stdout (for scripts) and nothing is stored.

[bold]Environment[/bold]: MEILI_MASTER_KEY (the admin key), MEILICHAT_PROFILE, MEILICHAT_URL,
MEILICHAT_CONFIG_DIR, SSL_CERT_FILE, HTTPS_PROXY/NO_PROXY.
"""


@option_group
@dataclass(frozen=True)
class KeyListConnection:
    """The server `key list --server` asks, and the admin key it asks with."""

    profile: ProfileOption = None
    url: UrlOption = None
    admin_key_stdin: AdminKeyStdinOption = False
    prompt_admin_key: PromptAdminKeyOption = False
    timeout: TimeoutOption = 30.0
    ca_bundle: CaBundleOption = None
    insecure: InsecureOption = False


@option_group
@dataclass(frozen=True)
class KeyCreateConnection:
    """As KeyListConnection, with the workspace a saved profile defaults to."""

    profile: ProfileOption = None
    url: UrlOption = None
    workspace: WorkspaceOption = None
    admin_key_stdin: AdminKeyStdinOption = False
    prompt_admin_key: PromptAdminKeyOption = False
    timeout: TimeoutOption = 30.0
    ca_bundle: CaBundleOption = None
    insecure: InsecureOption = False


def register(app: typer.Typer) -> None:
    """Add `create` and `list` to the `key` sub-app."""
    app.command("create", epilog=CREATE_EPILOG)(with_option_groups(create))
    app.command(
        "list",
        epilog=epilog(
            "MEILI_MASTER_KEY=… meilichat key list --server",
            "meilichat key list --server --all --json --prompt-admin-key",
            env=ADMIN_ENV,
        ),
    )(with_option_groups(list_server_keys))


def create(
    typer_ctx: typer.Context,
    save: Annotated[
        bool, typer.Option("--save", help="Store the new key for the profile (-p).")
    ] = False,
    index: Annotated[
        list[str] | None,
        typer.Option(
            "--index",
            "-i",
            metavar="INDEX",
            help="Limit the key to this index or prefix* (repeatable).",
            autocompletion=complete_index,
        ),
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option(
            "--expires",
            metavar="WHEN",
            help="Expiry: a date (2030-12-31), an RFC 3339 time, or 30d / 12h.",
        ),
    ] = None,
    name: Annotated[
        str, typer.Option("--name", metavar="NAME", help="Name of the key on the server.")
    ] = (DEFAULT_KEY_NAME),
    description: Annotated[
        str | None, typer.Option("--description", metavar="TEXT", help="Description of the key.")
    ] = None,
    action: Annotated[
        list[str] | None,
        typer.Option(
            "--action",
            metavar="ACTION",
            help="Another action besides chatCompletions and search (repeatable).",
        ),
    ] = None,
    json_mode: JsonOption = False,
    *,
    endpoint: KeyCreateConnection,
) -> None:
    """Create a chat key (chatCompletions + search) with an admin or master key."""
    import re

    from meilichat_cli.api import admin
    from meilichat_cli.cli.admin_options import (
        explicit_admin_key,
        prompt_secret,
    )
    from meilichat_cli.errors import UsageError
    from meilichat_cli.local.credentials import mask_key
    from meilichat_cli.ui import admin_view

    ctx = run_context(typer_ctx)
    indexes = list(index or ["*"])
    for pattern in indexes:
        if not re.fullmatch(r"[A-Za-z0-9_-]+\*?|\*", pattern):
            raise UsageError(f"--index {pattern!r}: use an index uid, a prefix ending with *, or *")
    actions = list(dict.fromkeys([*admin.CHAT_ACTIONS, *(action or [])]))
    powers = admin.admin_powers(actions)
    if powers is not None:
        ctx.warn(f"the new key will be an admin key: {powers}; do not give it to chat clients")
    expires_at = admin.parse_expiry(expires) if expires is not None else None
    target = _save_target(ctx, endpoint.profile, endpoint.url, endpoint.workspace) if save else None
    flags = ConnectionFlags(
        profile=None if target is not None and target.create else endpoint.profile,
        url=endpoint.url,
        workspace=endpoint.workspace,
        timeout=endpoint.timeout,
        ca_bundle=endpoint.ca_bundle,
        insecure=endpoint.insecure,
    )
    admin_key = explicit_admin_key(
        ctx, from_stdin=endpoint.admin_key_stdin, prompt=endpoint.prompt_admin_key
    )
    if admin_key is None:
        if not ctx.stdin_isatty:
            raise UsageError(
                "`key create` needs an admin or master key",
                hint="set MEILI_MASTER_KEY, pass --admin-key-stdin, or run it on a terminal to be"
                " asked",
            )
        admin_key = prompt_secret(ctx, "admin or master key", "key create")
    connection = flags.resolve(ctx, admin_key=admin_key)
    with flags.open_client(ctx, connection) as client:
        created = admin.create_key(
            client,
            actions=actions,
            indexes=indexes,
            expires_at=expires_at,
            name=name or None,
            description=description,
        )
    value = str(created["key"])
    where = None
    if target is not None:
        where = _store(ctx, target, connection, value)
    summary = (
        f"key '{created.get('name') or created.get('uid')}' (uid {created.get('uid')};"
        f" {', '.join(admin.key_actions(created))} on {', '.join(admin.key_indexes(created))};"
        f" expires {created.get('expiresAt') or 'never'})"
    )
    if json_mode:
        shown = dict(created)
        if target is not None:
            shown["key"] = mask_key(value)
            shown["savedTo"] = {"profile": target.name, "location": where}
        admin_view.write_json(ctx, shown)
        return
    if target is not None:
        admin_view.write_line(
            ctx,
            f"Created {summary}; stored for profile '{target.name}' ({mask_key(value)})"
            f" in {where}.",
        )
        return
    ctx.note(f"Created {summary}. Store it with `meilichat key set` or rerun with --save.")
    ctx.stdout.write(value + "\n")  # validated printable ASCII from the server's hex digest


class _SaveTarget:
    """The profile that will receive the new key; `create` when it must be added first.

    `workspace`: the new profile's workspace, or the one an existing profile switches to.
    """

    def __init__(self, name: str, create: bool, workspace: str | None) -> None:
        self.name = name
        self.create = create
        self.workspace = workspace


def _save_target(
    ctx: RunContext, profile: str | None, url: str | None, workspace: str | None
) -> _SaveTarget:
    from meilichat_cli.errors import ConfigError, UsageError
    from meilichat_cli.local.config import validate_new_profile_name
    from meilichat_cli.local.connection import (
        ENV_URL,
        profile_serves,
        validate_url,
        validate_workspace,
    )
    from meilichat_cli.local.paths import paths_from_env
    from meilichat_cli.local.profiles import read_config, select_profile

    if workspace:
        validate_workspace(workspace)

    config = read_config(paths_from_env(ctx.environ), warn=ctx.warn)
    if profile is not None and profile not in config.profiles:
        validate_new_profile_name(profile)
        if not (url or ctx.environ.get(ENV_URL, "").strip()):
            raise ConfigError(
                f"profile {profile!r} does not exist",
                hint=f"give its server with --url URL to create it, or run"
                f" `meilichat profile add {profile} --url URL` first",
            )
        return _SaveTarget(profile, True, workspace)
    try:
        chosen = select_profile(config, profile, ctx.environ)
    except ConfigError as error:
        raise ConfigError(
            f"--save needs a profile: {error.message}",
            hint="pass --profile NAME (with --url URL to create it)",
        ) from None
    # Checked before the key is created: a key saved into a profile for another server
    # would replace a working key with one that server never sees.
    server = url or ctx.environ.get(ENV_URL, "").strip()
    if server and not profile_serves(chosen, server):
        raise UsageError(
            f"--save: profile {chosen.name!r} is for {validate_url(chosen.url)}, not"
            f" {validate_url(server)}; nothing was created",
            hint=f"save it in a new profile (--save -p NEW --url {validate_url(server)}), or"
            f" point this one there first: `meilichat profile set {chosen.name} --url URL`",
        )
    changed_workspace = workspace if workspace and workspace != chosen.workspace else None
    return _SaveTarget(chosen.name, False, changed_workspace)


def _store(ctx: RunContext, target: _SaveTarget, connection: Connection, value: str) -> str:
    from meilichat_cli.local.credentials import store_profile_key
    from meilichat_cli.local.paths import paths_from_env
    from meilichat_cli.local.profiles import (
        ProfileFields,
        add_profile,
        read_config,
        update_profile,
    )

    paths = paths_from_env(ctx.environ)
    if target.create:
        add_profile(
            paths,
            target.name,
            ProfileFields(url=connection.url, workspace=target.workspace),
            make_default=False,
            warn=ctx.warn,
        )
        ctx.note(f"Added profile '{target.name}' for {connection.url}.")
    elif target.workspace is not None:
        update_profile(paths, target.name, ProfileFields(workspace=target.workspace), warn=ctx.warn)
        ctx.note(f"Profile '{target.name}' now defaults to workspace {target.workspace!r}.")
    config = read_config(paths, warn=ctx.warn)
    chosen = config.get_profile(target.name)
    if chosen.key_command:
        ctx.warn(
            f"profile {chosen.name!r} has a key_command, which is used instead of a stored key;"
            f" clear it with: meilichat profile set {chosen.name} --key-command ''"
        )
    stored = store_profile_key(config, chosen, value, paths.credentials_file, warn=ctx.warn)
    return stored.location


def list_server_keys(
    typer_ctx: typer.Context,
    server: Annotated[
        bool, typer.Option("--server", help="List the server's API keys (needs an admin key).")
    ] = False,
    all_keys: Annotated[
        bool, typer.Option("--all", help="Also list keys that cannot chat.")
    ] = False,
    json_mode: JsonOption = False,
    *,
    endpoint: KeyListConnection,
) -> None:
    """List the server's keys that can chat (masked), marking the one the profile uses."""
    from meilichat_cli.api import admin
    from meilichat_cli.cli.admin_options import explicit_admin_key, with_admin_key
    from meilichat_cli.errors import UsageError
    from meilichat_cli.local.credentials import mask_key
    from meilichat_cli.ui import admin_view

    ctx = run_context(typer_ctx)
    if not server:
        raise UsageError(
            "`key list` lists the server's keys: pass --server",
            hint="the key stored for a profile is shown by `meilichat key show`",
        )
    flags = ConnectionFlags(
        profile=endpoint.profile,
        url=endpoint.url,
        timeout=endpoint.timeout,
        ca_bundle=endpoint.ca_bundle,
        insecure=endpoint.insecure,
    )
    connection = flags.resolve(ctx)
    profile_key = connection.api_key
    admin_key = explicit_admin_key(
        ctx, from_stdin=endpoint.admin_key_stdin, prompt=endpoint.prompt_admin_key
    )
    used = with_admin_key(ctx, connection, admin_key) if admin_key else connection
    with flags.open_client(ctx, used) as client:
        keys = admin.list_keys(client)
    shown = [key for key in keys if all_keys or admin.can_chat(admin.key_actions(key))]
    _warn_about_profile_key(ctx, connection, keys, profile_key, admin_key)
    if json_mode:
        admin_view.write_json(
            ctx,
            [
                {
                    **key,
                    "key": mask_key(str(key.get("key", ""))),
                    "usedByProfile": profile_key is not None and key.get("key") == profile_key,
                }
                for key in shown
            ],
        )
        return
    if not shown:
        ctx.note("No key on this server can chat. Create one with `meilichat key create --save`.")
        return
    rows: list[list[Any]] = [
        [
            key.get("name"),
            key.get("uid"),
            mask_key(str(key.get("key", ""))),
            ", ".join(admin.key_actions(key)),
            ", ".join(admin.key_indexes(key)),
            ("expired " if admin.key_expired(key) else "") + str(key.get("expiresAt") or "never"),
            "*" if profile_key is not None and key.get("key") == profile_key else "",
        ]
        for key in shown
    ]
    admin_view.print_table(
        ctx, ["NAME", "UID", "KEY", "ACTIONS", "INDEXES", "EXPIRES", "PROFILE"], rows
    )


def _warn_about_profile_key(
    ctx: RunContext,
    connection: Connection,
    keys: list[dict[str, Any]],
    profile_key: str | None,
    admin_key: str | None,
) -> None:
    """A chat client should hold a chat key, not one that can manage keys."""
    from meilichat_cli.api import admin

    if profile_key is None:
        return
    who = f"profile '{connection.profile}'" if connection.profile else "MEILICHAT_API_KEY"
    advice = "create a chat key with `meilichat key create --save`"
    if admin_key is not None and profile_key == admin_key:
        ctx.warn(f"the key of {who} is the admin key itself; {advice}")
        return
    view = admin.find_key(keys, profile_key)
    if view is None:
        if admin_key is None:
            # It listed every key without being one of them: it is the master key.
            ctx.warn(f"the key of {who} is the master key; {advice}")
        return
    powers = admin.admin_powers(admin.key_actions(view))
    if powers is not None:
        ctx.warn(f"the key of {who} can manage keys ({powers}); {advice}")
