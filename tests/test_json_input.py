"""`meilichat ask --input json`: one question object on stdin, end to end against the
stand-in server, plus the validation rules of `question_input` checked directly."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from meilichat_cli.chat.question import Expected, parse_question
from meilichat_cli.errors import UsageError
from tests.inprocess import run_cli

if TYPE_CHECKING:
    from meilichat_cli.standin import StandInServer

QUESTION = "which space movies do you have?"


def ask_json(env: dict[str, str], payload: Any, *extra: str) -> Any:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return run_cli(["ask", "--input", "json", *extra], env, input=text)


def test_prompt_object_is_asked_like_an_argument(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    result = ask_json(server_env, {"prompt": QUESTION}, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["complete"] is True
    assert data["searches"][0]["sources"]
    assert standin.completion_bodies()[-1]["messages"] == [{"role": "user", "content": QUESTION}]


def test_a_leading_bom_is_ignored_as_in_a_batch_file(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    # Editors on Windows (and PowerShell's Out-File) start UTF-8 text with a BOM.
    result = ask_json(server_env, "\ufeff" + json.dumps({"prompt": QUESTION}), "--json")
    assert result.returncode == 0, result.stderr
    assert standin.completion_bodies()[-1]["messages"] == [{"role": "user", "content": QUESTION}]


def test_messages_continue_the_given_conversation(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    first = run_cli(["ask", "--events", "--no-save", QUESTION], server_env)
    assert first.returncode == 0, first.stderr
    events = [json.loads(line) for line in first.stdout.splitlines()]
    # The conversation as a script keeps it: the messages Meilisearch asked the client to
    # append (`message` events), then the answer.
    tool_messages = [e["message"] for e in events if e["event"] == "message"]
    assert tool_messages
    answer = events[-1]["answer"]
    conversation = [
        {"role": "user", "content": QUESTION},
        *tool_messages,
        {"role": "assistant", "content": answer},
        {"role": "user", "content": "tell me more about the second one"},
    ]
    result = ask_json(server_env, {"messages": conversation}, "--json")
    assert result.returncode == 0, result.stderr
    assert standin.completion_bodies()[-1]["messages"] == conversation
    data = json.loads(result.stdout)
    assert "earlier search result" in data["answer"], "the model saw the earlier results"
    assert data["searches"] == [], "a follow-up is answered from the conversation"


def test_prompt_after_messages_is_appended_and_system_comes_first(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    payload = {
        "system": "Answer in one line.",
        "messages": [
            {"role": "user", "content": "Christopher Nolan movies"},
            {"role": "assistant", "content": "Inception, Memento and more."},
        ],
        "prompt": "What about Ridley Scott films?",
    }
    result = ask_json(server_env, payload, "--json", "--system", "ignored: the input has one")
    assert result.returncode == 0, result.stderr
    assert standin.completion_bodies()[-1]["messages"] == [
        {"role": "system", "content": "Answer in one line."},
        payload["messages"][0],
        payload["messages"][1],
        {"role": "user", "content": "What about Ridley Scott films?"},
    ]
    data = json.loads(result.stdout)
    assert data["searches"][0]["q"] == "ridley scott"


def test_workspace_and_model_fields_win_over_the_environment(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    env = {**server_env, "MEILICHAT_WORKSPACE": "nowhere", "MEILICHAT_MODEL": "env-model"}
    payload = {"prompt": QUESTION, "workspace": standin.workspace, "model": "gpt-4o"}
    result = ask_json(env, payload, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["workspace"], data["model"]) == (standin.workspace, "gpt-4o")
    assert standin.completion_bodies()[-1]["model"] == "gpt-4o"


def test_exit_codes_are_those_of_ask(server_env: dict[str, str]) -> None:
    failing = ask_json(server_env, {"prompt": QUESTION, "model": "scenario:provider-error"})
    assert failing.returncode == 5
    missing = ask_json(server_env, {"prompt": QUESTION, "workspace": "nope"}, "--json")
    assert missing.returncode == 4
    assert missing.stdout == ""
    assert json.loads(missing.stderr)["error"]["kind"] == "not_found"


def test_plain_output_mode_streams_the_answer(server_env: dict[str, str]) -> None:
    result = ask_json(server_env, {"prompt": QUESTION})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert not result.stdout.lstrip().startswith("{")


BAD_INPUTS = [
    ("not json", "input is not valid JSON"),
    ('{"prompt": "x",}', "input is not valid JSON"),
    ("", "input is empty"),
    ("[]", "input must be a JSON object, not an array"),
    ("{}", "needs a `prompt` (string) or a `messages` array"),
    ('{"prompt": 3}', "input.prompt must be a string, not a number"),
    ('{"prompt": "   "}', "input.prompt is empty"),
    ('{"promt": "x"}', "input.promt is not a known field"),
    ('{"messages": "hi"}', "input.messages must be an array, not a string"),
    ('{"messages": []}', "input.messages is empty"),
    ('{"messages": ["hi"]}', "input.messages[0] must be an object, not a string"),
    ('{"messages": [{"content": "x"}]}', "input.messages[0].role must be a string"),
    ('{"messages": [{"role": "robot", "content": "x"}]}', "input.messages[0].role 'robot'"),
    (
        '{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},'
        ' {"role": "user", "content": 5}]}',
        "input.messages[2].content must be a string or an array of content parts",
    ),
    ('{"messages": [{"role": "user"}]}', "input.messages[0].content is missing"),
    (
        '{"messages": [{"role": "user", "content": [{"text": "x"}]}]}',
        'input.messages[0].content[0] must be a content part object with a "type"',
    ),
    (
        '{"messages": [{"role": "tool", "content": "x"}, {"role": "user", "content": "y"}]}',
        "input.messages[0].tool_call_id must be a string",
    ),
    (
        '{"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": {}}]},'
        ' {"role": "user", "content": "y"}]}',
        "input.messages[0].tool_calls[0].function.name must be a string",
    ),
    (
        '{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}',
        "input.messages must end with a user message",
    ),
    ('{"prompt": "x", "workspace": "../keys"}', "input.workspace: invalid workspace"),
    ('{"prompt": "x", "model": 4}', "input.model must be a string"),
    ('{"prompt": "x", "system": ["a"]}', "input.system must be a string, not an array"),
    ('{"prompt": "x", "expect": "7"}', "input.expect must be an array"),
    ('{"prompt": "x", "expect": [true]}', "input.expect[0] must be a string or an integer"),
    ('{"prompt": "x", "id": 1.5}', "input.id must be a string or an integer"),
]


# Each shape through the real entry point once would cost ~0.3 s apiece; the rules are checked
# in-process below, and a sample of every kind (syntax, top level, message, field) end to end.
END_TO_END = [BAD_INPUTS[i] for i in (0, 2, 3, 5, 7, 13, 18, 19, 22)]


@pytest.mark.parametrize(("payload", "message"), BAD_INPUTS)
def test_bad_shape_is_a_usage_error_naming_the_field(payload: str, message: str) -> None:
    import io

    from meilichat_cli.chat.question import read_question

    with pytest.raises(UsageError) as caught:
        read_question(io.StringIO(payload))
    assert message in caught.value.message


@pytest.mark.parametrize(("payload", "message"), END_TO_END)
def test_bad_input_exits_2_naming_the_field_and_sends_nothing(
    server_env: dict[str, str], standin: StandInServer, payload: str, message: str
) -> None:
    result = ask_json(server_env, payload)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert standin.completion_bodies() == []


def test_bad_input_in_json_mode_is_a_json_error(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    result = ask_json(server_env, '{"prompt": 3}', "--json")
    assert result.returncode == 2
    error = json.loads(result.stderr)["error"]
    assert error["kind"] == "usage"
    assert error["message"] == "input.prompt must be a string, not a number"
    assert standin.completion_bodies() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "json", "a question"], "give it no PROMPT arguments"),
        (["--input", "yaml"], "the only input format is json"),
    ],
)
def test_input_option_misuse_exits_2(
    server_env: dict[str, str], standin: StandInServer, args: list[str], message: str
) -> None:
    result = run_cli(["ask", *args], server_env, input='{"prompt": "x"}')
    assert result.returncode == 2
    assert message in result.stderr
    assert standin.completion_bodies() == []


def test_id_and_expect_are_accepted_so_batch_lines_replay_with_ask() -> None:
    question = parse_question(
        {"id": 7, "prompt": "Dune", "expect": ["movies:7", 1, "books:1", 1]}, where="input"
    )
    assert question.id == 7
    assert question.expect == (Expected("7", "movies"), Expected("1"), Expected("1", "books"))


@pytest.mark.parametrize("bad", ["movies:", ":7", ""])
def test_expectations_must_name_a_key(bad: str) -> None:
    with pytest.raises(UsageError, match=r"input\.expect\[0\]"):
        parse_question({"prompt": "x", "expect": [bad]}, where="input")


def test_content_parts_and_assistant_tool_calls_are_accepted() -> None:
    question = parse_question(
        {
            "messages": [
                {"role": "developer", "content": [{"type": "text", "text": "be brief"}]},
                {"role": "user", "content": [{"type": "text", "text": "space movies"}]},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "content": "Alien", "tool_call_id": "c1"},
                {"role": "user", "content": [{"type": "text", "text": "the first one?"}]},
            ]
        }
    )
    assert question.text == "the first one?"
    assert question.new_messages("ignored")[0] == {"role": "system", "content": "ignored"}
    assert len(question.new_messages(None)) == 5
