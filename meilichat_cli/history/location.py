"""Where the history database may live, checked without opening it.

`check_history_location` refuses (ConfigError, exit 2) a database whose directory another
user owns or can write, or that is a symbolic link or another user's file: another account
could swap it, or point it at a file of theirs and read every conversation. A missing
directory or file passes: meilichat creates them private. `database.py` checks it when it
opens the file; a command that will save checks it before it sends its request
(`chat.recorder.check_before_saving`), so the refusal comes before a model call, not after.

`history_saved` tells a command that only reads history whether there is anything to read,
without creating anything, and refuses a file standing where the data directory should be
(otherwise "no saved conversations" would hide that nothing can be saved).

Standard library, `errors` and `local.files` only: not sqlite3 (a check before the request
must not cost its import).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from meilichat_cli.errors import ConfigError
from meilichat_cli.local.files import check_owner, check_trusted_dir


def check_history_location(path: Path) -> None:
    """Raise ConfigError when the history database at `path` must not be used."""
    check_trusted_dir(path.parent)
    if os.path.islink(path):
        raise ConfigError(
            f"the history database {path} is a symbolic link; meilichat does not follow it",
            hint=f"move the link away (`mv {path} {path}.link`), or use --no-save",
        )
    try:
        info = os.lstat(path)
    except OSError:
        return  # missing (created 0600 when first saved), or unreadable: opening says why
    check_owner(path, info)


def history_saved(path: Path) -> bool:
    """True when the history database at `path` exists, False when nothing was saved yet;
    ConfigError (exit 2) when a file stands where its directory should be."""
    directory = path.parent
    hint = "move it away or point MEILICHAT_DATA_DIR elsewhere"
    try:
        info = os.stat(directory)
    except NotADirectoryError:
        raise ConfigError(
            f"{directory}: a parent of this path is a file, not a directory", hint=hint
        ) from None
    except OSError:
        return False  # missing (nothing saved yet), or unreadable: opening would say why
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{directory} is a file, not a directory", hint=hint)
    return os.path.lexists(path)
