"""The scripted "LLM": decides what to search from the conversation and writes the answer.

Deterministic and honest about where its answer comes from:

* A follow-up that points at an earlier result ("tell me more about the second one", "and the
  first one?", "number 3") is resolved against the documents of the most recent `role: tool`
  message in the request, without a new search, and the answer says how many earlier search
  results it saw ("(from 2 earlier search results in this conversation)"). With no earlier
  results it says it has nothing to refer to.
* Otherwise it picks the index(es) from words like "movie"/"book"/"ticket" (when unsure, all
  allowed indexes but the tickets, which are searched only when named), builds `q` from the
  remaining words minus stop words, turns "after 2010",
  "before 1990", "in the 90s", "between 1980 and 1990" into a `year` filter, and after the
  searches writes a short markdown answer: an intro sentence, a numbered list of **titles**
  with a detail, and a line naming the index and query it came from.

Stdlib only; imports `server.search` for the index data type.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from meilichat_cli.standin.search import IndexData

# Words that carry no search meaning in a question (kept as text: easy to read and extend).
_STOPWORDS_TEXT = """
a about after all also am an and any anything are as at be been before best between by can
could did do does doing
few find for from get give good great has have having he her here hers him his how i i'd
i'll i'm if in into is it its know let like list look looking lot lots may me mention might
more most my need of on one or other our please recommend recommendations search several
show some something suggest suggestions tell than that the their them then there there's
these they this those to us want was we were what what's whats which who whom why will with
would you your yours
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())

_MOVIE_WORDS = """movie movies film films cinema director directed watch watching flick flicks
screen actor actors"""
_BOOK_WORDS = """book books novel novels author authors read reading wrote written writer
writers literature pages"""
_TICKET_WORDS = """ticket tickets support customer customers complaint complaints request
requests issue issues tenant tenants"""
INDEX_HINTS: dict[str, frozenset[str]] = {
    "movies": frozenset(_MOVIE_WORDS.split()),
    "books": frozenset(_BOOK_WORDS.split()),
    "tickets": frozenset(_TICKET_WORDS.split()),
}

_SMALL_TALK_TEXT = """hi hello hey hiya howdy yo thanks thank you thx cheers bye goodbye ok okay
great cool nice good morning evening afternoon there"""
SMALL_TALK = frozenset(_SMALL_TALK_TEXT.split())

ORDINALS = {
    "first": 1,
    "1st": 1,
    "second": 2,
    "2nd": 2,
    "third": 3,
    "3rd": 3,
    "fourth": 4,
    "4th": 4,
    "fifth": 5,
    "5th": 5,
    "sixth": 6,
    "6th": 6,
    "seventh": 7,
    "7th": 7,
    "eighth": 8,
    "8th": 8,
    "ninth": 9,
    "9th": 9,
    "tenth": 10,
    "10th": 10,
    "last": -1,
}
_ORDINAL_WORDS = "|".join(sorted(ORDINALS, key=len, reverse=True))
_REFERENCE_NOUNS = "one|ones|result|hit|item|entry|option|suggestion|pick|match"
_FOLLOW_UP_PATTERNS = (
    re.compile(rf"\b(?P<ord>{_ORDINAL_WORDS})\s+(?:{_REFERENCE_NOUNS})\b", re.I),
    re.compile(
        rf"\bthe\s+(?P<ord>{_ORDINAL_WORDS})\s+(?:movie|film|book|title)\s*[?.!]*\s*$", re.I
    ),
    re.compile(rf"\bthe\s+(?P<ord>{_ORDINAL_WORDS})\s*[?.!]*\s*$", re.I),
    re.compile(r"(?:\bnumber\s+|#|\bno\.\s*)(?P<num>\d{1,2})\b", re.I),
)

_DECADE_RE = re.compile(r"\b(?:in|from)?\s*(?:the\s+)?'?(\d{2}|\d{4})s\b", re.I)
_BETWEEN_RE = re.compile(r"\bbetween\s+(\d{4})\s+and\s+(\d{4})\b", re.I)
_AFTER_RE = re.compile(r"\b(after|since|newer than)\s+(\d{4})\b", re.I)
_BEFORE_RE = re.compile(r"\b(before|older than|prior to)\s+(\d{4})\b", re.I)
_IN_YEAR_RE = re.compile(r"\b(?:in|from)\s+(\d{4})\b", re.I)
_WORD_RE = re.compile(r"[\w'’-]+", re.UNICODE)


@dataclass
class PlannedSearch:
    index_uid: str
    q: str
    filter: str = ""


@dataclass
class Reference:
    """A follow-up: which earlier result the user means and what was found for it."""

    ordinal: int
    earlier_results: int
    documents: list[dict[str, Any]] = field(default_factory=list)
    index_uid: str | None = None

    @property
    def document(self) -> dict[str, Any] | None:
        if not self.documents:
            return None
        position = len(self.documents) - 1 if self.ordinal == -1 else self.ordinal - 1
        return self.documents[position] if 0 <= position < len(self.documents) else None


@dataclass
class Plan:
    question: str
    searches: list[PlannedSearch] = field(default_factory=list)
    reference: Reference | None = None
    earlier_results: int = 0
    small_talk: bool = False  # a greeting or thanks: nothing to search


@dataclass
class SearchOutcome:
    """What one search gave the model: documents, or the text of a failure."""

    search: PlannedSearch
    documents: list[dict[str, Any]] = field(default_factory=list)
    failure: str | None = None
    failure_code: str | None = None


def message_text(message: dict[str, Any]) -> str:
    """A message's text: a string, or the text parts of an array of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message)
    return ""


def _ordinal(question: str) -> int | None:
    for pattern in _FOLLOW_UP_PATTERNS:
        match = pattern.search(question)
        if match:
            if match.groupdict().get("num"):
                return int(match.group("num"))
            return ORDINALS[match.group("ord").lower()]
    return None


def _year_filter(question: str) -> tuple[str, str]:
    """(filter expression, question with the year phrases removed)."""
    clauses: list[str] = []
    rest = question
    builders: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
        (_BETWEEN_RE, lambda m: f"year {m.group(1)} TO {m.group(2)}"),
        (
            _AFTER_RE,
            lambda m: f"year {'>=' if m.group(1).lower() == 'since' else '>'} {m.group(2)}",
        ),
        (_BEFORE_RE, lambda m: f"year < {m.group(2)}"),
        (_DECADE_RE, lambda m: _decade(m.group(1))),
        (_IN_YEAR_RE, lambda m: f"year = {m.group(1)}"),
    )
    for regex, build in builders:
        clauses.extend(build(match) for match in regex.finditer(rest))
        rest = regex.sub(" ", rest)
    return " AND ".join(clauses), rest


def _decade(digits: str) -> str:
    start = int(digits)
    if start < 100:
        start += 1900 if start >= 30 else 2000
    return f"year >= {start} AND year < {start + 10}"


def _query_words(text: str) -> list[str]:
    words = [w.strip("'’-").lower() for w in _WORD_RE.findall(text)]
    return [w for w in words if w]


def plan(
    messages: list[dict[str, Any]],
    allowed_indexes: list[str],
    indexes: dict[str, IndexData],
) -> Plan:
    """Decide what to do with the conversation's last user message."""
    question = last_user_text(messages)
    tool_messages = [m for m in messages if m.get("role") == "tool"]
    result = Plan(question=question, earlier_results=len(tool_messages))
    ordinal = _ordinal(question)
    if ordinal is not None:
        result.reference = _resolve(ordinal, messages, tool_messages, indexes)
        return result
    filter_expr, rest = _year_filter(question)
    words = _query_words(rest)
    if words and set(words) <= SMALL_TALK:
        result.small_talk = True
        return result
    wanted = [uid for uid in allowed_indexes if INDEX_HINTS.get(uid, frozenset()) & set(words)]
    unsure = [uid for uid in allowed_indexes if uid in indexes and not indexes[uid].only_when_named]
    targets = wanted or unsure or list(allowed_indexes)
    hint_words = frozenset().union(*INDEX_HINTS.values())
    q = " ".join(w for w in words if w not in STOPWORDS and w not in hint_words)
    result.searches = [PlannedSearch(uid, q, filter_expr) for uid in targets]
    return result


def _resolve(
    ordinal: int,
    messages: list[dict[str, Any]],
    tool_messages: list[dict[str, Any]],
    indexes: dict[str, IndexData],
) -> Reference:
    reference = Reference(ordinal=ordinal, earlier_results=len(tool_messages))
    if not tool_messages:
        return reference
    latest = tool_messages[-1]
    index_uid = _index_of_call(messages, latest.get("tool_call_id"))
    candidates = [indexes[index_uid]] if index_uid in indexes else list(indexes.values())
    reference.index_uid = index_uid
    reference.documents = documents_in_text(message_text(latest), candidates)
    return reference


def _index_of_call(messages: list[dict[str, Any]], call_id: Any) -> str | None:
    """The index the assistant's `_meiliSearchInIndex` call with this id searched."""
    for message in messages:
        for call in message.get("tool_calls") or []:
            if not isinstance(call, dict) or call.get("id") != call_id:
                continue
            try:
                arguments = json.loads(call.get("function", {}).get("arguments", ""))
            except (TypeError, ValueError):
                return None
            uid = arguments.get("index_uid") if isinstance(arguments, dict) else None
            return uid if isinstance(uid, str) else None
    return None


def documents_in_text(text: str, candidates: list[IndexData]) -> list[dict[str, Any]]:
    """The documents whose titles appear in a rendered tool result, in order of appearance."""
    found: list[tuple[int, int, dict[str, Any]]] = []
    for data in candidates:
        for doc in data.documents:
            title = doc.get("title")
            if not isinstance(title, str) or not title:
                continue
            for match in re.finditer(rf"(?<!\w){re.escape(title)}(?!\w)", text):
                found.append((match.start(), match.end(), doc))
    # Prefer the longest title at a position and skip titles nested inside a chosen one.
    found.sort(key=lambda item: (item[0], -(item[1] - item[0])))
    chosen: list[dict[str, Any]] = []
    covered_until = -1
    for start, end, doc in found:
        if start < covered_until or doc in chosen:
            continue
        chosen.append(doc)
        covered_until = end
    return chosen


# ---------------------------------------------------------------------------------------------
# Writing.

NOUNS = {
    "movies": ("movie", "movies"),
    "books": ("book", "books"),
    "tickets": ("ticket", "tickets"),
}


def _noun(index_uid: str, count: int) -> str:
    singular, plural = NOUNS.get(index_uid, ("document", "documents"))
    return singular if count == 1 else plural


def _results_phrase(count: int) -> str:
    return f"{count} earlier search result{'' if count == 1 else 's'}"


def preface(searches: list[PlannedSearch]) -> str:
    """What the model says before calling the search tool."""
    parts = []
    for search in searches:
        what = f"“{search.q}”" if search.q else "everything"
        where = f" in {search.index_uid}"
        extra = f" with `{search.filter}`" if search.filter else ""
        parts.append(f"{what}{where}{extra}")
    return "I'll search for " + " and ".join(parts) + " now."


def retry_preface(failed: list[SearchOutcome]) -> str:
    names = ", ".join(f"`{o.search.index_uid}`" for o in failed)
    return f"The filter was rejected by {names}, so I'll search again without it."


def _detail(doc: dict[str, Any]) -> str:
    by = doc.get("director") or doc.get("author")
    role = "directed by" if "director" in doc else "by"
    year = doc.get("year")
    bits = []
    if year is not None:
        bits.append(f"({year})")
    if by:
        bits.append(f"{role} {by}")
    text = doc.get("overview") or doc.get("summary") or ""
    head = " ".join(str(b) for b in bits)
    return f"{head}: {text}" if text and head else head or str(text)


def _document_line(position: int, doc: dict[str, Any]) -> str:
    title = doc.get("title", f"document {doc.get('id')}")
    return f"{position}. **{title}** {_detail(doc)}".rstrip()


def compose_answer(question: str, outcomes: list[SearchOutcome]) -> str:
    """The markdown answer written from the search results."""
    sections: list[str] = []
    provenance: list[str] = []
    total = 0
    for outcome in outcomes:
        search = outcome.search
        where = f"`{search.index_uid}`"
        query = f"“{search.q}”" if search.q else "everything"
        if outcome.failure is not None:
            sections.append(
                f"I couldn't search the {where} index: {outcome.failure.splitlines()[0]}"
            )
            continue
        docs = outcome.documents
        total += len(docs)
        filt = f" with filter `{search.filter}`" if search.filter else ""
        provenance.append(f"{where} ({query}{filt})")
        if not docs:
            sections.append(
                f"I couldn't find any {_noun(search.index_uid, 2)} matching {query}{filt} in "
                f"the {where} index."
            )
            continue
        count = len(docs)
        intro = f"Here {'is' if count == 1 else 'are'} {count} {_noun(search.index_uid, count)}"
        intro += f" matching {query}" if search.q else ""
        intro += f" ({search.filter})" if search.filter else ""
        lines = [intro + ":", ""]
        lines += [_document_line(n, doc) for n, doc in enumerate(docs, start=1)]
        sections.append("\n".join(lines))
    if not outcomes:
        return "I didn't search anything for this question, so I have no documents to answer from."
    footer = ""
    if provenance:
        footer = (
            "\n\n_These results come from searching "
            + " and ".join(provenance)
            + "; I only used what the search returned._"
        )
    if total == 0 and provenance:
        filtered = any(o.search.filter for o in outcomes)
        footer += "\n\nTry other words" + (", or remove the year filter." if filtered else ".")
    return "\n\n".join(sections) + footer


def compose_small_talk(indexes: list[str]) -> str:
    """The reply to a greeting or a thank-you: what can be asked, no search."""
    names = " and ".join(f"`{uid}`" for uid in indexes) or "no index"
    return (
        f"Hello! I answer from the {names} "
        f"{'index' if len(indexes) == 1 else 'indexes'} of this server. Ask me something like "
        "“space movies after 2010” or “novels by Ursula K. Le Guin”, then follow up with "
        "“tell me more about the second one”."
    )


def compose_follow_up(reference: Reference) -> str:
    """The answer to "tell me more about the second one" and the like."""
    seen = f"_(from {_results_phrase(reference.earlier_results)} in this conversation)_"
    if reference.earlier_results == 0:
        return (
            "I don't have any earlier search results in this conversation to refer to, so I "
            "can't tell which one you mean. Ask me a question first and I'll search for it.\n\n"
            + seen
        )
    doc = reference.document
    if doc is None:
        count = len(reference.documents)
        which = "the last one" if reference.ordinal == -1 else f"number {reference.ordinal}"
        return (
            f"The most recent search returned {count} result{'' if count == 1 else 's'}, so "
            f"there is no {which} to tell you about.\n\n{seen}"
        )
    position = len(reference.documents) if reference.ordinal == -1 else reference.ordinal
    title = doc.get("title", f"document {doc.get('id')}")
    lines = [f"More about **{title}**, result {position} of the most recent search:", ""]
    for name, value in doc.items():
        if name in ("id", "title", "overview", "summary"):
            continue
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        lines.append(f"- **{name.capitalize()}:** {shown}")
    text = doc.get("overview") or doc.get("summary")
    if text:
        lines += ["", str(text)]
    lines += ["", seen]
    return "\n".join(lines)


_PIECE_RE = re.compile(r"\S+\s*|\s+")


def split_into_deltas(text: str, max_piece: int = 6) -> list[str]:
    """Cut text into small deltas, a few characters to a word each (like model tokens)."""
    pieces: list[str] = []
    for match in _PIECE_RE.finditer(text):
        word = match.group()
        while len(word) > max_piece + 2:
            pieces.append(word[:max_piece])
            word = word[max_piece:]
        pieces.append(word)
    return pieces
