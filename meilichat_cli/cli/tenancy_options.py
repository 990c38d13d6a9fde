"""Options shared by `persona` and `token`: the search rules a token carries and its parent key.

Declared once so both commands spell them the same way; turning them into search rules is
`rules_from_options`. Imports typer only at module level.
"""

from __future__ import annotations

from typing import Annotated

import typer

IndexOption = Annotated[
    list[str] | None,
    typer.Option(
        "--index",
        help="An index (pattern) the persona may search, with an optional filter:"
        " UID[:FILTER]; repeatable.",
        metavar="UID[:FILTER]",
        show_default=False,
    ),
]
RulesOption = Annotated[
    str | None,
    typer.Option(
        "--rules",
        help="Meilisearch searchRules as JSON, or @FILE holding them (instead of --index).",
        metavar="JSON|@FILE",
        show_default=False,
    ),
]
ParentUidOption = Annotated[
    str | None,
    typer.Option(
        "--parent-uid",
        help="uid of the profile's key (the tokens' apiKeyUid); looked up through /keys with"
        " an admin key when not given.",
        metavar="UID",
        show_default=False,
    ),
]


def rules_from_options(indexes: list[str] | None, rules: str | None) -> dict[str, object]:
    from meilichat_cli.errors import UsageError
    from meilichat_cli.tenancy import rules as search_rules

    if indexes and rules:
        raise UsageError("give the rules with --index or with --rules, not both")
    if rules:
        return search_rules.from_json_option(rules)
    if indexes:
        return search_rules.from_index_options(indexes)
    raise UsageError(
        "no search rules: give --index UID[:FILTER] (repeatable) or --rules JSON",
        hint="e.g. --index 'tickets:customer_id = 42'",
    )
