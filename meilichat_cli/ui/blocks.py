"""Where top-level markdown blocks begin and end in text that is still arriving.

The streaming renderer (`stream.py`) may print a block into scrollback only once no later
text can change it. These functions answer that from markdown-it's block-level tokens (their
`map` line ranges) and from cheap looks at new lines, so a long block is not re-parsed in full
for every line it grows by.

Lines are split on "\\n" only, as markdown-it does (never `str.splitlines`, which also breaks
on U+2028, form feeds and others that are content here).

Pure functions over strings and markdown-it tokens: no rich, no I/O. Must not import httpx,
typer or prompt_toolkit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markdown_it.token import Token

LIST_TYPES = frozenset({"bullet_list_open", "ordered_list_open"})

# Blocks that end for good at a blank line. Lists and indented code do not (they go on after
# blank lines), and neither does an unclosed fence (its map then runs to the end of the text).
_CLOSED_BY_BLANK_LINE = frozenset(
    {"paragraph_open", "heading_open", "hr", "fence", "table_open", "blockquote_open", "html_block"}
)


@dataclass(frozen=True, slots=True)
class Block:
    """A top-level block: the type of its first token and its line range in the parsed text.

    `markup` is the token's markup (a fence's opening marker, e.g. "```"); for a list,
    `items` holds the first line of each of its top-level items.
    """

    type: str
    start: int
    end: int
    markup: str
    items: tuple[int, ...] = ()

    def shifted(self, lines: int) -> Block:
        """The same block in a text that lost its first `lines` lines."""
        return Block(
            self.type,
            self.start - lines,
            self.end - lines,
            self.markup,
            tuple(item - lines for item in self.items),
        )


BlockParser = Callable[[str], list[Block]]


def top_level_blocks(tokens: Sequence[Token]) -> list[Block]:
    """The top-level blocks of a (block-only) parse, with the item lines of each list."""
    blocks: list[Block] = []
    items: list[int] = []

    def close_previous() -> None:
        if items:
            last = blocks[-1]
            blocks[-1] = Block(last.type, last.start, last.end, last.markup, tuple(items))
            items.clear()

    for token in tokens:
        if token.map is None:
            continue
        if token.level == 0 and token.nesting >= 0:
            close_previous()
            blocks.append(Block(token.type, token.map[0], token.map[1], token.markup))
        elif token.level == 1 and token.type == "list_item_open":
            items.append(token.map[0])
    close_previous()
    return blocks


def is_blank(line: str) -> bool:
    """A blank line for markdown: nothing but spaces and tabs."""
    return not line.strip(" \t")


def closes_fence(line: str, marker: str) -> bool:
    """Whether `line` closes a top-level fence opened with `marker` (e.g. "```")."""
    stripped = line.lstrip(" ")
    if len(line) - len(stripped) > 3:
        return False
    body = stripped.rstrip(" \t")
    return len(body) >= len(marker) and body == marker[0] * len(body)


def line_offset(text: str, line: int) -> int:
    """The index in `text` where line number `line` (0-based) starts."""
    offset = 0
    for _ in range(line):
        offset = text.index("\n", offset) + 1
    return offset


def head_and_last_lines(text: str, head: int, keep: int) -> str:
    """`text` cut down to its first `head` lines and its last `keep` lines."""
    start = 0
    for _ in range(head):
        start = text.find("\n", start) + 1
        if start == 0:
            return text
    cut = len(text)
    for _ in range(keep):
        cut = text.rfind("\n", start, cut)
        if cut < 0:
            return text
    return text[:start] + text[cut + 1 :]


def cannot_change(block: Block, lines: list[str], line_count: int) -> bool:
    """Whether `block`, the last block of the complete lines `lines[:line_count]`, is final.

    True for a heading, a rule or a closed fence whatever follows; for a paragraph, table,
    quote or HTML block once a blank line follows it. A list or indented code can always go
    on, so they are final only once another block has started after them.
    """
    if block.type == "fence":
        return block.end - block.start >= 2 and closes_fence(lines[block.end - 1], block.markup)
    if block.type in ("heading_open", "hr"):
        return True
    if block.type not in _CLOSED_BY_BLANK_LINE or block.end >= line_count:
        return False
    return all(is_blank(line) for line in lines[block.end : line_count])


def new_lines_may_end(
    live: Block, tail: str, seen: int, complete_end: int, parse_blocks: BlockParser
) -> tuple[bool, Block]:
    """Whether the new complete lines `tail[seen:complete_end]` may end `live`.

    `live` is the last block of a previous parse and starts `tail`. A cheap look that says
    "no" only when a full block parse would agree, so a big block is not parsed in full for
    every new line: an open fence ends only at its closing line; a table at a blank line or
    wherever a parse of its header and the new rows says so; a list wherever a parse from its
    last item says so (an item's fate depends on the item alone); a paragraph at a blank line
    or wherever a parse of its last line and the new ones finds anything but one paragraph
    (a line can only interrupt a paragraph by itself, or by making the line before it a table
    header). Any other block: "maybe". Also returns `live` updated with any new list items.
    """
    new_lines = tail[seen:complete_end].split("\n")[:-1]
    if live.type == "fence":
        return any(closes_fence(line, live.markup) for line in new_lines), live
    if live.type in LIST_TYPES and live.items:
        first_line = live.items[-1]
        blocks = parse_blocks(tail[line_offset(tail, first_line) : complete_end])
        if len(blocks) != 1 or blocks[0].type != live.type:
            return True, live
        later = tuple(first_line + item for item in blocks[0].items[1:])
        return False, Block(live.type, live.start, live.end, live.markup, live.items + later)
    if any(is_blank(line) for line in new_lines):
        return True, live
    if live.type == "table_open":
        head_end = line_offset(tail, 2)
        blocks = parse_blocks(tail[:head_end] + tail[max(seen, head_end) : complete_end])
        return len(blocks) != 1 or blocks[0].type != "table_open", live
    if live.type == "paragraph_open" and seen > 0:
        previous_line = tail.rfind("\n", 0, seen - 1) + 1
        blocks = parse_blocks(tail[previous_line:complete_end])
        return len(blocks) != 1 or blocks[0].type != "paragraph_open", live
    return True, live
