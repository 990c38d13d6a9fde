"""Keeping the stand-in's state in a directory (`meilichat demo --serve --data-dir DIR`).

Like a Meilisearch data directory: experimental features, chat workspaces (with their
provider keys), index chat settings, API keys (uid, name, actions…; values are derived from
the master key, never written) and tasks survive a restart. The bundled documents are not
written: they come with the package. One JSON file, `standin-state.json`, written private
(0600, directory 0700) and atomically (a temporary file renamed over it) after every change.

Stdlib only; imports `standin.state` helpers.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from meilichat_cli.standin.auth import ApiKey, derive_key
from meilichat_cli.standin.state import ServerState

STATE_FILE = "standin-state.json"
FORMAT = 1


class StateFileError(Exception):
    """The state file exists but cannot be read back."""


def snapshot(state: ServerState) -> dict[str, Any]:
    with state.lock:
        return {
            "format": FORMAT,
            "features": dict(state.features),
            "workspaces": json.loads(json.dumps(state.workspaces)),
            "indexes": {
                uid: {
                    "chat": index.chat,
                    "createdAt": index.created_at,
                    "updatedAt": index.updated_at,
                }
                for uid, index in state.indexes.items()
            },
            "keys": [
                {
                    "uid": key.uid,
                    "name": key.name,
                    "description": key.description,
                    "actions": key.actions,
                    "indexes": key.indexes,
                    "expiresAt": key.expires_at,
                    "expiresTs": key.expires_ts,
                    "createdAt": key.created_at,
                    "updatedAt": key.updated_at,
                }
                for key in state.keys.values()
            ],
            "tasks": [
                {k: v for k, v in task.items() if not k.startswith("_")} for task in state.tasks
            ],
        }


def restore(state: ServerState, data: dict[str, Any]) -> None:
    """Replace what `data` holds; raises StateFileError when its shape is wrong."""
    try:
        if data.get("format") != FORMAT:
            raise StateFileError(f"unknown format {data.get('format')!r}")
        with state.lock:
            for name, value in data["features"].items():
                if name in state.features:
                    state.features[name] = value
            state.workspaces = {str(k): dict(v) for k, v in data["workspaces"].items()}
            for uid, saved in data["indexes"].items():
                index = state.indexes.get(uid)
                if index is None:  # created by a settings task, empty, as Meilisearch does
                    index = state._create_index(str(uid))
                index.chat = dict(saved["chat"])
                index.created_at = str(saved["createdAt"])
                index.updated_at = str(saved["updatedAt"])
            if state.master_key is not None:
                state.keys = {}
                for saved in data["keys"]:
                    uid = str(saved["uid"])
                    state.keys[uid] = ApiKey(
                        uid=uid,
                        value=derive_key(state.master_key, uid),
                        name=saved["name"],
                        description=saved["description"],
                        actions=list(saved["actions"]),
                        indexes=list(saved["indexes"]),
                        expires_at=saved["expiresAt"],
                        expires_ts=saved["expiresTs"],
                        created_at=str(saved["createdAt"]),
                        updated_at=str(saved["updatedAt"]),
                    )
            tasks = [dict(task) for task in data["tasks"]]
            for task in tasks:
                if task.get("status") in ("enqueued", "processing"):
                    task["status"] = "canceled"  # it never ran: the server stopped first
            state.tasks = tasks
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise StateFileError(f"unexpected content ({error})") from error


def load(directory: Path, state: ServerState) -> bool:
    """Restore `state` from `directory`; False when there is nothing saved there yet."""
    path = directory / STATE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    except OSError as error:
        raise StateFileError(f"{path}: {error.strerror or error}") from error
    try:
        data = json.loads(text)
    except ValueError as error:
        raise StateFileError(f"{path}: not JSON ({error})") from error
    if not isinstance(data, dict):
        raise StateFileError(f"{path}: not a JSON object")
    try:
        restore(state, data)
    except StateFileError as error:
        raise StateFileError(f"{path}: {error}") from error
    return True


def save(directory: Path, state: ServerState) -> None:
    """Write the state atomically and privately."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = json.dumps(snapshot(state), indent=1, ensure_ascii=False)
    path = directory / STATE_FILE
    temporary = directory / f".{STATE_FILE}.{os.getpid()}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
