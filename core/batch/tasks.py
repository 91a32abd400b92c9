"""Batch files: the tasks `cua batch FILE` runs, parsed and checked before anything runs.

Two formats, chosen by the file's suffix (`.toml`, else JSON Lines):

- TOML: each task is a `[[task]]` table; keys at the top level are the defaults of every task.
- JSON Lines: one JSON object per line; a first object `{"defaults": {...}}` holds the
  defaults. Blank lines and lines starting with `#` are skipped.

A task's fields override the file's defaults, which override the usual settings (flags of
`cua batch`, CUA_* variables, the config file). Every problem is a ConfigError naming
`FILE:LINE`, raised before any task starts.

Ids: a task's `id` if given, else `t-` and the first 10 hex digits of the SHA-256 of the
task's own fields (defaults not included) as canonical JSON; the second and later tasks with
the same fields get `-2`, `-3`... So an id does not change when other tasks are added,
removed or reordered, which is what lets `--resume` recognise a finished task.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config_file import describe, key_line, read_toml
from ..errors import ConfigError

# field → (kind, what a message calls the kind)
FIELDS: dict[str, str] = {
    "task": "text", "id": "text", "app": "text", "virtual_display": "text", "model": "text",
    "provider": "text", "max_steps": "int", "max_cost": "number", "timeout": "number",
    "check": "text", "secrets": "names", "policy": "paths", "replay": "text", "tags": "names",
}
# Hidden, for tests: a FakeDesktop spec, as `cua run --desktop` (not in --help or the README).
HIDDEN_FIELDS = {"desktop": "text"}
_KINDS = {**FIELDS, **HIDDEN_FIELDS}
_NOUNS = {"text": "a text", "int": "a whole number", "number": "a number",
          "names": "a list of texts", "paths": "a file path or a list of them"}
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SIZE_PATTERN = re.compile(r"[1-9]\d{1,4}x[1-9]\d{1,4}")
SECRET_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(=[A-Za-z_][A-Za-z0-9_]*)?")
MAX_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class BatchTask:
    """One task of a batch: its fields with the file's defaults applied, and where it is."""

    id: str
    task: str
    line: int
    fields: Mapping[str, Any] = field(default_factory=dict)  # every field but task and id
    id_given: bool = False

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(self.fields.get("tags", ()))


@dataclass(frozen=True, slots=True)
class Batch:
    path: Path
    tasks: tuple[BatchTask, ...]
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def where(self, task: BatchTask) -> str:
        return f"{self.path}:{task.line}"


def load_batch(path: Path) -> Batch:
    """Read and check the batch file at `path` (TOML by suffix, else JSON Lines)."""
    if path.suffix.lower() == ".toml":
        found = read_toml(path, what="batch file")
        assert found is not None  # explicit: a missing file is a ConfigError
        return parse_toml(found.data, found.text, path=path)
    return parse_jsonl(_read_text(path), path=path)


def _read_text(path: Path) -> str:
    try:
        if not path.is_file():
            raise ConfigError(f"batch file {path} does not exist or is not a file; "
                              "check the path")
        raw = path.read_bytes()[: MAX_BYTES + 1]
    except OSError as exc:
        raise ConfigError(f"cannot read batch file {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"batch file {path} is larger than {MAX_BYTES} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: the batch file is not UTF-8 text; save it as "
                          "UTF-8") from None


def parse_jsonl(text: str, *, path: Path) -> Batch:
    """JSON Lines: one task object per line, optionally a first `{"defaults": {...}}` line."""
    defaults: dict[str, Any] = {}
    entries: list[tuple[int, dict[str, Any]]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path}:{number}"
        try:
            data = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            detail = getattr(exc, "msg", "nested too deeply")
            raise ConfigError(f"{where}: not a JSON object ({detail}); each line of a JSON "
                              'Lines batch is one task, e.g. {"task": "fill the form"}') from None
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: a task must be a JSON object, not {describe(data)}")
        if "defaults" in data:
            if entries or defaults or set(data) != {"defaults"}:
                raise ConfigError(f"{where}: the defaults line must come first and hold only "
                                  '"defaults", e.g. {"defaults": {"max_steps": 20}}')
            defaults = _check_defaults(data["defaults"], where)
            continue
        entries.append((number, data))
    return _build(path, defaults, entries)


def parse_toml(data: Mapping[str, Any], text: str, *, path: Path) -> Batch:
    """TOML: `[[task]]` tables; the top-level keys are the defaults."""
    tables = data.get("task")
    lines = [n for n, raw in enumerate(text.splitlines(), 1)
             if re.fullmatch(r"\s*\[\[\s*task\s*\]\]\s*(#.*)?", raw)]
    if tables is None:
        tables = []
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{path}: `task` must be written as [[task]] tables, one per task")
    if len(lines) != len(tables):  # e.g. task = [{...}] inline: no header lines to point at
        lines = [_fallback_line(text)] * len(tables)
    top = {k: v for k, v in data.items() if k != "task"}
    for name, value in top.items():  # each default named with its own line
        line = key_line(text, (name,))
        check_field(name, value, f"{path}:{line}" if line else str(path))
    defaults = _check_defaults(top, str(path))
    return _build(path, defaults, list(zip(lines, tables, strict=True)))


def _fallback_line(text: str) -> int:
    for number, raw in enumerate(text.splitlines(), 1):
        if re.match(r"\s*task\s*=", raw):
            return number
    return 1


def _check_defaults(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: defaults must be a table of task fields, not "
                          f"{describe(data)}")
    for name in ("task", "id"):
        if name in data:
            raise ConfigError(f"{where}: `{name}` cannot be a default; each task has its own")
    return {name: check_field(name, value, where) for name, value in data.items()}


def _build(path: Path, defaults: Mapping[str, Any],
           entries: list[tuple[int, dict[str, Any]]]) -> Batch:
    if not entries:
        raise ConfigError(f"{path}: the batch file holds no task; add one, e.g. "
                          + ('[[task]] with task = "..."' if path.suffix.lower() == ".toml"
                             else '{"task": "fill the form"}'))
    tasks: list[BatchTask] = []
    seen: dict[str, int] = {}
    generated: dict[str, int] = {}
    for number, entry in entries:
        where = f"{path}:{number}"
        own = {name: check_field(name, value, where) for name, value in entry.items()}
        if "task" not in own:
            raise ConfigError(f"{where}: the task has no `task` (what Claude should do)")
        task_text = own.pop("task")
        given = own.pop("id", None)
        if given is None:
            digest = _digest({"task": task_text, **own})
            generated[digest] = generated.get(digest, 0) + 1
            task_id = digest if generated[digest] == 1 else f"{digest}-{generated[digest]}"
        else:
            task_id = given
        if task_id in seen:
            raise ConfigError(f"{where}: id {task_id!r} is also the id of the task on line "
                              f"{seen[task_id]}; ids must be unique")
        seen[task_id] = number
        fields_ = {**defaults, **own}
        if "policy" in fields_:
            fields_["policy"] = tuple(str((path.parent / p).expanduser())
                                      if not Path(p).expanduser().is_absolute()
                                      else str(Path(p).expanduser()) for p in fields_["policy"])
        tasks.append(BatchTask(task_id, task_text, number, fields_, id_given=given is not None))
    return Batch(path, tuple(tasks), dict(defaults))


def _digest(fields_: Mapping[str, Any]) -> str:
    canonical = json.dumps(fields_, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "t-" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def check_field(name: Any, value: Any, where: str) -> Any:
    """`value` checked as batch field `name`; a ConfigError naming `where` if it is not one."""
    if name not in _KINDS:
        raise ConfigError(f"{where}: unknown field {describe(name)}; known: "
                          f"{', '.join(FIELDS)}")
    kind = _KINDS[name]
    value = _typed(kind, value)
    if value is None:
        raise ConfigError(f"{where}: {name} must be {_NOUNS[kind]}, not {describe(value)}")
    problem = _problem(name, value)
    if problem:
        raise ConfigError(f"{where}: {name} {problem}")
    return value


_NOT = object()


def _typed(kind: str, value: Any) -> Any:
    if kind == "text":
        return value if isinstance(value, str) else None
    if kind == "int":
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if ok and value == value and abs(value) != float("inf") else None
    if isinstance(value, str) and kind == "paths":
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _problem(name: str, value: Any) -> str | None:
    if name == "task" and not value.strip():
        return "must not be empty"
    if name == "id" and not ID_PATTERN.fullmatch(value):
        return (f"{value!r} must be 1-64 letters, digits, '.', '_' or '-', starting with a "
                "letter or digit")
    if name == "virtual_display" and not SIZE_PATTERN.fullmatch(value):
        return f"must be WIDTHxHEIGHT, e.g. 1280x800, not {value!r}"
    if name == "max_steps" and value < 1:
        return f"must be at least 1, not {value}"
    if name == "max_cost" and value < 0:
        return f"must not be negative, not {value:g}"
    if name == "timeout" and value <= 0:
        return f"must be more than 0 seconds, not {value:g}"
    if name == "secrets":
        bad = [s for s in value if not SECRET_PATTERN.fullmatch(s)]
        if bad:
            return (f"holds {bad[0]!r}: each is NAME or NAME=VAR (names of environment "
                    "variables; never a value)")
    if name == "policy" and not all(value):
        return "holds an empty path"
    return None
