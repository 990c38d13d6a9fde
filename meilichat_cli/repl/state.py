"""The conversation a REPL session carries from one question to the next
(docs/protocol.md#conversation-state).

Meilisearch keeps no conversation: every request carries the whole of it. `ChatState` holds
what earlier turns added (each user message, every `_meiliAppendConversationMessage` payload
verbatim, each assistant answer), never the workspace's system prompt and never progress or
sources. It also holds what the slash commands need about each turn (question, answer,
searches, status), the system messages of the user's own queued for the next request, and
text piped into `chat` that is sent with the first question.

Stdlib, and `protocol` inside `record` (the REPL builds its state before the prompt shows,
the protocol module is needed once an answer comes); no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meilichat_cli.protocol.conversation import Message, Search, Turn


@dataclass
class ChatTurn:
    """One answered question as the REPL remembers it."""

    question: str  # what the user typed (without piped text), for titles and /edit
    prompt: list[Message]  # the new messages the request carried (system…, user)
    answer: str
    searches: list[Search]
    status: str
    added: list[Message]  # what this turn added to the conversation
    turn_id: str | None = None  # the saved history turn, when saved
    # The trace of the turn (/trace): time to first token and total, and the token estimate.
    timings: dict[str, float | None] = field(default_factory=dict)
    estimate: dict[str, Any] | None = None


@dataclass
class ChatState:
    """Everything the next request needs, plus what the slash commands show."""

    workspace: str
    model: str
    persona: str | None = None  # `/as NAME`: questions go with a tenant token signed for it
    base_system: list[str] = field(default_factory=list)  # `--system`: every conversation
    seed: str | None = None  # piped text, sent with the first question
    conversation_id: str | None = None
    messages: list[Message] = field(default_factory=list)
    turns: list[ChatTurn] = field(default_factory=list)
    system: list[str] = field(default_factory=list)  # queued for the next request

    def __post_init__(self) -> None:
        if not self.system:
            self.system = list(self.base_system)

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
