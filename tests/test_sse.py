"""SSE framing: the recorded streams at every split point, the WHATWG parsing rules, the
bad inputs of docs/reliability.md about the stream, the size cap, and split-invariance
properties."""

from __future__ import annotations

import itertools
import random
import re
import time
import tracemalloc
from pathlib import Path

import hypothesis_profiles  # noqa: F401 - loads the shared hypothesis profile
import pytest
from hypothesis import given
from hypothesis import strategies as st

from meilichat_cli.errors import ProtocolError
from meilichat_cli.protocol.sse import MAX_EVENT_BYTES, SSEDecoder, SSEMessage

FIXTURES = Path(__file__).parent / "fixtures"
STREAM_FILES = ["openai_one_search.sse", "provider_error.sse", "search_error.sse"]
MiB = 1024 * 1024


def decode_pieces(pieces: list[bytes], **kwargs: int) -> list[SSEMessage]:
    decoder = SSEDecoder(**kwargs)
    messages: list[SSEMessage] = []
    for piece in pieces:
        messages.extend(decoder.feed(piece))
    decoder.close()
    return messages


def data_of(pieces: list[bytes]) -> list[str]:
    return [message.data for message in decode_pieces(pieces)]


def split_at(body: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(body)]
    return [body[a:b] for a, b in itertools.pairwise(bounds)]


def reference_parse(body: bytes) -> tuple[list[SSEMessage], int | None]:
    """The spec, written the slow and obvious way: decode everything, then split lines."""
    text = body.decode("utf-8", "replace")
    text = text.removeprefix("\ufeff")
    lines = re.split("\r\n|\r|\n", text)[:-1]  # the last piece has no line end yet
    messages: list[SSEMessage] = []
    data: list[str] = []
    event_type = ""
    last_id = ""
    retry = None
    for line in lines:
        if line == "":
            if data:
                messages.append(
                    SSEMessage("\n".join(data), event_type or "message", last_id or None)
                )
            data, event_type = [], ""
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event_type = value
        elif name == "id" and "\0" not in value:
            last_id = value
        elif name == "retry" and value and all("0" <= c <= "9" for c in value):
            retry = int(value)
    return messages, retry


# -- the recorded streams ---------------------------------------------------------------------


@pytest.mark.parametrize("name", STREAM_FILES)
def test_recorded_stream_in_one_piece_gives_every_event(name: str) -> None:
    body = (FIXTURES / name).read_bytes()
    decoder = SSEDecoder()
    messages = decoder.feed(body)
    decoder.close()
    assert decoder.retry == 10000
    assert len(messages) == body.count(b"\n\ndata: ")
    assert messages[-1] == SSEMessage("[DONE]")
    assert all(m.event == "message" and m.id is None for m in messages)
    assert messages == reference_parse(body)[0]


def test_composed_example_has_eleven_messages_with_the_expected_payloads() -> None:
    body = (FIXTURES / "openai_one_search.sse").read_bytes()
    messages = decode_pieces([body])
    assert len(messages) == 11
    assert messages[0].data.startswith('{"id":"chatcmpl-AAA111","choices":[{"index":0,')
    assert '"name":"_meiliSearchSources"' in messages[4].data
    assert [m.data for m in messages[-1:]] == ["[DONE]"]


@pytest.mark.parametrize("name", STREAM_FILES)
def test_recorded_stream_split_at_every_point_gives_the_same_messages(name: str) -> None:
    body = (FIXTURES / name).read_bytes()
    expected = decode_pieces([body])
    for cut in range(len(body) + 1):
        decoder = SSEDecoder()
        got = decoder.feed(body[:cut]) + decoder.feed(body[cut:])
        decoder.close()
        assert got == expected, f"split at byte {cut}"
        assert decoder.retry == 10000


@pytest.mark.parametrize("seed", range(20))
def test_recorded_stream_random_multiway_splits(seed: int) -> None:
    rng = random.Random(seed)
    body = (FIXTURES / "openai_one_search.sse").read_bytes()
    expected = decode_pieces([body])
    cuts = rng.sample(range(len(body) + 1), rng.randint(2, 60))
    assert decode_pieces(split_at(body, cuts)) == expected


def test_recorded_stream_fed_one_byte_at_a_time() -> None:
    body = (FIXTURES / "openai_one_search.sse").read_bytes()
    pieces = [body[i : i + 1] for i in range(len(body))]
    assert decode_pieces(pieces) == decode_pieces([body])


@pytest.mark.parametrize("line_end", [b"\r\n", b"\r"])
def test_recorded_stream_with_other_line_ends_gives_the_same_messages(line_end: bytes) -> None:
    body = (FIXTURES / "openai_one_search.sse").read_bytes()
    converted = body.replace(b"\n", line_end)
    expected = decode_pieces([body])
    assert decode_pieces([converted]) == expected
    for cut in range(0, len(converted) + 1, 7):
        assert decode_pieces([converted[:cut], converted[cut:]]) == expected


# -- bad inputs (docs/reliability.md) ---------------------------------------------------------


def test_a_split_inside_a_multibyte_character_is_joined() -> None:
    body = 'data: {"content":"héllo wörld € 🎉 日本"}\n\n'.encode()
    for cut in range(len(body) + 1):
        assert data_of([body[:cut], body[cut:]]) == ['{"content":"héllo wörld € 🎉 日本"}']
    emoji = "🎉".encode()
    pieces = [b"data: a", emoji[:1], emoji[1:2], emoji[2:3], emoji[3:], b"b\n\n"]
    assert data_of(pieces) == ["a🎉b"]


def test_a_crlf_split_between_pieces_is_one_line_end() -> None:
    assert data_of([b"data: a\r", b"\ndata: b\r\n\r\n"]) == ["a\nb"]
    # CR | LF | CR | LF: two line ends, so exactly one event, not an event torn in two.
    assert data_of([b"data: a\r", b"\n", b"\r", b"\n"]) == ["a"]
    assert data_of([b"data: a\r", b"\n", b"data: b\r", b"\n\r\n"]) == ["a\nb"]
    # A CR at the end of a piece followed by something other than LF is a line end on its own.
    assert data_of([b"data: a\r", b"data: b\r", b"\r"]) == ["a\nb"]


def test_cr_only_line_ends_are_line_ends() -> None:
    assert data_of([b"data: a\rdata: b\r\r"]) == ["a\nb"]
    body = b"data: a\rdata: b\r\rdata: c\r\r"
    for cut in range(len(body) + 1):
        assert data_of([body[:cut], body[cut:]]) == ["a\nb", "c"]


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\u0085", "\x0c", "\x0b", "\x1c", "\x1e"])
def test_unicode_line_separators_never_split_lines(char: str) -> None:
    payload = f'{{"content":"one{char}two"}}'
    body = f"data: {payload}\n\n".encode()
    for cut in range(len(body) + 1):
        assert data_of([body[:cut], body[cut:]]) == [payload]


def test_done_spellings_reach_the_event_layer_intact() -> None:
    assert data_of([b"data:[DONE]\n\n"]) == ["[DONE]"]
    assert data_of([b"data: [DONE]  \n\n"]) == ["[DONE]  "]
    assert data_of([b"data: [DONE]\r\n\r\n"]) == ["[DONE]"]


def test_comment_lines_are_ignored() -> None:
    body = b": ping\n\ndata: a\n: keep-alive\ndata: b\n\n:\n\n"
    assert decode_pieces([body]) == [SSEMessage("a\nb")]


def test_a_leading_bom_is_dropped_and_the_first_event_kept() -> None:
    body = b"\xef\xbb\xbfdata: first\n\ndata: second\n\n"
    for cut in range(len(body) + 1):
        assert data_of([body[:cut], body[cut:]]) == ["first", "second"]
    assert data_of([b"\xef", b"\xbb", b"\xbf", b"data: first\n\n"]) == ["first"]
    # Only one BOM is stripped, and only at the very start.
    assert data_of([b"\xef\xbb\xbf\xef\xbb\xbfdata: lost\n\n"]) == []
    assert data_of([b"data: a\n\n\xef\xbb\xbfdata: b\n\n"]) == ["a"]


def test_a_bom_prefix_that_is_not_a_bom_is_kept_as_content() -> None:
    assert data_of([b"\xef", b"\n", b"data: x\n\n"]) == ["x"]
    assert data_of([b"\xefdata: x\n\n"]) == []  # the field name is "\ufffddata"


def test_invalid_utf8_becomes_replacement_characters() -> None:
    body = b"data: a\xffb\xc3(c\xe2\x82\n\n"
    for cut in range(len(body) + 1):
        assert data_of([body[:cut], body[cut:]]) == ["a\ufffdb\ufffd(c\ufffd"]


def test_the_body_is_always_decoded_as_utf8() -> None:
    # The decoder takes no charset: a server announcing latin-1 still gets UTF-8 decoding.
    assert data_of(["data: café\n\n".encode()]) == ["café"]


def test_an_event_without_data_is_not_dispatched() -> None:
    assert decode_pieces([b"event: ping\n\n"]) == []
    # ... and its type does not leak into the next event.
    assert decode_pieces([b"event: ping\n\ndata: x\n\n"]) == [SSEMessage("x")]


def test_a_huge_line_without_newline_hits_the_cap_with_bounded_memory() -> None:
    piece = b"data: " + b"x" * (MiB - 6)
    decoder = SSEDecoder()
    fed = 0
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError, match=r"^event exceeds 8 MiB limit$"):
            for index in range(100):  # 100 MiB in all, if it never stopped
                fed = index + 1
                decoder.feed(piece if index == 0 else b"x" * MiB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert fed == 9  # the ninth MiB is the first to exceed 8 MiB
    assert peak < 20 * MiB
    with pytest.raises(ProtocolError):  # the stream stays broken
        decoder.feed(b"\n\n")


def test_one_huge_piece_is_not_copied_before_the_cap_check() -> None:
    piece = b"data: " + b"x" * (12 * MiB)
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError, match=r"^event exceeds 8 MiB limit$"):
            SSEDecoder().feed(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MiB


# -- the WHATWG rules -------------------------------------------------------------------------


def test_data_lines_join_with_newlines_and_one_leading_space_is_removed() -> None:
    body = b"data:a\ndata:  b\ndata\ndata:\n\n"
    assert data_of([body]) == ["a\n b\n\n"]


def test_empty_data_field_dispatches_an_empty_message() -> None:
    assert decode_pieces([b"data:\n\n"]) == [SSEMessage("")]
    assert decode_pieces([b"data\n\n"]) == [SSEMessage("")]


def test_event_and_id_fields() -> None:
    body = b"event: update\nid: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: x\x00y\ndata: d\n\n"
    assert decode_pieces([body]) == [
        SSEMessage("a", "update", "7"),
        SSEMessage("b", "message", "7"),  # the last event id persists
        SSEMessage("c", "message", None),  # `id` with no value resets it
        SSEMessage("d", "message", None),  # an id containing NUL is ignored
    ]


def test_empty_event_type_means_message() -> None:
    assert decode_pieces([b"event:\ndata: a\n\n"]) == [SSEMessage("a")]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (b"retry: 10000\n", 10000),
        (b"retry:250\n", 250),
        (b"retry: 10000\nretry: 1x\n", 10000),
        (b"retry: -5\n", None),
        (b"retry: 1.5\n", None),
        (b"retry:\n", None),
        (b"retry\n", None),
        ("retry: \u0661\u0662\n".encode(), None),  # Arabic-Indic digits are not ASCII digits
    ],
)
def test_retry_accepts_ascii_digits_only(lines: bytes, expected: int | None) -> None:
    decoder = SSEDecoder()
    assert decoder.feed(lines) == []
    assert decoder.retry == expected


def test_unknown_fields_and_field_names_with_spaces_are_ignored() -> None:
    assert data_of([b"foo: bar\ndata : x\n data: y\nDATA: z\ndata: kept\n\n"]) == ["kept"]


def test_unfinished_event_is_discarded_at_close() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\ndata: b\n") == [SSEMessage("a")]
    decoder.close()
    assert decoder.feed(b"\n") == []  # nothing of `b` survived the close
    assert data_of([b"data: a\n\ndata: b"]) == ["a"]


def test_empty_pieces_are_harmless() -> None:
    assert data_of([b"", b"data: a", b"", b"\r", b"", b"\n", b"\n", b""]) == ["a"]


# -- the cap ----------------------------------------------------------------------------------


def test_cap_message_names_the_configured_size() -> None:
    with pytest.raises(ProtocolError, match=r"^event exceeds 1 KiB limit$"):
        SSEDecoder(max_event_bytes=1024).feed(b"data: " + b"x" * 2000)
    with pytest.raises(ProtocolError, match=r"^event exceeds 100 bytes limit$"):
        SSEDecoder(max_event_bytes=100).feed(b"data: " + b"x" * 200 + b"\n")
    assert 8 * MiB == MAX_EVENT_BYTES


def test_cap_counts_the_whole_event_not_just_one_line() -> None:
    decoder = SSEDecoder(max_event_bytes=100)
    with pytest.raises(ProtocolError):
        for _ in range(20):
            decoder.feed(b"data: 0123456789\n")


def test_event_at_the_cap_passes() -> None:
    line = b"data: " + b"x" * 94
    assert len(line) == 100
    assert data_of_with_cap([line + b"\n\n"], 100) == ["x" * 94]


def data_of_with_cap(pieces: list[bytes], cap: int) -> list[str]:
    return [m.data for m in decode_pieces(pieces, max_event_bytes=cap)]


def test_messages_completed_before_the_cap_are_returned_then_the_error_follows() -> None:
    decoder = SSEDecoder(max_event_bytes=100)
    assert decoder.feed(b"data: ok\n\ndata: " + b"x" * 200) == [SSEMessage("ok")]
    with pytest.raises(ProtocolError, match="exceeds"):
        decoder.close()

    decoder = SSEDecoder(max_event_bytes=100)
    assert decoder.feed(b"data: ok\n\ndata: " + b"x" * 200 + b"\n\n") == [SSEMessage("ok")]
    with pytest.raises(ProtocolError, match="exceeds"):
        decoder.feed(b"data: more\n\n")
    decoder.close()  # already reported: closing does not raise it twice


def test_cap_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SSEDecoder(max_event_bytes=0)


# -- performance shape (generous bounds: these catch quadratic behaviour, not slow machines) --


def test_many_events_fed_one_byte_at_a_time_stay_linear() -> None:
    event = b'data: {"choices":[{"delta":{"content":"token"}}]}\n\n'
    body = event * 2000
    started = time.perf_counter()
    decoder = SSEDecoder()
    count = 0
    for i in range(len(body)):
        count += len(decoder.feed(body[i : i + 1]))
    elapsed = time.perf_counter() - started
    assert count == 2000
    assert elapsed < 10, f"{elapsed:.1f}s for {len(body)} one-byte pieces"


def test_long_line_fed_one_byte_at_a_time_is_not_quadratic() -> None:
    body = b"data: " + b"y" * 300_000 + b"\n\n"
    started = time.perf_counter()
    decoder = SSEDecoder()
    messages = []
    for i in range(len(body)):
        messages.extend(decoder.feed(body[i : i + 1]))
    elapsed = time.perf_counter() - started
    assert len(messages) == 1 and len(messages[0].data) == 300_000
    assert elapsed < 10, f"{elapsed:.1f}s"


def test_big_chunk_with_many_short_events() -> None:
    body = b"data: t\n\n" * 8000  # 72 KB in one piece
    assert len(decode_pieces([body])) == 8000


# -- properties -------------------------------------------------------------------------------

SSE_TOKENS = st.sampled_from(
    [
        b"data",
        b"data:",
        b"data: ",
        b"event: ",
        b"id: ",
        b"retry: ",
        b":",
        b" ",
        b"\n",
        b"\r",
        b"\r\n",
        b"\xef\xbb\xbf",
        b"\xe2\x82\xac",
        b"\xe2",
        b"\xff",
        b"\x00",
        b"7",
        b"x",
        b"[DONE]",
        "\u2028".encode(),
    ]
)
SSE_LIKE = st.lists(SSE_TOKENS, max_size=60).map(b"".join)
BODIES = st.one_of(st.binary(max_size=400), SSE_LIKE)


def run_split(body: bytes, cuts: list[int], cap: int) -> tuple[list[SSEMessage], bool, int | None]:
    """Messages produced (including those returned before a cap error), whether it failed."""
    decoder = SSEDecoder(max_event_bytes=cap)
    messages: list[SSEMessage] = []
    try:
        for piece in split_at(body, [c % (len(body) + 1) for c in cuts]):
            messages.extend(decoder.feed(piece))
        decoder.close()
    except ProtocolError:
        return messages, True, decoder.retry
    return messages, False, decoder.retry


@given(BODIES, st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_property_any_split_matches_the_reference_parser(body: bytes, cuts: list[int]) -> None:
    messages, failed, retry = run_split(body, cuts, MAX_EVENT_BYTES)
    assert not failed
    assert (messages, retry) == reference_parse(body)


@given(
    BODIES,
    st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
    st.sampled_from([4, 9, 16, 40]),
)
def test_property_cap_outcome_does_not_depend_on_the_split(
    body: bytes, cuts: list[int], cap: int
) -> None:
    assert run_split(body, cuts, cap) == run_split(body, [], cap)


@given(st.binary(max_size=2000), st.lists(st.integers(min_value=0, max_value=3000), max_size=30))
def test_property_arbitrary_bytes_only_raise_protocol_error(body: bytes, cuts: list[int]) -> None:
    run_split(body, cuts, 64)  # anything but ProtocolError escaping fails the test


# A server writes each event in its own piece (`data: …\n\n`): `feed` takes such a piece
# whole, without splitting lines. These pieces, between other bytes, must parse the same.
WHOLE_DATA_EVENT = st.builds(
    lambda space, value: b"data:" + space + value + b"\n\n",
    st.sampled_from([b"", b" ", b"  "]),
    st.one_of(st.binary(max_size=30), SSE_LIKE.map(lambda b: b.replace(b"\n", b""))),
)
PIECES = st.lists(st.one_of(WHOLE_DATA_EVENT, WHOLE_DATA_EVENT, SSE_LIKE), max_size=12)


@given(PIECES, st.sampled_from([8, 16, 40, MAX_EVENT_BYTES]))
def test_property_whole_event_pieces_match_the_reference_parser(
    pieces: list[bytes], cap: int
) -> None:
    body = b"".join(pieces)
    decoder = SSEDecoder(max_event_bytes=cap)
    messages: list[SSEMessage] = []
    try:
        for piece in pieces:
            messages.extend(decoder.feed(piece))
        decoder.close()
        failed = False
    except ProtocolError:
        failed = True
    assert (messages, failed, decoder.retry) == run_split(body, [], cap)
    if cap == MAX_EVENT_BYTES:
        assert (messages, decoder.retry) == reference_parse(body)


def test_whole_event_pieces_keep_the_event_type_and_id_of_earlier_pieces() -> None:
    pieces = [b"id: 7\n", b"event: update\n", b"data: a\n\n", b"data:b\n\n", b"data:  c\n\n"]
    assert decode_pieces(pieces) == [
        SSEMessage("a", "update", "7"),
        SSEMessage("b", "message", "7"),
        SSEMessage(" c", "message", "7"),
    ]


def test_a_whole_event_piece_over_the_cap_fails() -> None:
    decoder = SSEDecoder(max_event_bytes=10)
    assert decoder.feed(b"data: 1234\n\n") == [SSEMessage("1234")]
    with pytest.raises(ProtocolError, match="event exceeds 10 bytes limit"):
        decoder.feed(b"data: 12345\n\n")


def test_a_piece_holding_one_whole_event_is_not_split_into_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lines: list[bytes] = []
    process_line = SSEDecoder._process_line

    def counted(self: SSEDecoder, line: bytes, out: list[SSEMessage]) -> None:
        lines.append(line)
        process_line(self, line, out)

    monkeypatch.setattr(SSEDecoder, "_process_line", counted)
    decoder = SSEDecoder()
    messages = [m for n in range(100) for m in decoder.feed(b"data: %d\n\n" % n)]
    assert [m.data for m in messages] == [str(n) for n in range(100)]
    assert lines == []
    # Anything else goes line by line: two events in one piece, an event split in two.
    assert decoder.feed(b"data: a\n\ndata: b\n\n") == [SSEMessage("a"), SSEMessage("b")]
    assert decoder.feed(b"data: c\n") == [] and decoder.feed(b"\n") == [SSEMessage("c")]
    assert lines == [b"data: a", b"", b"data: b", b"", b"data: c", b""]
