"""Everything the stand-in server remembers: features, keys, workspaces, indexes, tasks.

One `ServerState` per server, guarded by one lock (requests run on many threads). Index
settings updates are asynchronous like Meilisearch's: they are enqueued as tasks (202) and a
worker thread processes them a moment later, succeeding or failing with the task error.

Stdlib only; imports `server.*` helpers only.
"""

from __future__ import annotations

import copy
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from meilichat_cli.standin import index_chat, workspaces
from meilichat_cli.standin.apierror import error_body
from meilichat_cli.standin.auth import ApiKey, derive_key
from meilichat_cli.standin.keys import now_text
from meilichat_cli.standin.search import IndexData, SearchEngine, load_datasets
from meilichat_cli.standin.versions import Emulation, emulation

# The experimental features of the newest emulated release (each emulation has its own).
FEATURE_FLAGS = emulation(None).feature_flags

DEMO_WORKSPACE = "demo"
# A made-up provider key (>= 30 bytes, so GET shows it as "sk-deXXXXXX...").
DEMO_PROVIDER_KEY = "sk-demo-provider-key-0123456789abcdef"

# Default keys' uids come from the master key: a real Meilisearch draws them at random once
# and keeps them in its data directory, so its keys stay the same across restarts. The
# stand-in gets the same effect without a directory: same master key, same keys.
_KEY_NAMESPACE = uuid.UUID("6d65696c-6963-6861-742d-7374616e6469")


def default_key_uid(master_key: str, name: str) -> str:
    return str(uuid.uuid5(_KEY_NAMESPACE, f"{master_key}\0{name}"))


SETTINGS_DELAY = 0.02  # seconds before an enqueued settings task is processed


@dataclass
class IndexState:
    """An index as the API shows it, plus the settings the server needs at search time."""

    data: IndexData
    created_at: str
    updated_at: str
    chat: dict[str, Any]

    @property
    def uid(self) -> str:
        return self.data.uid

    def view(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "primaryKey": self.data.primary_key or None,  # "" = not inferred yet
        }


class ServerState:
    """The server's memory. Call methods under `lock` when a sequence must be atomic."""

    def __init__(
        self, *, master_key: str | None, fresh: bool, version: Emulation | None = None
    ) -> None:
        self.lock = threading.RLock()
        self.master_key = master_key
        self.version = version or emulation(None)
        self.features: dict[str, bool | None] = dict.fromkeys(self.version.feature_flags, False)
        self.features["chatCompletions"] = not fresh
        # (workspace, model) -> [prompt tokens, completion tokens], for `/metrics`.
        self.chat_tokens: dict[tuple[str, str], list[int]] = {}
        self.engine = SearchEngine(load_datasets())
        created = now_text()
        self.indexes: dict[str, IndexState] = {
            uid: IndexState(
                data=data,
                created_at=created,
                updated_at=created,
                chat=index_chat.default_chat_settings() if fresh else self._configured(data),
            )
            for uid, data in self.engine.indexes.items()
        }
        self.workspaces: dict[str, dict[str, Any]] = {}
        if not fresh:
            demo = workspaces.default_settings(self.version)
            demo["apiKey"] = DEMO_PROVIDER_KEY
            self.workspaces[DEMO_WORKSPACE] = demo
        self.keys: dict[str, ApiKey] = {}
        if master_key is not None:
            # Created Chat first and Search last: listed newest first, Search comes first.
            for name, description, actions in self.version.default_keys:
                self.add_key(
                    uid=default_key_uid(master_key, name),
                    name=name,
                    description=description,
                    actions=list(actions),
                    indexes=["*"],
                    expires_at=None,
                    expires_ts=None,
                )
        self.tasks: list[dict[str, Any]] = []
        self.counters: dict[str, int] = {}
        for index in self.indexes.values():
            self._record_finished_task(
                index.uid,
                "documentAdditionOrUpdate",
                {
                    "receivedDocuments": len(index.data.documents),
                    "indexedDocuments": len(index.data.documents),
                },
            )
            if not fresh:
                self._record_finished_task(index.uid, "settingsUpdate", {"chat": index.chat})
        # Called (outside the lock) after a queued task changed the state: persistence.
        self.on_change: Callable[[], None] | None = None
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._worker = threading.Thread(
            target=self._process_tasks, daemon=True, name="standin-tasks"
        )
        self._worker.start()

    @staticmethod
    def _configured(data: IndexData) -> dict[str, Any]:
        merged = index_chat.merge(index_chat.default_chat_settings(), data.chat)
        return merged

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=2)
        self.engine.close()

    # -- keys ---------------------------------------------------------------------------------

    def add_key(
        self,
        *,
        uid: str,
        name: str | None,
        description: str | None,
        actions: list[str],
        indexes: list[str],
        expires_at: str | None,
        expires_ts: float | None,
    ) -> ApiKey:
        assert self.master_key is not None
        stamp = now_text()
        key = ApiKey(
            uid=uid,
            value=derive_key(self.master_key, uid),
            name=name,
            description=description,
            actions=actions,
            indexes=indexes,
            expires_at=expires_at,
            expires_ts=expires_ts,
            created_at=stamp,
            updated_at=stamp,
        )
        with self.lock:
            self.keys[uid] = key
        return key

    def key_by_value(self, value: str) -> ApiKey | None:
        with self.lock:
            return next((k for k in self.keys.values() if k.value == value), None)

    def key_by_uid(self, uid: str) -> ApiKey | None:
        with self.lock:
            return self.keys.get(uid)

    def find_key(self, key_or_uid: str) -> ApiKey | None:
        return self.key_by_uid(key_or_uid) or self.key_by_value(key_or_uid)

    def key_named(self, name: str) -> ApiKey | None:
        with self.lock:
            return next((k for k in self.keys.values() if k.name == name), None)

    def keys_newest_first(self) -> list[ApiKey]:
        with self.lock:
            # Insertion order is creation order; Meilisearch lists the newest first.
            return list(reversed(self.keys.values()))

    # -- tasks --------------------------------------------------------------------------------

    def _new_task(self, index_uid: str, kind: str, details: dict[str, Any]) -> dict[str, Any]:
        task: dict[str, Any] = {
            "uid": len(self.tasks),
            "batchUid": None,
            "indexUid": index_uid,
            "status": "enqueued",
            "type": kind,
            "canceledBy": None,
            "details": details,
            "error": None,
            "duration": None,
            "enqueuedAt": now_text(),
            "startedAt": None,
            "finishedAt": None,
        }
        self.tasks.append(task)
        return task

    def _record_finished_task(self, index_uid: str, kind: str, details: dict[str, Any]) -> None:
        task = self._new_task(index_uid, kind, copy.deepcopy(details))
        task.update(
            batchUid=task["uid"],
            status="succeeded",
            duration="PT0.001S",
            startedAt=task["enqueuedAt"],
            finishedAt=task["enqueuedAt"],
        )

    def enqueue_chat_settings(self, index_uid: str, body: dict[str, Any] | None) -> dict[str, Any]:
        """Enqueue an index chat-settings update; return the summarized task (202 body)."""
        with self.lock:
            details = {"chat": body}
            task = self._new_task(index_uid, "settingsUpdate", details)
            task["_pending"] = body
            summary = {
                "taskUid": task["uid"],
                "indexUid": index_uid,
                "status": "enqueued",
                "type": "settingsUpdate",
                "enqueuedAt": task["enqueuedAt"],
            }
        self._queue.put(task["uid"])
        return summary

    def task_view(self, uid: int) -> dict[str, Any] | None:
        with self.lock:
            if not 0 <= uid < len(self.tasks):
                return None
            return {
                k: copy.deepcopy(v) for k, v in self.tasks[uid].items() if not k.startswith("_")
            }

    def _process_tasks(self) -> None:
        while True:
            uid = self._queue.get()
            if uid is None:
                return
            time.sleep(SETTINGS_DELAY)
            with self.lock:
                task = self.tasks[uid]
                task.update(status="processing", startedAt=now_text(), batchUid=uid)
                index = self.indexes.get(task["indexUid"]) or self._create_index(task["indexUid"])
                merged = index_chat.merge(index.chat, task.pop("_pending"))
                failure = index_chat.task_error(
                    index.uid, merged, check_template=self.version.template_checked_on_update
                )
                if failure is None:
                    index.chat = merged
                    index.updated_at = now_text()
                    task["status"] = "succeeded"
                else:
                    task["status"] = "failed"
                    task["error"] = error_body(*failure)
                task["finishedAt"] = now_text()
                task["duration"] = "PT0.020S"
            if self.on_change is not None:
                self.on_change()

    def _create_index(self, uid: str) -> IndexState:
        """A settings task on an unknown index creates it, empty (as Meilisearch does)."""
        data = IndexData(
            uid=uid,
            primary_key="",
            searchable=["*"],
            filterable=[],
            sortable=[],
            chat={},
            documents=[],
        )
        stamp = now_text()
        index = IndexState(
            data=data,
            created_at=stamp,
            updated_at=stamp,
            chat=index_chat.default_chat_settings(),
        )
        self.engine.indexes[uid] = data
        self.indexes[uid] = index
        return index

    # -- scenario bookkeeping -----------------------------------------------------------------

    def count_chat_tokens(self, workspace: str, model: str, prompt: int, completion: int) -> None:
        """Add one answer's tokens to the chat counters `/metrics` exposes."""
        with self.lock:
            counts = self.chat_tokens.setdefault((workspace, model), [0, 0])
            counts[0] += prompt
            counts[1] += completion

    def metrics_text(self) -> str:
        """Prometheus text with Meilisearch's chat token counters (per workspace and model)."""
        lines: list[str] = []
        with self.lock:
            counts = sorted(self.chat_tokens.items())
        if tuple(int(p) for p in re.findall(r"\d+", self.version.pkg_version)[:2]) < (1, 16):
            return ""  # the chat counters came with v1.16
        for name, what, pick in (
            ("meilisearch_chat_prompt_tokens_total", "prompt tokens consumed", (0,)),
            ("meilisearch_chat_completion_tokens_total", "completion tokens consumed", (1,)),
            ("meilisearch_chat_tokens_total", "tokens consumed (prompt + completion)", (0, 1)),
        ):
            lines.append(f"# HELP {name} Total number of {what}")
            lines.append(f"# TYPE {name} counter")
            for (workspace, model), values in counts:
                labels = f'model="{_label(model)}",workspace="{_label(workspace)}"'
                lines.append(f"{name}{{{labels}}} {sum(values[i] for i in pick)}")
        return "\n".join(lines) + "\n"

    def bump(self, counter: str) -> int:
        """Increment a named counter and return its new value."""
        with self.lock:
            self.counters[counter] = self.counters.get(counter, 0) + 1
            return self.counters[counter]


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
