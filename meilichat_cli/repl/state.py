"""The conversation a REPL session carries from one question to the next
(docs/protocol.md#conversation-state).

Meilisearch keeps no conversation: every request carries the whole of it. `ChatState` holds
what earlier turns added (each user message, every `_meiliAppendConversationMessage` payload
verbatim, each assistant answer), never the workspace's system prompt and never progress or
sources. It also holds what the slash commands need about each turn (question, answer,
searches, status), the system messages of the user's own queued for the next request, and
text piped into `chat` that is sent with the first question.

Stdlib, `values`, and `protocol` inside `record` (the REPL builds its state before the prompt
shows, the protocol module is needed once an answer comes); no I/O. Plain classes, not
dataclasses: both are created before the first prompt, where creating a dataclass costs most
of a millisecond (docs/performance.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from meilichat_cli.values import Value

if TYPE_CHECKING:
    from meilichat_cli.protocol.conversation import Message, Search, Turn


class ChatTurn(Value):
    """One answered question as the REPL remembers it."""

    __slots__ = (
        "added",
        "answer",
        "estimate",
        "prompt",
        "question",
        "searches",
        "status",
        "timings",
        "turn_id",
    )

    def __init__(
        self,
        question: str,
        prompt: list[Message],
        answer: str,
        searches: list[Search],
        status: str,
        added: list[Message],
        turn_id: str | None = None,
        timings: dict[str, float | None] | None = None,
        estimate: dict[str, Any] | None = None,
    ) -> None:
        self.question = question  # what the user typed (without piped text), for titles, /edit
        self.prompt = prompt  # the new messages the request carried (system…, user)
        self.answer = answer
        self.searches = searches
        self.status = status
        self.added = added  # what this turn added to the conversation
        self.turn_id = turn_id  # the saved history turn, when saved
        # The trace of the turn (/trace): time to first token and total, the token estimate.
        self.timings: dict[str, float | None] = {} if timings is None else timings
        self.estimate = estimate


class ChatState(Value):
    """Everything the next request needs, plus what the slash commands show."""

    __slots__ = (
        "base_system",
        "conversation_id",
        "messages",
        "model",
        "persona",
        "seed",
        "system",
        "turns",
        "workspace",
    )

    def __init__(
        self,
        workspace: str,
        model: str,
        persona: str | None = None,
        base_system: list[str] | None = None,
        seed: str | None = None,
        conversation_id: str | None = None,
        messages: list[Message] | None = None,
        turns: list[ChatTurn] | None = None,
        system: list[str] | None = None,
    ) -> None:
        self.workspace = workspace
        self.model = model
        self.persona = persona  # `/as NAME`: questions go with a tenant token signed for it
        # `--system`: every conversation.
        self.base_system: list[str] = [] if base_system is None else base_system
        self.seed = seed  # piped text, sent with the first question
        self.conversation_id = conversation_id
        self.messages: list[Message] = [] if messages is None else messages
        self.turns: list[ChatTurn] = [] if turns is None else turns
        # Queued for the next request; at first, the --system messages.
        self.system: list[str] = system if system else list(self.base_system)

    @property
    def last_turn(self) -> ChatTurn | None:
        return self.turns[-1] if self.turns else None

    def prompt_for(self, question: str) -> list[Message]:
        """The new messages a request for `question` adds: queued system messages, then the
        user message (piped text first, a blank line, then the question)."""
        content = question if self.seed is None else f"{self.seed}\n\n{question}"
        return [
            *({"role": "system", "content": text} for text in self.system),
            {"role": "user", "content": content},
        ]

    def record(self, question: str, prompt: list[Message], turn: Turn) -> ChatTurn | None:
        """Add a finished (or interrupted, or cut) turn to the conversation.

        A turn that received nothing (refused request, Ctrl-C before the first byte) adds
        nothing: the next request would otherwise carry a question with no answer. Its system
        messages and piped text stay queued for the next question."""
        received = [*turn.tool_messages]
        if turn.answer:
            received.append({"role": "assistant", "content": turn.answer})
        from meilichat_cli.protocol.conversation import complete_tool_pairs

        received = complete_tool_pairs(received)
        if not received:
            return None
        added = [*prompt, *received]
        entry = ChatTurn(
            question=question,
            prompt=list(prompt),
            answer=turn.answer,
            searches=list(turn.searches),
            status=turn.status or "truncated",
            added=added,
        )
        self.messages.extend(added)
        self.turns.append(entry)
        self.system = []
        self.seed = None
        return entry

    def forget_last(self) -> ChatTurn | None:
        """Take the last turn out of the conversation (for /retry and /edit)."""
        if not self.turns:
            return None
        entry = self.turns.pop()
        del self.messages[len(self.messages) - len(entry.added) :]
        return entry

    def reset(self) -> None:
        """A fresh conversation on the same workspace and model (/new)."""
        self.conversation_id = None
        self.messages = []
        self.turns = []
        self.system = list(self.base_system)
        self.seed = None

    def load(self, conversation_id: str, messages: list[Message], turns: list[ChatTurn]) -> None:
        """Continue a saved conversation: its messages are what the next request carries."""
        self.conversation_id = conversation_id
        self.messages = list(messages)
        self.turns = list(turns)
        self.system = list(self.base_system)
