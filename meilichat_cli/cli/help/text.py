"""The end of a command's --help: its examples and the environment variables it reads.

`epilog("meilichat profile list", "meilichat profile list --json", env=CONFIG_ENV)` gives the
text typer prints after the options, in the layout every command uses (one example per
paragraph: typer's rich help joins the lines of a paragraph). The variables are described
once, in `meilichat_cli.cli.help.topics` (`meilichat help environment`); a test checks that each
name written here is documented there.

`reflow(text)` joins the wrapped lines of prose paragraphs: typer's rich help keeps every
newline, so a paragraph wrapped at 92 columns in the source came out ragged on an 80-column
terminal. The root group applies it to every command's epilog (`meilichat_cli.cli.root`).

Standard library only (imported by command modules, so by --help and completion).
"""

from __future__ import annotations

CONNECTION_ENV = (
    "MEILICHAT_PROFILE, MEILICHAT_URL, MEILICHAT_API_KEY, MEILICHAT_WORKSPACE, MEILICHAT_MODEL,"
    " MEILICHAT_REQUIRE_HTTPS, SSL_CERT_FILE, HTTPS_PROXY/NO_PROXY, MEILICHAT_CONFIG_DIR"
)
ADMIN_ENV = (
    "MEILI_MASTER_KEY (the admin key), MEILICHAT_PROFILE, MEILICHAT_URL, MEILICHAT_API_KEY,"
    " MEILICHAT_CONFIG_DIR, SSL_CERT_FILE, HTTPS_PROXY/NO_PROXY"
)
CONFIG_ENV = "MEILICHAT_CONFIG_DIR (where config.toml and credentials.toml live)"
PROFILE_ENV = "MEILICHAT_PROFILE (the profile when none is named), MEILICHAT_CONFIG_DIR"
HISTORY_ENV = "MEILICHAT_DATA_DIR (where history.sqlite3 lives), NO_COLOR"


def environment(names: str) -> str:
    """The Environment line of an epilog."""
    return f"[bold]Environment[/bold]: {names}."


def epilog(*examples: str, env: str, note: str = "") -> str:
    """Examples (one per paragraph), an optional note, and the Environment line."""
    parts = ["[bold]Examples[/bold]", *(f"  {example}" for example in examples)]
    if note:
        parts.append(note)
    parts.append(environment(env))
    return "\n\n".join(parts) + "\n"


def reflow(text: str) -> str:
    """Each prose paragraph on one line, for the terminal to wrap; others as written.

    A paragraph is kept line for line when one of its lines is indented (examples, shell
    snippets, aligned columns) or starts a list item.
    """

    def keeps_lines(paragraph: str) -> bool:
        return any(line.startswith((" ", "\t", "- ")) for line in paragraph.split("\n"))

    return "\n\n".join(
        paragraph if keeps_lines(paragraph) else " ".join(paragraph.split("\n"))
        for paragraph in text.split("\n\n")
    )
