"""`meilichat demo`: the bundled stand-in Meilisearch, so everything runs without a server.

With a question it starts the stand-in server in-process on an ephemeral loopback port and
answers it exactly as `ask` would (it takes `ask`'s question and output options, and its
`--timeout` and `--max-time`, which bound the answers here and in the REPL); with no
question it opens the REPL on it; with `--serve` it runs the server in the foreground for
other clients (meilichat profiles, curl, SDKs) and prints the lines that connect meilichat
to it. Its conversations are saved under the profile `demo`, and continue only here
(`meilichat demo -c "…"`); `explain` and `source` replay them on a demo server of their own
(`cli/demo_server.py` starts it for both). Only typer is imported at module level.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Annotated

import typer

from meilichat_cli.api.connect import DEFAULT_ANSWER_TIMEOUT, DEFAULT_READ_TIMEOUT
from meilichat_cli.cli.completion.completers import choices
from meilichat_cli.cli.context import run_context
from meilichat_cli.cli.options import (
    MaxTimeOption,
    ModelOption,
    TimeoutOption,
    TurnOptions,
    finite,
    with_option_groups,
)

if TYPE_CHECKING:
    from meilichat_cli.local.context import RunContext
    from meilichat_cli.standin.app import StandInServer

HELP = "Try meilichat on a bundled stand-in Meilisearch: no server or LLM account needed."
EPILOG = """[bold]Examples[/bold]

  meilichat demo "which space movies do you have?"

  meilichat demo -c "tell me more about the second one"

  meilichat demo                      # opens the REPL on the demo server

  meilichat demo --serve --port 7700 --master-key MASTER_KEY --data-dir ./demo-data

The demo answers from a small bundled dataset with a scripted model that searches, cites
its sources and follows up on earlier turns. It binds 127.0.0.1 only. Its conversations are
saved under the profile name `demo`; continue them with `meilichat demo -c`, take them apart
with `meilichat explain` (it replays them on the demo server).

`--serve` prints the `meilichat profile add` and `meilichat key set` lines that connect
meilichat to it. The same --master-key gives the same keys on every start; --data-dir keeps
workspaces, settings and keys across restarts.

[bold]Environment[/bold]: MEILICHAT_DATA_DIR (where its conversations are saved),
MEILICHAT_CONFIG_DIR, NO_COLOR; the connection variables (MEILICHAT_URL…) are ignored.
"""

# The releases the stand-in emulates (meilichat_cli/standin/versions.py; a test keeps them equal).
MEILISEARCH_VERSIONS = ("1.15.1", "1.16", "1.17", "1.42", "1.48", "1.50")
# The profile name `--serve` suggests for the server it runs.
SERVE_PROFILE = "local"


@with_option_groups
def demo(
    typer_ctx: typer.Context,
    question: Annotated[
        list[str] | None, typer.Argument(help="A question; without one, the REPL opens.")
    ] = None,
    serve: Annotated[
        bool, typer.Option("--serve", help="Run the server in the foreground and print its URL.")
    ] = False,
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port for --serve (0 picks a free one).")
    ] = 0,
    master_key: Annotated[
        str | None,
        typer.Option(
            "--master-key",
            help="Master key for --serve (default: a random one). The same key gives the same"
            " API keys on every start.",
        ),
    ] = None,
    data_dir: Annotated[
        str | None,
        typer.Option(
            "--data-dir",
            help="With --serve: keep the server's workspaces, settings and keys in this"
            " directory across restarts.",
            show_default=False,
        ),
    ] = None,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh",
            help="Serve a brand-new server: chat feature off, no workspace (to try `doctor`).",
        ),
    ] = False,
    *,
    turn: TurnOptions,
    model: ModelOption = None,
    timeout: TimeoutOption = DEFAULT_READ_TIMEOUT,
    max_time: MaxTimeOption = DEFAULT_ANSWER_TIMEOUT,
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
        if question:
            raise UsageError(
                "--serve runs the server only; it takes no question",
                hint='ask it from another terminal, or run `meilichat demo "…"` without --serve',
            )
        _serve(
            run_context(typer_ctx),
            port=port,
            master_key=key,
            fresh=fresh,
            delay=delay,
            data_dir=data_dir,
            version=meilisearch_version,
        )
        return
    if data_dir is not None:
        raise UsageError(
            "--data-dir keeps the state of `demo --serve`; use it with --serve",
            hint="meilichat demo --serve --master-key KEY --data-dir DIR",
        )
    from meilichat_cli.chat.ask import ask_once, read_prompt
    from meilichat_cli.cli.demo_server import demo_server
    from meilichat_cli.local.context import reader_may_leave
    from meilichat_cli.ui.output import choose_output

    turn.check()
    ctx = run_context(typer_ctx)
    with demo_server(
        ctx,
        master_key=key,
        token_delay=delay,
        version=meilisearch_version,
        model=model,
        timeout=timeout,
        max_time=max_time,
    ) as flags:
        if not question and ctx.stdin_isatty and not turn.any_output_mode:
            from meilichat_cli.repl.session import start_repl

            start_repl(
                ctx,
                flags,
                system=turn.system,
                resume=turn.conversation,
                resume_latest=turn.continue_,
                save=not turn.no_save,
            )
            return
        text = read_prompt(ctx, question or [], command="demo")
        output = choose_output(
            ctx,
            json_mode=turn.json_mode,
            events_mode=turn.events_mode,
            plain=turn.plain,
            show_sources=True,  # the demo shows where answers come from (--sources or not)
        )
        with reader_may_leave(ctx):
            ask_once(
                ctx,
                flags,
                text,
                system=turn.system,
                output=output,
                resume=turn.conversation,
                resume_latest=turn.continue_,
                save=not turn.no_save,
            )


def _serve(
    ctx: RunContext,
    *,
    port: int,
    master_key: str,
    fresh: bool,
    delay: float,
    data_dir: str | None,
    version: str | None,
) -> None:
    from meilichat_cli.errors import ConfigError
    from meilichat_cli.standin import StandInServer
    from meilichat_cli.standin.persist import StateFileError

    try:
        server = StandInServer(
            port=port,
            master_key=master_key,
            fresh=fresh,
            token_delay=delay,
            data_dir=data_dir,
            version=version,
        )
    except StateFileError as error:
        raise ConfigError(
            f"cannot read the demo server's saved state: {error}",
            hint="move that file away to start from scratch",
        ) from error
    except OSError as error:
        raise _port_error(port, error) from error
    server.start()
    ctx.stdout.write("\n".join(serve_lines(server, master_key_given=True)) + "\n")
    ctx.stdout.flush()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


def serve_lines(server: StandInServer, *, master_key_given: bool = True) -> list[str]:
    """What `demo --serve` prints: the server, its keys, and lines to paste."""
    from meilichat_cli.cli.demo_server import DEMO_MODEL

    lines = [
        f"meilichat demo server on {server.url}"
        f" (emulating Meilisearch {server.state.version.pkg_version})"
    ]
    if server.data_dir is not None:
        lines.append(f"  state kept in {server.data_dir}")
    if server.workspace in server.state.workspaces:
        lines += [
            f"  workspace:  {server.workspace}",
            f"  chat key:   {server.chat_key}",
            f"  admin key:  {server.admin_key}",
            "",
            "Connect meilichat to it (paste these lines; the key goes through a pipe, not the"
            " command line):",
            f"  meilichat profile add {SERVE_PROFILE} --url {server.url} -w {server.workspace}"
            f" -m {DEMO_MODEL}",
            f"  printf '%s\\n' '{server.chat_key}' | meilichat key set -p {SERVE_PROFILE}",
            f'  meilichat ask -p {SERVE_PROFILE} "which space movies do you have?"',
            "",
            "Or any HTTP client:",
            f"  curl -N {server.url}/chats/{server.workspace}/chat/completions \\",
            f"    -H 'Authorization: Bearer {server.chat_key}' \\",
            "    -H 'Content-Type: application/json' \\",
            '    -d \'{"model":"demo-model","stream":true,"messages":[{"role":"user",'
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
    return lines


def _port_error(port: int, error: OSError) -> Exception:
    """A port that cannot be bound is a usage error (exit 2) naming a free one."""
    import errno

    from meilichat_cli.errors import UsageError

    alternative = free_port_near(port)
    if error.errno == errno.EADDRINUSE:
        message = f"port {port} on 127.0.0.1 is already in use"
    elif error.errno in (errno.EACCES, errno.EPERM):
        message = f"port {port} on 127.0.0.1 needs privileges this user does not have"
    else:
        message = f"cannot listen on 127.0.0.1 port {port}: {error.strerror or error}"
    return UsageError(
        message, hint=f"port {alternative} is free: meilichat demo --serve --port {alternative}"
    )


def free_port_near(port: int) -> int:
    """A port that can be bound on 127.0.0.1 now: one of the next few, else any."""
    import socket

    candidates = [p for p in range(port + 1, port + 21) if 1024 <= p <= 65535]
    for candidate in [*candidates, 0]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    return 0
