"""How a command receives the run's context.

`app.execute` creates the one `RunContext` of a run (or takes the one a test built) and hands
it to click as the root context's `obj`; every command declares a `typer.Context` parameter
and asks `run_context()` for it. Options that change how errors must be reported (`--json`,
`--events`, `--debug`) record that on the context as they are parsed, so the error boundary
decides from parsed options, never from argv strings.

Imports typer only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# At run time, not only for type checking: typer reads the annotations of option callbacks.
import typer

if TYPE_CHECKING:
    from meilichat_cli.local.context import RunContext


def run_context(ctx: typer.Context | Any) -> RunContext:
    """The run's context, from any click context under the root."""
    from meilichat_cli.local.context import RunContext

    obj = ctx.find_root().obj
    if not isinstance(obj, RunContext):  # only possible if the app is invoked by hand
        raise RuntimeError("meilichat commands run under app.execute(), which sets the context")
    params = getattr(ctx, "params", None)
    if params:
        from meilichat_cli.cli.hints import remember_flags

        remember_flags(obj, params)
    return obj


def errors_as_json(ctx: typer.Context, value: bool) -> bool:
    """Option callback of --json and --events: errors of this run become JSON objects."""
    if value:
        run_context(ctx).errors_as_json = True
    return value
