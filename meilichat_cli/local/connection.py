"""Which server, key, workspace and model a command uses: flag > environment > profile > default.

    profile    --profile          MEILICHAT_PROFILE     default_profile in config.toml
    url        --url              MEILICHAT_URL         profiles.NAME.url
    api key    --api-key          MEILICHAT_API_KEY     key_command / keyring / credentials.toml
    workspace  --workspace        MEILICHAT_WORKSPACE   profiles.NAME.workspace
    model      --model            MEILICHAT_MODEL       profiles.NAME.model    (default gpt-4o-mini)

A profile's stored key is only sent to that profile's own URL: when the URL comes from a flag or
the environment and differs, the stored key is withheld (with a warning) so that
`--url http://elsewhere` cannot leak a production key.

`resolve_connection` reads config.toml and the key stores but never prints, prompts or exits:
warnings go through the `warn` callable, failures are raised (UsageError / ConfigError, exit 2).

Imports: standard library and meilichat_cli core modules only (no typer, rich or httpx).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from typing import NamedTuple
from urllib.parse import urlsplit

from meilichat_cli.errors import ConfigError, UsageError
from meilichat_cli.local.config import Config, Profile, load_config, reserved_name_warning
from meilichat_cli.local.paths import Paths, paths_from_env
from meilichat_cli.values import FrozenValue

DEFAULT_MODEL = "gpt-4o-mini"

ENV_PROFILE = "MEILICHAT_PROFILE"
ENV_URL = "MEILICHAT_URL"
ENV_API_KEY = "MEILICHAT_API_KEY"
ENV_WORKSPACE = "MEILICHAT_WORKSPACE"
ENV_MODEL = "MEILICHAT_MODEL"
ENV_REQUIRE_HTTPS = "MEILICHAT_REQUIRE_HTTPS"

NO_SERVER_MESSAGE = (
    "no server configured; run `meilichat profile add NAME --url URL` (or try `meilichat demo`)"
)
WORKSPACE_RULE = "workspace names use letters, digits, '-' and '_' (max 400)"

_WORKSPACE = re.compile(r"[A-Za-z0-9_-]{1,400}")
_UNSAFE_URL_CHARS = re.compile(r"[\x00-\x20\x7f-\x9f]")
_TRUE = frozenset({"1", "true", "yes", "on"})


class Connection(FrozenValue):
    """Where a command connects, resolved: server, key (and where it came from), workspace,
    model and TLS settings. Its repr never shows the key."""

    __slots__ = (
        "api_key",
        "api_key_source",
        "ca_bundle",
        "insecure",
        "model",
        "persona",
        "profile",
        "url",
        "workspace",
    )
    profile: str | None  # name of the profile used, None if none
    url: str  # validated, no trailing slash
    api_key: str | None
    api_key_source: str  # "--api-key", "MEILICHAT_API_KEY", "credentials file", "keyring", ...
    workspace: str | None  # validated with validate_workspace when set
    model: str  # built-in default "gpt-4o-mini"
    ca_bundle: str | None
    insecure: bool
    persona: str | None  # `--as NAME`: api_key is then a tenant token signed for it

    def __init__(
        self,
        profile: str | None,
        url: str,
        api_key: str | None,
        api_key_source: str,
        workspace: str | None,
        model: str,
        ca_bundle: str | None = None,
        insecure: bool = False,
        persona: str | None = None,
    ) -> None:
        self._set(
            profile=profile,
            url=url,
            api_key=api_key,
            api_key_source=api_key_source,
            workspace=workspace,
            model=model,
            ca_bundle=ca_bundle,
            insecure=insecure,
            persona=persona,
        )

    def __repr__(self) -> str:  # tracebacks and --debug dumps must never show the key
        key = "None" if self.api_key is None else "'<hidden>'"
        return (
            f"Connection(profile={self.profile!r}, url={self.url!r}, api_key={key},"
            f" api_key_source={self.api_key_source!r}, workspace={self.workspace!r},"
            f" model={self.model!r}, ca_bundle={self.ca_bundle!r}, insecure={self.insecure!r},"
            f" persona={self.persona!r})"
        )


def resolve_connection(
    env: Mapping[str, str],
    *,
    profile: str | None = None,
    url: str | None = None,
    api_key: str | None = None,
    workspace: str | None = None,
    model: str | None = None,
    warn: Callable[[str], None],
    api_key_source: str = "--api-key",
) -> Connection:
    """Resolve every connection setting for one command.

    Pass `api_key` only when the user gave it on the command line; `api_key_source` names how
    (a value typed as `--api-key` warns that it is visible in the process list; a caller that
    read it from stdin passes another name and gets no warning).
    """
    _refuse_empty_options(
        ("--profile", profile),
        ("--url", url),
        ("--api-key", api_key),
        ("--workspace", workspace),
        ("--model", model),
    )
    paths = paths_from_env(env)
    config = load_config(paths.config_file, warn=warn)
    chosen = choose_profile(config, profile, env)
    if chosen is not None:
        reserved = reserved_name_warning(chosen.name)
        if reserved is not None:
            warn(reserved)

    final_url = _resolve_url(url, env, chosen, config)
    final_workspace = _resolve_workspace(workspace, env, chosen, config)
    final_model = model if model is not None else _from_env(env, ENV_MODEL)
    if final_model is None and chosen is not None:
        final_model = chosen.model
    final_model = final_model or DEFAULT_MODEL

    key, source = _resolve_key(
        _KeyRequest(api_key, api_key_source, env, paths, warn), chosen, config, final_url
    )
    if key is not None:
        check_clear_text(final_url, env, warn)

    ca_bundle = chosen.ca_bundle if chosen is not None else None
    if ca_bundle is not None:
        ca_bundle = os.path.expanduser(ca_bundle)
        if not os.path.isfile(ca_bundle):
            raise ConfigError(
                f"{config.path}: profiles.{chosen.name if chosen else '?'}.ca_bundle points to a"
                f" missing file: {ca_bundle}"
            )
    return Connection(
        profile=chosen.name if chosen is not None else None,
        url=final_url,
        api_key=key,
        api_key_source=source,
        workspace=final_workspace,
        model=final_model,
        ca_bundle=ca_bundle,
        insecure=chosen.insecure if chosen is not None else False,
    )


def _refuse_empty_options(*given: tuple[str, str | None]) -> None:
    """An option given an empty value (`-w "$WS"` with WS unset) is a mistake, not a request
    for the default: falling back to the environment or the profile would send the question
    to a workspace or a server the command line did not name."""
    for option, value in given:
        if value is not None and not value.strip():
            raise UsageError(
                f"{option} is empty",
                hint=f"give it a value, or leave {option} out to use the environment or profile",
            )


def _from_env(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "")
    # An exported-but-empty variable means "not set", as most tools treat it.
    return value if value.strip() else None


def choose_profile(config: Config, requested: str | None, env: Mapping[str, str]) -> Profile | None:
    """The one rule for which profile a command uses: --profile > MEILICHAT_PROFILE >
    default_profile; None when none is named and there is no default. A name that is not a
    profile, given or configured as the default, is a ConfigError (exit 2)."""
    name = requested or env.get(ENV_PROFILE, "").strip() or None
    if name is not None:
        return config.get_profile(name)
    if config.default_profile is None:
        return None
    if config.default_profile not in config.profiles:
        known = ", ".join(config.profile_names()) or "none"
        raise ConfigError(
            f"{config.path}: default_profile {config.default_profile!r} is not a profile"
            f" (known: {known})",
            hint="run `meilichat profile use NAME`",
        )
    return config.profiles[config.default_profile]


def _resolve_url(
    flag: str | None, env: Mapping[str, str], chosen: Profile | None, config: Config
) -> str:
    if flag is not None:  # never empty: refused by _refuse_empty_options
        return validate_url(flag)
    from_env = _from_env(env, ENV_URL)
    if from_env is not None:
        try:
            return validate_url(from_env)
        except UsageError as exc:
            raise UsageError(f"{ENV_URL}: {exc.message}") from None
    if chosen is not None:
        try:
            return validate_url(chosen.url)
        except UsageError as exc:
            raise ConfigError(
                f"{config.path}: profiles.{chosen.name}.url: {exc.message}",
                hint=f"run `meilichat profile set {chosen.name} --url URL`",
            ) from None
    if config.profiles:
        raise ConfigError(
            f"no default profile; pass --profile NAME (known: {', '.join(config.profile_names())})",
            hint="or run `meilichat profile use NAME`",
        )
    raise ConfigError(NO_SERVER_MESSAGE)


def _resolve_workspace(
    flag: str | None, env: Mapping[str, str], chosen: Profile | None, config: Config
) -> str | None:
    # Spaces around a name are dropped, as around a URL or a key: no workspace has them.
    if flag is not None:  # never empty: refused by _refuse_empty_options
        return validate_workspace(flag.strip())
    from_env = _from_env(env, ENV_WORKSPACE)
    if from_env is not None:
        try:
            return validate_workspace(from_env.strip())
        except UsageError as exc:
            raise UsageError(f"{ENV_WORKSPACE}: {exc.message}") from None
    if chosen is None or chosen.workspace is None:
        return None
    try:
        return validate_workspace(chosen.workspace.strip())
    except UsageError as exc:
        raise ConfigError(
            f"{config.path}: profiles.{chosen.name}.workspace: {exc.message}"
        ) from None


class _KeyRequest(NamedTuple):  # a NamedTuple: cheaper to create than a dataclass
    flag: str | None
    flag_source: str
    env: Mapping[str, str]
    paths: Paths
    warn: Callable[[str], None]


def _resolve_key(
    request: _KeyRequest, chosen: Profile | None, config: Config, final_url: str
) -> tuple[str | None, str]:
    flag, flag_source, env, warn = request.flag, request.flag_source, request.env, request.warn
    if flag is not None:
        if flag_source == "--api-key":
            warn(
                "a key given with --api-key is visible to other users in the process list and"
                " stays in your shell history; prefer `meilichat key set` or MEILICHAT_API_KEY"
            )
        return _checked_key(flag, flag_source), flag_source
    from_env = env.get(ENV_API_KEY, "")
    if from_env.strip():
        return _checked_key(from_env, ENV_API_KEY), ENV_API_KEY
    if chosen is None:
        return None, "none"
    if not profile_serves(chosen, final_url):
        warn(
            f"not sending the key of profile {chosen.name!r} to {final_url}: it belongs to"
            f" {_normalise(chosen.url)}; pass MEILICHAT_API_KEY for this server"
        )
        return None, "none"
    # Only a profile's stored key needs the credentials module (key_command, keyring, file):
    # a key from the environment or the command line does not load it.
    from meilichat_cli.local.credentials import read_profile_key

    stored = read_profile_key(config, chosen, request.paths.credentials_file, warn=warn)
    if stored is None:
        return None, "none"
    try:
        return validate_api_key(stored.value), stored.source
    except UsageError as exc:
        raise ConfigError(
            f"the key of profile {chosen.name!r} ({stored.source}): {exc.message}"
        ) from None


def validate_api_key(key: str) -> str:
    """Strip surrounding whitespace and refuse what an HTTP header cannot carry.

    The key itself is never part of the message.
    """
    key = key.strip()
    if not key:
        raise UsageError("empty key refused")
    if any(not 0x21 <= ord(char) <= 0x7E for char in key):
        raise UsageError(
            "the key contains spaces, control or non-ASCII characters; an HTTP header cannot"
            " carry it (check what you pasted)"
        )
    return key


def _checked_key(value: str, source: str) -> str:
    try:
        return validate_api_key(value)
    except UsageError as exc:
        raise UsageError(f"{source}: {exc.message}") from None


def _normalise(url: str) -> str:
    try:
        return validate_url(url)
    except UsageError:
        return url


def profile_serves(profile: Profile, url: str) -> bool:
    """Whether `url` is the profile's own server: the one place a profile's key may be sent
    (and so the only server a key may be stored in the profile for)."""
    return _normalise(profile.url) == _normalise(url)


def check_clear_text(url: str, env: Mapping[str, str], warn: Callable[[str], None]) -> None:
    """Warn before any key goes to a non-loopback host over http://; refuse with
    MEILICHAT_REQUIRE_HTTPS."""
    parts = urlsplit(url)
    if parts.scheme != "http" or is_loopback_host(parts.hostname or ""):
        return
    if env.get(ENV_REQUIRE_HTTPS, "").strip().lower() in _TRUE:
        raise UsageError(
            f"refusing to send the API key in clear text to {url} ({ENV_REQUIRE_HTTPS} is set)",
            hint="use an https:// URL",
        )
    warn(
        f"the API key is sent in clear text to {url} (http:// to a non-loopback host);"
        f" use https://, or set {ENV_REQUIRE_HTTPS}=1 to make this an error"
    )


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_url(url: str) -> str:
    """An http(s) URL with a host and nothing secret or ambiguous; returned without trailing '/'."""
    text = url.strip()
    if not text:
        raise UsageError("the server URL is empty")
    if _UNSAFE_URL_CHARS.search(text):
        raise UsageError("the server URL contains spaces or control characters")
    try:
        parts = urlsplit(text)
    except ValueError as error:  # "http://[::1": an unclosed IPv6 bracket
        raise UsageError(
            f"the server URL {_redacted(text)} is not a valid URL ({error})",
            hint="for an IPv6 address write it in brackets with a port: http://[::1]:7700",
        ) from None
    scheme = parts.scheme.lower()
    if "://" not in text or scheme not in ("http", "https"):
        shown = _redacted(text)
        if "://" not in text:
            raise UsageError(
                f"the server URL {shown} needs a scheme: did you mean http://{shown[1:-1]}?"
            )
        raise UsageError(f"the server URL {shown} must start with http:// or https://")
    if "@" in parts.netloc:
        # The URL is not repeated: it holds a password or a key.
        raise UsageError(
            "the server URL must not contain a user name or password;"
            " store the key with `meilichat key set`"
        )
    if not parts.hostname:
        raise UsageError(f"the server URL {_redacted(text)} has no host")
    try:
        parts.port  # noqa: B018 - urlsplit validates the port lazily
    except ValueError:
        raise UsageError(f"the server URL {_redacted(text)} has an invalid port") from None
    if parts.query or "?" in text:
        raise UsageError(f"the server URL {_redacted(text)} must not have a query (?...)")
    if parts.fragment or "#" in text:
        raise UsageError(f"the server URL {_redacted(text)} must not have a fragment (#...)")
    # Host names are case-insensitive and the netloc holds nothing else that is (no userinfo).
    return f"{scheme}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


def _redacted(url: str) -> str:
    shown = url if "@" not in url else "<URL with credentials>"
    return repr(shown[:200])


NO_WORKSPACE_HINT = (
    "pass -w WORKSPACE, set MEILICHAT_WORKSPACE or `meilichat profile set NAME -w WS`"
)


def require_workspace(connection: Connection, *, hint: str = NO_WORKSPACE_HINT) -> str:
    """The workspace `connection` names (checked when it was resolved); a usage error when it
    names none."""
    if not connection.workspace:
        raise UsageError("No workspace given", hint=hint)
    return connection.workspace


def validate_workspace(name: str) -> str:
    """Workspace names go into URL paths: ASCII letters, digits, '-' and '_' only."""
    if not _WORKSPACE.fullmatch(name):
        shown = repr(name[:40]) + ("…" if len(name) > 40 else "")
        raise UsageError(f"invalid workspace {shown}: {WORKSPACE_RULE}")
    return name
