"""The reference tables: exit codes, environment variables, files and JSON shapes, as data.

This is the one place they are written down. `meilichat help TOPIC` renders them as text and
`docs/reference.md` holds them as markdown tables, after the command reference; a test fails
when the committed file differs from what the code renders, so the two cannot drift. Run

    python -m meilichat_cli.cli.help.topics --write   # rewrite docs/reference.md
    python -m meilichat_cli.cli.help.topics --check   # exit 1 when it is stale

The exit codes are keyed by `errors.ExitCode`, and a test checks that every error class's
`kind` and exit code appear here. Rendering lives in `render`.

Imports: the standard library and `meilichat_cli.errors` only (no I/O at import).
"""

from __future__ import annotations

from dataclasses import dataclass

from meilichat_cli.errors import ExitCode


@dataclass(frozen=True)
class ExitCodeRow:
    code: ExitCode
    meaning: str
    kinds: tuple[str, ...]  # the `kind` of the --json error object for this code


@dataclass(frozen=True)
class EnvRow:
    names: tuple[str, ...]  # spellings that mean the same thing (HTTPS_PROXY, https_proxy…)
    meaning: str
    default: str


@dataclass(frozen=True)
class FileRow:
    name: str
    location: str  # the default place, on Linux first
    moved_by: str
    meaning: str


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    meaning: str


@dataclass(frozen=True)
class JsonShape:
    title: str
    where: str
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class Topic:
    name: str
    title: str
    summary: str


TOPICS: tuple[Topic, ...] = (
    Topic("exit-codes", "Exit codes", "what each exit status means, and the error kinds"),
    Topic("environment", "Environment variables", "every variable meilichat reads"),
    Topic("files", "Files", "config, keys, history and REPL history, and where they live"),
    Topic("json", "JSON output", "the --json, --events, batch and --input json shapes"),
)

EXIT_CODES_INTRO = (
    "Every command exits with one of these codes; scripts can rely on them (`set -e` stops on"
    " anything but 0). With --json or --events, a failure also writes"
    ' {"error": {...}} to stderr, whose `kind` is listed here.'
)

EXIT_CODES: tuple[ExitCodeRow, ...] = (
    ExitCodeRow(
        ExitCode.OK,
        "success, also when a search failed but the answer completed (the failure is in"
        " `errors`), and when the reader of stdout went away (`meilichat … | head -1`): every"
        " command then stops quietly, an answer so far kept as interrupted",
        (),
    ),
    ExitCodeRow(
        ExitCode.INTERNAL,
        "unexpected failure, a bug: one line, and a hint to rerun with --debug",
        ("internal",),
    ),
    ExitCodeRow(
        ExitCode.USAGE,
        "usage or local configuration: bad flags, unknown profile, a corrupt config file, an"
        " empty prompt, a history file that cannot be used, a config or data directory other"
        " users can write or a file another user owns, output that cannot be written",
        ("usage", "config", "history", "output"),
    ),
    ExitCodeRow(
        ExitCode.AUTH,
        "authentication: the server answered 401 or 403 (also when no key is configured for it)",
        ("auth",),
    ),
    ExitCodeRow(ExitCode.NOT_FOUND, "not found: workspace, index, conversation", ("not_found",)),
    ExitCodeRow(
        ExitCode.API,
        "API or stream failure: another 4xx/5xx answer, an error event that ends the stream,"
        " a stream cut before [DONE], a malformed stream, an answer that never finished"
        " (Meilisearch's 20-round limit); for `batch`, a failed answer, a --min-hit-rate or"
        " --min-recall threshold not met, or --max-tokens reached. When questions fail, `batch`"
        " exits with the code of the worst failure: 2, then 3, 4, 6, 8, 7, 5",
        ("api", "stream", "protocol"),
    ),
    ExitCodeRow(ExitCode.NETWORK, "network: connection refused, DNS, TLS", ("network",)),
    ExitCodeRow(
        ExitCode.TASK_FAILED,
        "a Meilisearch task failed (an index chat settings update)",
        ("task",),
    ),
    ExitCodeRow(
        ExitCode.TIMEOUT,
        "timeout: connecting, or no data (or no event: a trickle, keep-alive comments only)"
        " for --timeout seconds, or an answer longer than --max-time seconds in all",
        ("timeout",),
    ),
    ExitCodeRow(
        ExitCode.LEAK,
        "`scope check` found a leak: a document or an index outside a persona's rules, or a"
        " server older than 1.48.3 showing facet values across tenants",
        ("leak",),
    ),
    ExitCodeRow(
        ExitCode.INTERRUPTED,
        "interrupted (Ctrl-C); a partial answer is kept and marked interrupted. SIGTERM and"
        " SIGHUP do the same and exit 143 and 129 (128 + the signal)",
        ("interrupted",),
    ),
)

ENVIRONMENT_INTRO = (
    "Each setting is taken from the command-line flag, else the environment, else the"
    " profile, else the built-in default. An exported but empty variable counts as unset."
)

ENVIRONMENT: tuple[EnvRow, ...] = (
    EnvRow(
        ("MEILICHAT_PROFILE",),
        "Profile to use when -p/--profile is not given.",
        "`default_profile` in config.toml",
    ),
    EnvRow(
        ("MEILICHAT_URL",),
        "Meilisearch URL, instead of the profile's. A profile's stored key is never sent to"
        " another URL.",
        "the profile's `url`",
    ),
    EnvRow(
        ("MEILICHAT_API_KEY",),
        "API key to send, instead of the profile's stored key (safer than --api-key, which"
        " other users can see in the process list).",
        "the profile's key: key_command, keyring or credentials.toml",
    ),
    EnvRow(
        ("MEILICHAT_WORKSPACE",),
        "Chat workspace when -w/--workspace is not given.",
        "the profile's `workspace`",
    ),
    EnvRow(
        ("MEILICHAT_MODEL",),
        "Model sent with every request when -m/--model is not given (Meilisearch needs one).",
        "the profile's `model`, else gpt-4o-mini",
    ),
    EnvRow(
        ("MEILI_MASTER_KEY",),
        "Admin or master key for the admin commands (workspace, index, key create, key list"
        " --server, doctor) and for completing workspace and index names on TAB.",
        "unset: admin commands use --admin-key-stdin, --prompt-admin-key, --api-key or the"
        " profile's key",
    ),
    EnvRow(
        ("MEILICHAT_CONFIG_DIR",),
        "Directory of config.toml and credentials.toml.",
        "$XDG_CONFIG_HOME/meilichat (~/.config/meilichat); macOS ~/Library/Application"
        " Support/meilichat; Windows %LOCALAPPDATA%\\meilichat",
    ),
    EnvRow(
        ("MEILICHAT_DATA_DIR",),
        "Directory of history.sqlite3.",
        "$XDG_DATA_HOME/meilichat (~/.local/share/meilichat); macOS and Windows as above",
    ),
    EnvRow(
        ("MEILICHAT_STATE_DIR",),
        "Directory of repl-history.",
        "MEILICHAT_DATA_DIR when only that is set, else $XDG_STATE_HOME/meilichat"
        " (~/.local/state/meilichat)",
    ),
    EnvRow(
        ("MEILICHAT_REQUIRE_HTTPS",),
        "1, true, yes or on: refuse to send a key over http:// to a host that is not loopback.",
        "unset: warn and send",
    ),
    EnvRow(
        ("MEILICHAT_DEBUG",),
        "Anything but empty or 0: tracebacks and request details on errors, like --debug.",
        "unset",
    ),
    EnvRow(("NO_COLOR",), "Any non-empty value: no colours.", "unset: colours on a terminal"),
    EnvRow(
        ("COLUMNS",),
        "The width to lay out help pages and tables for, when it is not the terminal's.",
        "the terminal's width (80 in a pipe)",
    ),
    EnvRow(
        ("SSL_CERT_FILE", "SSL_CERT_DIR"),
        "CA certificates to trust (a PEM file, or a directory of them) when neither"
        " --ca-bundle nor the profile's ca_bundle is given.",
        "the certifi bundle",
    ),
    EnvRow(
        ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"),
        "Proxy for https:// servers, for http:// servers, for both; hosts reached directly"
        " (names, IPs, host:port, CIDR networks, `*`). Lower-case spellings win.",
        "no proxy",
    ),
    EnvRow(
        ("VISUAL", "EDITOR"),
        "Editor for `workspace edit`, and for Ctrl-X Ctrl-E and /edit in the REPL.",
        "editor, nano or vi",
    ),
    EnvRow(
        ("PAGER", "LESS"),
        "Pager for `history show` and `meilichat source` on a terminal (never in a pipe);"
        " empty or `cat` turns it off. LESS is set to FRX for it unless already set.",
        "less -R",
    ),
    EnvRow(
        ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"),
        "Base directories on Linux and BSD when the MEILICHAT_*_DIR variables are unset"
        " (relative values are ignored).",
        "~/.config, ~/.local/share, ~/.local/state",
    ),
    EnvRow(
        ("WAYLAND_DISPLAY", "DISPLAY"),
        "Where /copy in the REPL looks for a clipboard tool (wl-copy, xclip, xsel).",
        "the terminal's clipboard (OSC 52)",
    ),
    EnvRow(
        ("_MEILICHAT_COMPLETE",),
        "Set by the shell completion scripts when TAB runs meilichat; not for people.",
        "unset",
    ),
    EnvRow(
        ("MEILICHAT_FUZZ",),
        "Test suite only: 1 runs the property tests with 5,000 examples each.",
        "unset: a quick run",
    ),
)

FILES_INTRO = (
    "`meilichat profile path` prints where each file is on this machine. Files holding"
    " keys or conversations are created private (0600, directories 0700) and written"
    " atomically; a config file that fails to load is never overwritten, and one that is"
    " rewritten keeps its comments, blank lines and key order."
)

FILES: tuple[FileRow, ...] = (
    FileRow(
        "config.toml",
        "~/.config/meilichat/",
        "MEILICHAT_CONFIG_DIR",
        "Profiles (url, workspace, model, key_command, key_store, ca_bundle, insecure, and"
        " their personas: rules, token lifetime, parent key uid), default_profile,"
        " save_history, key_store. Never a key or a token.",
    ),
    FileRow(
        "credentials.toml",
        "~/.config/meilichat/",
        "MEILICHAT_CONFIG_DIR",
        "API keys stored by `key set` / `key create --save`, one per profile (0600).",
    ),
    FileRow(
        "history.sqlite3",
        "~/.local/share/meilichat/",
        "MEILICHAT_DATA_DIR",
        "Saved conversations: messages, searches, sources, status and timings of each turn,"
        " and the persona that asked (`history` commands); SQLite's -wal and -shm files sit"
        " beside it, and a damaged file is moved aside as history.sqlite3.corrupt-TIME. Off"
        " with --no-save or save_history = false.",
    ),
    FileRow(
        "repl-history",
        "~/.local/state/meilichat/",
        "MEILICHAT_STATE_DIR",
        "Lines typed at the `chat` prompt (0600).",
    ),
    FileRow(
        ".config.toml.lock, .credentials.toml.lock",
        "beside the file they lock",
        "MEILICHAT_CONFIG_DIR",
        "Advisory locks taken while a file is rewritten; safe to leave.",
    ),
)

JSON_INTRO = (
    "Machine-readable output goes to stdout, diagnostics to stderr. Strings are JSON-escaped"
    " (non-ASCII as \\u escapes); the server's text (answer, sources, searches) is kept exact,"
    " while the one-line messages for people (message, hint, code and link of an error, the"
    " message of each entry in `errors`) are cleaned of terminal and BiDi controls. Fields"
    " may be added in later versions, never renamed."
)

RESULT_FIELDS: tuple[Field, ...] = (
    Field("answer", "string", "every content delta of the answer, concatenated in order"),
    Field("complete", "boolean", "the stream ended with [DONE] and no error ended it"),
    Field("finish_reason", "string or null", "stop, length, content_filter… as the model said"),
    Field(
        "searches",
        "array",
        "each search Meilisearch ran: {call_id, index_uid, q, filter, sources, started_ms,"
        " elapsed_ms, hits, ids}: sources are the documents it returned, started_ms the time"
        " of its progress event, elapsed_ms the time to its sources event, hits how many"
        " documents and ids their ids",
    ),
    Field(
        "errors",
        "array",
        "{type, code, message} for each error event (a failed search, a provider error) and"
        " for a failure on the client side (cut stream, timeout)",
    ),
    Field(
        "conversation_id",
        "string or null",
        "the saved conversation; null when not saved (with --no-save, the continued one's id)",
    ),
    Field("profile", "string or null", "the profile used"),
    Field("workspace", "string", "the workspace asked"),
    Field("model", "string", "the model sent"),
    Field("persona", "string", "only with --as: the persona whose tenant token was sent"),
    Field("usage", "object or null", "token usage, when the server reports it"),
    Field(
        "timings",
        "object",
        "{first_search_ms, first_token_ms, total_ms} from sending the request; null for what"
        " did not happen",
    ),
    Field(
        "estimate",
        "object or null",
        "the tokens the turn sent and received, estimated: {method, exact, error_band, sent:"
        " {question, history, tool_results, total}, received: {answer, total}, total}",
    ),
)

JSON_SHAPES: tuple[JsonShape, ...] = (
    JsonShape(
        "The result: `ask --json`",
        "One object on stdout when the answer is over (also `demo --json`, the `done` event,"
        " and each `batch` line).",
        RESULT_FIELDS,
    ),
    JsonShape(
        'The error: `{"error": {...}}`',
        "One line on stderr when a command run with --json or --events fails (stdout still"
        " gets the result when an answer had started).",
        (
            Field("kind", "string", "the error family: see the exit codes"),
            Field("code", "string or null", "Meilisearch's error code, e.g. invalid_api_key"),
            Field("message", "string", "what went wrong, in one line"),
            Field("hint", "string or null", "what to do about it"),
            Field("httpStatus", "integer or null", "the HTTP status the server answered"),
            Field("link", "string or null", "Meilisearch's documentation link for the code"),
        ),
    ),
    JsonShape(
        "The events: `ask --events`",
        "NDJSON on stdout, one object per line as things happen, flushed per line; `event`"
        " names the kind.",
        (
            Field("search", "event", "a search started: call_id, index_uid, q, filter, at_ms"),
            Field(
                "sources",
                "event",
                "the documents a search returned: call_id, sources, at_ms, hits, ids",
            ),
            Field("delta", "event", "a piece of the answer: text"),
            Field(
                "message",
                "event",
                "a tool message Meilisearch asks the client to keep in the conversation: message",
            ),
            Field("error", "event", "an error event in the stream: type, code, message"),
            Field(
                "done",
                "event",
                "the last line once the answer has started, even when it broke off: the"
                " fields of the `ask --json` result",
            ),
        ),
    ),
    JsonShape(
        "A batch line: `batch`",
        "One object per question on stdout (or --output), JSON Lines, in input order unless"
        " --unordered: the fields of the `ask --json` result, plus these.",
        (
            Field("id", "string, integer or null", "the question's id, as given"),
            Field("line", "integer", "its line in the question file"),
            Field("question", "string", "the question text"),
            Field("hit", "boolean", "with `expect`: an expected document is among the sources"),
            Field("recall", "number", "with `expect`: the share of expected documents found"),
            Field(
                "first_hit_rank",
                "integer or null",
                "with `expect`: rank of the first expected document among the sources",
            ),
            Field("missing", "array", "with `expect`: expected documents not found"),
            Field("cited", "array", "ids the answer cites (`id 16`, `(id: 16)`, `ID #16`)"),
            Field(
                "cited_found",
                "number or null",
                "the share of cited ids among the sources; null when none is cited",
            ),
            Field("filters", "integer", "searches that had a filter"),
            Field("valid_filters", "integer", "of those, the filters Meilisearch accepted"),
            Field(
                "routed",
                "boolean",
                "with `expect_index`: every search went to an expected index",
            ),
            Field(
                "a, b",
                "object",
                "with --compare: the result on each workspace (then only id, line, question,"
                " complete and a, b)",
            ),
            Field(
                "as",
                "object",
                "with --as A,B: the result as each persona, by name (then only id, line,"
                " question, complete and as)",
            ),
        ),
    ),
    JsonShape(
        "A question: `ask --input json`, `batch`",
        "One object on stdin for `ask --input json`; one per line in a `batch` file.",
        (
            Field("prompt", "string", "a new question (this, `messages`, or both)"),
            Field("messages", "array", "a conversation to continue: {role, content} objects"),
            Field("workspace", "string", "optional: the workspace to ask"),
            Field("model", "string", "optional: the model to send"),
            Field("system", "string", "optional: a system message of your own"),
            Field("id", "string or integer", "batch: names the question in the results"),
            Field(
                "expect",
                "array",
                "batch: primary keys (or index_uid:id) the answer should be grounded on",
            ),
            Field(
                "expect_index",
                "string or array",
                "batch: the index (or indexes) the searches should go to",
            ),
        ),
    ),
)


def topic_names() -> list[str]:
    return [topic.name for topic in TOPICS]


def env_names() -> list[str]:
    """Every variable documented here, one spelling each (as written in the table)."""
    return [name for row in ENVIRONMENT for name in row.names]


if __name__ == "__main__":
    from meilichat_cli.cli.help.render import main

    raise SystemExit(main())
