"""Shell completion: the four scripts and the side of meilichat that answers them.

A script is installed once (`meilichat completions SHELL`). On every TAB it runs
`meilichat` again with `_MEILICHAT_COMPLETE=complete_<shell>` and the command line up to the
cursor in `_MEILICHAT_COMPLETE_LINE`; typer's entry point sees the variable before parsing
anything and hands over to the class registered here for that shell, which finds what is
being completed (a command, an option, or a value: profiles, workspaces… come from the
`autocompletion=` callbacks of the options) and prints one candidate per line:

    bash        kind,text                     text already cut to what readline replaces
    zsh         kind NL value NL description  three lines per candidate, "_" = none
    fish        kind TAB prefix TAB value TAB description
    powershell  kind TAB prefix TAB value TAB description

`kind` is `plain` (offer the text), `file` or `dir` (let the shell complete paths: a string
option without its own completion, such as --ca-bundle, may well be a path). `prefix` is the
`--option=` part of a word typed as `--option=value`, which fish and PowerShell replace whole.

The scripts are fixed text, so `meilichat completions SHELL` prints the same bytes on every
machine (completions/ holds them, and a test keeps them current). The completion machinery
is typer's vendored copy of click's (reached through `cli/typer_compat.py`, typer < 0.29 is
pinned): it resolves the partly typed command line without running callbacks or prompting.

Imports typer only (no rich: typer's own completion classes render help text with it).
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any, ClassVar

from meilichat_cli.cli.typer_compat import (
    CompletionItem,
    Context,
    Parameter,
    ShellComplete,
    StringParamType,
    add_completion_class,
    has_custom_completion,
    resolve_context,
    resolve_incomplete,
    split_arg_string,
)

PROG = "meilichat"
COMPLETE_VAR = "_MEILICHAT_COMPLETE"
LINE_VAR = "_MEILICHAT_COMPLETE_LINE"
WORDBREAKS_VAR = "_MEILICHAT_COMPLETE_WORDBREAKS"
DESCRIPTION_CHARS = 80

BASH_SCRIPT = r"""# Bash completion for meilichat (bash 4.4 or later).
#
# Try it in this shell:
#     source <(meilichat completions bash)
# Install it for good (with the bash-completion package; or `source` the file from ~/.bashrc):
#     meilichat completions bash > ~/.local/share/bash-completion/completions/meilichat
#
# This is the output of `meilichat completions bash`: regenerate it rather than edit it.

_meilichat_completion() {
    local line kind
    COMPREPLY=()
    while IFS= read -r line; do
        kind=${line%%,*}
        case $kind in
            plain) COMPREPLY+=("${line#*,}") ;;
            file) compopt -o default 2>/dev/null ;;
            dir) compopt -o dirnames 2>/dev/null ;;
        esac
    done < <(env _MEILICHAT_COMPLETE=complete_bash \
        _MEILICHAT_COMPLETE_LINE="${COMP_LINE:0:COMP_POINT}" \
        _MEILICHAT_COMPLETE_WORDBREAKS="$COMP_WORDBREAKS" meilichat 2>/dev/null)
    return 0
}

complete -o nosort -F _meilichat_completion meilichat 2>/dev/null ||
    complete -F _meilichat_completion meilichat
"""

ZSH_SCRIPT = r"""#compdef meilichat
# Zsh completion for meilichat.
#
# Install it: meilichat completions zsh > ~/.zfunc/_meilichat
#             and in ~/.zshrc, before compinit: fpath=(~/.zfunc $fpath)
# Or load it: source <(meilichat completions zsh)   (after compinit)
#
# This is the output of `meilichat completions zsh`: regenerate it rather than edit it.

# Named like the file: autoloading runs the file once, which replaces this function's
# autoload stub with the definition below and completes; later TABs call it directly.
_meilichat() {
    local -a reply plain described
    local kind value description i
    reply=("${(@f)$(env _MEILICHAT_COMPLETE=complete_zsh \
        _MEILICHAT_COMPLETE_LINE="${words[1,CURRENT-1]} ${PREFIX}" meilichat 2>/dev/null)}")
    for (( i = 1; i + 2 <= ${#reply}; i += 3 )); do
        kind=${reply[i]}
        value=${reply[i+1]}
        description=${reply[i+2]}
        case $kind in
            plain)
                if [[ $description == _ ]]; then
                    plain+=("$value")
                else
                    described+=("${value//:/\\:}:${description}")
                fi
                ;;
            file|dir)
                [[ $PREFIX == -*=* ]] && compset -P '*='
                if [[ $kind == dir ]]; then _files -/; else _files; fi
                ;;
        esac
    done
    (( ${#described} )) && _describe -V unsorted described -U
    (( ${#plain} )) && compadd -U -V unsorted -a plain
    return 0
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _meilichat "$@"
else
    compdef _meilichat meilichat
fi
"""

FISH_SCRIPT = r"""# Fish completion for meilichat.
#
# Install it: meilichat completions fish > ~/.config/fish/completions/meilichat.fish
#
# This is the output of `meilichat completions fish`: regenerate it rather than edit it.

function __meilichat_complete
    set -l line (commandline -cp)
    env _MEILICHAT_COMPLETE=complete_fish _MEILICHAT_COMPLETE_LINE="$line" meilichat 2>/dev/null |
        while read -l -d \t kind prefix value description
            switch $kind
                case plain
                    if test -n "$description"
                        printf '%s%s\t%s\n' "$prefix" "$value" "$description"
                    else
                        printf '%s%s\n' "$prefix" "$value"
                    end
                case file
                    __fish_complete_path "$value" | string replace -r -- '^' "$prefix"
                case dir
                    __fish_complete_directories "$value" | string replace -r -- '^' "$prefix"
            end
        end
end

complete --command meilichat --no-files --arguments '(__meilichat_complete)'
"""

POWERSHELL_SCRIPT = r"""# PowerShell completion for meilichat.
#
# Try it:     meilichat completions powershell | Out-String | Invoke-Expression
# Install it: add that line to your profile (notepad $PROFILE).
#
# This is the output of `meilichat completions powershell`: regenerate it rather than edit it.

Register-ArgumentCompleter -Native -CommandName meilichat -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)
    $line = $commandAst.Extent.Text
    $upToCursor = $cursorPosition - $commandAst.Extent.StartOffset
    if ($upToCursor -lt $line.Length) { $line = $line.Substring(0, [Math]::Max($upToCursor, 0)) }
    # An empty word means the cursor is past a space: the next word has not started yet.
    if ($wordToComplete -eq '' -and -not $line.EndsWith(' ')) { $line += ' ' }
    $env:_MEILICHAT_COMPLETE = 'complete_powershell'
    $env:_MEILICHAT_COMPLETE_LINE = $line
    try {
        meilichat 2>$null | ForEach-Object {
            $kind, $prefix, $value, $description = $_ -split "`t", 4
            if ($kind -eq 'plain') {
                $text = $prefix + $value
                if (-not $description) { $description = $text }
                [System.Management.Automation.CompletionResult]::new(
                    $text, $text, 'ParameterValue', $description)
            }
        }
    } finally {
        Remove-Item Env:_MEILICHAT_COMPLETE, Env:_MEILICHAT_COMPLETE_LINE -ErrorAction Ignore
    }
}
"""

_MARKUP = re.compile(r"\[/?(?:bold|dim|italic|underline|cyan|green|red|yellow)\]")


class _MeilichatShell(ShellComplete):
    """What the four shells share: reading the line, resolving it, the path fallback."""

    name: ClassVar[str]
    script: ClassVar[str]

    def source_vars(self) -> dict[str, Any]:
        return {}

    def source(self) -> str:
        # Fixed text, not a %-template: the scripts are full of `%s` of their own.
        return self.script.rstrip("\n")

    def get_completion_args(self) -> tuple[list[str], str]:
        return split_line(os.environ.get(LINE_VAR, ""))

    def complete(self) -> str:
        try:
            args, incomplete = self.get_completion_args()
            prefix, items = resolve(self.cli, self.ctx_args, self.prog_name, args, incomplete)
            lines = [self.format_candidate(item, prefix, incomplete) for item in items]
        except Exception:  # a half-typed line may not parse; TAB then offers nothing
            return ""
        return "\n".join(line for line in lines if line is not None)

    def format_completion(self, item: CompletionItem) -> str:
        return self.format_candidate(item, "", "") or ""

    def format_candidate(self, item: CompletionItem, prefix: str, incomplete: str) -> str | None:
        raise NotImplementedError


class BashComplete(_MeilichatShell):
    name = "bash"
    script = BASH_SCRIPT

    def format_candidate(self, item: CompletionItem, prefix: str, incomplete: str) -> str | None:
        if item.type != "plain":
            return f"{item.type},"
        # Readline replaces only the text after the last word-break character (`=`, `:`…),
        # so `--profile=pr` and `-m llama3:8` get back just the rest of the word.
        typed = _last_word(os.environ.get(LINE_VAR, ""))
        breaks = set(os.environ.get(WORDBREAKS_VAR, " \t\n\"'><=;|&(:")) - {'"', "'"}
        start = max((typed.rfind(char) for char in breaks), default=-1) + 1
        full = prefix + str(item.value)
        if not full.startswith(typed[:start]):
            return None
        return f"plain,{full[start:]}"


class ZshComplete(_MeilichatShell):
    name = "zsh"
    script = ZSH_SCRIPT

    def format_candidate(self, item: CompletionItem, prefix: str, incomplete: str) -> str | None:
        value = prefix + str(item.value) if item.type == "plain" else str(item.value)
        return f"{item.type}\n{value}\n{describe(item.help) or '_'}"


class FishComplete(_MeilichatShell):
    name = "fish"
    script = FISH_SCRIPT

    def format_candidate(self, item: CompletionItem, prefix: str, incomplete: str) -> str | None:
        return f"{item.type}\t{prefix}\t{item.value}\t{describe(item.help)}"


class PowerShellComplete(FishComplete):
    name = "powershell"
    script = POWERSHELL_SCRIPT


SHELLS: dict[str, type[_MeilichatShell]] = {
    shell.name: shell for shell in (BashComplete, ZshComplete, FishComplete, PowerShellComplete)
}
ALIASES = {"pwsh": "powershell"}


def register() -> None:
    """Make `_MEILICHAT_COMPLETE=complete_<shell>` reach these classes (typer registers its
    own only when the root app adds --install-completion, which meilichat does not)."""
    for shell, cls in SHELLS.items():
        add_completion_class(cls, shell)
    for alias, shell in ALIASES.items():
        add_completion_class(SHELLS[shell], alias)


def script_for(shell: str) -> str:
    """The completion script for `shell` (a key of SHELLS or ALIASES), ending with a newline."""
    return SHELLS[ALIASES.get(shell, shell)].script


def split_line(line: str) -> tuple[list[str], str]:
    """The complete words after the program name, and the word under the cursor ('' when
    the cursor follows a space)."""
    words = split_arg_string(line)
    at_word_start = not line or line[-1].isspace()
    incomplete = words.pop() if words and not at_word_start else ""
    return words[1:], incomplete


def resolve(
    cli: Any, ctx_args: Any, prog_name: str, args: list[str], incomplete: str
) -> tuple[str, list[CompletionItem]]:
    """The `--option=` prefix of the word (or '') and the candidates for the rest of it."""
    prefix = ""
    if incomplete.startswith("-") and "=" in incomplete and "--" not in args:
        name, _, incomplete = incomplete.partition("=")
        args = [*args, name]
        prefix = f"{name}="
    ctx: Context = resolve_context(cli, ctx_args, prog_name, args)
    target, incomplete = resolve_incomplete(ctx, args, incomplete)
    items: list[CompletionItem] = target.shell_complete(ctx, incomplete)
    if not items and _may_be_a_path(target):
        items = [CompletionItem(incomplete, type="file")]
    if hasattr(target, "get_command"):
        # click cuts a subcommand's summary at 45 characters; zsh and fish have more room.
        for item in items:
            command = target.get_command(ctx, str(item.value))
            if command is not None:
                item.help = command.get_short_help_str(limit=DESCRIPTION_CHARS)
    return prefix, items


def describe(text: str | None) -> str:
    """A help text as one short line the shell can print (no markup, no control characters)."""
    if not text:
        return ""
    from meilichat_cli.text.sanitize import cut, sanitize_line

    line = cut(sanitize_line(_MARKUP.sub("", text)), DESCRIPTION_CHARS)
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    return line.encode(encoding, "replace").decode(encoding)


def _may_be_a_path(target: object) -> bool:
    """A free-text value (FILE, TEXT…) with no completion of its own: offer paths."""
    return (
        isinstance(target, Parameter)
        and not has_custom_completion(target)
        and isinstance(target.type, StringParamType)
    )


def _last_word(line: str) -> str:
    """The text of the word under the cursor, as typed (after the last blank)."""
    if not line or line[-1].isspace():
        return ""
    return re.split(r"\s", line)[-1]
