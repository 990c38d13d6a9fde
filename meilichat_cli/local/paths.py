"""Where meilichat keeps its files: config, credentials, history and REPL history.

The locations come from platformdirs (the platform's config, data and state directories) and
can be moved with environment variables:

    MEILICHAT_CONFIG_DIR   config.toml and credentials.toml
    MEILICHAT_DATA_DIR     history.sqlite3
    MEILICHAT_STATE_DIR    repl-history (defaults to MEILICHAT_DATA_DIR when only that is set,
                           so one variable is enough to keep every written file together,
                           e.g. in tests or a portable install)

Everything is computed from an explicit environment mapping when asked, never at import time,
so tests and subprocesses see exactly the environment they were given. Nothing is created here.

Imports: standard library only at module level (platformdirs is imported lazily on macOS and
Windows); nothing from meilichat_cli but `values`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from meilichat_cli.values import FrozenValue

APP_NAME = "meilichat"

CONFIG_DIR_VAR = "MEILICHAT_CONFIG_DIR"
DATA_DIR_VAR = "MEILICHAT_DATA_DIR"
STATE_DIR_VAR = "MEILICHAT_STATE_DIR"


class Paths(FrozenValue):
    """The directories meilichat uses and the files inside them."""

    __slots__ = ("config_dir", "data_dir", "state_dir")
    config_dir: Path
    data_dir: Path
    state_dir: Path

    def __init__(self, config_dir: Path, data_dir: Path, state_dir: Path) -> None:
        self._set(config_dir=config_dir, data_dir=data_dir, state_dir=state_dir)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Paths:
        """The locations for this environment; see `paths_from_env`."""
        return paths_from_env(env)

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def credentials_file(self) -> Path:
        return self.config_dir / "credentials.toml"

    @property
    def history_db(self) -> Path:
        return self.data_dir / "history.sqlite3"

    @property
    def repl_history(self) -> Path:
        return self.state_dir / "repl-history"

    def as_dict(self) -> dict[str, str]:
        """Every location as a string, for `profile path --json`."""
        return {
            "config_dir": str(self.config_dir),
            "config_file": str(self.config_file),
            "credentials_file": str(self.credentials_file),
            "data_dir": str(self.data_dir),
            "history_db": str(self.history_db),
            "state_dir": str(self.state_dir),
            "repl_history": str(self.repl_history),
        }


def paths_from_env(env: Mapping[str, str]) -> Paths:
    """Compute the locations for this environment (overrides first, then the platform's)."""
    config_override = _override(env, CONFIG_DIR_VAR)
    data_override = _override(env, DATA_DIR_VAR)
    state_override = _override(env, STATE_DIR_VAR) or data_override
    platform = _PlatformDirs(env)
    return Paths(
        config_dir=config_override or platform.config(),
        data_dir=data_override or platform.data(),
        state_dir=state_override or platform.state(),
    )


def _override(env: Mapping[str, str], name: str) -> Path | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    # A relative override is taken relative to the current directory, like any path argument.
    return Path(os.path.abspath(os.path.expanduser(value)))


class _PlatformDirs:
    """The platform's directories, computed from `env` rather than from os.environ.

    On XDG platforms (Linux, BSD) the XDG rules are applied to the given mapping directly: they
    are exactly what platformdirs implements, and reading os.environ instead would make an
    explicit environment a lie. macOS and Windows have no environment-driven rules worth
    copying, so platformdirs answers there.
    """

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def config(self) -> Path:
        if _is_xdg_platform():
            return self._xdg("XDG_CONFIG_HOME", ".config")
        import platformdirs

        return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))

    def data(self) -> Path:
        if _is_xdg_platform():
            return self._xdg("XDG_DATA_HOME", ".local/share")
        import platformdirs

        return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))

    def state(self) -> Path:
        if _is_xdg_platform():
            return self._xdg("XDG_STATE_HOME", ".local/state")
        import platformdirs

        return Path(platformdirs.user_state_dir(APP_NAME, appauthor=False))

    def _xdg(self, variable: str, fallback_under_home: str) -> Path:
        base = self._env.get(variable, "").strip()
        # The XDG spec says relative values are invalid and must be ignored.
        if base and os.path.isabs(base):
            return Path(base) / APP_NAME
        return Path(self._home(), fallback_under_home, APP_NAME)

    def _home(self) -> str:
        home = self._env.get("HOME", "").strip()
        if home:
            return home
        # HOME unset (some cron jobs, containers): ask the password database, like expanduser.
        try:
            import pwd

            return pwd.getpwuid(os.getuid()).pw_dir
        except (ImportError, KeyError, OSError):
            # No home at all: a path nobody can create. Reading finds no files (so `ask` with
            # MEILICHAT_URL still works) and writing fails with a message naming the path.
            return "/nonexistent"


def _is_xdg_platform() -> bool:
    return sys.platform not in ("win32", "darwin", "cygwin")
