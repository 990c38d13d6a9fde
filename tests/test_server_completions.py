"""Completions on the stand-in server: the order of checks (docs/protocol.md#order-of-checks),
declared tools, provider errors, the scripted model's searches and its use of earlier turns."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from standin_http import Client, Reply, answer_text, ask_body, tool_calls

from meilichat_cli.protocol.events import APPEND_TOOL, PROGRESS_TOOL, SOURCES_TOOL
from meilichat_cli.standin import StandInServer

MASTER = "completions-master-key-0123456789"
PATH = "/chats/demo/chat/completions"

# Lines of the composed example of docs/protocol.md#a-complete-stream (ids and values are
# illustrative).
EXAMPLE_ROLE = '{"id":"chatcmpl-AAA111","choices":[{"index":0,"delta":{"content":"","function_call":null,"tool_calls":null,"role":"assistant","refusal":null},"finish_reason":null,"logprobs":null}],"created":1750000000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_abc123","object":"chat.completion.chunk","usage":null}'  # noqa: E501
EXAMPLE_CONTENT = '{"id":"chatcmpl-AAA111","choices":[{"index":0,"delta":{"content":"I\'ll search for space movies now.","function_call":null,"tool_calls":null,"role":null,"refusal":null},"finish_reason":null,"logprobs":null}],"created":1750000000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_abc123","object":"chat.completion.chunk","usage":null}'  # noqa: E501
EXAMPLE_TOOL = '{"id":"chatcmpl-AAA111","choices":[{"index":0,"delta":{"content":null,"function_call":null,"tool_calls":[{"index":0,"id":"6f1c2a9e-0b7d-4c55-9a51-2e4f3b8d7c10","type":"function","function":{"name":"_meiliSearchProgress","arguments":"{\\"call_id\\":\\"call_Xq7pLm2\\",\\"function_name\\":\\"_meiliSearchInIndex\\",\\"function_arguments\\":\\"{\\\\\\"index_uid\\\\\\":\\\\\\"movies\\\\\\",\\\\\\"q\\\\\\":\\\\\\"space exploration\\\\\\",\\\\\\"filter\\\\\\":\\\\\\"\\\\\\"}\\"}"}}],"role":"assistant","refusal":null},"finish_reason":null,"logprobs":null}],"created":1750000000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_abc123","object":"chat.completion.chunk","usage":null}'  # noqa: E501
EXAMPLE_FINISH = '{"id":"chatcmpl-BBB222","choices":[{"index":0,"delta":{"content":null,"function_call":null,"tool_calls":null,"role":null,"refusal":null},"finish_reason":"stop","logprobs":null}],"created":1750000002,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_abc123","object":"chat.completion.chunk","usage":null}'  # noqa: E501


def skeleton(value: Any) -> Any:
    """The shape of a JSON value: key order kept, scalars replaced by their type."""
    if isinstance(value, dict):
        return [(k, skeleton(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [skeleton(v) for v in value]
    if value is None or isinstance(value, bool):
        return value
    return type(value).__name__


@pytest.fixture(scope="module")
def server() -> Iterator[StandInServer]:
    with StandInServer(master_key=MASTER) as srv:
        yield srv


@pytest.fixture
def client(server: StandInServer) -> Iterator[Client]:
    c = Client(server.url, server.chat_key)
    yield c
    c.close()


@pytest.fixture
def admin(server: StandInServer) -> Iterator[Client]:
    c = Client(server.url, MASTER)
    yield c
    c.close()


def error_code(reply: Reply) -> tuple[int, str, str]:
    body = reply.json
    assert list(body) == ["message", "code", "type", "link"]
    return reply.status, body["code"], body["message"]


def test_chunks_have_the_shape_of_the_composed_example(client: Client) -> None:
    events = client.call("POST", PATH, ask_body()).events()[:-1]
    role, content = events[0], events[1]
    progress = next(e for e in events if e["choices"][0]["delta"]["tool_calls"])
    finish = events[-1]
    assert skeleton(role) == skeleton(json.loads(EXAMPLE_ROLE))
    assert skeleton(content) == skeleton(json.loads(EXAMPLE_CONTENT))
    assert skeleton(progress) == skeleton(json.loads(EXAMPLE_TOOL))
    assert skeleton(finish) == skeleton(json.loads(EXAMPLE_FINISH))
    args = json.loads(progress["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"])
    assert list(args) == ["call_id", "function_name", "function_arguments"]
    assert list(json.loads(args["function_arguments"])) == ["index_uid", "q", "filter"]


def test_synthesized_payloads(client: Client) -> None:
    calls = tool_calls(client.call("POST", PATH, ask_body("space movies after 2010")).events())
    (_, progress), (_, assistant), (_, sources), (_, result) = calls
    call_id = progress["call_id"]
    assert call_id.startswith("call_") and progress["function_name"] == "_meiliSearchInIndex"
    assert json.loads(progress["function_arguments"]) == {
        "index_uid": "movies",
        "q": "space",
        "filter": "year > 2010",
    }
    assert assistant == {
        "role": "assistant",
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {
                    "name": "_meiliSearchInIndex",
                    "arguments": progress["function_arguments"],
                },
            }
        ],
    }
    assert list(sources) == ["call_id", "sources"] and sources["call_id"] == call_id
    assert sources["sources"] and all(doc["year"] > 2010 for doc in sources["sources"])
    assert list(result) == ["role", "content", "tool_call_id"]
    assert result["tool_call_id"] == call_id
    # Rendered with the movies index's template, one hit per line.
    lines = result["content"].split("\n")
    assert len(lines) == len(sources["sources"])
    assert lines[0].startswith(
        f"{sources['sources'][0]['title']} ({sources['sources'][0]['year']}), directed by"
    )


@pytest.mark.parametrize(
    "declared",
    [(), (SOURCES_TOOL,), (PROGRESS_TOOL,), (APPEND_TOOL,), (PROGRESS_TOOL, SOURCES_TOOL)],
)
def test_only_declared_tools_produce_chunks(client: Client, declared: tuple[str, ...]) -> None:
    reply = client.call("POST", PATH, ask_body("space movies", tools=declared))
    names = {name for name, _ in tool_calls(reply.events())}
    assert names == set(declared)
    assert reply.frames()[-1] == "[DONE]"
    assert "Here " in answer_text(reply.events())


def test_answer_is_markdown_from_the_hits(client: Client) -> None:
    events = client.call(
        "POST", PATH, ask_body("Which movies did Christopher Nolan direct?")
    ).events()
    answer_id = events[-2]["id"]
    answer = answer_text(events, answer_id)
    sources = next(args for name, args in tool_calls(events) if name == SOURCES_TOOL)["sources"]
    assert sources and all("Nolan" in doc["director"] for doc in sources)
    assert "1. **" in answer and f"**{sources[0]['title']}**" in answer
    assert "`movies`" in answer, "says where the answer came from"


def test_book_questions_search_the_books_index(client: Client) -> None:
    calls = tool_calls(
        client.call("POST", PATH, ask_body("novels by Ursula K. Le Guin before 1970")).events()
    )
    progress = [json.loads(a["function_arguments"]) for n, a in calls if n == PROGRESS_TOOL]
    assert progress == [{"index_uid": "books", "q": "ursula k le guin", "filter": "year < 1970"}]
    sources = next(a["sources"] for n, a in calls if n == SOURCES_TOOL)
    assert {d["title"] for d in sources} == {"A Wizard of Earthsea", "The Left Hand of Darkness"}


def test_unclear_questions_search_every_index(client: Client) -> None:
    calls = tool_calls(client.call("POST", PATH, ask_body("anything about dune?")).events())
    indexes = [
        json.loads(a["function_arguments"])["index_uid"] for n, a in calls if n == PROGRESS_TOOL
    ]
    assert indexes == ["books", "movies"]


def conversation_after(reply: Reply, question: str) -> list[dict[str, Any]]:
    """What a client appends after a turn (docs/protocol.md#conversation-state): user, append
    payloads, assistant text."""
    events = reply.events()
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    messages += [args for name, args in tool_calls(events) if name == APPEND_TOOL]
    messages.append({"role": "assistant", "content": answer_text(events)})
    return messages


def test_follow_up_resolves_an_ordinal_against_the_latest_tool_result(client: Client) -> None:
    first_q = "Which movies did Christopher Nolan direct?"
    first = client.call("POST", PATH, ask_body(first_q))
    history = conversation_after(first, first_q)
    sources = next(a for n, a in tool_calls(first.events()) if n == SOURCES_TOOL)["sources"]
    reply = client.call(
        "POST", PATH, ask_body("Tell me more about the second one", messages=history)
    )
    events = reply.events()
    assert not tool_calls(events), "no new search for a follow-up"
    answer = answer_text(events)
    second = sources[1]
    assert f"**{second['title']}**" in answer and second["overview"] in answer
    assert "(from 1 earlier search result in this conversation)" in answer
    # A second follow-up on the grown history.
    history += conversation_after(reply, "Tell me more about the second one")
    answer = answer_text(
        client.call("POST", PATH, ask_body("and the first one?", messages=history)).events()
    )
    assert f"**{sources[0]['title']}**" in answer
    # Another search turn: the next follow-up sees two tool results and uses the latest.
    third_q = "books by Andy Weir"
    third = client.call("POST", PATH, ask_body(third_q, messages=history))
    history += conversation_after(third, third_q)
    answer = answer_text(
        client.call("POST", PATH, ask_body("tell me about the last one", messages=history)).events()
    )
    weir = next(a for n, a in tool_calls(third.events()) if n == SOURCES_TOOL)["sources"]
    assert f"**{weir[-1]['title']}**" in answer and weir[-1]["author"] == "Andy Weir"
    assert "(from 2 earlier search results in this conversation)" in answer


def test_follow_up_without_earlier_results_says_so(client: Client) -> None:
    answer = answer_text(
        client.call("POST", PATH, ask_body("tell me more about the second one")).events()
    )
    assert "nothing" in answer or "don't have any earlier search results" in answer
    assert "(from 0 earlier search results in this conversation)" in answer


def test_follow_up_beyond_the_results(client: Client) -> None:
    first = client.call("POST", PATH, ask_body("movies about Mars potatoes"))
    history = conversation_after(first, "movies about Mars potatoes")
    answer = answer_text(
        client.call("POST", PATH, ask_body("and number 4?", messages=history)).events()
    )
    assert "returned 1 result" in answer and "no number 4" in answer


# -- docs/protocol.md#the-completions-request / docs/protocol.md#order-of-checks --------------


def test_non_streaming_is_501_even_for_a_missing_workspace(client: Client) -> None:
    for body in (ask_body(stream=False), {k: v for k, v in ask_body().items() if k != "stream"}):
        status, code, message = error_code(
            client.call("POST", "/chats/nope/chat/completions", body)
        )
        assert (status, code, message) == (
            501,
            "unimplemented_non_streaming_chat_completions",
            "Non-streamed chat completions is not implemented",
        )


def test_n_must_be_one(client: Client) -> None:
    assert error_code(client.call("POST", PATH, ask_body(n=2))) == (
        501,
        "unimplemented_multi_choice_chat_completions",
        "You tried to specify n = 2 but only single choices are supported (n = 1).",
    )
    assert client.call("POST", PATH, ask_body(n=1)).status == 200


def test_missing_workspace_then_tools(client: Client) -> None:
    assert error_code(client.call("POST", "/chats/nope/chat/completions", ask_body())) == (
        404,
        "chat_not_found",
        "Chat `nope` not found",
    )
    body = ask_body(tools=("_meiliSearchInIndex",))
    assert error_code(client.call("POST", PATH, body)) == (
        400,
        "bad_request",
        "_meiliSearchInIndex function is already defined.",
    )
    for name in ("get_weather", "_meiliReportErrors"):
        assert error_code(client.call("POST", PATH, ask_body(tools=(name,)))) == (
            501,
            "unimplemented_external_function_calling",
            f"{name}: External functions are not supported yet.",
        )
    # Unknown top-level fields are ignored.
    assert client.call("POST", PATH, ask_body(whatever=1, temperature=0.2)).status == 200


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"stream": True, "messages": []}, "missing field `model`"),
        ({"model": "m", "stream": True}, "missing field `messages`"),
        (
            {"model": 1, "stream": True, "messages": []},
            "invalid type: integer `1`, expected a string",
        ),
        (
            {"model": "m", "stream": True, "messages": [{"role": "robot", "content": "x"}]},
            "unknown variant `robot`, expected one of `developer`, `system`, `user`, "
            "`assistant`, `tool`, `function`",
        ),
        (
            {"model": "m", "stream": "yes", "messages": []},
            'invalid type: string "yes", expected a boolean',
        ),
        (
            {"model": "m", "stream": True, "messages": [], "tools": [{"function": {"name": "x"}}]},
            "missing field `type`",
        ),
        # An integer that a u8 cannot hold is a wrong value, not a wrong type.
        (
            {"model": "m", "stream": True, "messages": [], "n": 256},
            "invalid value: integer `256`, expected u8 at line 1 column 55",
        ),
        (
            {"model": "m", "stream": True, "messages": [], "n": -1},
            "invalid value: integer `-1`, expected u8",
        ),
        ({"model": "m", "stream": True, "messages": [], "n": 1.5}, "invalid type: floating point"),
        ([], "invalid type: sequence"),
        # The OpenAI fields Meilisearch knows are typed, so serde checks them too.
        (
            {"model": "m", "stream": True, "messages": [], "temperature": "hot"},
            'invalid type: string "hot", expected f32',
        ),
        (
            {"model": "m", "stream": True, "messages": [], "max_tokens": 1.5},
            "invalid type: floating point `1.5`, expected u32",
        ),
        (
            {"model": "m", "stream": True, "messages": [], "max_completion_tokens": -1},
            "invalid value: integer `-1`, expected u32",
        ),
        (
            {"model": "m", "stream": True, "messages": [], "seed": "x"},
            'invalid type: string "x", expected i64',
        ),
        (
            {"model": "m", "stream": True, "messages": [], "user": 7},
            "invalid type: integer `7`, expected a string",
        ),
        (
            {"model": "m", "stream": True, "messages": [], "logprobs": "yes"},
            'invalid type: string "yes", expected a boolean',
        ),
        # A list or an object where a scalar belongs: serde stops where it starts.
        (
            {"model": ["m"], "stream": True, "messages": []},
            "invalid type: sequence, expected a string at line 1 column 10",
        ),
    ],
)
def test_body_shape_errors(client: Client, body: Any, fragment: str) -> None:
    status, code, message = error_code(client.call("POST", PATH, body))
    assert (status, code) == (400, "bad_request")
    assert message.startswith("Json deserialize error: ") and fragment in message
    assert " at line 1 column " in message


def test_typed_fields_of_the_right_type_pass(client: Client) -> None:
    body = ask_body(temperature=1, top_p=0.5, max_tokens=100, seed=-3, user="u", store=None)
    assert client.call("POST", PATH, body).status == 200


def test_feature_flag_after_body_and_before_everything_else(
    server: StandInServer, admin: Client, client: Client
) -> None:
    admin.call("PATCH", "/experimental-features", {"chatCompletions": False})
    try:
        assert error_code(client.call("POST", PATH, {"model": 1}))[1] == "bad_request"
        status, code, message = error_code(
            client.call("POST", "/chats/nope/chat/completions", ask_body(stream=False))
        )
        assert (status, code) == (400, "feature_not_enabled")
        assert message.startswith("using the /chats chat completions route requires enabling")
    finally:
        admin.call("PATCH", "/experimental-features", {"chatCompletions": True})


# -- provider errors ---------------------------------------------------------------------------


def test_workspace_without_provider_key_gives_three_frames(
    server: StandInServer, admin: Client, client: Client
) -> None:
    admin.call("PATCH", "/chats/nokey/settings", {"source": "openAi"})
    reply = client.call("POST", "/chats/nokey/chat/completions", ask_body())
    assert reply.status == 200
    frames = reply.frames()
    assert len(frames) == 2 and frames[1] == "[DONE]"
    event = json.loads(frames[0])
    assert list(event) == ["event_id", "type", "error"]
    assert list(event["error"]) == ["type", "code", "message", "param", "event_id"]
    assert event["type"] == "error"
    assert event["error"]["type"] == "invalid_request_error"
    assert event["error"]["code"] == "invalid_api_key"
    assert event["error"]["param"] is None and event["error"]["event_id"] is None


def test_invalid_provider_key_is_reported_in_band(admin: Client, client: Client) -> None:
    admin.call("PATCH", "/chats/badkey/settings", {"apiKey": "sk-invalid-0000000000000000000000"})
    event = client.call("POST", "/chats/badkey/chat/completions", ask_body()).events()[0]
    assert event["error"]["code"] == "invalid_api_key"
    assert event["error"]["message"].startswith("Incorrect API key provided: sk-")
    assert "invalid-0000" not in event["error"]["message"]


def test_mistral_workspace_has_null_tier_and_fingerprint(admin: Client, client: Client) -> None:
    admin.call(
        "PATCH",
        "/chats/mistral/settings",
        {"source": "mistral", "apiKey": "mistral-key-0123456789"},
    )
    events = client.call(
        "POST", "/chats/mistral/chat/completions", ask_body(model="mistral-small-latest")
    ).events()
    assert events[-1] == "[DONE]"
    assert all(e["service_tier"] is None and e["system_fingerprint"] is None for e in events[:-1])
    assert events[0]["model"] == "mistral-small-latest"


def test_tool_choice_none_answers_without_searching(client: Client) -> None:
    events = client.call("POST", PATH, ask_body(tool_choice="none")).events()
    assert not tool_calls(events)
    assert len({e["id"] for e in events[:-1]}) == 1
    assert "without searching" in answer_text(events)


def test_stats_count_completions(server: StandInServer, client: Client) -> None:
    before = server.stats.completions
    client.call("POST", PATH, ask_body())
    client.call("POST", PATH, ask_body(stream=False))
    assert server.stats.completions == before + 1
    assert server.stats.open_streams == 0 and server.stats.max_open_streams >= 1
    bodies = server.completion_bodies()
    assert bodies[-1]["stream"] is False and bodies[-2]["stream"] is True
    recorded = server.recorded[-1]
    assert recorded.method == "POST" and recorded.path == PATH
    assert recorded.headers["content-type"] == "application/json"
    assert json.loads(recorded.raw) == recorded.body


def test_small_talk_needs_no_search(client: Client) -> None:
    events = client.call("POST", PATH, ask_body("Hello there!")).events()
    assert not tool_calls(events)
    assert "`books` and `movies`" in answer_text(events)


def test_typos_and_word_forms_still_find_documents(client: Client) -> None:
    for question, title in (
        ("movies like Interstelar", "Interstellar"),
        ("a dystopian novel", "Fahrenheit 451"),
        ("animated family films", "My Neighbor Totoro"),
    ):
        calls = tool_calls(client.call("POST", PATH, ask_body(question)).events())
        titles = [d["title"] for n, a in calls if n == SOURCES_TOOL for d in a["sources"]]
        assert title in titles, (question, titles)


def test_the_answer_is_a_new_paragraph_after_the_preface(client: Client) -> None:
    text = answer_text(client.call("POST", PATH, ask_body("space movies")).events())
    preface, _, rest = text.partition(" now.")
    assert preface.startswith("I'll search for") and rest.startswith("\n\nHere ")


def test_body_errors_come_in_the_order_of_the_body(client: Client) -> None:
    # serde reads the fields as they come and stops at the first bad one; a missing field is
    # only noticed once the whole object is read.
    _, _, message = error_code(client.call("POST", PATH, {"messages": [], "stream": "yes"}))
    assert 'invalid type: string "yes", expected a boolean' in message
    _, _, message = error_code(
        client.call("POST", PATH, {"temperature": "hot", "model": 1, "messages": []})
    )
    assert 'invalid type: string "hot", expected f32' in message
    _, _, message = error_code(client.call("POST", PATH, {"stream": True}))
    assert "missing field `messages`" in message
