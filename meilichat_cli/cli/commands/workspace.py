"""`meilichat workspace list/show/set/edit/reset/delete`: chat workspaces and their settings.

`set` PATCHes only the fields given (creating the workspace when missing) after checking the
azureOpenAi/vLlm requirements on the merged settings; the provider key comes from stdin or a
hidden prompt (a plain `--provider-key VALUE` works but warns). `edit` opens the settings as
JSON in $VISUAL/$EDITOR and sends only what changed, never the masked key the server shows.
`reset` and `delete` ask first unless --yes. Only typer is imported at module level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from meilichat_cli.cli.admin_options import AdminConnection, JsonOption, YesOption
from meilichat_cli.cli.completion.completers import choices, complete_workspace
from meilichat_cli.cli.context import run_context
from meilichat_cli.cli.help.text import ADMIN_ENV, epilog
from meilichat_cli.cli.options import option_group, with_option_groups

if TYPE_CHECKING:
    from meilichat_cli.local.connection import Connection
    from meilichat_cli.local.context import RunContext

app = typer.Typer(
    help="List, inspect and change chat workspaces (LLM source, provider key, prompts).",
    epilog=epilog(
        "MEILI_MASTER_KEY=… meilichat workspace list",
        "meilichat workspace show support --prompt-admin-key",
        "meilichat workspace set support --source openAi --prompt-provider-key",
        env=ADMIN_ENV + ", MEILICHAT_WORKSPACE (the default workspace)",
        note="These commands need an admin key (chats.get, chatsSettings.*): MEILI_MASTER_KEY,"
        " --admin-key-stdin, --prompt-admin-key, --api-key, else the profile's key.",
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
)

NameArgument = Annotated[
    str | None,
    typer.Argument(
        help="Workspace name (default: the profile's workspace).",
        metavar="[WORKSPACE]",
        show_default=False,
        autocompletion=complete_workspace,
    ),
]

# --unset NAME → the settings field it resets (null = back to the default).
UNSETTABLE: dict[str, tuple[str, ...]] = {
    "source": ("source",),
    "base-url": ("baseUrl",),
    "org-id": ("orgId",),
    "project-id": ("projectId",),
    "api-version": ("apiVersion",),
    "deployment-id": ("deploymentId",),
    "provider-key": ("apiKey",),
    "prompts": ("prompts",),
    "system-prompt": ("prompts", "system"),
    "search-description": ("prompts", "searchDescription"),
    "search-q-param": ("prompts", "searchQParam"),
    "search-filter-param": ("prompts", "searchFilterParam"),
    "search-index-uid-param": ("prompts", "searchIndexUidParam"),
}
SET_EPILOG = """[bold]Examples[/bold]

  meilichat workspace set support --source openAi --prompt-provider-key

  pass show openai | meilichat workspace set support --provider-key-stdin

  meilichat workspace set support --system-prompt-file prompt.md

  meilichat workspace set local --source vLlm --base-url http://127.0.0.1:8000/v1

  meilichat workspace set support --unset org-id --unset system-prompt

The admin key: --admin-key-stdin, --prompt-admin-key, --api-key, MEILI_MASTER_KEY, then the
profile's key (it needs the chatsSettings.* actions).

[bold]Environment[/bold]: MEILI_MASTER_KEY (the admin key), MEILICHAT_PROFILE, MEILICHAT_URL,
MEILICHAT_API_KEY, MEILICHAT_WORKSPACE (the default workspace), MEILICHAT_CONFIG_DIR,
SSL_CERT_FILE, HTTPS_PROXY/NO_PROXY.
"""


def _workspace_name(name: str | None, connection: Connection) -> str:
    from meilichat_cli.local.connection import require_workspace, validate_workspace

    if name:
        return validate_workspace(name)
    return require_workspace(
        connection,
        hint="pass the workspace name, or set MEILICHAT_WORKSPACE or the profile's workspace",
    )


@app.command(
    "list",
    epilog=epilog(
        "meilichat workspace list",
        "meilichat workspace list --long",
        "meilichat workspace list --json | jq -r '.[].uid'",
        env=ADMIN_ENV,
    ),
)
@with_option_groups
def list_(
    typer_ctx: typer.Context,
    long: Annotated[
        bool, typer.Option("--long", "-l", help="Also show each one's source and provider key.")
    ] = False,
    json_mode: JsonOption = False,
    *,
    server: AdminConnection,
) -> None:
    """List the server's workspaces (all pages)."""
    from meilichat_cli.api import admin
    from meilichat_cli.ui import admin_view

    ctx = run_context(typer_ctx)
    with server.client(ctx) as (connection, client):
        names = admin.list_workspaces(client)
        details = {name: admin.workspace_settings(client, name) for name in names} if long else {}
    if json_mode:
        admin_view.write_json(
            ctx,
            [{"uid": name, **({"settings": details[name]} if long else {})} for name in names],
        )
        return
    if not names:
        ctx.note(
            "No workspaces. Create one with"
            " `meilichat workspace set NAME --source openAi --prompt-provider-key`."
        )
        return
    default = connection.workspace
    if long:
        rows = [
            [
                name,
                details[name].get("source"),
                details[name].get("apiKey") or "not set",
                details[name].get("baseUrl"),
                "*" if name == default else "",
            ]
            for name in names
        ]
        admin_view.print_table(
            ctx, ["WORKSPACE", "SOURCE", "PROVIDER KEY", "BASE URL", "DEFAULT"], rows
        )
    elif ctx.stdout_isatty:
        admin_view.print_table(
            ctx,
            ["WORKSPACE", "DEFAULT"],
            [[name, "*" if name == default else ""] for name in names],
        )
    else:
        for name in names:
            admin_view.write_line(ctx, name)


@app.command(
    "show",
    epilog=epilog(
        "meilichat workspace show",
        "meilichat workspace show support --json",
        env=ADMIN_ENV + ", MEILICHAT_WORKSPACE (the default workspace)",
    ),
)
@with_option_groups
def show(
    typer_ctx: typer.Context,
    name: NameArgument = None,
    json_mode: JsonOption = False,
    *,
    server: AdminConnection,
) -> None:
    """Show a workspace's settings (the provider key stays masked, as the server sends it)."""
    from meilichat_cli.api import admin
    from meilichat_cli.ui import admin_view

    ctx = run_context(typer_ctx)
    with server.client(ctx) as (connection, client):
        workspace = _workspace_name(name, connection)
        settings = admin.workspace_settings(client, workspace)
    if json_mode:
        admin_view.write_json(ctx, {"uid": workspace, "settings": settings})
    else:
        admin_view.print_fields(ctx, admin_view.workspace_fields(workspace, settings))


@option_group
@dataclass(frozen=True)
class WorkspaceChange:
    """The settings `workspace set` changes, as given."""

    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            metavar="SOURCE",
            help="LLM provider: openAi, azureOpenAi, mistral or vLlm.",
            show_default=False,
            autocompletion=choices("openAi", "azureOpenAi", "mistral", "vLlm"),
        ),
    ] = None
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", metavar="URL", help="Provider base URL.", show_default=False),
    ] = None
    org_id: Annotated[
        str | None,
        typer.Option("--org-id", metavar="ID", help="OpenAI organization id.", show_default=False),
    ] = None
    project_id: Annotated[
        str | None,
        typer.Option("--project-id", metavar="ID", help="OpenAI project id.", show_default=False),
    ] = None
    api_version: Annotated[
        str | None,
        typer.Option(
            "--api-version", metavar="VERSION", help="Azure OpenAI API version.", show_default=False
        ),
    ] = None
    deployment_id: Annotated[
        str | None,
        typer.Option(
            "--deployment-id", metavar="ID", help="Azure OpenAI deployment id.", show_default=False
        ),
    ] = None
    provider_key_stdin: Annotated[
        bool,
        typer.Option("--provider-key-stdin", help="Read the LLM provider's API key from stdin."),
    ] = False
    prompt_provider_key: Annotated[
        bool,
        typer.Option(
            "--prompt-provider-key", help="Ask for the LLM provider's API key (hidden input)."
        ),
    ] = False
    provider_key: Annotated[
        str | None,
        typer.Option(
            "--provider-key",
            metavar="KEY",
            help="The provider key as a value (visible in the process list: prefer the two"
            " options above).",
            show_default=False,
        ),
    ] = None
    system_prompt: Annotated[
        str | None,
        typer.Option("--system-prompt", metavar="TEXT", help="System prompt.", show_default=False),
    ] = None
    system_prompt_file: Annotated[
        str | None,
        typer.Option(
            "--system-prompt-file",
            metavar="FILE",
            help="System prompt from a file ('-' = stdin).",
            show_default=False,
        ),
    ] = None
    search_description: Annotated[
        str | None,
        typer.Option(
            "--search-description",
            metavar="TEXT",
            help="Description of the search tool.",
            show_default=False,
        ),
    ] = None
    search_description_file: Annotated[
        str | None,
        typer.Option(
            "--search-description-file", metavar="FILE", help="…from a file.", show_default=False
        ),
    ] = None
    search_q_param: Annotated[
        str | None,
        typer.Option(
            "--search-q-param",
            metavar="TEXT",
            help="Description of the `q` argument.",
            show_default=False,
        ),
    ] = None
    search_q_param_file: Annotated[
        str | None,
        typer.Option(
            "--search-q-param-file", metavar="FILE", help="…from a file.", show_default=False
        ),
    ] = None
    search_filter_param: Annotated[
        str | None,
        typer.Option(
            "--search-filter-param",
            metavar="TEXT",
            help="Description of the `filter` argument.",
            show_default=False,
        ),
    ] = None
    search_filter_param_file: Annotated[
        str | None,
        typer.Option(
            "--search-filter-param-file", metavar="FILE", help="…from a file.", show_default=False
        ),
    ] = None
    search_index_uid_param: Annotated[
        str | None,
        typer.Option(
            "--search-index-uid-param",
            metavar="TEXT",
            help="Description of the `index_uid` argument.",
            show_default=False,
        ),
    ] = None
    search_index_uid_param_file: Annotated[
        str | None,
        typer.Option(
            "--search-index-uid-param-file",
            metavar="FILE",
            help="…from a file.",
            show_default=False,
        ),
    ] = None
    unset: Annotated[
        list[str] | None,
        typer.Option(
            "--unset",
            metavar="SETTING",
            help="Reset a setting to its default (repeatable): " + ", ".join(UNSETTABLE) + ".",
            show_default=False,
            autocompletion=choices(*UNSETTABLE),
        ),
    ] = None

    def changes(self, ctx: RunContext, *, admin_key_stdin: bool) -> dict[str, Any]:
        """The settings to PATCH: files and stdin read, the provider key asked for, --unset
        applied; a UsageError when nothing would change or stdin is wanted twice."""
        from meilichat_cli.api import admin
        from meilichat_cli.cli.admin_options import apply_unset, value_or_file
        from meilichat_cli.errors import UsageError

        files = (
            self.system_prompt_file,
            self.search_description_file,
            self.search_q_param_file,
            self.search_filter_param_file,
            self.search_index_uid_param_file,
        )
        stdin_users = [
            option
            for option, used in (
                ("--admin-key-stdin", admin_key_stdin),
                ("--provider-key-stdin", self.provider_key_stdin),
                ("a prompt file '-'", "-" in files),
            )
            if used
        ]
        if len(stdin_users) > 1:
            raise UsageError(
                f"stdin can be read only once: {' and '.join(stdin_users)} both want it"
            )
        prompts = {
            field: value_or_file(ctx, value, path, what, option)
            for field, value, path, what, option in (
                (
                    "system",
                    self.system_prompt,
                    self.system_prompt_file,
                    "the system prompt",
                    "--system-prompt",
                ),
                (
                    "searchDescription",
                    self.search_description,
                    self.search_description_file,
                    "the search description",
                    "--search-description",
                ),
                (
                    "searchQParam",
                    self.search_q_param,
                    self.search_q_param_file,
                    "the q parameter description",
                    "--search-q-param",
                ),
                (
                    "searchFilterParam",
                    self.search_filter_param,
                    self.search_filter_param_file,
                    "the filter parameter description",
                    "--search-filter-param",
                ),
                (
                    "searchIndexUidParam",
                    self.search_index_uid_param,
                    self.search_index_uid_param_file,
                    "the index_uid parameter description",
                    "--search-index-uid-param",
                ),
            )
        }
        changes: dict[str, Any] = {}
        if self.source is not None:
            changes["source"] = admin.normalize_source(self.source)
        for field, value in (
            ("baseUrl", self.base_url),
            ("orgId", self.org_id),
            ("projectId", self.project_id),
            ("apiVersion", self.api_version),
            ("deploymentId", self.deployment_id),
        ):
            if value is not None:
                changes[field] = value
        key = _provider_key(
            ctx, self.provider_key, self.provider_key_stdin, self.prompt_provider_key
        )
        if key is not None:
            changes["apiKey"] = key
        given_prompts = {k: v for k, v in prompts.items() if v is not None}
        if given_prompts:
            changes["prompts"] = given_prompts
        apply_unset(changes, self.unset or [], UNSETTABLE)
        if not changes:
            raise UsageError(
                "Nothing to change",
                hint="give at least one setting (see `meilichat workspace set -h`)",
            )
        return changes


@app.command("set", epilog=SET_EPILOG)
@with_option_groups
def set_(
    typer_ctx: typer.Context,
    name: NameArgument = None,
    *,
    change: WorkspaceChange,
    json_mode: JsonOption = False,
    server: AdminConnection,
) -> None:
    """Change a workspace's settings, creating the workspace if it does not exist.

    Only the settings you give are sent; the others keep their values."""
    from meilichat_cli.api import admin
    from meilichat_cli.ui import admin_view

    ctx = run_context(typer_ctx)
    changes = change.changes(ctx, admin_key_stdin=server.admin_key_stdin)
    with server.client(ctx) as (connection, client):
        workspace = _workspace_name(name, connection)
        current, settings = admin.set_workspace(client, workspace, changes)
    if json_mode:
        admin_view.write_json(
            ctx, {"uid": workspace, "created": current is None, "settings": settings}
        )
        return
    verb = "Created" if current is None else "Updated"
    admin_view.write_line(
        ctx, f"{verb} workspace '{workspace}' ({admin_view.workspace_change_text(changes)})."
    )
    if settings.get("apiKey") is None and settings.get("source") != "vLlm":
        ctx.warn(
            f"workspace '{workspace}' has no provider key yet; add one with"
            f" `meilichat workspace set {workspace} --prompt-provider-key`"
        )


def _provider_key(ctx: RunContext, value: str | None, from_stdin: bool, prompt: bool) -> str | None:
    from meilichat_cli.api import admin
    from meilichat_cli.cli.admin_options import prompt_secret, read_secret_stdin
    from meilichat_cli.errors import UsageError

    if sum((value is not None, from_stdin, prompt)) > 1:
        raise UsageError(
            "give the provider key one way: --provider-key-stdin, --prompt-provider-key or"
            " --provider-key"
        )
    if from_stdin:
        value = read_secret_stdin(ctx, "the provider key", "--provider-key-stdin")
    elif prompt:
        value = prompt_secret(ctx, "provider API key", "--prompt-provider-key")
    elif value is not None:
        ctx.warn(
            "a key given with --provider-key is visible to other users in the process list and"
            " stays in your shell history; prefer --provider-key-stdin or --prompt-provider-key"
        )
        value = value.strip()
        if not value:
            raise UsageError("--provider-key is empty")
    if value is not None:
        admin.refuse_masked_key(value)
    return value


@app.command(
    "edit",
    epilog=epilog(
        "meilichat workspace edit support",
        "VISUAL='code --wait' meilichat workspace edit",
        env=ADMIN_ENV + ", MEILICHAT_WORKSPACE (the default workspace), VISUAL, EDITOR",
    ),
)
@with_option_groups
def edit(
    typer_ctx: typer.Context,
    name: NameArgument = None,
    *,
    server: AdminConnection,
) -> None:
    """Edit a workspace's settings as JSON in $VISUAL / $EDITOR; only changes are sent.

    The provider key appears masked: leave it to keep the current key, replace it with a new
    key, or set it to null to remove it. A masked value is never sent back."""
    import os

    from meilichat_cli.api import admin
    from meilichat_cli.errors import MeilichatError
    from meilichat_cli.ui import admin_view

    ctx = run_context(typer_ctx)
    with server.client(ctx) as (connection, client):
        workspace = _workspace_name(name, connection)
        before = admin.workspace_settings(client, workspace)
        after, draft = _edit_in_editor(ctx, workspace, before)
        try:
            changes = admin.workspace_changes(before, after)
            if changes:
                admin.check_source_requirements(admin.merge_workspace_settings(before, changes))
                admin.update_workspace(client, workspace, changes)
        except MeilichatError as error:
            # Refused here or by the server: the edits are worth keeping, as for bad JSON.
            kept = f"your edits are kept in {draft}"
            error.hint = f"{error.hint}; {kept}" if error.hint else kept
            raise
        os.unlink(draft)
    if not changes:
        ctx.note("No changes; nothing was sent.")
        return
    admin_view.write_line(
        ctx, f"Updated workspace '{workspace}' ({admin_view.workspace_change_text(changes)})."
    )


def _edit_in_editor(
    ctx: RunContext, workspace: str, settings: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    """The settings as edited, and the file holding them (see ui.editor.edit_json_object)."""
    from meilichat_cli.ui.editor import edit_json_object, editor_name

    editor = editor_name(ctx.environ)
    ctx.note(
        f"Editing workspace '{workspace}' in {editor}. The provider key is shown masked: keep"
        " it to leave the key unchanged, replace it to change it, or use null to remove it."
    )
    return edit_json_object(settings, ctx.environ, prefix=f"meilichat-{workspace}-")


@app.command(
    "reset",
    epilog=epilog(
        "meilichat workspace reset support",
        "meilichat workspace reset support --yes --json",
        env=ADMIN_ENV + ", MEILICHAT_WORKSPACE (the default workspace)",
    ),
)
@with_option_groups
def reset(
    typer_ctx: typer.Context,
    name: NameArgument = None,
    yes: YesOption = False,
    json_mode: JsonOption = False,
    *,
    server: AdminConnection,
) -> None:
    """Reset a workspace's settings to the defaults (this removes its provider key)."""
    from meilichat_cli.api import admin
    from meilichat_cli.cli.admin_options import confirm, declined
    from meilichat_cli.ui import admin_view

    ctx = run_context(typer_ctx)
    with server.client(ctx) as (connection, client):
        workspace = _workspace_name(name, connection)
        question = (
            f"Reset workspace '{workspace}' on {connection.url} to the default settings"
            " (source, prompts and provider key)?"
        )
        if not confirm(ctx, question, yes=yes):
            declined(ctx)
            return
        settings = admin.reset_workspace(client, workspace)
    if json_mode:
        admin_view.write_json(ctx, {"uid": workspace, "settings": settings})
    else:
        admin_view.write_line(
            ctx, f"Reset workspace '{workspace}' to the defaults (it has no provider key now)."
        )


@app.command(
    "delete",
    epilog=epilog(
        "meilichat workspace delete old-support",
        "meilichat workspace delete old-support --yes",
        env=ADMIN_ENV,
    ),
)
@with_option_groups
def delete(
    typer_ctx: typer.Context,
    name: Annotated[
        str,
        typer.Argument(
            help="Workspace to delete.", metavar="WORKSPACE", autocompletion=complete_workspace
        ),
    ],
    yes: YesOption = False,
    *,
    server: AdminConnection,
) -> None:
    """Delete a workspace and its settings."""
    from meilichat_cli.api import admin
    from meilichat_cli.cli.admin_options import confirm, declined
    from meilichat_cli.local.connection import validate_workspace
    from meilichat_cli.ui import admin_view

    ctx = run_context(typer_ctx)
    workspace = validate_workspace(name)
    with server.client(ctx) as (connection, client):
        if not confirm(ctx, f"Delete workspace '{workspace}' on {connection.url}?", yes=yes):
            declined(ctx)
            return
        admin.delete_workspace(client, workspace)
    admin_view.write_line(ctx, f"Deleted workspace '{workspace}'.")
