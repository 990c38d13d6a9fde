"""Which HTTP proxy a connection to the server goes through, decided once per client.

The rules are the usual environment ones (curl, urllib, httpx): `http_proxy`/`HTTP_PROXY` for
http:// servers, `https_proxy`/`HTTPS_PROXY` for https://, `all_proxy`/`ALL_PROXY` for both, the
lower-case spelling winning; `no_proxy`/`NO_PROXY` lists hosts that are reached directly: `*`,
host names (`example.com` also covers `api.example.com`), IP addresses, `host:port`, and CIDR
networks (`10.0.0.0/8`). httpx reads these variables too but ignores CIDR entries and cannot
say which proxy it picked, so the client turns httpx's own reading off and passes the route
decided here; `--debug` prints `ProxyRoute.describe()`, which never shows proxy credentials.

Standard library only; imports `errors` and `values` from meilichat_cli and nothing else.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit

from meilichat_cli.errors import UsageError
from meilichat_cli.values import FrozenValue

PROXY_SCHEMES = frozenset({"http", "https", "socks5", "socks5h"})


class ProxyRoute(FrozenValue):
    """The decision for one server URL: a proxy URL (credentials included, for httpx) or None."""

    __slots__ = ("bypass_entry", "proxy_url", "target", "variable")
    target: str
    proxy_url: str | None
    variable: str | None  # the environment variable the proxy came from
    bypass_entry: str | None  # the NO_PROXY entry that sent the request direct

    def __init__(
        self,
        target: str,
        proxy_url: str | None = None,
        variable: str | None = None,
        bypass_entry: str | None = None,
    ) -> None:
        self._set(target=target, proxy_url=proxy_url, variable=variable, bypass_entry=bypass_entry)

    @property
    def shown_proxy(self) -> str:
        """The proxy and where it came from, for messages: `http://proxy:3128 (HTTPS_PROXY)`."""
        return f"{without_credentials(self.proxy_url or '')} ({self.variable})"

    def describe(self) -> str:
        """One line for `--debug`, without the proxy's user name or password."""
        if self.proxy_url is not None:
            return f"proxy: {without_credentials(self.proxy_url)} (from {self.variable})"
        if self.bypass_entry is not None:
            return f"no proxy: {self.variable} entry '{self.bypass_entry}' matches {self.target}"
        return f"no proxy configured for {self.target}"


def proxy_route(url: str, environ: Mapping[str, str]) -> ProxyRoute:
    """The proxy for requests to `url` under `environ`; raises UsageError for a proxy URL
    httpx cannot use (so the user hears which variable is wrong, not a traceback)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if scheme == "https" else 80)
    target = host if ":" not in host else f"[{host}]"
    found = _first_set(environ, f"{scheme}_proxy") or _first_set(environ, "all_proxy")
    if found is None:
        return ProxyRoute(target)
    variable, value = found
    no_proxy = _first_set(environ, "no_proxy")
    if no_proxy is not None:
        entry = _bypass_entry(host, port, no_proxy[1])
        if entry is not None:
            return ProxyRoute(target, variable=no_proxy[0], bypass_entry=entry)
    return ProxyRoute(target, proxy_url=_proxy_url(variable, value), variable=variable)


def without_credentials(url: str) -> str:
    """`http://user:pass@proxy:3128` → `http://proxy:3128`."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


def _first_set(environ: Mapping[str, str], lower_name: str) -> tuple[str, str] | None:
    for name in (lower_name, lower_name.upper()):
        value = environ.get(name, "").strip()
        if value:
            return name, value
    return None


def _proxy_url(variable: str, value: str) -> str:
    # A bare `proxy.corp:3128` means an HTTP proxy, as curl and httpx read it.
    url = value if "://" in value else f"http://{value}"
    parts = urlsplit(url)
    if parts.scheme.lower() not in PROXY_SCHEMES or not parts.hostname:
        raise UsageError(
            f"{variable} is not a proxy URL meilichat can use: {without_credentials(url)}",
            hint="use http://HOST:PORT (or https://, socks5://)",
        )
    if parts.scheme.lower().startswith("socks") and not _socks_installed():
        raise UsageError(
            f"{variable} names a SOCKS proxy, which needs the socksio package",
            hint="pip install 'httpx[socks]' next to meilichat, or use an HTTP proxy",
        )
    return url


def _socks_installed() -> bool:
    # Imported here: importlib.util costs ~2 ms, for the rare SOCKS proxy, not on every run.
    import importlib.util

    return importlib.util.find_spec("socksio") is not None


def _bypass_entry(host: str, port: int, no_proxy: str) -> str | None:
    """The NO_PROXY entry that matches `host:port`, if any."""
    address = _ip(host)
    for raw in no_proxy.replace(" ", ",").split(","):
        entry = raw.strip()
        if not entry:
            continue
        if entry == "*":
            return entry
        if "/" in entry:
            if address is not None and _in_network(address, entry):
                return entry
            continue
        name, entry_port = _split_port(entry.lower())
        if entry_port is not None and entry_port != port:
            continue
        entry_address = _ip(name)
        if entry_address is not None or address is not None:
            if entry_address == address:
                return entry
            continue
        domain = name.lstrip("*").lstrip(".")
        if domain and (host == domain or host.endswith("." + domain)):
            return entry
    return None


def _split_port(entry: str) -> tuple[str, int | None]:
    """`host:8080` → (`host`, 8080); `[::1]:80` → (`::1`, 80); a bare IPv6 address has no port."""
    if entry.startswith("["):
        name, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        return name, int(port) if port.isdigit() else None
    if entry.count(":") == 1:
        name, _, port = entry.partition(":")
        if port.isdigit():
            return name, int(port)
    return entry, None


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def _in_network(address: ipaddress.IPv4Address | ipaddress.IPv6Address, entry: str) -> bool:
    try:
        network = ipaddress.ip_network(entry.strip("[]"), strict=False)
    except ValueError:
        return False
    return address.version == network.version and address in network
