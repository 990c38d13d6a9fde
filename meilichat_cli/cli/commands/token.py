"""`meilichat token`: sign a tenant token locally, or take one apart.

`token create` signs with a parent key (the profile's key, or one read from stdin) after
checking on the server what can be checked (`meilichat_cli.scoping.parent`), and prints the
token (`--json`: with its decoded claims and what was checked). `token inspect TOKEN` explains
a token: algorithm, parent uid, expiry, rules, and with `--key-stdin` whether the signature
matches a key. Only typer is imported at module level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from meilichat_cli.cli.admin_options import AdminKeyStdinOption, JsonOption
from meilichat_cli.cli.context import run_context
from meilichat_cli.cli.help.text import epilog
from meilichat_cli.cli.options import ProfileOption, UrlOption
from meilichat_cli.cli.tenancy_options import (
    IndexOption,
    ParentUidOption,
    RulesOption,
    rules_from_options,
)

if TYPE_CHECKING:
    from meilichat_cli.local.context import RunContext
    from meilichat_cli.tenancy.token import DecodedToken

ENV = "MEILICHAT_PROFILE, MEILICHAT_URL, MEILICHAT_API_KEY (the parent key), MEILI_MASTER_KEY"

app = typer.Typer(
    help="Tenant tokens: sign one locally from a parent key, or inspect one.",
    epilog=epilog(
        "meilichat token create --index 'tickets:customer_id = 42' --expires 1h",
        'meilichat token inspect "$TOKEN"',
        env=ENV,
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
)


@app.command(
    "create",
    epilog=epilog(
        "MEILI_MASTER_KEY=… meilichat token create --index 'tickets:customer_id = 42'",
        "meilichat token create --rules @rules.json --parent-uid 6062abda-… --expires 2h",
        "pass show meili/chat | meilichat token create --parent-key-stdin --parent-uid … "
        "--index movies",
        env=ENV,
        note="Before signing, the parent key is checked (it exists, its uid, `search` and"
        " `chatCompletions`, not expired) when an admin key can read /keys, and the index"
        " patterns and filter attributes when the indexes can be read.",
    ),
)
def create(
    typer_ctx: typer.Context,
    index: IndexOption = None,
    rules: RulesOption = None,
    expires: Annotated[
        str | None,
        typer.Option(
            "--expires",
            help="When the token expires: a duration (1h, 30m, 2d) or an ISO time"
            " (2030-12-31T00:00:00Z). Without it the token lives as long as its parent key.",
            metavar="WHEN",
            show_default=False,
        ),
    ] = None,
    parent_uid: ParentUidOption = None,
    parent_key_stdin: Annotated[
        bool,
        typer.Option("--parent-key-stdin", help="Read the parent key from stdin (first line)."),
    ] = False,
    algorithm: Annotated[
        str, typer.Option("--algorithm", help="HS256, HS384 or HS512.", metavar="ALG")
    ] = "HS256",
    admin_key_stdin: AdminKeyStdinOption = False,
    json_mode: JsonOption = False,
    profile: ProfileOption = None,
    url: UrlOption = None,
) -> None:
    """Sign a tenant token with a parent key, after checking what can be checked."""
    from meilichat_cli.cli.admin_options import explicit_admin_key, read_secret_stdin
    from meilichat_cli.cli.options import ConnectionFlags
    from meilichat_cli.errors import UsageError
    from meilichat_cli.local.connection import validate_api_key
    from meilichat_cli.tenancy.personas import validate_uid
    from meilichat_cli.tenancy.token import ALGORITHMS, decode, looks_like_token, parse_expires

    ctx = run_context(typer_ctx)
    search_rules = rules_from_options(index, rules)
    if algorithm.upper() not in ALGORITHMS:
        raise UsageError(f"--algorithm {algorithm!r}: use HS256, HS384 or HS512")
    exp = parse_expires(expires) if expires is not None else None
    given_uid = validate_uid(parent_uid) if parent_uid else None
    if parent_key_stdin and admin_key_stdin:
        raise UsageError(
            "--parent-key-stdin and --admin-key-stdin both read stdin; give the admin key"
            " through MEILI_MASTER_KEY instead"
        )
    flags = ConnectionFlags(profile=profile, url=url)
    connection = flags.resolve(ctx)
    if parent_key_stdin:
        parent_key = validate_api_key(
            read_secret_stdin(ctx, "the parent key", "--parent-key-stdin")
        )
    elif connection.api_key is not None:
        parent_key = connection.api_key
    else:
        raise UsageError(
            "no parent key to sign with",
            hint="store the profile's key (`meilichat key set`), set MEILICHAT_API_KEY, or pipe"
            " one with --parent-key-stdin",
        )
    if looks_like_token(parent_key):
        raise UsageError(
            "the parent key is itself a tenant token; sign with an API key",
            hint="a key holding `search` and `chatCompletions` (`meilichat key list --server`)",
        )
    admin_key = explicit_admin_key(ctx, from_stdin=admin_key_stdin, prompt=False)
    check = _check(ctx, flags, connection, admin_key, parent_key, given_uid, search_rules)
    uid = given_uid or check.uid
    if uid is None:
        raise UsageError(
            "the parent key's uid (the token's apiKeyUid) is unknown",
            hint="pass --parent-uid UID, or set MEILI_MASTER_KEY so it is looked up in /keys",
        )
    if exp is None:
        ctx.warn("the token has no expiry: it works as long as its parent key does")
    for line in check.skipped:
        ctx.warn(f"not checked: {line}")
    claims: dict[str, Any] = {"searchRules": search_rules, "apiKeyUid": uid}
    if exp is not None:
        claims["exp"] = exp
    from meilichat_cli.tenancy.token import sign

    token = sign(claims, parent_key, algorithm=algorithm.upper())
    if json_mode:
        from meilichat_cli.ui.admin_view import write_json

        decoded = decode(token)
        write_json(ctx, {**_explain(decoded, signature=True), "checks": check.to_json()})
        return
    ctx.stdout.write(token + "\n")
    ctx.stdout.flush()


def _check(
    ctx: RunContext,
    flags: Any,
    connection: Any,
    admin_key: str | None,
    parent_key: str,
    given_uid: str | None,
    search_rules: dict[str, Any],
) -> Any:
    """The server-side checks, with the admin key when there is one (else the parent key,
    which can usually read nothing: the checks say what was skipped)."""
    from meilichat_cli.cli.admin_options import with_admin_key
    from meilichat_cli.scoping.parent import ParentCheck, check_parent

    if admin_key is None:
        report = ParentCheck()
        report.skipped.append(
            "the parent key, index patterns and filters (no admin key: set MEILI_MASTER_KEY or"
            " pass --admin-key-stdin)"
        )
        return report
    admin_connection = with_admin_key(ctx, connection, admin_key)
    with flags.open_client(ctx, admin_connection) as client:
        report = check_parent(
            client, parent_key=parent_key, given_uid=given_uid, rules=search_rules
        )
    if report.problems:
        report.problems[0].raise_it(more=len(report.problems) - 1)
    return report


@app.command(
    "inspect",
    epilog=epilog(
        'meilichat token inspect "$TOKEN"',
        'echo "$TOKEN" | meilichat token inspect -',
        'pass show meili/chat | meilichat token inspect "$TOKEN" --key-stdin',
        env="none",
        note="Exit 0 when the token reads (also when expired: the output says so), 2 when it is"
        " not a token, 3 when --key-stdin is given and the signature does not match.",
    ),
)
def inspect(
    typer_ctx: typer.Context,
    token: Annotated[str, typer.Argument(help="The token, or - to read it from stdin.")],
    key_stdin: Annotated[
        bool,
        typer.Option(
            "--key-stdin", help="Read a key from stdin and check the signature against it."
        ),
    ] = False,
    json_mode: JsonOption = False,
) -> None:
    """Explain a tenant token: algorithm, parent uid, expiry, rules, signature."""
    from meilichat_cli.cli.admin_options import read_secret_stdin
    from meilichat_cli.errors import AuthError, UsageError
    from meilichat_cli.tenancy.token import decode

    ctx = run_context(typer_ctx)
    if token == "-":  # noqa: S105 - stdin, not a secret
        if key_stdin:
            raise UsageError("the token and --key-stdin cannot both come from stdin")
        token = read_secret_stdin(ctx, "the token", "token inspect -")
    decoded = decode(token)
    matches: bool | None = None
    if key_stdin:
        matches = decoded.signature_matches(read_secret_stdin(ctx, "the key", "--key-stdin"))
    info = _explain(decoded, signature=matches)
    if json_mode:
        from meilichat_cli.ui.admin_view import write_json

        write_json(ctx, info)
    else:
        _print(ctx, decoded, matches)
    if matches is False:
        raise AuthError(
            "the token's signature does not match the given key",
            hint="a token is signed with its parent key's `key` value; its apiKeyUid names"
            " that key's uid (`meilichat key list --server`)",
        )


def _explain(decoded: DecodedToken, *, signature: bool | None) -> dict[str, Any]:
    from meilichat_cli.tenancy.token import iso_time

    exp = decoded.expires
    return {
        "token": decoded.raw,
        "header": decoded.header,
        "claims": decoded.claims,
        "algorithm": decoded.algorithm,
        "apiKeyUid": decoded.parent_uid,
        "expiresAt": iso_time(exp) if exp is not None else None,
        "expired": decoded.expired(),
        "signatureMatches": signature,
    }


def _print(ctx: RunContext, decoded: DecodedToken, matches: bool | None) -> None:
    from meilichat_cli.errors import UsageError
    from meilichat_cli.tenancy import rules as search_rules
    from meilichat_cli.tenancy.token import ALGORITHMS, describe_remaining
    from meilichat_cli.ui.admin_view import print_fields

    algorithm = decoded.algorithm
    if algorithm not in ALGORITHMS:
        algorithm += " (Meilisearch accepts only HS256, HS384, HS512)"
    exp = decoded.expires
    expiry = describe_remaining(exp) if exp is not None else "never (lives as its parent key)"
    try:
        raw_rules = decoded.claims.get("searchRules")
        rules_lines = search_rules.describe(search_rules.normalise(raw_rules, where="searchRules"))
        rules_text = "\n".join(rules_lines)
    except UsageError as error:
        rules_text = f"INVALID: {error.message} (Meilisearch refuses the token)"
    fields: list[tuple[str, Any]] = [
        ("algorithm", algorithm),
        ("apiKeyUid", decoded.parent_uid or "MISSING (Meilisearch refuses the token)"),
        ("expiry", expiry),
        ("rules", rules_text + ("\n" if "\n" in rules_text else "")),
    ]
    if matches is not None:
        fields.append(("signature", "matches the given key" if matches else "DOES NOT MATCH"))
    else:
        fields.append(("signature", "not checked (pass --key-stdin with the parent key)"))
    print_fields(ctx, fields)
