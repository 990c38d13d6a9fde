"""`meilichat completions SHELL`: print the completion script for bash, zsh, fish or PowerShell.

The scripts live in `cli/completion/scripts.py` with the code that answers them (which the
root app registers); this module only prints one. The output is the same on every machine (no
paths, nothing from the environment), which is what lets `completions/` in the repository be
checked against it.

Only typer is imported at module level.
"""

from __future__ import annotations

from typing import Annotated

import typer

from meilichat_cli.cli.completion.completers import choices

SHELL_NAMES = ("bash", "zsh", "fish", "powershell")

HELP = "Print the shell completion script for bash, zsh, fish or powershell."
EPILOG = """[bold]Install[/bold]

  bash:        meilichat completions bash > ~/.local/share/bash-completion/completions/meilichat

  zsh:         meilichat completions zsh > ~/.zfunc/_meilichat
               (with fpath=(~/.zfunc $fpath) before compinit in ~/.zshrc)

  fish:        meilichat completions fish > ~/.config/fish/completions/meilichat.fish

  powershell:  add `meilichat completions powershell | Out-String | Invoke-Expression`
               to $PROFILE

Then open a new shell. TAB completes commands, options, profile and workspace names,
conversation ids, index uids and recently used models.

[bold]Examples[/bold]

  source <(meilichat completions bash)      # try it in the current shell

  meilichat completions zsh > ~/.zfunc/_meilichat

[bold]Environment[/bold]: none read by this command. On each TAB the script runs meilichat
with _MEILICHAT_COMPLETE set; workspace and index names then come from the server of the
profile (MEILICHAT_PROFILE, MEILICHAT_URL, MEILI_MASTER_KEY or MEILICHAT_API_KEY), with a
0.5 s timeout.
"""


def completions(
    shell: Annotated[
        str,
        typer.Argument(
            help="bash, zsh, fish or powershell.",
            metavar="SHELL",
            autocompletion=choices(*SHELL_NAMES),
            show_default=False,
        ),
    ],
) -> None:
    from meilichat_cli.cli.completion.scripts import ALIASES, SHELLS, script_for
    from meilichat_cli.errors import UsageError

    name = shell.strip().lower()
    if name not in SHELLS and name not in ALIASES:
        raise UsageError(
            f"no completion script for {shell!r}",
            hint=f"choose one of: {', '.join(SHELL_NAMES)}",
        )
    typer.echo(script_for(name), nl=False)
