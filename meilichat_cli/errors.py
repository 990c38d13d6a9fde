"""The error tree and the exit codes: the one vocabulary every layer raises in.

Each error carries what the single error boundary (`meilichat_cli.cli.app`) needs to print one
line and exit with the documented code. This module is the bottom of the import graph: it
imports nothing from meilichat_cli and nothing outside the standard library.

    MeilichatError                  exit 1  (a bug, unless a subclass says otherwise)
    ├── UsageError                  exit 2  bad flags, empty prompt, bad names
    │   ├── ConfigError             exit 2  unreadable, invalid or untrusted local files
    │   └── OutputError             exit 2  stdout or an output file cannot be written
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
