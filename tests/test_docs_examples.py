"""Every `meilichat …` command line shown in README.md and docs/ is one meilichat accepts.

The examples are read from the documents themselves: every fenced code block (the commands of
`sh` blocks, `$ ` prompts and the indented command lines a program prints in output blocks) and
every inline code span that is a command. Only the meilichat part of each shell line counts:
pipelines, `&&`, `$( … )`, redirections, leading `NAME=value` assignments and `# comments` are
taken apart by a small shell lexer. Each command line is then parsed by the click command tree
the program itself runs (`build_app()`), without running anything: the command path must exist,
every option must belong to its command, an option that takes a value must get one, a number
must be a number, and no argument may be left over. Synopsis lines (`meilichat explain
[CONVERSATION] [--turn N]`) are checked for their command path and option names.

Placeholders stand for values (`…`, `3f2a`, `"$TOKEN"`, upper-case words such as `N` or `KEY`):
they parse as words and are not type-checked. A line that is meant to fail (a document showing
an error) must say so where it stands, with the comment `# fails:` followed by why; those are
expected not to parse.

The README's tour is run for real by tests/test_docs.py; docs/usage.md's examples are run
against the stand-in server in tests/test_docs_usage.py.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from meilichat_cli.cli.command_table import COMMANDS
from tests.inprocess import string_context

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"

FAILS_MARKER = "# fails:"
COMMAND_NAMES = set(COMMANDS)


class Example(NamedTuple):
    where: str  # "usage.md:463"
    words: tuple[str, ...]  # the words after `meilichat`
    synopsis: bool  # a usage line: `[--turn N]`, `[OPTIONS]`, `{SHELL}`
    fails: bool  # marked `# fails:` in the document

    def __str__(self) -> str:
        return f"{self.where}: meilichat {' '.join(self.words)}"


# --------------------------------------------------------------------------- the shell lexer

# What separates one simple command from the next (or opens a nested one).
_SEPARATORS = ("&&", "||", "$(", "<(", ";;", "|", ";", "&", "(", ")", "`")
# Words that begin a command without being it.
_KEYWORDS = {"{", "}", "do", "then", "else", "!", "time", "exec", "if", "while", "until"}


def simple_commands(line: str) -> list[list[str]]:
    """The simple commands of one shell line, each as its words with quotes removed,
    redirections dropped and a trailing `# comment` cut off."""
    commands: list[list[str]] = [[]]
    nested: list[list[str]] = []  # the commands of "$( … )" inside double quotes
    word: list[str] = []
    in_word = False
    drop_next = False  # the next word is a redirection's target
    i = 0

    def end_word() -> None:
        nonlocal in_word, drop_next
        if in_word:
            if drop_next:
                drop_next = False
            else:
                commands[-1].append("".join(word))
        word.clear()
        in_word = False

    while i < len(line):
        char = line[i]
        if char in " \t":
            end_word()
            i += 1
        elif char == "#" and not in_word:
            break
        elif char == "\\" and i + 1 < len(line):
            word.append(line[i + 1])
            in_word = True
            i += 2
        elif char == "'":
            end = line.find("'", i + 1)
            end = len(line) if end < 0 else end
            word.append(line[i + 1 : end])
            in_word = True
            i = end + 1
        elif char == '"':
            j = i + 1
            while j < len(line) and line[j] != '"':
                if line.startswith("$(", j):  # "$(meilichat key show --reveal)"
                    end = _closing_parenthesis(line, j + 1)
                    nested.extend(simple_commands(line[j + 2 : end]))
                    word.append(line[j : end + 1])
                    j = end + 1
                    continue
                if line[j] == "\\" and j + 1 < len(line):
                    j += 1
                word.append(line[j])
                j += 1
            in_word = True
            i = j + 1
        elif line.startswith(("$(", "<("), i):
            end_word()
            commands.append([])
            i += 2
        elif char in "<>":
            if in_word and "".join(word).isdigit():  # 2>, the descriptor of a redirection
                word.clear()
                in_word = False
            end_word()
            operator = re.match(r"[<>]+(&\d+|&-)?", line[i:])
            assert operator is not None
            drop_next = not operator.group(1)
            i += operator.end()
        else:
            separator = next((s for s in _SEPARATORS if line.startswith(s, i)), None)
            if separator is None:
                word.append(char)
                in_word = True
                i += 1
            else:
                end_word()
                commands.append([])
                i += len(separator)
    end_word()
    return [command for command in commands + nested if command]


def _closing_parenthesis(line: str, start: int) -> int:
    """Where the parenthesis opened at `start` closes (the end of the line if it does not)."""
    depth = 0
    for index in range(start, len(line)):
        depth += {"(": 1, ")": -1}.get(line[index], 0)
        if depth == 0:
            return index
    return len(line)


def meilichat_words(line: str, labels: bool = False) -> Iterator[tuple[str, ...]]:
    """The words after `meilichat` of every meilichat command on a shell line. With
    `labels`, a first word ending in `:` (`bash:  meilichat completions bash`) is a label."""
    for number, words in enumerate(simple_commands(line)):
        if labels and number == 0 and words and words[0].endswith(":"):
            words = words[1:]
        while words and (words[0] in _KEYWORDS or re.match(r"[A-Za-z_]\w*=", words[0])):
            words = words[1:]
        if words and words[0] == "meilichat":
            yield tuple(words[1:])


# --------------------------------------------------------------------------- the documents


def synopsis(line: str) -> tuple[str, ...] | None:
    """The words after `meilichat` of a usage line (`meilichat demo [QUESTION]... [--json |
    --events]`, `meilichat completions {SHELL}`), or None for any other line."""
    words = line.split()
    if words[:1] != ["meilichat"] or "'" in line or '"' in line:
        return None  # a command with a quoted value (`--rules '{"a": 1}'`) is no usage line
    if any(re.match(r"[\[{]", word) or word.endswith(("]...", "]…")) for word in words):
        return tuple(words[1:])
    return None


def line_examples(where: str, line: str, labels: bool = False) -> Iterator[Example]:
    usage = synopsis(line)
    if usage is not None:
        yield Example(where, usage, True, False)
        return
    for words in meilichat_words(line, labels):
        yield Example(where, words, False, FAILS_MARKER in line)


def joined_lines(block: list[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """The lines of a code block with `\\` continuations joined, each with its first line."""
    pending: tuple[int, str] | None = None
    for number, text in block:
        if pending is not None:
            number, text = pending[0], pending[1] + " " + text.strip()
        if text.endswith("\\"):
            pending = (number, text[:-1])
            continue
        pending = None
        yield number, text
    if pending is not None:
        yield pending


def block_examples(name: str, language: str, block: list[tuple[int, str]]) -> Iterator[Example]:
    shell = language in ("sh", "bash", "console", "shell")
    for number, text in joined_lines(block):
        stripped = text.strip()
        if stripped.startswith("$ "):
            line = stripped[2:]
        elif shell:
            line = text
        elif text.startswith(" "):
            line = stripped  # a command line a program printed, to be pasted
        elif synopsis(text) is not None:
            line = text  # a usage line
        else:
            continue  # what a program printed (`meilichat demo server on …`)
        yield from line_examples(f"{name}:{number}", line, labels=shell)


def inline_examples(name: str, paragraph: list[tuple[int, str]]) -> Iterator[Example]:
    """The inline code spans of a paragraph (a span may cross a line break) that are a
    command line (`meilichat demo -c "…"`), or a command's usage without the program's name,
    as tables and lists give it (`history export ID [--format md\\|json] [-o FILE]`): for
    those, the command path and the option names are checked."""
    first = paragraph[0][0]
    text = "\n".join(line for _, line in paragraph)
    for match in re.finditer(r"(?<!`)`([^`]+)`(?!`)", text):
        where = f"{name}:{first + text.count(chr(10), 0, match.start())}"
        span = " ".join(match.group(1).replace("\\|", "|").split())  # a pipe in a table
        if re.match(r"(?:[A-Z_]+=\S*\s+)*meilichat(?:\s|$)", span) or "<(meilichat " in span:
            yield from line_examples(where, span)
        elif span.split()[0] in COMMAND_NAMES and re.search(r"(?:^|[\s\[(|/])-", span):
            yield Example(where, tuple(span.split()), True, False)


def document_examples(path: Path) -> list[Example]:
    found: list[Example] = []
    block: list[tuple[int, str]] | None = None
    paragraph: list[tuple[int, str]] = []
    language = ""
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fence = re.match(r"\s*```(\w*)", text)
        if block is None and (fence or not text.strip()) and paragraph:
            found += inline_examples(path.name, paragraph)
            paragraph = []
        if fence:
            if block is None:
                block, language = [], fence.group(1)
            else:
                found += block_examples(path.name, language, block)
                block = None
        elif block is not None:
            block.append((number, text))
        elif text.strip():
            paragraph.append((number, text))
    if paragraph:
        found += inline_examples(path.name, paragraph)
    return found


def documents() -> list[Path]:
    return [REPO / "README.md", *sorted(DOCS.glob("*.md"))]


def all_examples() -> list[Example]:
    return [example for path in documents() for example in document_examples(path)]


# --------------------------------------------------------------------------- checking a line


def is_placeholder(value: str) -> bool:
    return "…" in value or "..." in value or bool(re.fullmatch(r"[A-Z][A-Z0-9_]*", value))


def root_command() -> Any:
    from meilichat_cli.cli.app import build_app
    from meilichat_cli.cli.typer_compat import click_command

    return click_command(build_app())


def _context(command: Any, name: str, args: list[str], parent: Any) -> Any:
    """click's context for `args`, parsed without prompts, defaults or required checks; an
    unknown option, a missing option value or a bad number still raise."""
    extra: dict[str, Any] = {"resilient_parsing": True}
    if parent is None:
        extra["obj"] = string_context()  # what option callbacks (--json) look up
    context = command.make_context(name, list(args), parent=parent, **extra)
    # Resilient parsing also swallows the parser's errors: parse again, strictly, for them.
    context.resilient_parsing = False
    raw, _, _ = command.make_parser(context).parse_args(args=list(args))
    context.resilient_parsing = True
    for param in command.params:
        value = raw.get(param.name)
        values = value if isinstance(value, (list, tuple)) else [value]
        for one in values:
            if isinstance(one, str) and not is_placeholder(one):
                param.type.convert(one, param, context)  # raises BadParameter
    return context


def parse_problem(words: tuple[str, ...]) -> str | None:
    """Why click refuses `meilichat WORDS`, or None when it parses."""
    import typer

    from meilichat_cli.cli.typer_compat import ClickUsageError
    from meilichat_cli.errors import MeilichatError

    try:
        command = root_command()
        context = _context(command, "meilichat", list(words), None)
        while hasattr(command, "get_command"):
            rest = [*context._protected_args, *context.args]
            if not rest or is_placeholder(rest[0]):
                return None  # a group named alone (its help), or `meilichat --debug …`
            sub = command.get_command(context, rest[0])
            if sub is None:
                return f"no command {rest[0]!r} under `{context.command_path}`"
            command = sub
            context = _context(command, rest[0], rest[1:], context)
        if context.args:
            return f"`{context.command_path}` got extra arguments {context.args}"
    except (ClickUsageError, MeilichatError) as error:
        message = error.format_message() if isinstance(error, ClickUsageError) else str(error)
        return message
    except typer.Exit:  # --version, an eager option that ends the run
        return None
    return None


def _option_names(command: Any, context: Any) -> set[str]:
    names = set(context.help_option_names)
    names.update(opt for param in command.params for opt in param.opts + param.secondary_opts)
    return names


def synopsis_problem(words: tuple[str, ...]) -> str | None:
    """A usage line: its command path exists, and every option it names belongs to the
    command named last (`--debug`, an option of `meilichat` itself, only before it)."""
    from meilichat_cli.cli.typer_compat import Context

    command = root_command()
    context = Context(command, info_name="meilichat")
    names = _option_names(command, context)
    rest = list(words)
    while hasattr(command, "get_command") and rest:
        if rest[0] in names:
            rest = rest[1:]
            continue
        if rest[0].startswith(("-", "[", "{")):
            break
        sub = command.get_command(context, rest[0])
        if sub is None:
            return f"no command {rest[0]!r} under `{context.command_path}`"
        command, context = sub, Context(sub, info_name=rest[0], parent=context)
        names = _option_names(command, context)
        rest = rest[1:]
    unknown = [
        option
        for word in rest
        for option in re.findall(r"(?:^|[\[{(|/])(--?[A-Za-z][\w-]*)", word)
        if option not in names
    ]
    return f"`{context.command_path}` has no option {', '.join(unknown)}" if unknown else None


def problem(example: Example) -> str | None:
    return synopsis_problem(example.words) if example.synopsis else parse_problem(example.words)


# --------------------------------------------------------------------------- the tests


def test_the_documents_have_examples_to_check() -> None:
    """The extraction finds the examples it is meant to: a broken reader checks nothing."""
    examples = all_examples()
    assert len(examples) > 250
    seen = {(example.where.split(":")[0], example.words[:2]) for example in examples}
    for expected in [
        ("usage.md", ("ask", "--input")),  # echo '{…}' | meilichat ask --input json --json
        ("usage.md", ("ask", "--plain")),  # answer=$(meilichat ask --plain "$question") || {
        ("usage.md", ("completions", "zsh")),  # mkdir -p ~/.zfunc && meilichat completions zsh
        ("tenancy.md", ("token", "create")),  # a line continued with `\`
        ("explain.md", ("history", "show")),  # $ meilichat history show --trace 3f2a
        ("demo.md", ("key", "set")),  # printf … | meilichat key set -p local, printed by demo
        ("reference.md", ("completions", "powershell")),  # in backquotes after a label
        ("explain.md", ("explain", "[CONVERSATION]")),  # a synopsis
    ]:
        assert expected in seen, expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('meilichat ask "a b" # note', [("ask", "a b")]),
        ("MEILI_MASTER_KEY=… meilichat doctor --fix", [("doctor", "--fix")]),
        ("cat x | meilichat ask - > out.md 2>&1", [("ask", "-")]),
        ('a=$(meilichat ask --plain "$q") || {', [("ask", "--plain", "$q")]),
        ("echo '{\"a\": 1}' | meilichat ask --input json", [("ask", "--input", "json")]),
        ("mkdir -p d && meilichat completions zsh > d/_m", [("completions", "zsh")]),
        ("source <(meilichat completions bash)", [("completions", "bash")]),
        ('echo "meilichat key set"', []),
        ("meilichat ask --events q | while IFS= read -r l; do", [("ask", "--events", "q")]),
        ('jq -r .x <<<"$line" >&2', []),
        ('curl -H "Bearer $(meilichat key show --reveal)" u', [("key", "show", "--reveal")]),
    ],
)
def test_the_lexer_finds_the_meilichat_part_of_a_shell_line(
    line: str, expected: list[tuple[str, ...]]
) -> None:
    assert list(meilichat_words(line)) == expected


@pytest.mark.parametrize(
    "words",
    [
        ("ask", "--no-such-option", "q"),  # an unknown option
        ("ask", "-p"),  # an option without its value
        ("history", "nope"),  # an unknown command
        ("profile", "use", "a", "b"),  # an argument too many
        ("batch", "q.jsonl", "-j", "eight"),  # not a number
        ("--bogus", "ask"),  # an unknown root option
    ],
)
def test_a_wrong_command_line_is_found(words: tuple[str, ...]) -> None:
    assert parse_problem(words) is not None


def test_a_synopsis_with_a_wrong_option_is_found() -> None:
    assert synopsis_problem(("explain", "[CONVERSATION]", "[--turn", "N]")) is None
    assert synopsis_problem(("explain", "[CONVERSATION]", "[--turns", "N]")) is not None
    assert synopsis_problem(("nope", "[OPTIONS]")) is not None
    assert synopsis_problem(("--debug", "ask", "[--json]")) is None
    assert synopsis_problem(("ask", "[--debug]")) is not None  # a root option, after ask
    assert synopsis("meilichat demo [QUESTION]... [--json | --events]") == (
        "demo",
        "[QUESTION]...",
        "[--json",
        "|",
        "--events]",
    )
    assert synopsis("""meilichat token create --rules '{"a": 1}'""") is None


def test_what_a_block_holds_is_read_by_its_kind() -> None:
    """`sh` blocks are commands; output blocks give their `$ ` prompts, usage lines and the
    indented command lines a program printed; a `# fails:` line is expected to fail."""
    sh = [
        (1, "meilichat ask --nope q   # fails: an unknown option is refused (exit 2)"),
        (2, "meilichat token create --rules '{}' \\"),
        (3, "    --expires 1h"),
    ]
    found = list(block_examples("x.md", "sh", sh))
    assert [(e.where, e.words, e.fails) for e in found] == [
        ("x.md:1", ("ask", "--nope", "q"), True),
        ("x.md:2", ("token", "create", "--rules", "{}", "--expires", "1h"), False),
    ]
    output = [
        (1, "$ meilichat history show --trace 3f2a"),
        (2, "meilichat demo server on http://127.0.0.1:7700 (emulating Meilisearch 1.50.0)"),
        (3, "  meilichat ask -p local 'which?'"),
        (4, "meilichat explain [CONVERSATION] [--turn N]"),
    ]
    found = list(block_examples("x.md", "", output))
    assert [(e.where, e.synopsis) for e in found] == [
        ("x.md:1", False),
        ("x.md:3", False),
        ("x.md:4", True),
    ]


# Long options the documents name that belong to another program, each with the file that
# defines it (a test keeps it there, so this list cannot go stale).
OTHER_PROGRAMS = {
    "--write": "meilichat_cli/cli/help/render.py",  # python -m meilichat_cli.cli.help.topics
    "--check": "meilichat_cli/cli/help/render.py",
    "--quick": "tests/benchmark.py",  # python tests/benchmark.py
    "--only": "tests/benchmark.py",
    "--llm": "tests/benchmark.py",
    "--venv": "tests/benchmark.py",
    "--wait": "docs/reference.md",  # VISUAL='code --wait': an editor's option
}


def every_long_option() -> set[str]:
    """Every long option of every meilichat command, and of meilichat itself."""
    from meilichat_cli.cli.typer_compat import Context

    found: set[str] = set()

    def walk(command: Any, context: Any) -> None:
        found.update(_option_names(command, context))
        for name in getattr(command, "list_commands", lambda _: [])(context):
            sub = command.get_command(context, name)
            walk(sub, Context(sub, info_name=name, parent=context))

    root = root_command()
    walk(root, Context(root, info_name="meilichat"))
    return {name for name in found if name.startswith("--")}


def test_every_long_option_the_documents_name_exists() -> None:
    """Prose names options too (`--api-key-stdin`, `--min-recall R`): each must be an option
    of some meilichat command, or of the other program it belongs to."""
    known = every_long_option()
    unknown = []
    for path in documents():
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"(?:^|[\s`\[(|/])(--[a-z][\w-]*)", text):
            option = match.group(1)
            if option not in known and option not in OTHER_PROGRAMS:
                line = text.count("\n", 0, match.start()) + 1
                unknown.append(f"{path.name}:{line}: {option}")
    assert unknown == []
    for option, where in OTHER_PROGRAMS.items():
        assert option in (REPO / where).read_text(encoding="utf-8"), (option, where)


def test_every_help_topic_the_documents_show_exists(clean_env: dict[str, str]) -> None:
    """`meilichat help WORDS` takes any words and resolves them when it runs: run each."""
    from tests.inprocess import invoke

    shown = {
        e.words
        for e in all_examples()
        if e.words[:1] == ("help",) and not e.synopsis and not any(map(is_placeholder, e.words))
    }
    assert ("help", "exit-codes") in shown
    for words in sorted(shown):
        result = invoke(list(words), env=clean_env)
        assert result.exit_code == 0, (words, result.stderr)


def test_no_example_expires_in_the_past() -> None:
    """`--expires 2025-12-31T00:00:00Z` parses, and is refused once the day has passed (exit
    2): a dated example must be moved on before it stops working as shown."""
    import datetime

    today = datetime.date.today().isoformat()
    past = []
    for example in all_examples():
        for option, value in itertools.pairwise(example.words):
            dated = option == "--expires" and re.match(r"\d{4}-\d\d-\d\d", value)
            if dated and value[:10] <= today:
                past.append(str(example))
    assert past == []


@pytest.mark.parametrize("document", documents(), ids=lambda path: path.name)
def test_every_meilichat_command_line_in_the_document_parses(document: Path) -> None:
    wrong = []
    for example in document_examples(document):
        found = problem(example)
        if example.fails and found is None:
            wrong.append(f"{example}\n    is marked `{FAILS_MARKER}` but parses")
        elif not example.fails and found is not None:
            wrong.append(f"{example}\n    {found}")
    assert not wrong, "\n".join(wrong)
