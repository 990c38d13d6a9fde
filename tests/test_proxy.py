"""The proxy decision (meilichat_cli.api.proxy): which variable wins, what NO_PROXY bypasses
(host names, suffixes, IP addresses, ports, CIDR networks, `*`), and what `--debug` is told."""

from __future__ import annotations

import pytest

from meilichat_cli.api.proxy import ProxyRoute, proxy_route, without_credentials
from meilichat_cli.errors import UsageError

PROXY = "http://proxy.corp:3128"


def test_no_variables_means_no_proxy() -> None:
    route = proxy_route("https://ms.example.com", {})
    assert route == ProxyRoute("ms.example.com")
    assert route.describe() == "no proxy configured for ms.example.com"


@pytest.mark.parametrize(
    "url,environ,variable",
    [
        ("https://ms.example.com", {"HTTPS_PROXY": PROXY}, "HTTPS_PROXY"),
        (
            "https://ms.example.com",
            {"https_proxy": PROXY, "HTTPS_PROXY": "http://x:1"},
            "https_proxy",
        ),
        ("http://ms.example.com", {"HTTP_PROXY": PROXY, "HTTPS_PROXY": "http://x:1"}, "HTTP_PROXY"),
        ("https://ms.example.com", {"ALL_PROXY": PROXY}, "ALL_PROXY"),
        ("https://ms.example.com", {"all_proxy": PROXY, "HTTP_PROXY": "http://x:1"}, "all_proxy"),
    ],
)
def test_the_scheme_variable_then_all_proxy(
    url: str, environ: dict[str, str], variable: str
) -> None:
    route = proxy_route(url, environ)
    assert route.proxy_url == PROXY
    assert route.variable == variable


def test_http_proxy_is_not_used_for_https_servers() -> None:
    assert proxy_route("https://ms.example.com", {"HTTP_PROXY": PROXY}).proxy_url is None


def test_a_bare_host_port_is_an_http_proxy() -> None:
    route = proxy_route("https://ms.example.com", {"HTTPS_PROXY": "proxy.corp:3128"})
    assert route.proxy_url == "http://proxy.corp:3128"


def test_an_unusable_proxy_url_names_the_variable() -> None:
    with pytest.raises(UsageError, match=r"^HTTPS_PROXY is not a proxy URL") as info:
        proxy_route("https://h", {"HTTPS_PROXY": "ftp://user:secret@proxy:21"})
    assert "secret" not in info.value.message


@pytest.mark.parametrize(
    "url,no_proxy,entry",
    [
        # Row 42: a CIDR network in NO_PROXY covers the addresses inside it.
        ("http://10.0.0.5:7700", "10.0.0.0/8", "10.0.0.0/8"),
        ("http://10.200.3.4:7700", "localhost, 10.0.0.0/8", "10.0.0.0/8"),
        ("http://[fd00::5]:7700", "fd00::/8", "fd00::/8"),
        ("http://192.168.1.10:7700", "192.168.1.10", "192.168.1.10"),
        ("http://[::1]:7700", "::1", "::1"),
        ("http://[::1]:7700", "[::1]:7700", "[::1]:7700"),
        ("https://api.example.com", "example.com", "example.com"),
        ("https://example.com", ".example.com", ".example.com"),
        ("https://api.example.com", "*.example.com", "*.example.com"),
        ("https://ms.internal:7700", "ms.internal:7700", "ms.internal:7700"),
        ("https://anything.example", "*", "*"),
        ("https://MS.Example.COM", "ms.example.com", "ms.example.com"),
    ],
)
def test_no_proxy_entries_that_bypass(url: str, no_proxy: str, entry: str) -> None:
    route = proxy_route(url, {"HTTPS_PROXY": PROXY, "HTTP_PROXY": PROXY, "NO_PROXY": no_proxy})
    assert route.proxy_url is None
    assert route.bypass_entry == entry
    assert route.describe().startswith(f"no proxy: NO_PROXY entry '{entry}' matches ")


@pytest.mark.parametrize(
    "url,no_proxy",
    [
        ("http://11.0.0.5:7700", "10.0.0.0/8"),
        ("http://ms.corp:7700", "10.0.0.0/8"),  # a name is not resolved to match a network
        ("http://[fd00::5]:7700", "10.0.0.0/8"),
        ("http://10.0.0.5:7700", "not-a-network/99"),
        ("https://notexample.com", "example.com"),
        ("https://ms.internal:7700", "ms.internal:8080"),
        ("http://10.0.0.5:7700", "10.0.0.6"),
        ("http://10.0.0.5:7700", ""),
    ],
)
def test_no_proxy_entries_that_do_not_bypass(url: str, no_proxy: str) -> None:
    route = proxy_route(url, {"HTTP_PROXY": PROXY, "HTTPS_PROXY": PROXY, "NO_PROXY": no_proxy})
    assert route.proxy_url == PROXY


def test_lower_case_no_proxy_wins() -> None:
    environ = {"HTTP_PROXY": PROXY, "no_proxy": "10.0.0.0/8", "NO_PROXY": "example.com"}
    assert proxy_route("http://10.1.1.1", environ).variable == "no_proxy"


def test_debug_line_never_shows_proxy_credentials() -> None:
    environ = {"HTTPS_PROXY": "http://alice:s3cret-pass@proxy.corp:3128"}
    route = proxy_route("https://ms.example.com", environ)
    assert route.proxy_url == "http://alice:s3cret-pass@proxy.corp:3128"  # httpx needs them
    assert route.describe() == "proxy: http://proxy.corp:3128 (from HTTPS_PROXY)"
    assert without_credentials("http://proxy:1") == "http://proxy:1"


def test_a_socks_proxy_without_socksio_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "socksio" else real(name, *a)
    )
    with pytest.raises(UsageError, match="ALL_PROXY names a SOCKS proxy, which needs the socksio"):
        proxy_route("https://h", {"ALL_PROXY": "socks5://127.0.0.1:1080"})


def test_shown_proxy_names_the_variable_without_credentials() -> None:
    route = proxy_route("http://h", {"HTTP_PROXY": "http://u:p@proxy:3128"})
    assert route.shown_proxy == "http://proxy:3128 (HTTP_PROXY)"
