"""The batch state file: each task's last outcome, by id, for `cua batch --resume`.

It lives next to the runs: `RUNS/batches/STEM-KEY.json`, KEY the first 10 hex digits of the
SHA-256 of the batch file's absolute path (so two batch files with one name do not mix). It is
rewritten atomically (temporary file, fsync, rename) after each task ends, so a batch stopped
at any moment, a reboot included, leaves the state of every task that finished.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..store.runs import private_dir

FOLDER = "batches"


def state_path(runs_folder: Path, batch_file: Path) -> Path:
    absolute = str(batch_file.expanduser().absolute())
    key = hashlib.sha256(absolute.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    return runs_folder / FOLDER / f"{batch_file.stem}-{key}.json"


class BatchState:
    """Task id → its last outcome: status, exit code, run id and folder, cost."""

    def __init__(self, path: Path, batch_file: Path,
                 tasks: Mapping[str, dict[str, Any]] | None = None) -> None:
        self.path = path
        self.batch_file = batch_file
        self.tasks: dict[str, dict[str, Any]] = dict(tasks or {})
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: Path, batch_file: Path) -> BatchState:
        """The state at `path`; empty when there is none, or it cannot be read (a resume then
        runs every task again: nothing is lost, some work is repeated)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            tasks = data.get("tasks") if isinstance(data, dict) else None
            if not isinstance(tasks, dict):
                tasks = {}
        except (OSError, ValueError):
            tasks = {}
        return cls(path, batch_file, {k: v for k, v in tasks.items() if isinstance(v, dict)})

    def succeeded(self, task_id: str) -> bool:
        return self.tasks.get(task_id, {}).get("status") == "success"

    def record(self, task_id: str, outcome: Mapping[str, Any]) -> None:
        """Note a task's outcome and write the file at once."""
        with self._lock:
            self.tasks[task_id] = {**outcome,
                                   "ended_at": datetime.now(UTC).isoformat(timespec="seconds")}
            self._write()

    def _write(self) -> None:
        data = {"batch_file": str(self.batch_file.expanduser().absolute()),
                "tasks": self.tasks}
        private_dir(self.path.parent)  # the folder 0700; mkstemp makes the file 0600
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.",
                                   suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=2, ensure_ascii=False)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
