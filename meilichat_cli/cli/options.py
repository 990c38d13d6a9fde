"""Options shared by every command that talks to a server, and opening the client for them.

Typer option declarations live here once so `ask`, `chat`, `doctor` and the admin commands
spell them the same way, and so does the way a command receives them:

- An *option group* is a frozen dataclass (decorated with `option_group`) whose fields are
  typer options (`Annotated[type, typer.Option(...)] = default`).
- A command decorated with `with_option_groups` declares a parameter of that type, keyword
  only (after `*`); typer sees the group's options in its place, in field order (so `--help`
  lists them where the parameter stands), and the command receives the dataclass.

`ServerConnection` and `ChatConnection` (ask, chat, batch) are the connection options of the
commands that chat, and `TurnOptions` how `ask` and `demo` ask one turn, declared here once.
The groups only some commands use live beside them, so that `ask` does not pay for creating
them (a frozen dataclass costs most of a millisecond): `AdminConnection` in
`cli/admin_options.py` (workspace, index), `ReplayConnection` in `cli/replay_options.py`
(explain, source), `DoctorConnection` in the doctor command. The mechanism relies on typer
reading a command's parameters with `inspect.signature` (checked by
tests/test_typer_compat.py). Only typer is imported at module level.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from meilichat_cli.api.connect import (
    DEFAULT_ANSWER_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    ConnectionFlags,
)
from meilichat_cli.cli.completion.completers import (
    complete_conversation,
    complete_model,
    complete_persona,
    complete_profile,
    complete_workspace,
)
from meilichat_cli.cli.context import errors_as_json

if TYPE_CHECKING:
    pass

__all__ = [
    "AdminKeyStdinOption",
    "ApiKeyOption",
    "CaBundleOption",
    "ChatConnection",
    "ConnectionFlags",
    "ContinueOption",
    "ConversationOption",
    "EventsOption",
    "InsecureOption",
    "JsonOption",
    "MaxTimeOption",
    "ModelOption",
    "NoSaveOption",
    "PlainOption",
    "ProfileOption",
    "PromptAdminKeyOption",
    "SourcesOption",
    "SystemOption",
    "TimeoutOption",
    "UrlOption",
    "WorkspaceOption",
    "finite",
    "option_group",
    "with_option_groups",
]

ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        help="Profile to use (env MEILICHAT_PROFILE).",
        show_default=False,
        autocompletion=complete_profile,
    ),
]
UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="Meilisearch URL (env MEILICHAT_URL).", show_default=False),
]
WorkspaceOption = Annotated[
    str | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Chat workspace (env MEILICHAT_WORKSPACE).",
        show_default=False,
        autocompletion=complete_workspace,
    ),
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Model name sent to the workspace's LLM (env MEILICHAT_MODEL).",
        show_default=False,
        autocompletion=complete_model,
    ),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        help="API key (visible in the process list: prefer `meilichat key set` or "
        "MEILICHAT_API_KEY).",
        show_default=False,
    ),
]

AdminKeyStdinOption = Annotated[
    bool,
    typer.Option(
        "--admin-key-stdin",
        help="Read the admin or master key from stdin (first line).",
    ),
]
PromptAdminKeyOption = Annotated[
    bool,
    typer.Option("--prompt-admin-key", help="Ask for the admin or master key (hidden input)."),
]


def finite(value: float | None) -> float | None:
    """Option callback: refuse `nan` and `inf`, which click's float ranges let through."""
    import math

    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


TimeoutOption = Annotated[
    float,
    typer.Option(
        "--timeout",
        help="Seconds to wait for data from the server (at least 0.1).",
        min=0.1,
        callback=finite,
        metavar="SECONDS",
    ),
]
MaxTimeOption = Annotated[
    float,
    typer.Option(
        "--max-time",
        help="Seconds one streamed answer may take in all, however steadily it arrives"
        " (at least 0.1).",
        min=0.1,
        callback=finite,
        metavar="SECONDS",
    ),
]
CaBundleOption = Annotated[
    str | None,
    typer.Option(
        "--ca-bundle",
        help="PEM file of CA certificates to trust (or SSL_CERT_FILE).",
        show_default=False,
    ),
]
AsOption = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="Chat as this persona: a short-lived tenant token is signed for the run from its"
        " rules (`meilichat persona add`).",
        metavar="PERSONA",
        show_default=False,
        autocompletion=complete_persona,
    ),
]
InsecureOption = Annotated[
    bool,
    typer.Option("--insecure", help="Do not verify TLS certificates (warns every time)."),
]


# The question and output options, declared once: `demo` takes the same ones.
SystemOption = Annotated[
    str | None,
    typer.Option("--system", "-s", help="Add a system message of your own."),
]
JsonOption = Annotated[
    bool,
    typer.Option(
        "--json", callback=errors_as_json, help="Print one JSON result object at the end."
    ),
]
EventsOption = Annotated[
    bool,
    typer.Option("--events", callback=errors_as_json, help="Print NDJSON events as they happen."),
]
PlainOption = Annotated[
    bool, typer.Option("--plain", help="Answer text only, no formatting (default in pipes).")
]
SourcesOption = Annotated[
    bool, typer.Option("--sources", help="In plain mode, list the sources on stderr.")
]
ContinueOption = Annotated[
    bool,
    typer.Option("--continue", "-c", help="Continue the latest saved conversation."),
]
ConversationOption = Annotated[
    str | None,
    typer.Option(
        "--conversation",
        help="Continue the saved conversation with this id (a unique prefix is enough).",
        show_default=False,
        autocompletion=complete_conversation,
    ),
]
NoSaveOption = Annotated[
    bool, typer.Option("--no-save", help="Do not save this question and answer.")
]


# --------------------------------------------------------------------------- option groups

GroupT = TypeVar("GroupT")
_GROUP_MARK = "__meilichat_option_group__"


def option_group(cls: type[GroupT]) -> type[GroupT]:
    """Mark a frozen dataclass of typer options as an option group (see the module docstring)."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__}: an option group must be a dataclass")
    setattr(cls, _GROUP_MARK, True)
    return cls


def _is_group(annotation: object) -> bool:
    return isinstance(annotation, type) and bool(getattr(annotation, _GROUP_MARK, False))


CommandT = TypeVar("CommandT", bound=Callable[..., Any])


def with_option_groups(func: CommandT) -> CommandT:
    """`func` as typer should see it: every parameter whose type is an option group replaced,
    where it stands, by the group's options; the group is built again before `func` runs."""
    signature = inspect.signature(func, eval_str=True)
    parameters: list[inspect.Parameter] = []
    groups: dict[str, tuple[type[Any], list[str]]] = {}
    for parameter in signature.parameters.values():
        annotation = parameter.annotation
        if not _is_group(annotation):
            parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY))
            continue
        hints = typing.get_type_hints(annotation, include_extras=True)
        names: list[str] = []
        for field in dataclasses.fields(annotation):
            parameters.append(
                inspect.Parameter(
                    field.name,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=field.default,
                    annotation=hints[field.name],
                )
            )
            names.append(field.name)
        groups[parameter.name] = (annotation, names)
    seen = [parameter.name for parameter in parameters]
    if len(seen) != len(set(seen)):
        raise TypeError(f"{func.__qualname__}: an option group repeats a parameter name")

    @functools.wraps(func)
    def command(**values: Any) -> Any:
        for name, (group, fields) in groups.items():
            values[name] = group(**{field: values.pop(field) for field in fields})
        return func(**values)

    command.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters} | {
        "return": signature.return_annotation
    }
    return typing.cast(CommandT, command)


@option_group
@dataclass(frozen=True)
class ServerConnection:
    """Where a command that talks to a chat workspace connects (doctor's options)."""

    profile: ProfileOption = None
    url: UrlOption = None
    workspace: WorkspaceOption = None
    model: ModelOption = None
    api_key: ApiKeyOption = None
    timeout: TimeoutOption = DEFAULT_READ_TIMEOUT
    ca_bundle: CaBundleOption = None
    insecure: InsecureOption = False

    @property
    def flags(self) -> ConnectionFlags:
        return ConnectionFlags(**dataclasses.asdict(self))


@option_group
@dataclass(frozen=True)
class ChatConnection(ServerConnection):
    """The connection options of the commands that chat (ask, chat, batch): also `--as`,
    and `--max-time` for each streamed answer."""

    as_persona: AsOption = None
    max_time: MaxTimeOption = DEFAULT_ANSWER_TIMEOUT


@option_group
@dataclass(frozen=True)
class TurnOptions:
    """How one turn is asked and shown, shared by `ask` and `demo`: the system prompt, the
    output mode, which conversation it continues and whether it is saved."""

    system: SystemOption = None
    json_mode: JsonOption = False
    events_mode: EventsOption = False
    plain: PlainOption = False
    sources: SourcesOption = False
    continue_: ContinueOption = False
    conversation: ConversationOption = None
    no_save: NoSaveOption = False

    def check(self) -> None:
        """Refuse conflicting output modes and conversations before anything is sent."""
        from meilichat_cli.cli.quick import check_turn_flags

        check_turn_flags(
            json_mode=self.json_mode,
            events_mode=self.events_mode,
            plain=self.plain,
            continue_=self.continue_,
            conversation=self.conversation,
        )

    @property
    def any_output_mode(self) -> bool:
        return self.json_mode or self.events_mode or self.plain
