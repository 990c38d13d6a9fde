"""Tenant tokens and personas: signing and reading tokens, search rules, named scopes.

Modules: `token` (JWT HS256/384/512 over hmac, decoding, expiry), `rules` (search rules from
`--index UID[:FILTER]` or JSON, index patterns, filter attributes), `personas` (named scopes
per profile in config.toml, and the connection that chats as one).

Sits above `local` and below `api`: stdlib, `errors` and `local` only; never prints, never
talks to a server (what needs the server lives in `meilichat_cli.scoping`).
"""
