"""Run records on disk: run.json, steps.jsonl (appended as each step ends) and step PNGs.

The types written and read back are in record.py; this module owns the files.

Records are private, like ~/.ssh: their screenshots show whatever was on the screen. Every
folder cua creates for them (the data folder, runs/, each run folder, a --run-dir) is made 0700
and every file it writes there 0600, set on the file itself as it is created (`private_dir`,
`private_file`), whatever the umask; the process umask is never changed (it is process-wide,
and other threads create files too)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

from .. import defaults
from ..errors import ConfigError, RecordError
from ..vocab.events import (
    ApprovalPictureTaken,
    CheckFinished,
    Event,
    FirstScreenshot,
    HandedOver,
    RunFinished,
    RunStarted,
    ScreenMatched,
    StepFinished,
)
from ..vocab.record import FORMAT, DamagedRecord, RunHeader, StepRecord, parse_record
from ..vocab.words import counted


class Redacts(Protocol):
    """What the recorder needs of the run's redactor (core/safety/secrets.py `Redactor`): the record
    sits below safety, so it names only the one method it calls."""

    def redact_data(self, data: Any) -> Any: ...


PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` and every missing parent as 0700 folders (only those it creates: a folder
    that exists keeps its mode; `cua doctor` warns about a runs folder others can read)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        try:
            os.mkdir(folder, PRIVATE_DIR_MODE)
        except FileExistsError:  # made meanwhile by another cua: its own mode stands
            continue
        os.chmod(folder, PRIVATE_DIR_MODE)  # the umask may have taken bits off mkdir's mode
    return path


def private_file(path: Path, mode: str = "wb", **kwargs: Any) -> IO[Any]:
    """Open `path` for writing ("wb", "w", "a", "ab") as a 0600 file, whatever the umask; a file
    that exists is made 0600 too before anything is written to it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (
        os.O_APPEND if mode.startswith("a") else os.O_TRUNC)
    fd = os.open(path, flags, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        return open(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


def write_private(path: Path, data: bytes | str, **kwargs: Any) -> None:
    """Write one whole file as 0600 (text with `encoding`, bytes as they are)."""
    with private_file(path, "w" if isinstance(data, str) else "wb", **kwargs) as out:
        out.write(data)


def write_private_atomically(path: Path, data: bytes | str, **kwargs: Any) -> None:
    """Write `path` through a 0600 temporary file beside it, renamed over it when complete."""
    tmp = path.with_name(f".{path.name}.tmp")
    write_private(tmp, data, **kwargs)
    os.replace(tmp, path)


def runs_root(env: Mapping[str, str]) -> Path:
    """Where run records live: $CUA_DATA_DIR/runs, else the platform's user data directory."""
    # Imported here: keeps importing this module light (start-up time).
    from ..paths import data_dir

    return data_dir(env) / "runs"


def new_run_id(now: datetime) -> str:
    """Sortable and unique: time to the second plus a short random suffix."""
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def check_run_dir(path: Path) -> None:
    """Refuse a folder that already holds a record (nothing is overwritten): `--run-dir` is for
    one run; a job run again and again sets CUA_DATA_DIR, and each run gets a folder of its own
    under it."""
    if (path / "run.json").exists():
        raise ConfigError(
            f"{path} already holds a run record; --run-dir is for one run: pass a new folder, "
            "or, for a job that runs again (cron), set CUA_DATA_DIR=DIR instead, so that each "
            "run gets its own folder under DIR/runs")
    # Without creating anything (a run that stops early leaves no folder): the folder, or the
    # nearest part of its path that exists, must take new files.
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise RecordError(f"cannot write the run record in {path}: {existing} is not writable; "
                          "choose a writable --run-dir (or CUA_DATA_DIR)")


def prepare_run_dir(path: Path) -> Path:
    """Create the run folder and make sure a record can be written there; refuse one that
    already holds a record, so nothing is overwritten."""
    check_run_dir(path)
    try:
        private_dir(path)
        probe = path / ".cua-write-test"
        write_private(probe, b"")
        probe.unlink()
    except OSError as exc:
        raise RecordError(f"cannot write the run record in {path}: {_reason(exc)}; "
                          "choose a writable --run-dir (or CUA_DATA_DIR)") from exc
    return path


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def write_run_file(path: Path, data: bytes) -> None:
    """Write one file of the run record (a picture); RecordError if it cannot be written."""
    try:
        write_private(path, data)
    except OSError as exc:
        raise _record_error(path, exc) from exc


def _record_error(path: Path, exc: OSError) -> RecordError:
    return RecordError(f"cannot write {path.name} of the run record in {path.parent}: "
                       f"{_reason(exc)}; the run stopped. Free some space or choose a "
                       "writable --run-dir (or CUA_DATA_DIR)")


def _write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    # backslashreplace: a lone surrogate (from a non-UTF-8 environment) must not stop a record.
    write_private(tmp, json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8",
                  errors="backslashreplace")
    os.replace(tmp, path)


class RunRecorder:
    """Writes what a run did as it happens, so a crash or kill leaves a readable record.

    `header` holds what is known before the run starts (versions, display, --app, ...);
    `meta` is the same as a plain mapping of RunHeader fields. Everything written goes through
    `redactor` first (the run's secrets). A write that fails raises RecordError once; after
    that the recorder writes nothing more, so the run can end with that one clear reason.
    `then` gets every event once it is recorded (or could not be): the run's other sinks, a
    view. `finished` is the RunFinished recorded, once there is one.
    """

    def __init__(self, run_dir: Path, *, header: RunHeader | None = None,
                 meta: Mapping[str, Any] | None = None, clock: Any = None,
                 redactor: Redacts | None = None,
                 then: Callable[[Event], None] | None = None) -> None:
        self.run_dir = run_dir
        self._now = clock or (lambda: datetime.now(UTC))
        header = header or RunHeader.from_dict({**(meta or {}), "format": FORMAT})
        self.header = replace(header, status="running", started_at=self._stamp())
        self._steps: IO[str] | None = None
        self._redactor = redactor
        self._then = then
        self.finished: RunFinished | None = None
        self.failure: RecordError | None = None
        # Screenshots handed over unencoded (a replayed step's) are encoded and written here.
        self._writer: ThreadPoolExecutor | None = None
        self._writes: list[Future[None]] = []

    def _stamp(self) -> str:
        return self._now().isoformat(timespec="milliseconds")

    def _data(self, data: Any) -> Any:
        return data if self._redactor is None else self._redactor.redact_data(data)

    def __call__(self, event: Event) -> None:
        try:
            self._record(event)
        finally:
            if isinstance(event, RunFinished):
                self.finished = event
            if self._then is not None:
                self._then(event)

    def _record(self, event: Event) -> None:
        if self.failure is not None:
            return
        try:
            self._written(wait=isinstance(event, RunFinished))
            self._handle(event)
        except OSError as exc:
            path = Path(exc.filename) if exc.filename else self.run_dir / "steps.jsonl"
            self.failure = _record_error(path, exc)
            raise self.failure from exc

    def _handle(self, event: Event) -> None:
        match event:
            case RunStarted():
                self.header = replace(
                    self.header, run_id=event.run_id, task=event.task, model=event.model,
                    tool_version=event.tool_version, screen_size=event.screen_size,
                    model_size=event.model_size, max_steps=event.max_steps,
                )
                self._write_header()
                self._steps = private_file(self.run_dir / "steps.jsonl", "a",
                                           encoding="utf-8", errors="backslashreplace")
            case FirstScreenshot() | ApprovalPictureTaken():
                write_run_file(self.run_dir / event.name, event.png)
            case HandedOver():
                write_run_file(self.run_dir / event.screenshot, event.png)
            case ScreenMatched():
                self._write_picture(self.run_dir / event.name, event.png)
            case StepFinished():
                self._record_step(event)
            case RunFinished():
                self.header = replace(
                    self.header, summary=event.summary, steps=event.steps, usage=event.usage,
                    duration_s=round(event.duration_s, 3), cost_usd=event.cost_usd,
                    approval=event.approval, check=event.check,
                    replay=event.replay or self.header.replay)
                self.finish(event.status)
            case CheckFinished():
                write_private(self.run_dir / "check.txt", self._data(event.output),
                              encoding="utf-8", errors="backslashreplace")
            case _:
                pass

    def _record_step(self, event: StepFinished) -> None:
        record = event.record
        if event.screenshot_png is not None and record.screenshot:
            self._write_picture(self.run_dir / record.screenshot, event.screenshot_png)
        for name, png in event.pictures:
            self._write_picture(self.run_dir / name, png)
        if self._steps is not None:
            self._steps.write(json.dumps(self._data(record.to_dict()), ensure_ascii=False) + "\n")
            self._steps.flush()

    def _write_picture(self, path: Path, png: bytes | Callable[[], bytes]) -> None:
        """Write a PNG; one still to be encoded is encoded and written on the writer thread."""
        if not callable(png):
            write_private(path, png)
            return
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="cua-record")
        self._writes.append(self._writer.submit(_encode_to, path, png))

    def _written(self, *, wait: bool) -> None:
        """Raise, here on the run's thread, the OSError of a screenshot written in the
        background; with `wait`, first wait for every one (a finished record has them all)."""
        while self._writes and (wait or self._writes[0].done()):
            self._writes.pop(0).result()

    def _write_header(self) -> None:
        _write_json_atomically(self.run_dir / "run.json", self._data(self.header.to_dict()))

    def finish(self, status: str) -> None:
        """Write the final status into run.json (idempotent: the last call wins)."""
        self.header = replace(self.header, status=status, finished_at=self._stamp())
        self._write_header()

    def close(self) -> None:
        """Finish the screenshots still being written, close steps.jsonl; never raises (a
        full disk may refuse the last flush)."""
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer, self._writes = None, []
        if self._steps is not None:
            steps, self._steps = self._steps, None
            with contextlib.suppress(OSError):
                steps.close()


def _encode_to(path: Path, encode: Callable[[], bytes]) -> None:
    write_private(path, encode())


@dataclass(frozen=True, slots=True)
class RunInfo:
    """A run folder and its run.json."""

    run_id: str
    path: Path
    header: RunHeader

    @property
    def meta(self) -> dict[str, Any]:
        """run.json as a mapping."""
        return self.header.to_dict()


@dataclass(frozen=True, slots=True)
class Run:
    """A whole run record, as `load_run` reads it back: header and steps, typed."""

    run_id: str
    path: Path
    header: RunHeader
    steps: tuple[StepRecord, ...]
    # steps.jsonl lines (1-based) that hold no readable step record, each with why; a run
    # killed mid-write leaves its last line torn, anything else is damage
    damaged: tuple[tuple[int, str], ...] = ()

    def file(self, name: str | None) -> Path | None:
        """The path of a file the record names (a screenshot, an approval picture)."""
        return None if not name else self.path / name


def damage_of(run: Run) -> list[str]:
    """What is wrong with `run`'s record as a whole: lines that hold no step, steps missing,
    repeated or out of order, a step count run.json disagrees with. Empty for a whole record."""
    found = [f"line {number} of steps.jsonl {why}" for number, why in run.damaged]
    numbers = [step.step for step in run.steps]
    if numbers != list(range(1, len(numbers) + 1)):
        shown = ", ".join(map(str, numbers[:12])) + (", ..." if len(numbers) > 12 else "")
        found.append(f"steps.jsonl holds steps {shown}, not 1 to {len(numbers)} in order")
    if run.header.steps is not None and run.header.steps != len(numbers):
        found.append(f"run.json says {counted(run.header.steps, 'step')} but steps.jsonl holds "
                     f"{len(numbers)}")
    return found


def is_replayable(header: RunHeader) -> bool:
    """A cheap test for `cua runs list` (`core.replay.replay_problem` is the full one): the run
    succeeded and its record has the screenshots replay compares against."""
    return header.status == "success" and header.format >= 1 and bool(header.steps)


def list_runs(runs_root: Path) -> list[RunInfo]:
    """Every readable run under the root, newest first."""
    if not runs_root.is_dir():
        return []
    found = []
    for child in runs_root.iterdir():
        header = _read_header(child)
        if header is not None:
            found.append(RunInfo(child.name, child, header))
    return sorted(found, key=lambda r: str(r.header.started_at or ""), reverse=True)


_MAX_MATCHES_SHOWN = 10


def load_run(runs_root: Path, run_id: str) -> Run:
    """One run and its steps. `run_id` may be a unique prefix, a path to a run folder, or
    `latest` (the newest run)."""
    path = Path(run_id)
    if run_id == "latest" and not (path / "run.json").is_file():
        newest = list_runs(runs_root)
        if not newest:
            raise ConfigError(f"no runs yet in {runs_root}")
        path = newest[0].path
    elif not (path / "run.json").is_file():
        matches = [r for r in list_runs(runs_root) if r.run_id.startswith(run_id)]
        if not matches:
            raise ConfigError(f"no run matching {run_id!r} in {runs_root}; see `cua runs list`, "
                              "or pass `latest`")
        if len(matches) > 1:
            shown = "\n".join(f"  {r.run_id}  {r.header.status:<16}  {r.header.task[:60]}"
                               for r in matches[:_MAX_MATCHES_SHOWN])
            more = (f"\n  ... and {len(matches) - _MAX_MATCHES_SHOWN} more"
                    if len(matches) > _MAX_MATCHES_SHOWN else "")
            raise ConfigError(f"{counted(len(matches), 'run')} match {run_id!r}; give more of "
                              "the id:\n"
                              f"{shown}{more}")
        path = matches[0].path
    header = _read_header(path)
    if header is None:
        raise ConfigError(f"{path}/run.json is missing or unreadable")
    steps, damaged = read_step_lines(path)
    return Run(path.name, path, header, tuple(steps), tuple(damaged))


def record_exit_code(run_dir: Path, code: int) -> None:
    """Add the exit code cua ends with to run.json (once the run has finished writing it)."""
    header = _read_header(run_dir)
    if header is not None and header.exit_code != code:
        _write_json_atomically(run_dir / "run.json", replace(header, exit_code=code).to_dict())


def read_steps(run_dir: Path) -> list[StepRecord]:
    """Parsed steps.jsonl; lines that are not step records (a torn last line of a killed run,
    damage) are left out; `read_step_lines` also says which."""
    return read_step_lines(run_dir)[0]


def read_step_lines(run_dir: Path) -> tuple[list[StepRecord], list[tuple[int, str]]]:
    """The step records of steps.jsonl, and the (1-based) lines that hold none, with why."""
    steps_file = run_dir / "steps.jsonl"
    steps: list[StepRecord] = []
    damaged: list[tuple[int, str]] = []
    try:
        text = steps_file.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return steps, damaged
    except OSError as exc:
        return steps, [(0, f"cannot be read: {exc.strerror or exc}")]
    # Only "\n" ends a record: str.splitlines() would also cut at U+0085, U+2028 and others,
    # which JSON written with ensure_ascii=False carries raw inside Claude's text.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            steps.append(parse_record(StepRecord, json.loads(line)))
        except json.JSONDecodeError:
            damaged.append((number, "is not JSON (torn or edited)"))
        except (DamagedRecord, RecursionError) as exc:
            damaged.append((number, f"is not a step record ({exc})"))
    return steps, damaged


def _read_header(run_dir: Path) -> RunHeader | None:
    """run.json, or None when it is missing, unreadable or not a run header."""
    try:
        data = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
        return parse_record(RunHeader, data)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, DamagedRecord, RecursionError):
        return None


# -- demo runs, and pruning old runs ----------------------------------------------------------

DEMO_MODEL = defaults.DEMO_MODEL


def is_demo(header: RunHeader) -> bool:
    """A run `cua demo` made (its model is the offline stand-in, not Claude)."""
    return header.model == DEMO_MODEL


_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """`30d`, `12h`, `90m`, `2w`, `45s` → seconds; ConfigError for anything else."""
    value, unit = text.strip()[:-1], text.strip()[-1:].lower()
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if unit not in _AGE_UNITS or not number >= 0 or number == float("inf"):
        raise ConfigError(f"--older-than {text!r}: give an age like 30d, 12h, 90m or 2w "
                          "(s, m, h, d, w: seconds, minutes, hours, days, weeks)")
    return number * _AGE_UNITS[unit]


@dataclass(frozen=True, slots=True)
class Prune:
    """What `cua runs prune` would do: the runs to remove, and those it keeps although they
    are old enough, each with why."""

    remove: tuple[RunInfo, ...]
    kept: tuple[tuple[RunInfo, str], ...]


def plan_prune(runs: list[RunInfo], *, older_than_s: float, now: datetime,
               in_progress: set[str]) -> Prune:
    """The runs that started more than `older_than_s` seconds before `now`; a run in
    progress (its folder holds a display lock: `in_progress`, real paths) is never removed, nor
    one whose start time is unknown."""
    remove: list[RunInfo] = []
    kept: list[tuple[RunInfo, str]] = []
    for info in runs:
        started = _parse_time(info.header.started_at)
        if started is None:
            kept.append((info, "its start time is unknown"))
            continue
        if (now - started).total_seconds() < older_than_s:
            continue
        if os.path.realpath(info.path) in in_progress:
            kept.append((info, "it is still running (it holds a display lock)"))
            continue
        remove.append(info)
    return Prune(tuple(remove), tuple(kept))


def _parse_time(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def folder_size(path: Path) -> int:
    """Bytes in the files under `path` (what removing it frees)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def remove_run(info: RunInfo) -> None:
    """Delete a run folder; RecordError when it cannot be (what was removed stays removed)."""
    # Imported here: keeps importing this module light (start-up time).
    import shutil

    try:
        shutil.rmtree(info.path)
    except OSError as exc:
        raise RecordError(f"cannot remove {info.path}: {_reason(exc)}") from exc
