"""What the admin commands (workspace, index, key create/list, doctor) share: the admin-key
and provider-key options, reading secrets without echoing them, asking for confirmation, and
opening a client with the admin key.

Which key an admin command sends, first found wins:
  --admin-key-stdin / --prompt-admin-key  >  --api-key  >  MEILI_MASTER_KEY  >
  MEILICHAT_API_KEY / the profile's stored key.

Secrets are read from stdin (refused when stdin is a terminal: it would echo) or from a
hidden prompt; they are never printed. `apply_unset` is `--unset NAME` of `workspace set`
and `index chat-settings`: the settings it names, set to null in the body. `AdminConnection`
is the option group of the admin commands' connection (see cli/options.py for option groups).
Only typer is imported at module level.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from meilichat_cli.cli.context import errors_as_json
from meilichat_cli.cli.options import (
    AdminKeyStdinOption,
    ApiKeyOption,
    CaBundleOption,
    ConnectionFlags,
    InsecureOption,
    ProfileOption,
    PromptAdminKeyOption,
    TimeoutOption,
    UrlOption,
    option_group,
)

__all__ = [
    "AdminConnection",
    "AdminKeyStdinOption",
    "JsonOption",
    "PromptAdminKeyOption",
    "YesOption",
    "admin_client",
    "apply_unset",
    "confirm",
    "declined",
    "explicit_admin_key",
    "option_name",
    "prompt_secret",
    "read_secret_stdin",
    "read_text_file",
    "value_or_file",
    "with_admin_key",
]

if TYPE_CHECKING:
    from meilichat_cli.api.client import MeiliClient
    from meilichat_cli.local.connection import Connection
    from meilichat_cli.local.context import RunContext

MASTER_KEY_ENV = "MEILI_MASTER_KEY"
MAX_SECRET_BYTES = 64 * 1024
# A prompt or template file (`--system-prompt-file`…): far beyond any prompt a model takes,
# and what keeps `/dev/zero` or an endless pipe from filling memory.
MAX_TEXT_FILE_BYTES = 2 * 1024 * 1024

YesOption = Annotated[
    bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (needed in scripts).")
]
JsonOption = Annotated[
    bool, typer.Option("--json", callback=errors_as_json, help="Print JSON for scripts.")
]


def read_secret_stdin(ctx: RunContext, what: str, option: str) -> str:
    """The first line of stdin, stripped, as password managers print a secret (`pass show`
    puts notes after it); refused on a terminal (it would be echoed)."""
    from meilichat_cli.errors import UsageError

    if ctx.stdin_isatty:
        raise UsageError(
            f"{option} reads {what} from a pipe, but stdin is a terminal",
            hint="pipe it in (e.g. `pass show … | meilichat …`) or use the --prompt-… option",
        )
    text = ctx.stdin.read(MAX_SECRET_BYTES)
    lines = text.splitlines()
    value = lines[0].strip() if lines else ""
    if not value:
        raise UsageError(
            f"{option}: the first line of stdin is empty; expected {what} there",
            hint="e.g. `pass show NAME | meilichat …` (the first line is used)",
        )
    return value


def prompt_secret(ctx: RunContext, what: str, option: str) -> str:
    """Ask on the terminal without echoing."""
    from meilichat_cli.errors import UsageError

    if not ctx.stdin_isatty:
        raise UsageError(
            f"{option} needs a terminal to ask for {what}",
            hint="pipe the value in with the matching --…-stdin option instead",
        )
    from meilichat_cli.cli.prompts import ask_secret

    value = ask_secret(ctx, what[:1].upper() + what[1:], cancelled="cancelled; nothing was changed")
    if not value:
        raise UsageError(f"empty {what}")
    return value


def explicit_admin_key(ctx: RunContext, *, from_stdin: bool, prompt: bool) -> str | None:
    """The admin key the user gave for this run (stdin, prompt or MEILI_MASTER_KEY), or None."""
    from meilichat_cli.errors import UsageError
    from meilichat_cli.local.connection import validate_api_key

    if from_stdin and prompt:
        raise UsageError("use either --admin-key-stdin or --prompt-admin-key, not both")
    if from_stdin:
        value = read_secret_stdin(ctx, "the admin key", "--admin-key-stdin")
    elif prompt:
        value = prompt_secret(ctx, "admin or master key", "--prompt-admin-key")
    else:
        value = ctx.environ.get(MASTER_KEY_ENV, "").strip()
        if not value:
            return None
    try:
        return validate_api_key(value)
    except UsageError as error:
        raise UsageError(f"admin key: {error.message}") from None


def with_admin_key(ctx: RunContext, connection: Connection, admin_key: str) -> Connection:
    """`connection` sending `admin_key` instead of the profile's key, for commands that need
    both (doctor, `key list --server`); the others resolve with the admin key directly
    (`ConnectionFlags.resolve(admin_key=…)`). Same clear-text rule as any key."""

    from meilichat_cli.local.connection import check_clear_text

    check_clear_text(connection.url, ctx.environ, ctx.warn)
    return connection.replace(api_key=admin_key, api_key_source="admin key")


@contextmanager
def admin_client(
    ctx: RunContext,
    flags: ConnectionFlags,
    *,
    admin_key_stdin: bool = False,
    prompt_admin_key: bool = False,
) -> Iterator[tuple[Connection, MeiliClient]]:
    """Resolve the connection and open a client carrying the admin key (see the module
    docstring for which key that is)."""
    ctx.debug_log("resolving the connection for an admin command")
    explicit = None
    if admin_key_stdin or prompt_admin_key or flags.api_key is None:
        explicit = explicit_admin_key(ctx, from_stdin=admin_key_stdin, prompt=prompt_admin_key)
    connection = flags.resolve(ctx, admin_key=explicit)
    with flags.open_client(ctx, connection) as client:
        yield connection, client


def confirm(ctx: RunContext, question: str, *, yes: bool) -> bool:
    """True to go ahead. Never asks when stdin is not a terminal: a script must say --yes."""
    from meilichat_cli.errors import UsageError

    if yes:
        return True
    if not ctx.stdin_isatty:
        raise UsageError(
            "refusing to ask for confirmation: stdin is not a terminal", hint="pass --yes"
        )
    from meilichat_cli.cli.prompts import ask_yes_no

    return ask_yes_no(ctx, question)


def declined(ctx: RunContext) -> None:
    ctx.note("Cancelled; nothing was changed.")


def read_text_file(ctx: RunContext, path: str, what: str) -> str:
    """A prompt or template from a file (UTF-8); `-` is the run's stdin. The newline that ends
    a text file's last line is the file's, not the prompt's: it is dropped."""
    from meilichat_cli.errors import UsageError

    try:
        if path == "-":
            # Characters, not bytes, on stdin: still bounded, at most four bytes each.
            text = ctx.stdin.read(MAX_TEXT_FILE_BYTES + 1)
            too_long = len(text) > MAX_TEXT_FILE_BYTES
        else:
            with open(path, "rb") as handle:
                data = handle.read(MAX_TEXT_FILE_BYTES + 1)
            too_long = len(data) > MAX_TEXT_FILE_BYTES
            # Decoded only when whole: the cut could split a character.
            text = "" if too_long else data.decode("utf-8")
        if too_long:
            raise UsageError(
                f"{what} from {path} is longer than {MAX_TEXT_FILE_BYTES // (1024 * 1024)} MiB",
                hint="give a shorter file",
            )
        return text.removesuffix("\n").removesuffix("\r")
    except OSError as error:
        raise UsageError(f"cannot read {what} from {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{what} file {path} is not UTF-8 text") from None


def value_or_file(
    ctx: RunContext, value: str | None, path: str | None, what: str, option: str
) -> str | None:
    from meilichat_cli.errors import UsageError

    if value is not None and path is not None:
        raise UsageError(f"give {what} as {option} or {option}-file, not both")
    if path is not None:
        return read_text_file(ctx, path, what)
    return value


def option_name(raw: str) -> str:
    """`--unset`'s spelling of a setting: `--Max_Bytes` is `max-bytes`."""
    return raw.strip().lstrip("-").lower().replace("_", "-")


def apply_unset(
    changes: dict[str, Any], names: Sequence[str], unsettable: Mapping[str, tuple[str, ...]]
) -> None:
    """Set to null, in the body about to be sent, each setting `--unset NAME` names.

    `unsettable` maps each NAME to the field it resets: a top-level field, or one field
    inside an object (`("prompts", "system")`). NAME may be spelled as the option
    (`max-bytes`, `--Max_Bytes`) or as the API names the field (see `unset_setting`).
    Unsetting a field the same command also sets is a usage error, as is an unknown NAME; a
    field inside an object that is already reset as a whole is left to that."""
    from meilichat_cli.errors import UsageError

    for raw in names:
        key = unset_setting(raw, unsettable)
        if key is None:
            raise UsageError(
                f"--unset: unknown setting {raw!r}", hint=f"one of: {', '.join(unsettable)}"
            )
        path = unsettable[key]
        if len(path) == 1:
            if path[0] in changes:
                raise UsageError(f"--unset {key} conflicts with the value given for it")
            changes[path[0]] = None
            continue
        inner = changes.setdefault(path[0], {})
        if inner is None:
            continue  # the whole object is already being reset
        if inner.get(path[1]) is not None:
            raise UsageError(f"--unset {key} conflicts with the value given for it")
        inner[path[1]] = None


def unset_setting(raw: str, unsettable: Mapping[str, tuple[str, ...]]) -> str | None:
    """The NAME of `unsettable` that `--unset raw` means, or None.

    Spelled as the option (`max-bytes`, `--Max_Bytes`), or as the API names the field, in any
    case: its path (`documentTemplateMaxBytes`, `searchParameters.limit`, `prompts.system`)
    or the path's last part when no other setting ends the same way (`matchingStrategy`,
    `system`)."""
    by_path: dict[str, str] = {}
    last_parts: dict[str, list[str]] = {}
    for name, path in unsettable.items():
        by_path[".".join(path).casefold()] = name
        last_parts.setdefault(path[-1].casefold(), []).append(name)
    by_path.update(
        (part, names[0])
        for part, names in last_parts.items()
        if len(names) == 1 and part not in by_path
    )
    wanted = option_name(raw)
    if wanted in unsettable:
        return wanted
    return by_path.get(raw.strip().lstrip("-").casefold())


@option_group
@dataclass(frozen=True)
class AdminConnection:
    """The connection options of the admin commands (workspace, index): where, and with which
    admin key (see the module docstring for which key is sent)."""

    profile: ProfileOption = None
    url: UrlOption = None
    api_key: ApiKeyOption = None
    admin_key_stdin: AdminKeyStdinOption = False
    prompt_admin_key: PromptAdminKeyOption = False
    timeout: TimeoutOption = 30.0
    ca_bundle: CaBundleOption = None
    insecure: InsecureOption = False

    @property
    def flags(self) -> ConnectionFlags:
        return ConnectionFlags(
            profile=self.profile,
            url=self.url,
            api_key=self.api_key,
            timeout=self.timeout,
            ca_bundle=self.ca_bundle,
            insecure=self.insecure,
        )

    def client(self, ctx: RunContext) -> AbstractContextManager[tuple[Connection, MeiliClient]]:
        """Resolve the connection and open a client carrying the admin key."""
        return admin_client(
            ctx,
            self.flags,
            admin_key_stdin=self.admin_key_stdin,
            prompt_admin_key=self.prompt_admin_key,
        )
