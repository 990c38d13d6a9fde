"""Which Meilisearch the stand-in server emulates: one table of what changed when.

`EMULATIONS` maps a version name (`1.15.1`, `1.16`, `1.17`, `1.42`, `1.48`, `1.50`) to an
`Emulation`: the facts of that release that a chat client can observe (the `/version` answer,
the verb of the index chat-settings route and its 1.15.x `limit` default, the internal search
tool's arguments, the workspace sources and default prompts, how bodies are validated, which
keys and actions exist, which routes and experimental features are there). Routes read these
fields instead of comparing version numbers, so every behaviour switch is a row here.

The default prompts are Meilisearch's own `DEFAULT_CHAT_*` constants
(`crates/meilisearch-types/src/features.rs`), copied verbatim: clients show and diff them.

Stdlib only; imports nothing from meilichat_cli.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PROMPTS_1_15: dict[str, str] = {
    # DEFAULT_CHAT_SYSTEM_PROMPT
    "system": (
        "You are a highly capable research assistant with access to powerful search tools. "
        "IMPORTANT INSTRUCTIONS:1. When answering questions, you MUST make multiple tool "
        "calls (at least 2-3) to gather comprehensive information.2. Use different search "
        "queries for each tool call - vary keywords, rephrase questions, and explore "
        "different semantic angles to ensure broad coverage.3. Always explicitly announce "
        "BEFORE making each tool call by saying: \"I'll search for [specific information] "
        'now."4. Combine information from ALL tool calls to provide complete, nuanced '
        "answers rather than relying on a single source.5. For complex topics, break down "
        "your research into multiple targeted queries rather than using a single generic "
        "search."
    ),
    # DEFAULT_CHAT_SEARCH_DESCRIPTION_PROMPT
    "searchDescription": (
        "Search the database for relevant JSON documents using an optional query."
    ),
    # DEFAULT_CHAT_SEARCH_Q_PARAM_PROMPT
    "searchQParam": (
        "The search query string used to find relevant documents in the index. This should "
        "contain keywords or phrases that best represent what the user is looking for. "
        "More specific queries will yield more precise results."
    ),
    # DEFAULT_CHAT_SEARCH_INDEX_UID_PARAM_PROMPT
    "searchIndexUidParam": (
        "The name of the index to search within. An index is a collection of documents "
        "organized for search. Selecting the right index ensures the most relevant results "
        "for the user query."
    ),
}
# 1.16 appended filter advice to the system prompt, replaced the search description with
# few-shot examples and added the filter parameter's description; the rest is unchanged.
# Key order is Meilisearch's (it shows in GET /chats/{workspace}/settings).
PROMPTS_1_16: dict[str, str] = {
    # DEFAULT_CHAT_SYSTEM_PROMPT
    "system": PROMPTS_1_15["system"]
    + (
        " Meilisearch doesn't use the colon (:) syntax to filter but rather the "
        "equal (=) one. Separate filters from query and keep the q parameter empty if "
        "needed. Same for the filter parameter: keep it empty if need be. If you need to "
        "find documents that CONTAINS keywords simply put the keywords in the q parameter "
        "do no use a filter for this purpose. Whenever you get an error, read the error "
        "message and fix your error. "
    ),
    # DEFAULT_CHAT_SEARCH_DESCRIPTION_PROMPT
    "searchDescription": (
        "Query: 'best story about Rust before 2018' with year: 2018, 2020, 2021\nlabel: "
        'analysis, golang, javascript\ntype: story, link\nvote: 300, 298, 278\n: {"q": '
        '"", "filter": "category = Rust AND type = story AND year < 2018 AND vote > '
        "100\"}\nQuery: 'A black or green car that can go fast with red brakes' with "
        "maxspeed_kmh: 200, 150, 130\ncolor: black, grey, red, green\nbrand: Toyota, "
        'Renault, Jeep, Ferrari\n: {"q": "red brakes", "filter": "maxspeed_kmh > '
        "150 AND color IN ['black', green]\"}\nQuery: 'Superman movie released in 2018 or "
        "after' with year: 2018, 2020, 2021\ngenres: Drama, Comedy, Adventure, Fiction\n: "
        '{"q":"Superman","filter":"genres IN [Adventure, Fiction] AND year >= '
        '2018"}'
    ),
    "searchQParam": PROMPTS_1_15["searchQParam"],
    # DEFAULT_CHAT_SEARCH_FILTER_PARAM_PROMPT
    "searchFilterParam": (
        "The search filter string used to find relevant documents in the index. It "
        "supports parentheses, `=`, `!=`, `>=`, `>`, `<=`, `<`, `IN`, `NOT IN`, `TO`, "
        "`EXISTS`, `NOT EXISTS`, `IS NULL`, `IS NOT NULL`, `IS EMPTY`, `IS NOT EMPTY`, "
        '`_geoRadius`, or `_geoBoundingBox`. Here is an example: "price > 100 AND '
        "category = 'electronics'\". The following is a list of fields that can be "
        "filtered on: "
    ),
    "searchIndexUidParam": PROMPTS_1_15["searchIndexUidParam"],
}

SOURCES_1_15 = ("openAi", "mistral", "gemini", "azureOpenAi", "vLlm")
SOURCES_1_16 = ("openAi", "mistral", "azureOpenAi", "vLlm")

_ACTIONS_1_15 = (
    "*",
    "search",
    "documents.*",
    "documents.add",
    "documents.get",
    "documents.delete",
    "indexes.*",
    "indexes.create",
    "indexes.get",
    "indexes.update",
    "indexes.delete",
    "indexes.swap",
    "tasks.*",
    "tasks.cancel",
    "tasks.delete",
    "tasks.get",
    "settings.*",
    "settings.get",
    "settings.update",
    "stats.*",
    "stats.get",
    "metrics.*",
    "metrics.get",
    "dumps.*",
    "dumps.create",
    "snapshots.*",
    "snapshots.create",
    "version",
    "keys.create",
    "keys.get",
    "keys.update",
    "keys.delete",
    "experimental.get",
    "experimental.update",
)
_CHAT_ACTIONS = (
    "chatCompletions",
    "chats.*",
    "chats.get",
    "chats.delete",
    "chatsSettings.*",
    "chatsSettings.get",
    "chatsSettings.update",
)
ACTIONS_1_15 = (*_ACTIONS_1_15, "network.get", "network.update", *_CHAT_ACTIONS)
ACTIONS_1_16 = (*_ACTIONS_1_15, "export", "network.get", "network.update", *_CHAT_ACTIONS, "*.get")
ACTIONS_1_17 = (
    *ACTIONS_1_16,
    "webhooks.get",
    "webhooks.update",
    "webhooks.delete",
    "webhooks.create",
    "webhooks.*",
)
ACTIONS_1_42 = (
    *ACTIONS_1_17,
    "indexes.compact",
    "fields.post",
    "tasks.compact",
    "dynamicSearchRules.get",
    "dynamicSearchRules.create",
    "dynamicSearchRules.update",
    "dynamicSearchRules.delete",
    "dynamicSearchRules.*",
)

FLAGS_1_15 = (
    "metrics",
    "logsRoute",
    "editDocumentsByFunction",
    "containsFilter",
    "network",
    "getTaskDocumentsRoute",
    "compositeEmbedders",
    "chatCompletions",
)
FLAGS_1_16 = (*FLAGS_1_15, "multimodal")
FLAGS_1_42 = (
    "metrics",
    "logsRoute",
    "editDocumentsByFunction",
    "containsFilter",
    "dynamicSearchRules",
    "network",
    "getTaskDocumentsRoute",
    "taskQueueCompactionRoute",
    "compositeEmbedders",
    "chatCompletions",
    "multimodal",
    "foreignKeys",
)
FLAGS_1_48 = (*FLAGS_1_42, "disableDocumentsFetchQueue", "legacySearch", "renderRoute")

# The default keys a fresh database gets, in creation order (Meilisearch lists the newest
# first, so `GET /keys` shows Search, Admin, Read-Only, Chat): name, description, actions.
CHAT_KEY = (
    "Default Chat API Key",
    "Use it to chat and search from the frontend",
    ("chatCompletions", "search"),
)
READ_ONLY_KEY = (
    "Default Read-Only Admin API Key",
    "Use it to read information across the whole database. Caution! Do not expose this key on "
    "a public frontend",
    ("*.get", "keys.get"),
)
ADMIN_KEY = (
    "Default Admin API Key",
    "Use it for anything that is not a search operation. Caution! Do not expose it on a "
    "public frontend",
    ("*",),
)
SEARCH_KEY = ("Default Search API Key", "Use it to search from the frontend", ("search",))

DefaultKey = tuple[str, str, tuple[str, ...]]


@dataclass(frozen=True)
class Emulation:
    """What one Meilisearch release looks like to a chat client."""

    name: str  # as given to `--meilisearch-version`
    pkg_version: str
    commit_sha: str
    commit_date: str
    # PUT until 1.16.x, PATCH from 1.17.0 (meilisearch PR #5807).
    index_chat_method: str
    # A `searchParameters` object sent without `limit` sets the limit to this (1.15.x: 20);
    # None from 1.16.0 (meilisearch PR #5770), where an absent limit is kept.
    chat_search_limit_default: int | None
    # `filter` argument of `_meiliSearchInIndex` and `prompts.searchFilterParam` (1.16.0).
    filter_argument: bool
    sources: tuple[str, ...]
    prompts: dict[str, str]
    # A bad `documentTemplate` fails the settings task (1.42.0); before, only chats fail.
    template_checked_on_update: bool
    # `POST /render-template` behind the `renderRoute` feature (1.48.0).
    render_route: bool
    # Workspace settings bodies parsed by deserr (1.47.0); before, serde's messages.
    deserr_workspace_body: bool
    # Index-scoped keys may not hold chats.*/chatsSettings.* (1.48.3); facet values shown
    # to the model then respect tenant-token filters.
    scoped_global_actions_refused: bool
    # `x-accel-buffering: no` on streams (1.39.0).
    accel_buffering_header: bool
    # The completions handler goes through `SeqHandler`, which reports its extractors'
    # errors in order, authentication first (1.38.0); before, actix polled them together.
    sequential_completion_extractors: bool
    default_keys: tuple[DefaultKey, ...]
    actions: tuple[str, ...]
    feature_flags: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def prompt_fields(self) -> tuple[str, ...]:
        return tuple(self.prompts)


def _emulation(
    name: str,
    pkg: str,
    sha: str,
    date: str,
    *,
    minor: int,
    patch: int = 0,
) -> Emulation:
    version = (1, minor, patch)
    return Emulation(
        name=name,
        pkg_version=pkg,
        commit_sha=sha,
        commit_date=date,
        index_chat_method="PATCH" if version >= (1, 17, 0) else "PUT",
        chat_search_limit_default=None if version >= (1, 16, 0) else 20,
        filter_argument=version >= (1, 16, 0),
        sources=SOURCES_1_16 if version >= (1, 16, 0) else SOURCES_1_15,
        prompts=PROMPTS_1_16 if version >= (1, 16, 0) else PROMPTS_1_15,
        template_checked_on_update=version >= (1, 42, 0),
        render_route=version >= (1, 48, 0),
        deserr_workspace_body=version >= (1, 47, 0),
        scoped_global_actions_refused=version >= (1, 48, 3),
        accel_buffering_header=version >= (1, 39, 0),
        sequential_completion_extractors=version >= (1, 38, 0),
        default_keys=(
            (CHAT_KEY, ADMIN_KEY, SEARCH_KEY)
            if version < (1, 16, 0)
            else (CHAT_KEY, READ_ONLY_KEY, ADMIN_KEY, SEARCH_KEY)
        ),
        actions=(
            ACTIONS_1_42
            if version >= (1, 42, 0)
            else ACTIONS_1_17
            if version >= (1, 17, 0)
            else ACTIONS_1_16
            if version >= (1, 16, 0)
            else ACTIONS_1_15
        ),
        feature_flags=(
            FLAGS_1_48
            if version >= (1, 48, 0)
            else FLAGS_1_42
            if version >= (1, 42, 0)
            else FLAGS_1_16
            if version >= (1, 16, 0)
            else FLAGS_1_15
        ),
    )


# The tagged commits of each release (`git rev-parse vX.Y.Z^{commit}`) and their dates.
EMULATIONS: dict[str, Emulation] = {
    e.name: e
    for e in (
        _emulation(
            "1.15.1",
            "1.15.1",
            "9275ce15032b7543a030762fec7058b2f68f1b72",
            "2025-06-11T14:54:01.000000000Z",
            minor=15,
            patch=1,
        ),
        _emulation(
            "1.16",
            "1.16.0",
            "a2c96d40d313cb7a143a93ad5f2fb52b5eaafe47",
            "2025-08-04T10:40:12.000000000Z",
            minor=16,
        ),
        _emulation(
            "1.17",
            "1.17.0",
            "f4903c2fe7a06bfaaeac8f2b0969b5919d8cbea3",
            "2025-08-12T06:33:40.000000000Z",
            minor=17,
        ),
        _emulation(
            "1.42",
            "1.42.0",
            "02ff9a4a1cae79ce405638b6323fbd2f939f7f67",
            "2026-04-13T08:12:08.000000000Z",
            minor=42,
        ),
        _emulation(
            "1.48",
            "1.48.0",
            "6f26819bed09b5198d4b9b0f908772bd28d0ceb1",
            "2026-06-22T08:24:42.000000000Z",
            minor=48,
        ),
        _emulation(
            "1.50",
            "1.50.0",
            "2ecfd54ca7f3dd1c76d304efce86c9b8af9f82aa",
            "2026-07-16T14:59:12.000000000Z",
            minor=50,
        ),
    )
}
NEWEST = "1.50"
VERSION_NAMES = tuple(EMULATIONS)


def emulation(name: str | None) -> Emulation:
    """The emulation for a version name (`1.16`, `1.16.0`, `v1.16.0`); None is the newest.

    Raises ValueError for a version the stand-in does not emulate."""
    if name is None:
        return EMULATIONS[NEWEST]
    wanted = name.strip().lstrip("v")
    for candidate in (wanted, wanted.removesuffix(".0")):
        if candidate in EMULATIONS:
            return EMULATIONS[candidate]
    raise ValueError(
        f"the stand-in does not emulate Meilisearch {name!r}: choose one of "
        + ", ".join(VERSION_NAMES)
    )
