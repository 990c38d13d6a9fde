"""The table of commands: where each lives and the one line `meilichat --help` shows for it.

Read by the root group (which imports a command's module only when that command runs) and by
the root help, which is printed from this table alone: no command module, no typer. A test
keeps every summary equal to the first line of the command's own help.

Standard library only: must not import typer, rich or any other meilichat module.
"""

from __future__ import annotations

from typing import NamedTuple


class Entry(NamedTuple):
    module: str
    attribute: str  # the command function (with the module's HELP and EPILOG) or a Typer app
    summary: str


# In the order `meilichat --help` lists them.
COMMANDS: dict[str, Entry] = {
    "ask": Entry(
        "meilichat_cli.cli.commands.ask",
        "ask",
        "Ask one question and stream the answer, with the searches and sources behind it.",
    ),
    "chat": Entry(
        "meilichat_cli.cli.commands.chat",
        "chat",
        "Open the REPL: a conversation with search context, streamed answers and /commands.",
    ),
    "demo": Entry(
        "meilichat_cli.cli.commands.demo",
        "demo",
        "Try meilichat on a bundled stand-in Meilisearch: no server or LLM account needed.",
    ),
    "batch": Entry(
        "meilichat_cli.cli.commands.batch",
        "batch",
        "Answer a file of questions (JSON Lines), one JSON result line each, and score retrieval.",
    ),
    "doctor": Entry(
        "meilichat_cli.cli.commands.doctor",
        "doctor",
        "Check the server, version, chat feature, key, workspace and indexes, then try a"
        " completion; --fix repairs what it can after asking.",
    ),
    "explain": Entry(
        "meilichat_cli.cli.commands.explain",
        "explain",
        "Why this answer: replay the searches of a saved turn with ranking scores, mark the"
        " documents the chat received, and say what changed since.",
    ),
    "source": Entry(
        "meilichat_cli.cli.commands.source",
        "source",
        "Show source N of a saved answer in full, as the server has it now (or as the model"
        " read it).",
    ),
    "completions": Entry(
        "meilichat_cli.cli.commands.completions",
        "completions",
        "Print the shell completion script for bash, zsh, fish or powershell.",
    ),
    "profile": Entry(
        "meilichat_cli.cli.commands.profile",
        "app",
        "Named connections: URL, default workspace and model, and where the key comes from.",
    ),
    "key": Entry(
        "meilichat_cli.cli.commands.key",
        "app",
        "The API key stored for a profile: set, show (masked) or remove it.",
    ),
    "history": Entry(
        "meilichat_cli.cli.commands.history",
        "app",
        "Saved conversations: list, show, search, remove and export them.",
    ),
    "workspace": Entry(
        "meilichat_cli.cli.commands.workspace",
        "app",
        "List, inspect and change chat workspaces (LLM source, provider key, prompts).",
    ),
    "index": Entry(
        "meilichat_cli.cli.commands.index",
        "app",
        "Read and change the chat settings of indexes (description, document template).",
    ),
    "token": Entry(
        "meilichat_cli.cli.commands.token",
        "app",
        "Tenant tokens: sign one locally from a parent key, or inspect one.",
    ),
    "persona": Entry(
        "meilichat_cli.cli.commands.persona",
        "app",
        "Personas: named tenant scopes to chat as (ask/chat/batch --as NAME).",
    ),
    "scope": Entry(
        "meilichat_cli.cli.commands.scope",
        "app",
        "Check what each persona's chat can reach: no document or index outside its rules.",
    ),
    "help": Entry(
        "meilichat_cli.cli.commands.help",
        "help_command",
        "Show a reference topic: exit codes, environment variables, files, JSON shapes.",
    ),
}
