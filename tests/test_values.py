"""The plain value classes that replaced dataclasses on the start-up path (`values.py`): they
keep the dataclasses' behaviour: keyword constructors with the same defaults, equality by
fields, hashing where they were frozen, immutability, a readable repr, `replace`."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from meilichat_cli.api.connect import ConnectionFlags
from meilichat_cli.api.proxy import ProxyRoute
from meilichat_cli.chat.turn import TurnOutcome
from meilichat_cli.local.config import Config, Profile
from meilichat_cli.local.connection import Connection
from meilichat_cli.local.paths import Paths
from meilichat_cli.protocol.conversation import Search, Turn
from meilichat_cli.repl.state import ChatState
from meilichat_cli.tenancy.token import DecodedToken
from meilichat_cli.values import FrozenValue, Value

FROZEN = (ConnectionFlags, Profile, Paths, Connection, ProxyRoute, DecodedToken)
MUTABLE = (Config, Search, Turn, TurnOutcome, ChatState)


def connection(**changes: object) -> Connection:
    values: dict[str, object] = {
        "profile": None,
        "url": "http://127.0.0.1:7700",
        "api_key": "secret-key",
        "api_key_source": "MEILICHAT_API_KEY",
        "workspace": "movies",
        "model": "gpt-4o-mini",
    }
    return Connection(**{**values, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", FROZEN + MUTABLE)
def test_every_field_is_a_slot_and_a_keyword_of_the_constructor(cls: type[Value]) -> None:
    # `replace`, equality and the repr rely on it.
    keywords = set(inspect.signature(cls).parameters)
    assert set(cls.__slots__) == keywords


@pytest.mark.parametrize("cls", FROZEN)
def test_the_classes_that_were_frozen_dataclasses_are_frozen_values(
    cls: type[FrozenValue],
) -> None:
    assert issubclass(cls, FrozenValue)


def test_assigning_to_a_frozen_value_raises_and_changes_nothing() -> None:
    flags = ConnectionFlags(model="a")
    with pytest.raises(AttributeError):
        flags.model = "b"
    with pytest.raises(AttributeError):
        del flags.model
    with pytest.raises(AttributeError):
        flags.other = 1
    assert flags.model == "a"


def test_frozen_values_are_equal_and_hash_alike_by_fields() -> None:
    assert ConnectionFlags(url="u", timeout=3.0) == ConnectionFlags(url="u", timeout=3.0)
    assert ConnectionFlags(url="u") != ConnectionFlags(url="v")
    here = Path("here")
    assert len({Paths(here, here, here), Paths(here, here, here)}) == 1
    assert ProxyRoute("t") != Paths(Path("t"), Path("t"), Path("t"))


def test_profiles_compare_without_their_personas_and_extra_keys() -> None:
    plain = Profile("demo", "http://x")
    assert plain == Profile("demo", "http://x", personas={"a": {}}, extra={"k": 1})
    assert hash(plain) == hash(Profile("demo", "http://x", personas={"a": {}}))
    assert plain != Profile("demo", "http://x", model="m")
    # Each profile gets its own dictionaries, as with a default factory.
    assert Profile("a", "u").personas is not Profile("b", "u").personas


def test_mutable_values_compare_by_fields_and_are_not_hashable() -> None:
    assert Turn([]) == Turn([]) and Turn([]) != Turn([], done=True)
    with pytest.raises(TypeError):
        hash(Turn([]))
    first, second = Turn([]), Turn([])
    first.answer_parts.append("x")
    assert second.answer_parts == []  # no shared default list


def test_replace_makes_a_changed_copy_and_refuses_unknown_fields() -> None:
    flags = ConnectionFlags(url="u", as_persona="alice")
    changed = flags.replace(as_persona=None)
    assert changed == ConnectionFlags(url="u") and flags.as_persona == "alice"
    with pytest.raises(TypeError, match="nope"):
        flags.replace(nope=1)


def test_the_repr_shows_the_fields_but_a_connection_never_its_key() -> None:
    assert repr(ProxyRoute("http://x", variable="NO_PROXY")) == (
        "ProxyRoute(bypass_entry=None, proxy_url=None, target='http://x', variable='NO_PROXY')"
    )
    shown = repr(connection())
    assert "secret-key" not in shown and "'<hidden>'" in shown
    assert "secret-key" not in repr(connection().replace(model="other"))


def test_a_chat_state_queues_its_system_messages_for_the_first_request() -> None:
    state = ChatState("movies", "m", base_system=["be brief"])
    assert state.system == ["be brief"] and state.system is not state.base_system
    assert ChatState("movies", "m", base_system=["a"], system=["b"]).system == ["b"]
