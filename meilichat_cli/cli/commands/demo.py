"""`meilichat demo`: the bundled stand-in Meilisearch, so everything runs without a server.

With a question it starts the stand-in server in-process on an ephemeral loopback port and
answers it exactly as `ask` would; with no question it opens the REPL on it; with `--serve`
it runs the server in the foreground for other clients (curl, SDKs, a web page). Only typer
is imported at module level.
"""

from __future__ import annotations

import secrets
import time
from typing import Annotated

import typer

from meilichat_cli.cli.completion.completers import choices
from meilichat_cli.cli.context import errors_as_json, run_context
from meilichat_cli.cli.options import finite

HELP = "Try meilichat on a bundled stand-in Meilisearch: no server or LLM account needed."
EPILOG = """[bold]Examples[/bold]

  meilichat demo "which space movies do you have?"

  meilichat demo                      # opens the REPL on the demo server

  meilichat demo --serve --port 7700  # serve it for curl, SDKs or a web page

The demo answers from a small bundled dataset with a scripted model that searches, cites
its sources and follows up on earlier turns. It binds 127.0.0.1 only.

[bold]Environment[/bold]: MEILICHAT_DATA_DIR (its conversations are saved like any other),
MEILICHAT_CONFIG_DIR, NO_COLOR; the connection variables (MEILICHAT_URL…) are ignored.
"""

DEMO_MODEL = "demo-model"
# The releases the stand-in emulates (meilichat_cli/standin/versions.py; a test keeps them equal).
MEILISEARCH_VERSIONS = ("1.15.1", "1.16", "1.17", "1.42", "1.48", "1.50")


def demo(
    typer_ctx: typer.Context,
    question: Annotated[
        list[str] | None, typer.Argument(help="A question; without one, the REPL opens.")
    ] = None,
    serve: Annotated[
        bool, typer.Option("--serve", help="Run the server in the foreground and print its URL.")
    ] = False,
    port: Annotated[int, typer.Option("--port", help="Port for --serve (0 picks a free one).")] = 0,
    master_key: Annotated[
        str | None,
        typer.Option("--master-key", help="Master key for --serve (default: a random one)."),
    ] = None,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh",
            help="Serve a brand-new server: chat feature off, no workspace (to try `doctor`).",
        ),
    ] = False,
    json_mode: Annotated[
        bool, typer.Option("--json", callback=errors_as_json, help="As `ask --json`.")
    ] = False,
    events_mode: Annotated[
        bool, typer.Option("--events", callback=errors_as_json, help="As `ask --events`.")
    ] = False,
    plain: Annotated[bool, typer.Option("--plain", help="As `ask --plain`.")] = False,
    delay: Annotated[
        float,
        typer.Option(
            "--delay",
            min=0.0,
            max=10.0,
            callback=finite,
            help="Seconds between streamed tokens, to watch it stream.",
        ),
    ] = 0.015,
    meilisearch_version: Annotated[
        str | None,
        typer.Option(
            "--meilisearch-version",
            metavar="VERSION",
            autocompletion=choices(*MEILISEARCH_VERSIONS),
            help="Emulate this Meilisearch release: "
            + ", ".join(MEILISEARCH_VERSIONS)
            + " (default: the newest).",
        ),
    ] = None,
) -> None:
    from meilichat_cli.errors import UsageError
    from meilichat_cli.standin import StandInServer

    if (
        meilisearch_version is not None
        and meilisearch_version.lstrip("v").removesuffix(".0") not in MEILISEARCH_VERSIONS
    ):
        raise UsageError(
            f"the demo server does not emulate Meilisearch {meilisearch_version!r}",
            hint="choose one of " + ", ".join(MEILISEARCH_VERSIONS),
        )
    key = master_key or secrets.token_hex(16)
    if serve:
        _serve(
            StandInServer(
                port=port,
                master_key=key,
                fresh=fresh,
                token_delay=delay,
                version=meilisearch_version,
            )
        )
        return
    from meilichat_cli.cli.commands.ask import ask_once, check_output_modes, read_prompt
    from meilichat_cli.cli.options import ConnectionFlags
    from meilichat_cli.local.context import reader_may_leave
    from meilichat_cli.ui.output import choose_output

    check_output_modes(json_mode=json_mode, events_mode=events_mode, plain=plain)
    ctx = run_context(typer_ctx)
    with StandInServer(master_key=key, token_delay=delay, version=meilisearch_version) as server:
        flags = ConnectionFlags(
            url=server.url, workspace=server.workspace, model=DEMO_MODEL, api_key=None
        )
        # The demo's key is a fresh random one on loopback: hand it over through the
        # environment view rather than a flag, which would warn about the process list.
        ctx.environ = {
            **{k: v for k, v in ctx.environ.items() if not k.startswith("MEILICHAT_")},
            "MEILICHAT_CONFIG_DIR": ctx.paths.config_dir.as_posix(),
            "MEILICHAT_DATA_DIR": ctx.paths.data_dir.as_posix(),
            "MEILICHAT_URL": server.url,
            "MEILICHAT_API_KEY": server.chat_key or "",
            "MEILICHAT_WORKSPACE": server.workspace,
            "MEILICHAT_MODEL": DEMO_MODEL,
        }
        if not question and ctx.stdin_isatty:
            from meilichat_cli.cli.commands.chat import start_repl

            start_repl(ctx, flags)
            return
        text = read_prompt(ctx, question or [])
        output = choose_output(
            ctx, json_mode=json_mode, events_mode=events_mode, plain=plain, show_sources=True
        )
        with reader_may_leave(ctx):
            ask_once(ctx, flags, text, system=None, output=output)


def _serve(server: object) -> None:
    from meilichat_cli.standin import StandInServer

    assert isinstance(server, StandInServer)
    server.start()
    lines = [
        f"meilichat demo server on {server.url}"
        f" (emulating Meilisearch {server.state.version.pkg_version})"
    ]
    if server.workspace in server.state.workspaces:
        lines += [
            f"  workspace:  {server.workspace}",
            f"  chat key:   {server.chat_key}",
            f"  admin key:  {server.admin_key}",
            f"  try: curl -N {server.url}/chats/{server.workspace}/chat/completions \\",
            f"         -H 'Authorization: Bearer {server.chat_key}' \\",
            "         -H 'Content-Type: application/json' \\",
            '         -d \'{"model":"demo-model","stream":true,"messages":[{"role":"user",'
            '"content":"space movies"}],"tools":[{"type":"function","function":'
            '{"name":"_meiliSearchSources"}}]}\'',
        ]
    else:  # --fresh: like a new Meilisearch, nothing to chat with yet
        lines += [
            "  a fresh server: the chat feature is off and there is no workspace yet",
            f"  chat key:   {server.chat_key}",
            f"  admin key:  {server.admin_key}",
            f"  set it up:  MEILI_MASTER_KEY=<admin key> meilichat doctor --url {server.url}"
            f" -w {server.workspace} --fix",
        ]
    lines.append("Press Ctrl-C to stop.")
    typer.echo("\n".join(lines))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
