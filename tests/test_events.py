"""Event decoding: every payload shape of docs/protocol.md, the recorded streams end to end
(bytes → SSE → events → Turn), the bad inputs of docs/reliability.md about payload content,
and robustness."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import hypothesis_profiles  # noqa: F401 - loads the shared hypothesis profile
import pytest
from hypothesis import given
from hypothesis import strategies as st

from meilichat_cli.errors import ProtocolError
from meilichat_cli.protocol.conversation import Turn
from meilichat_cli.protocol.events import (
    ConversationMessage,
    Done,
    ErrorEvent,
    Event,
    Finished,
    SearchProgress,
    SearchSources,
    TextDelta,
    UsageReport,
    decode_event,
)
from meilichat_cli.protocol.sse import SSEDecoder

FIXTURES = Path(__file__).parent / "fixtures"
SEARCH_ARGS = '{"index_uid":"movies","q":"space exploration","filter":""}'


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def chunk(
    delta: Any = None,
    *,
    finish: Any = None,
    usage: Any = None,
    chunk_id: str = "chatcmpl-X",
) -> str:
    """A chunk shaped like Meilisearch's (docs/protocol.md#chunk-shape): every key present, nulls
    included."""
    full_delta = delta
    if isinstance(delta, dict):
        full_delta = {
            "content": None,
            "function_call": None,
            "tool_calls": None,
            "role": None,
            "refusal": None,
            **delta,
        }
    return compact(
        {
            "id": chunk_id,
            "choices": [
                {"index": 0, "delta": full_delta, "finish_reason": finish, "logprobs": None}
            ],
            "created": 1750000000,
            "model": "gpt-4o-mini-2024-07-18",
            "service_tier": "default",
            "system_fingerprint": "fp_abc123",
            "object": "chat.completion.chunk",
            "usage": usage,
        }
    )


def tool_call(name: str, arguments: Any, call_uuid: str = "6f1c2a9e") -> dict[str, Any]:
    if not isinstance(arguments, str):
        arguments = compact(arguments)
    return {
        "index": 0,
        "id": call_uuid,
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


def tool_chunk(*calls: dict[str, Any]) -> str:
    return chunk({"tool_calls": list(calls), "role": "assistant"})


def stream_events(name: str) -> list[Event]:
    decoder = SSEDecoder()
    messages = decoder.feed((FIXTURES / name).read_bytes())
    decoder.close()
    events: list[Event] = []
    for number, message in enumerate(messages, start=1):
        events.extend(decode_event(message.data, number))
    return events


# -- recorded streams, end to end -------------------------------------------------------------


def test_composed_example_decodes_to_the_expected_events() -> None:
    assistant_call = {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "call_Xq7pLm2",
                "type": "function",
                "function": {"name": "_meiliSearchInIndex", "arguments": SEARCH_ARGS},
            }
        ],
    }
    tool_result = {
        "role": "tool",
        "content": 'title: Interstellar\ngenres: ["Adventure","Drama","Science Fiction"]\n\n'
        'title: The Martian\ngenres: ["Drama","Adventure","Science Fiction"]\n',
        "tool_call_id": "call_Xq7pLm2",
    }
    sources = [
        {
            "id": 157336,
            "title": "Interstellar",
            "genres": ["Adventure", "Drama", "Science Fiction"],
        },
        {"id": 286217, "title": "The Martian", "genres": ["Drama", "Adventure", "Science Fiction"]},
    ]
    assert stream_events("openai_one_search.sse") == [
        TextDelta("I'll search for space movies now.", "chatcmpl-AAA111"),
        SearchProgress("call_Xq7pLm2", "movies", "space exploration", "", SEARCH_ARGS),
        ConversationMessage(assistant_call),
        SearchSources("call_Xq7pLm2", sources),
        ConversationMessage(tool_result),
        TextDelta("Try ", "chatcmpl-BBB222"),
        TextDelta("*Interstellar*.", "chatcmpl-BBB222"),
        Finished("stop"),
        Done(),
    ]


def test_composed_example_folds_into_a_complete_turn() -> None:
    user = {"role": "user", "content": "Which space movies do you have?"}
    turn = Turn([user])
    for event in stream_events("openai_one_search.sse"):
        turn.feed(event)
    assert turn.close() == "complete"
    assert turn.answer == "I'll search for space movies now.Try *Interstellar*."
    assert [s.to_json()["q"] for s in turn.searches] == ["space exploration"]
    assert [len(s.sources) for s in turn.searches] == [2]
    history = turn.history_messages()
    assert [m["role"] for m in history] == ["user", "assistant", "tool", "assistant"]
    assert history[1]["tool_calls"][0]["id"] == history[2]["tool_call_id"] == "call_Xq7pLm2"


def test_a_provider_error_event_ends_the_answer() -> None:
    events = stream_events("provider_error.sse")
    assert events == [
        ErrorEvent(
            "invalid_request_error",
            "invalid_api_key",
            "Incorrect API key provided: sk-XXXXX. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            None,
        ),
        Done(),
    ]
    assert isinstance(events[0], ErrorEvent)
    assert not events[0].is_search_error
    turn = Turn([])
    for event in events:
        turn.feed(event)
    assert turn.close() == "error"


def test_a_search_error_mid_stream_does_not_end_the_turn() -> None:
    events = stream_events("search_error.sse")
    errors = [e for e in events if isinstance(e, ErrorEvent)]
    assert errors == [ErrorEvent("response_error", "index_not_found", "Index `films` not found.")]
    assert errors[0].is_search_error
    assert events[-2:] == [Finished("stop"), Done()]
    assert not any(isinstance(e, SearchSources) for e in events)
    turn = Turn([])
    for event in events:
        turn.feed(event)
    assert turn.close() == "complete"
    assert turn.answer.endswith("I could not search the films index.")
    assert turn.tool_messages[1]["content"].startswith("the search tool call failed with")


# -- [DONE] and malformed payloads ------------------------------------------------------------


@pytest.mark.parametrize(
    "data", ["[DONE]", "[DONE]  ", " [DONE]", "[DONE]\n", "\t[DONE]\r", "\u00a0[DONE]\u2028"]
)
def test_done_spellings_are_recognised(data: str) -> None:
    assert decode_event(data, 12) == [Done()]


@pytest.mark.parametrize("data", ["[done]", "[DONE]x", "DONE"])
def test_done_near_misses_are_not_the_end(data: str) -> None:
    with pytest.raises(ProtocolError, match=r"^Malformed event #3 from server: "):
        decode_event(data, 3)


def test_truncated_json_names_the_event_with_an_excerpt() -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_event('{"choices":[', 7)
    assert caught.value.message == 'Malformed event #7 from server: {"choices":['


def test_the_malformed_event_excerpt_is_sanitized_and_short() -> None:
    data = '{"content":"\x1b]52;c;AAAA\x07 \x9b2J\r\n' + "z" * 5000
    with pytest.raises(ProtocolError) as caught:
        decode_event(data, 2)
    message = caught.value.message
    excerpt = message.removeprefix("Malformed event #2 from server: ")
    assert excerpt.startswith('{"content":"]52;c;AAAA 2J zzz')
    assert excerpt.endswith("…")
    assert len(excerpt) == 80
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in message)


@pytest.mark.parametrize("data", ["42", "[]", '"text"', "null", "true"])
def test_json_that_is_not_an_object_is_a_protocol_error(data: str) -> None:
    with pytest.raises(ProtocolError, match=r"^Malformed event #4 from server: expected a JSON"):
        decode_event(data, 4)


def test_deeply_nested_json_is_a_protocol_error_not_a_crash() -> None:
    with pytest.raises(ProtocolError, match="Malformed event #1"):
        decode_event("[" * 100_000 + "]" * 100_000, 1)


# -- wrong shapes (docs/reliability.md, row 12) -----------------------------------------------


def test_empty_choices_give_nothing() -> None:
    assert decode_event(compact({"id": "x", "choices": []}), 1) == []


def test_a_null_or_missing_delta_gives_nothing() -> None:
    assert decode_event(chunk(None), 1) == []
    assert decode_event(compact({"choices": [{"index": 0}]}), 1) == []


def test_null_or_missing_content_is_empty() -> None:
    assert decode_event(chunk({"content": None}), 1) == []
    assert decode_event(compact({"choices": [{"delta": {"role": "assistant"}}]}), 1) == []
    assert decode_event(chunk({"content": "", "role": "assistant"}), 1) == []  # role chunk


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"choices": [{"delta": {"content": 42}}]}, "choices[0].delta.content"),
        ({"choices": [{"delta": {"content": ["a"]}}]}, "choices[0].delta.content"),
        ({"choices": [{"delta": "text"}]}, "choices[0].delta"),
        ({"choices": ["x"]}, "choices[0]"),
        ({"choices": {"0": {}}}, "choices"),
        ({"choices": [{"delta": {"tool_calls": {}}}]}, "choices[0].delta.tool_calls"),
        ({"choices": [{"delta": {"tool_calls": [1]}}]}, "choices[0].delta.tool_calls[0]"),
        ({"choices": [{"delta": None, "finish_reason": 1}]}, "choices[0].finish_reason"),
        (
            {"choices": [{}, {"delta": {"tool_calls": [{}, 7]}}]},
            "choices[1].delta.tool_calls[1]",
        ),
        (
            {
                "choices": [
                    {
                        "delta": {
                            "tool_calls": [
                                {},
                                {"function": {"name": "_meiliSearchProgress", "arguments": 1}},
                            ]
                        }
                    }
                ]
            },
            "choices[0].delta.tool_calls[1].function.arguments",
        ),
        (
            {"choices": [{}, {"delta": {"content": True}}]},
            "choices[1].delta.content",
        ),
    ],
)
def test_a_wrong_type_names_the_field(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_event(compact(payload), 9)
    assert caught.value.message.startswith("Malformed event #9 from server: ")
    assert f"`{field}` should be" in caught.value.message


def test_a_wrong_type_message_says_what_was_found() -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_event(compact({"choices": [{"delta": {"content": 42}}]}), 5)
    assert caught.value.message == (
        "Malformed event #5 from server: `choices[0].delta.content` should be a string, "
        "got a number"
    )


def test_compact_chunks_without_nulls_are_accepted() -> None:
    # What the public docs show (and what a proxy could produce): keys left out.
    assert decode_event('{"choices":[{"delta":{"content":"x"}}]}', 1) == [TextDelta("x")]


def test_unknown_keys_are_ignored_everywhere() -> None:
    payload = {
        "id": "c1",
        "obfuscation": "zz",
        "choices": [{"delta": {"content": "a", "extra": 1}, "weird": [], "finish_reason": None}],
        "new_top_level": {"x": 1},
    }
    assert decode_event(compact(payload), 1) == [TextDelta("a", "c1")]


def test_non_string_chunk_id_is_dropped() -> None:
    assert decode_event(compact({"id": 5, "choices": [{"delta": {"content": "a"}}]}), 1) == [
        TextDelta("a", None)
    ]


# -- lone surrogates (docs/reliability.md, row 19) --------------------------------------------


def test_a_lone_surrogate_escape_becomes_a_replacement_character() -> None:
    data = chunk({"content": "a"}).replace('"content":"a"', '"content":"x\\ud800y\\uDC00z"')
    assert decode_event(data, 1) == [TextDelta("x\ufffdy\ufffdz", "chatcmpl-X")]
    (event,) = decode_event(data, 1)
    assert isinstance(event, TextDelta)
    event.text.encode("utf-8")  # no UnicodeEncodeError


def test_a_valid_surrogate_pair_is_one_character() -> None:
    data = chunk({"content": "a"}).replace('"content":"a"', '"content":"\\ud83d\\ude00"')
    assert decode_event(data, 1) == [TextDelta("😀", "chatcmpl-X")]


def test_lone_surrogates_inside_tool_arguments_are_replaced_too() -> None:
    inner = '{"index_uid":"movies","q":"bad \\ud800","filter":""}'
    data = tool_chunk(
        tool_call(
            "_meiliSearchProgress",
            {"call_id": "c", "function_name": "_meiliSearchInIndex", "function_arguments": inner},
        )
    )
    (event,) = decode_event(data, 1)
    assert isinstance(event, SearchProgress)
    assert event.q == "bad \ufffd"
    assert event.arguments == inner  # the raw string keeps its (ASCII) escape
    message = tool_chunk(
        tool_call("_meiliAppendConversationMessage", '{"role":"tool","c":"\\udfff"}')
    )
    assert decode_event(message, 1) == [ConversationMessage({"role": "tool", "c": "\ufffd"})]


# -- finish and usage -------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["stop", "length", "content_filter", "something_new"])
def test_the_finish_reason_is_reported(reason: str) -> None:
    assert decode_event(chunk({}, finish=reason), 1) == [Finished(reason)]


def test_usage_is_reported_when_present() -> None:
    usage = {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}
    assert decode_event(chunk({}, finish="stop", usage=usage), 1) == [
        Finished("stop"),
        UsageReport(usage),
    ]
    # Mistral's final chunk may carry usage; OpenAI's usage-only chunk has empty choices.
    assert decode_event(compact({"choices": [], "usage": usage}), 1) == [UsageReport(usage)]
    assert decode_event(compact({"choices": [], "usage": "n/a"}), 1) == []


def test_order_within_one_chunk_is_text_tools_finish_usage() -> None:
    progress = tool_call(
        "_meiliSearchProgress",
        {"call_id": "c1", "function_name": "_meiliSearchInIndex", "function_arguments": "{}"},
    )
    payload = {
        "id": "k",
        "usage": {"total_tokens": 1},
        "choices": [
            {"finish_reason": "stop", "delta": {"tool_calls": [progress], "content": "hi"}},
        ],
    }
    assert [type(e).__name__ for e in decode_event(compact(payload), 1)] == [
        "TextDelta",
        "SearchProgress",
        "Finished",
        "UsageReport",
    ]


# -- _meili* tool calls -----------------------------------------------------------------------


def test_tool_calls_sharing_index_zero_are_never_merged() -> None:
    first = tool_call("_meiliSearchSources", {"call_id": "a", "sources": [{"id": 1}]}, "u1")
    second = tool_call("_meiliSearchSources", {"call_id": "b", "sources": []}, "u2")
    assert decode_event(tool_chunk(first, second), 1) == [
        SearchSources("a", [{"id": 1}]),
        SearchSources("b", []),
    ]


@pytest.mark.parametrize(
    "call",
    [
        tool_call("_meiliSearchInIndex", SEARCH_ARGS),
        tool_call("get_weather", "{}"),
        tool_call("_meiliReportErrors", "not json at all"),
        {"index": 0, "id": "x", "type": "function"},
        {"index": 0, "function": None},
        {"index": 0, "function": {"name": None, "arguments": "{"}},
    ],
)
def test_unknown_or_nameless_tool_calls_are_ignored(call: dict[str, Any]) -> None:
    assert decode_event(tool_chunk(call), 1) == []


@pytest.mark.parametrize(
    "name", ["_meiliSearchProgress", "_meiliSearchSources", "_meiliAppendConversationMessage"]
)
@pytest.mark.parametrize("arguments", ['{"call_id":', "[1,2]", '"text"', ""])
def test_unreadable_arguments_of_a_known_tool_name_the_tool(name: str, arguments: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_event(tool_chunk(tool_call(name, arguments)), 6)
    assert caught.value.message.startswith(f"Malformed event #6 from server: unreadable {name}")


def test_non_string_arguments_of_a_known_tool_name_the_field() -> None:
    call = {"index": 0, "function": {"name": "_meiliSearchSources", "arguments": {"call_id": "a"}}}
    with pytest.raises(ProtocolError, match=r"`choices\[0\]\.delta\.tool_calls\[0\]\.function"):
        decode_event(tool_chunk(call), 1)


def test_progress_with_unparseable_function_arguments_keeps_the_raw_text() -> None:
    call = tool_call(
        "_meiliSearchProgress",
        {"call_id": "c", "function_name": "_meiliSearchInIndex", "function_arguments": "{oops"},
    )
    assert decode_event(tool_chunk(call), 1) == [SearchProgress("c", None, None, None, "{oops")]


def test_progress_with_missing_pieces() -> None:
    call = tool_call("_meiliSearchProgress", {"function_arguments": '{"index_uid":"movies"}'})
    assert decode_event(tool_chunk(call), 1) == [
        SearchProgress("", "movies", None, None, '{"index_uid":"movies"}')
    ]
    bare = tool_call("_meiliSearchProgress", {"call_id": "c"})
    assert decode_event(tool_chunk(bare), 1) == [SearchProgress("c", None, None, None, "")]


def test_progress_from_v1_15_has_no_filter() -> None:
    raw = '{"index_uid":"movies","q":"space"}'
    call = tool_call("_meiliSearchProgress", {"call_id": "c", "function_arguments": raw})
    assert decode_event(tool_chunk(call), 1) == [SearchProgress("c", "movies", "space", None, raw)]


def test_progress_with_non_string_values_shows_them_as_json() -> None:
    raw = '{"index_uid":"movies","q":"x","filter":["genres = Drama","year > 2000"]}'
    call = tool_call("_meiliSearchProgress", {"call_id": 17, "function_arguments": raw})
    (event,) = decode_event(tool_chunk(call), 1)
    assert isinstance(event, SearchProgress)
    assert event.call_id == "17"
    assert event.filter == '["genres = Drama", "year > 2000"]'


def test_progress_with_an_object_for_function_arguments() -> None:
    call = tool_call("_meiliSearchProgress", {"call_id": "c", "function_arguments": {"q": "x"}})
    assert decode_event(tool_chunk(call), 1) == [SearchProgress("c", None, "x", None, '{"q": "x"}')]


def test_sources_tolerate_missing_or_odd_documents() -> None:
    missing = tool_call("_meiliSearchSources", {"call_id": "c"})
    assert decode_event(tool_chunk(missing), 1) == [SearchSources("c", [])]
    odd = tool_call("_meiliSearchSources", {"call_id": "c", "sources": [{"id": 1}, 2, "x"]})
    assert decode_event(tool_chunk(odd), 1) == [SearchSources("c", [{"id": 1}])]


def test_an_escape_in_a_source_title_is_kept_for_the_display_layer_to_sanitize() -> None:
    doc = {"id": 1, "title": "Evil\x1b]52;c;QUJD\x07"}
    call = tool_call("_meiliSearchSources", {"call_id": "c", "sources": [doc]})
    # Decoding keeps the document exact (it is data); sanitizing happens at display time.
    assert decode_event(tool_chunk(call), 1) == [SearchSources("c", [doc])]


def test_conversation_messages_are_kept_verbatim() -> None:
    message = {"role": "assistant", "tool_calls": [], "x-extra": {"nested": [1, None]}}
    call = tool_call("_meiliAppendConversationMessage", message)
    assert decode_event(tool_chunk(call), 1) == [ConversationMessage(message)]


# -- error events -----------------------------------------------------------------------------


def test_error_event_with_all_fields() -> None:
    payload = {
        "event_id": "3f2a",
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "code": "model_not_found",
            "message": "The model `gpt-9` does not exist",
            "param": "model",
            "event_id": None,
        },
    }
    assert decode_event(compact(payload), 1) == [
        ErrorEvent(
            "invalid_request_error", "model_not_found", "The model `gpt-9` does not exist", "model"
        )
    ]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"type": "error"}, ErrorEvent("unknown", None, "", None)),
        ({"type": "error", "error": None}, ErrorEvent("unknown", None, "", None)),
        ({"type": "error", "error": "boom"}, ErrorEvent("unknown", None, "boom", None)),
        ({"type": "error", "message": "top"}, ErrorEvent("unknown", None, "top", None)),
        ({"error": {"message": "m"}}, ErrorEvent("unknown", None, "m", None)),
        ({"error": {"type": "t", "code": 429}}, ErrorEvent("t", "429", "", None)),
        (
            {"type": "error", "error": {"type": "reqwest_error", "code": None, "message": "x"}},
            ErrorEvent("reqwest_error", None, "x", None),
        ),
    ],
)
def test_error_event_tolerates_missing_pieces(
    payload: dict[str, Any], expected: ErrorEvent
) -> None:
    assert decode_event(compact(payload), 1) == [expected]


def test_error_object_next_to_choices_is_a_chunk() -> None:
    payload = {"error": {"message": "ignored"}, "choices": [{"delta": {"content": "a"}}]}
    assert decode_event(compact(payload), 1) == [TextDelta("a")]


# -- robustness properties --------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)
TOOL_NAMES = st.sampled_from(
    ["_meiliSearchProgress", "_meiliSearchSources", "_meiliAppendConversationMessage", "other"]
)


@st.composite
def chunk_like(draw: st.DrawFn) -> str:
    """Chunks with the right skeleton and arbitrary values in every slot."""
    arguments = draw(st.one_of(JSON_VALUES.map(compact), JSON_VALUES, st.text(max_size=20)))
    call = draw(
        st.one_of(
            JSON_VALUES,
            st.fixed_dictionaries(
                {
                    "function": st.fixed_dictionaries(
                        {"name": TOOL_NAMES, "arguments": st.just(arguments)}
                    )
                }
            ),
        )
    )
    delta = draw(
        st.one_of(
            JSON_VALUES,
            st.fixed_dictionaries(
                {"content": JSON_VALUES, "tool_calls": st.one_of(JSON_VALUES, st.just([call]))}
            ),
        )
    )
    payload = {
        "id": draw(JSON_VALUES),
        "choices": draw(
            st.one_of(JSON_VALUES, st.just([{"delta": delta, "finish_reason": draw(JSON_VALUES)}]))
        ),
        "usage": draw(JSON_VALUES),
        "type": draw(st.sampled_from(["error", None, "x"])),
        "error": draw(JSON_VALUES),
    }
    return compact(payload)


@given(st.one_of(st.text(max_size=200), JSON_VALUES.map(compact), chunk_like()))
def test_property_only_protocol_errors_escape(data: str) -> None:
    try:
        events = decode_event(data, 1)
    except ProtocolError as error:
        assert error.message.startswith("Malformed event #1 from server: ")
        return
    assert isinstance(events, list)
    for event in events:
        if isinstance(event, TextDelta):
            assert event.text


def test_events_are_values_equal_by_type_and_fields() -> None:
    assert TextDelta("hi", "c1") == TextDelta("hi", "c1")
    assert TextDelta("hi", "c1") != TextDelta("hi", "c2")
    # Same fields, another type: not the same event.
    assert ConversationMessage({"a": 1}) != UsageReport({"a": 1})
    assert Done() == Done() and Done() != Finished("stop")
    assert hash(Finished("stop")) == hash(Finished("stop"))
    assert len({ErrorEvent("t", "c", "m"), ErrorEvent("t", "c", "m")}) == 1
    assert UsageReport() == UsageReport({})
    assert repr(Finished("stop")) == "Finished(reason='stop')"
    with pytest.raises(AttributeError):  # slots: no stray attributes
        TextDelta("hi").extra = 1  # type: ignore[attr-defined]


# -- the short paths for the common text chunk -----------------------------------------------
#
# `decode_event` recognises Meilisearch's text chunk by a pattern before the general decoder,
# and the general decoder, after its one parse, lets a single-choice text delta leave before
# walking every field. These check that each short path decodes exactly as the longer way
# does, that a chunk is parsed once, and that the chunks of a real stream take the short
# paths (the point of having them).


def decoded_or_error(decode: Any, data: str) -> list[Event] | str:
    try:
        return list(decode(data, 7))
    except ProtocolError as error:
        return error.message


def same_as_the_walk(data: str) -> None:
    """`_decode_general` gives for `data` what walking every field of the parsed payload
    gives: its early exit for a text delta changes nothing."""
    from meilichat_cli.protocol.events import _decode_general, _payload_events

    payload = loads_as_before(data)
    assert isinstance(payload, dict)
    walked = decoded_or_error(lambda _data, number: _payload_events(payload, number), data)
    assert decoded_or_error(_decode_general, data) == walked


def same_as_general(data: str) -> None:
    from meilichat_cli.protocol.events import _decode_general

    fast = decoded_or_error(decode_event, data)
    general = decoded_or_error(_decode_general, data)
    assert fast == general
    for event in fast if isinstance(fast, list) else []:
        if isinstance(event, TextDelta):
            assert type(event.completion_id) in (str, type(None))


# Text a provider may send: escapes JSON must write (quotes, backslashes, controls), lone
# and paired surrogates, non-ASCII, terminal escapes.
TEXT = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(['"', "\\", "\n", "\x1b", "\x00", "\x7f", "\u2028", "\ud800"]),
        st.just("\U0001f600"),
    ),
    max_size=40,
)


@st.composite
def meili_text_chunk(draw: st.DrawFn) -> str:
    """Meilisearch's text chunk, every field in its order, with values drawn."""
    role = draw(st.sampled_from([None, "assistant"]))
    text = chunk({"content": draw(TEXT), "role": role}, chunk_id=draw(TEXT))
    payload = json.loads(text)
    payload["created"] = draw(st.integers(min_value=0, max_value=2**40))
    payload["model"] = draw(TEXT)
    payload["service_tier"] = draw(st.one_of(st.none(), TEXT))
    payload["system_fingerprint"] = draw(st.one_of(st.none(), TEXT))
    ascii_only = draw(st.booleans())
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=ascii_only)


@given(meili_text_chunk())
def test_property_a_meilisearch_text_chunk_decodes_as_the_general_decoder_does(data: str) -> None:
    same_as_general(data)


@given(meili_text_chunk(), st.integers(min_value=0, max_value=400), st.text(max_size=3))
def test_property_a_damaged_text_chunk_decodes_as_the_general_decoder_does(
    data: str, position: int, junk: str
) -> None:
    position = min(position, len(data))
    same_as_general(data[:position] + junk + data[position + len(junk) :])
    same_as_general(data[:position] + junk + data[position:])
    same_as_general(data[:position] + data[position + 1 :])


NEAR_THE_COMMON_SHAPE = [
    chunk({"content": "hi"}, finish="stop"),
    chunk({"content": "hi"}, usage={"total_tokens": 3}),
    chunk({"content": "hi", "tool_calls": [tool_call("_meiliSearchProgress", "{}")]}),
    chunk({"content": "hi", "tool_calls": []}),
    chunk({"content": 5}),
    chunk({"content": None}),
    chunk({"content": ""}),
    chunk({"content": "x"}).replace('"created":1750000000', '"created":01750000000'),
    chunk({"content": "x"}).replace('"created":1750000000', '"created":1.5'),
    chunk({"content": "x"}).replace('"id":"chatcmpl-X"', '"id":7'),
    chunk({"content": "x"}).replace('"index":0,', '"index":0,"index":1,'),
    chunk({"content": "x"})[:-1] + ',"type":"error"}',
    chunk({"content": "x"})[:-1] + ',"content":"y"}',
    chunk({"content": "x"}) + " ",
    " " + chunk({"content": "x"}),
    chunk({"content": "x"}).replace('"content":"x"', '"content":"\\ud800x"'),
    chunk({"content": "x"}).replace('"content":"x"', '"content":"\\u00e9\\n"'),
    chunk({"content": "x"}).replace('"content":"x"', '"content":"\\x"'),
    chunk({"content": "x"}).replace('"content":"x"', '"content":"a\tb"'),
    compact({"id": "c", "choices": [{"delta": {"content": "x"}}, {"delta": {}}]}),
    compact({"id": "c", "choices": [{"delta": {"content": "x"}, "finish_reason": None}]}),
    compact({"choices": [{"delta": {"content": "x"}}], "usage": None}),
    compact({"choices": [{"delta": {"content": "x"}}], "type": "error", "error": {}}),
    compact({"choices": ["x"]}),
    compact({"choices": [{"delta": "x"}]}),
    '{"choices":[{"delta":{"content":"x"}}]}{}',
    '{"choices":[{"delta":{"content":"x"}}]',
    "[DONE]",
]


@pytest.mark.parametrize("data", NEAR_THE_COMMON_SHAPE)
def test_chunks_near_the_common_shape_decode_as_the_general_decoder_does(data: str) -> None:
    same_as_general(data)


def is_a_json_object(data: str) -> bool:
    try:
        return isinstance(json.loads(data), dict)
    except ValueError:
        return False


@pytest.mark.parametrize("data", [data for data in NEAR_THE_COMMON_SHAPE if is_a_json_object(data)])
def test_chunks_near_the_common_shape_decode_as_walking_every_field_does(data: str) -> None:
    same_as_the_walk(data)


@st.composite
def text_chunk_in_any_order(draw: st.DrawFn) -> str:
    """A text chunk as another server may write it: its keys in any order, optional ones left
    out, others added; as often as not, one of the slots that decide the early exit holds
    something else (which may or may not change what the chunk means)."""
    slot = st.one_of(st.none(), JSON_VALUES)
    other_values = {
        "content": slot,
        "tool_calls": st.one_of(
            st.just([]), st.just([tool_call("_meiliSearchProgress", SEARCH_ARGS)]), slot
        ),
        "delta": slot,
        "finish_reason": st.one_of(st.just("stop"), slot),
        "choices": st.one_of(st.just("two"), st.just([]), slot),
        "usage": st.one_of(st.just({"total_tokens": 3}), slot),
        "type": st.one_of(st.just("error"), slot),
        "error": st.one_of(st.just({"message": "m"}), slot),
        "id": slot,
    }
    changed = draw(st.one_of(st.none(), st.sampled_from(sorted(other_values))))

    def arranged(fields: dict[str, Any], required: str) -> dict[str, Any]:
        for name in fields:
            if name == changed:
                fields[name] = draw(other_values[name])
        order = draw(st.permutations(list(fields)))
        return {
            key: fields[key] for key in order if key in (required, changed) or draw(st.booleans())
        }

    delta = arranged(
        {
            "content": draw(TEXT),
            "role": draw(st.sampled_from([None, "assistant"])),
            "tool_calls": None,
            draw(st.text(max_size=4)): draw(slot),
        },
        "content",
    )
    choice = arranged(
        {"delta": delta, "index": 0, "finish_reason": None, "logprobs": None}, "delta"
    )
    payload = arranged(
        {
            "choices": [choice],
            "id": draw(TEXT),
            "usage": None,
            "type": None,
            "error": None,
            "object": "chat.completion.chunk",
        },
        "choices",
    )
    if payload["choices"] == "two":
        payload["choices"] = [choice, {"delta": delta}]
    ascii_only = draw(st.booleans())
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=ascii_only)


@given(text_chunk_in_any_order())
def test_property_a_text_chunk_in_any_field_order_decodes_as_walking_every_field_does(
    data: str,
) -> None:
    same_as_the_walk(data)
    same_as_general(data)


@given(chunk_like())
def test_property_any_chunk_decodes_as_walking_every_field_does(data: str) -> None:
    same_as_the_walk(data)


def loads_as_before(text: str) -> Any:
    """What a chunk, an argument string or an escaped string was parsed with before the
    scanner: `json.loads`, then lone surrogates replaced when a surrogate escape is written."""

    def replaced(value: Any) -> Any:
        if isinstance(value, str):
            return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
        if isinstance(value, list):
            return [replaced(item) for item in value]
        if isinstance(value, dict):
            return {replaced(key): replaced(item) for key, item in value.items()}
        return value

    value = json.loads(text)
    return replaced(value) if "\\ud" in text or "\\uD" in text else value


def parsed_or_error(parse: Any, text: str) -> str:
    try:
        return repr(parse(text))
    except ValueError as error:
        return f"ValueError at {getattr(error, 'pos', None)}"


# Around a value: JSON's whitespace, and characters `json.loads` refuses there.
AROUND = st.text(alphabet=" \t\n\r\u00a0\ufeff\u2028x", max_size=3)


@given(
    st.one_of(
        st.text(max_size=40),
        st.tuples(AROUND, JSON_VALUES.map(compact), AROUND).map("".join),
        st.tuples(AROUND, TEXT.map(json.dumps), AROUND).map("".join),
        st.tuples(JSON_VALUES.map(compact), JSON_VALUES.map(compact)).map("".join),
        meili_text_chunk(),
        text_chunk_in_any_order(),
    )
)
def test_property_the_one_parse_reads_what_json_loads_read(text: str) -> None:
    from meilichat_cli.protocol.events import _parse

    assert parsed_or_error(_parse, text) == parsed_or_error(loads_as_before, text)


# Possessive quantifiers need Python 3.11: before, the pattern is off (`_text_chunk`) and
# Meilisearch's chunk takes the general decoder's early exit like any other text chunk.
NEEDS_THE_PATTERN = pytest.mark.skipif(
    sys.version_info < (3, 11), reason="the text-chunk pattern needs Python 3.11"
)


@NEEDS_THE_PATTERN
def test_the_chunks_of_a_meilisearch_stream_take_the_fastest_path() -> None:
    from meilichat_cli.protocol.events import _text_chunk

    texts = [chunk({"content": "", "role": "assistant"}), chunk({"content": "Hel\\lo \u201c"})]
    texts += [chunk({"content": "x"}).replace('"service_tier":"default"', '"service_tier":null')]
    for data in texts:
        assert _text_chunk()(data) is not None
    assert decode_event(texts[1], 1) == [TextDelta("Hel\\lo \u201c", "chatcmpl-X")]


def test_a_long_chunk_that_is_not_the_common_shape_is_rejected_in_one_pass() -> None:
    """The fast pattern is possessive (it never gives back what it read), so a chunk that
    fails it late, a megabyte of escapes in an unfinished string here, costs one pass; the
    general decoder then reports it as usual."""
    from meilichat_cli.protocol.events import _JSON_STRING, _TEXT_CHUNK

    assert _JSON_STRING.endswith('*+"') and _TEXT_CHUNK.count(_JSON_STRING) == 5
    data = '{"id":"' + "a\\n" * 400_000
    with pytest.raises(ProtocolError):
        decode_event(data, 1)


@NEEDS_THE_PATTERN
def test_meilisearch_text_chunks_never_reach_the_general_decoder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import meilichat_cli.protocol.events as events_module

    general: list[str] = []
    decode_general = events_module._decode_general

    def counted(data: str, number: int) -> list[Event]:
        general.append(data)
        return decode_general(data, number)

    monkeypatch.setattr(events_module, "_decode_general", counted)
    texts = [chunk({"content": "a"}), chunk({"content": "", "role": "assistant"})]
    assert [e for data in texts for e in decode_event(data, 1)] == [TextDelta("a", "chatcmpl-X")]
    assert general == []
    decode_event(chunk({"content": "a"}, finish="stop"), 2)
    decode_event("[DONE]", 3)
    assert len(general) == 2


class CountedParses:
    """Every parse the decoder makes: its parse helper, the scanner under it, `json.loads`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import meilichat_cli.protocol.events as events_module

        self.parsed: list[str] = []
        self.scanned: list[str] = []
        self.loaded: list[str] = []
        parse, scan, loads = events_module._parse, events_module._scan_once, json.loads

        def counted_parse(text: str) -> Any:
            self.parsed.append(text)
            return parse(text)

        def counted_scan(text: str, index: int) -> tuple[Any, int]:
            self.scanned.append(text)
            return scan(text, index)

        def counted_loads(text: str, **kwargs: Any) -> Any:
            self.loaded.append(text)
            return loads(text, **kwargs)

        monkeypatch.setattr(events_module, "_parse", counted_parse)
        monkeypatch.setattr(events_module, "_scan_once", counted_scan)
        monkeypatch.setattr(json, "loads", counted_loads)


def test_a_text_chunk_in_another_field_order_is_parsed_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parses = CountedParses(monkeypatch)
    other_server = compact({"choices": [{"delta": {"content": "b"}, "index": 0}], "id": "c"})
    assert decode_event(other_server, 1) == [TextDelta("b", "c")]
    assert parses.parsed == [other_server] and parses.scanned == [other_server]
    assert parses.loaded == []


def test_a_tool_chunk_is_parsed_once_and_each_argument_string_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parses = CountedParses(monkeypatch)
    arguments = compact(
        {"call_id": "c1", "function_name": "_meiliSearchInIndex", "function_arguments": SEARCH_ARGS}
    )
    data = tool_chunk(tool_call("_meiliSearchProgress", arguments))
    (event,) = decode_event(data, 1)
    assert isinstance(event, SearchProgress) and event.q == "space exploration"
    assert parses.parsed == [data, arguments, SEARCH_ARGS] == parses.scanned
    assert parses.loaded == []


def test_only_a_chunk_with_whitespace_around_it_is_read_again_by_json_loads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parses = CountedParses(monkeypatch)
    padded = " " + compact({"choices": [{"delta": {"content": "b"}}], "id": "c"}) + "\n"
    assert decode_event(padded, 1) == [TextDelta("b", "c")]
    assert parses.parsed == [padded] == parses.loaded
