"""The error tree and the exit codes: the one vocabulary every layer raises in.

Each error carries what the single error boundary (`meilichat_cli.cli.app`) needs to print one
line and exit with the documented code. This module is the bottom of the import graph: it
imports nothing from meilichat_cli and nothing outside the standard library.

    MeilichatError                  exit 1  (a bug, unless a subclass says otherwise)
    ├── UsageError                  exit 2  bad flags, empty prompt, bad names
    │   ├── ConfigError             exit 2  unreadable, invalid or untrusted local files
    │   │   └── KeyringUnavailable  exit 2  the system keyring is missing, locked or silent
    │   ├── TemplateError           exit 2  a document template that cannot be parsed
    │   └── OutputError             exit 2  stdout or an output file cannot be written
    ├── HistoryUnavailable          exit 2  the history file cannot be used right now
    ├── AuthError                   exit 3  401 / 403
    ├── NotFoundError               exit 4  workspace, index, conversation
    ├── ApiError                    exit 5  other 4xx/5xx answers
    ├── StreamError                 exit 5  error event that ends a stream, cut or malformed stream
    │   └── ProtocolError           exit 5  bytes or JSON that break the protocol
    ├── NetworkError                exit 6  refused, DNS, TLS
    ├── TaskFailedError             exit 7  a Meilisearch task failed
    ├── TimeoutError_               exit 8  connect or read timeout
    ├── LeakFound                   exit 9  `scope check` saw something outside a persona's rules
    └── Interrupted                 exit 130
    ReportedFailure                 (not a MeilichatError) the command showed what failed

`exit_code_for_kind` maps an error's `kind` (as found in the `errors` of a result line) back
to its exit code, and `worst_exit_code` picks the one a run with several failures reports:
both derive from the classes below, so the mapping lives here only.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of the command-line contract (`meilichat help exit-codes`, docs/reference.md)."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    AUTH = 3
    NOT_FOUND = 4
    API = 5
    NETWORK = 6
    TASK_FAILED = 7
    TIMEOUT = 8
    LEAK = 9
    INTERRUPTED = 130


class MeilichatError(Exception):
    """Base of every error meilichat raises on purpose.

    `message` is one line for people; `hint` says what to do next; `code`, `http_status` and
    `link` come from Meilisearch's error body when there was one; `kind` names the family in
    the `--json` error object.
    """

    exit_code: ExitCode = ExitCode.INTERNAL
    kind: str = "internal"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        code: str | None = None,
        http_status: int | None = None,
        link: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code
        self.http_status = http_status
        self.link = link

    def to_json(self) -> dict[str, dict[str, object]]:
        """The `{"error": {...}}` object written to stderr in `--json` mode."""
        return {
            "error": {
                "kind": self.kind,
                "code": self.code,
                "message": self.message,
                "hint": self.hint,
                "httpStatus": self.http_status,
                "link": self.link,
            }
        }


class UsageError(MeilichatError):
    exit_code = ExitCode.USAGE
    kind = "usage"


class ConfigError(UsageError):
    kind = "config"


class TemplateError(UsageError):
    """The template cannot be parsed or rendered; `message` says what and where."""


class HistoryUnavailable(MeilichatError):
    """History cannot be read or written right now; the answer itself is unaffected."""

    exit_code = ExitCode.USAGE  # a local condition (files, permissions, a lock), not a bug
    kind = "history"


class OutputError(UsageError):
    """The output cannot be written (disk full, a file-size limit, an I/O error); what was
    answered is kept in history."""

    kind = "output"


class AuthError(MeilichatError):
    exit_code = ExitCode.AUTH
    kind = "auth"


class NotFoundError(MeilichatError):
    exit_code = ExitCode.NOT_FOUND
    kind = "not_found"


class ApiError(MeilichatError):
    exit_code = ExitCode.API
    kind = "api"


class StreamError(MeilichatError):
    exit_code = ExitCode.API
    kind = "stream"


class ProtocolError(StreamError):
    """The bytes are not a Meilisearch chat stream (raised by the stdlib-only protocol layer,
    which knows nothing of commands: the default hint is said here)."""

    kind = "protocol"

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None) -> None:
        super().__init__(
            message,
            hint=hint
            or "the partial answer is kept; if this repeats, check that the URL is Meilisearch's"
            " (`meilichat doctor`)",
            code=code,
        )


class NetworkError(MeilichatError):
    exit_code = ExitCode.NETWORK
    kind = "network"


class CertificateError(NetworkError):
    """The server's TLS certificate failed verification: the server is there, but untrusted
    (its hint names the options that trust a CA, which a caller must not replace)."""


class TaskFailedError(MeilichatError):
    exit_code = ExitCode.TASK_FAILED
    kind = "task"


class TimeoutError_(MeilichatError):
    exit_code = ExitCode.TIMEOUT
    kind = "timeout"


class LeakFound(MeilichatError):
    """`scope check` found a document, an index or facet values outside a persona's rules."""

    exit_code = ExitCode.LEAK
    kind = "leak"


class Interrupted(MeilichatError):
    exit_code = ExitCode.INTERRUPTED
    kind = "interrupted"


class KeyringUnavailable(ConfigError):
    """The keyring is missing, locked, or did not answer in time; `str()` says which. The
    callers fall back to the key file with a warning, so it rarely ends a run."""


class ReportedFailure(Exception):
    """Not an error to report: the command has already shown what failed (doctor's report),
    and the boundary only exits with `exit_code`, printing nothing more."""

    def __init__(self, exit_code: int) -> None:
        super().__init__(f"exit {exit_code}")
        self.exit_code = ExitCode(exit_code)


def _kinds() -> dict[str, ExitCode]:
    found: dict[str, ExitCode] = {}
    pending: list[type[MeilichatError]] = [MeilichatError]
    while pending:
        cls = pending.pop(0)
        found.setdefault(cls.kind, cls.exit_code)
        pending.extend(cls.__subclasses__())
    return found


def error_for_exit_code(code: ExitCode, message: str, *, hint: str | None = None) -> MeilichatError:
    """An error of the first family that exits with `code` (AuthError for 3, …)."""
    pending: list[type[MeilichatError]] = [MeilichatError]
    while pending:
        cls = pending.pop(0)
        if cls.exit_code == code:
            return cls(message, hint=hint)
        pending.extend(cls.__subclasses__())
    return MeilichatError(message, hint=hint)


def exit_code_for_kind(kind: str | None) -> ExitCode:
    """The exit code of the error family `kind`; a kind meilichat does not define (an error
    event's type from the server, e.g. `invalid_request_error`) is an API failure."""
    return _kinds().get(kind or "", ExitCode.API)


# When several things failed, the one a script must hear about first: the set-up is wrong
# (usage, key, name) before the way there (network, time), before one answer's failure.
_SEVERITY = (
    ExitCode.INTERNAL,
    ExitCode.USAGE,
    ExitCode.AUTH,
    ExitCode.NOT_FOUND,
    ExitCode.NETWORK,
    ExitCode.TIMEOUT,
    ExitCode.TASK_FAILED,
    ExitCode.API,
)


def worst_exit_code(codes: list[ExitCode]) -> ExitCode:
    """The most severe of `codes` (see `_SEVERITY`); OK when there is none."""
    failing = [code for code in codes if code in _SEVERITY]
    if not failing:
        return ExitCode.OK
    return min(failing, key=_SEVERITY.index)
