"""The tools `cua mcp` offers, as plain data: their JSON schemas, checking a call's arguments,
and the texts a client shows (progress lines, the approval question, the result's summary).

Nothing here speaks MCP or starts a run; `mcp_server.py` does both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..core.vocab.words import counted
from .approval import describe_action
from .view import visible

NAME = r"[A-Za-z_][A-Za-z0-9_]*"
SECRET_SPEC = re.compile(rf"{NAME}(={NAME})?")
DISPLAY_SIZE = re.compile(r"[1-9][0-9]{1,4}x[1-9][0-9]{1,4}")
DEFAULT_DISPLAY = "1280x800"

RUN_TASK_INPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "task": {"type": "string", "minLength": 1,
                 "description": "What to do on the screen, in plain words, as for `cua run`."},
        "app": {"type": "string", "minLength": 1,
                "description": "A program started on the display before the first screenshot "
                               "(a command line, as `cua run --app`), e.g. \"xterm\"."},
        "virtual_display": {"type": "string", "pattern": f"^{DISPLAY_SIZE.pattern}$",
                            "description": "Size of the run's private display, WxH "
                                           f"(default {DEFAULT_DISPLAY})."},
        "max_steps": {"type": "integer", "minimum": 1,
                      "description": "Stop after this many Claude replies."},
        "timeout_s": {"type": "number", "exclusiveMinimum": 0,
                      "description": "Stop once the run has taken this many seconds."},
        "max_cost_usd": {"type": "number", "minimum": 0,
                         "description": "Stop before a step once the run has cost this much."},
        "replay": {"type": "string", "minLength": 1,
                   "description": "Follow a recorded run instead of asking Claude at each "
                                  "step: a run id or prefix, `latest` or `auto` (as `cua run "
                                  "--replay`)."},
        "secrets": {"type": "array", "uniqueItems": True,
                    "items": {"type": "string", "pattern": f"^{SECRET_SPEC.pattern}$"},
                    "description": "Names of secrets Claude may type as {{NAME}}: NAME takes "
                                   "the server's $NAME, NAME=VAR its $VAR. Names only: values "
                                   "never pass through the client."},
    },
    "required": ["task"],
    "additionalProperties": False,
}

_NULLABLE_TEXT = {"type": ["string", "null"]}
_NULLABLE_NUMBER = {"type": ["number", "null"]}
_NULLABLE_OBJECT = {"type": ["object", "null"]}
# Exactly the object `cua run --json` prints (README, "JSON output"): every key, always.
RUN_SUMMARY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "status": _NULLABLE_TEXT, "summary": _NULLABLE_TEXT, "steps": {"type": "integer"},
        "exit_code": {"type": ["integer", "null"]}, "model": _NULLABLE_TEXT,
        "tool_version": _NULLABLE_TEXT, "provider": _NULLABLE_TEXT, "region": _NULLABLE_TEXT,
        "run_id": _NULLABLE_TEXT, "run_dir": _NULLABLE_TEXT, "duration_s": _NULLABLE_NUMBER,
        "usage": _NULLABLE_OBJECT, "cost_usd": _NULLABLE_NUMBER, "error": _NULLABLE_TEXT,
        "approval": _NULLABLE_OBJECT, "check": _NULLABLE_OBJECT, "replay": _NULLABLE_OBJECT,
    },
    "required": ["status", "summary", "steps", "exit_code", "model", "tool_version", "provider",
                 "region", "run_id", "run_dir", "duration_s", "usage", "cost_usd", "error",
                 "approval", "check", "replay"],
}

LIST_RUNS_INPUT: dict[str, Any] = {
    "type": "object",
    "properties": {"limit": {"type": "integer", "minimum": 1, "maximum": 500,
                             "description": "How many of the newest runs (default 20)."}},
    "additionalProperties": False,
}
LIST_RUNS_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {"runs": {"type": "array", "items": {
        "type": "object",
        "properties": {"run_id": {"type": "string"}, "task": {"type": "string"},
                       "status": {"type": "string"}, "started_at": _NULLABLE_TEXT,
                       "cost_usd": _NULLABLE_NUMBER, "steps": {"type": ["integer", "null"]}},
        "required": ["run_id", "task", "status", "started_at", "cost_usd", "steps"]}}},
    "required": ["runs"],
}
SHOW_RUN_INPUT: dict[str, Any] = {
    "type": "object",
    "properties": {"run": {"type": "string", "minLength": 1,
                           "description": "A run id, a unique prefix of one, or `latest`."}},
    "required": ["run"],
    "additionalProperties": False,
}
SHOW_RUN_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {"run": {"type": "object"}, "path": {"type": "string"},
                   "steps": {"type": "array"}, "damaged": {"type": "array"}},
    "required": ["run", "path", "steps", "damaged"],
}

RUN_TASK_HELP = (
    "Hand a whole GUI task to cua: it looks at the screen, asks Claude for each click and "
    "keystroke, carries them out and repeats until done or a budget runs out. It runs on a "
    "private virtual display of its own (unless the server was started with --allow-desktop), "
    "checks every action against cua's policy and asks you before a risky one. The result is "
    "the run's JSON summary (as `cua run --json`) and its last screenshot; a run that fails is "
    "a normal result whose status says why.")
LIST_RUNS_HELP = "cua's recent runs, newest first: id, task, status, when, cost."
SHOW_RUN_HELP = "One recorded run: its summary and steps, as `cua runs show --json`."


class BadArguments(ValueError):
    """A tool call whose arguments cannot start a run; the message says what to change."""


@dataclass(frozen=True, slots=True)
class TaskArgs:
    """run_task's arguments, checked."""

    task: str
    app: str | None = None
    virtual_display: str | None = None
    max_steps: int | None = None
    timeout_s: float | None = None
    max_cost_usd: float | None = None
    replay: str | None = None
    secrets: tuple[str, ...] = ()

    def settings_flags(self) -> dict[str, Any]:
        """The settings this call sets, as `cua run`'s flags would (the rest from the server's
        config and environment)."""
        flags = {"max_steps": self.max_steps, "timeout_s": self.timeout_s,
                 "max_cost_usd": self.max_cost_usd, "replay": self.replay, "app": self.app}
        return {name: value for name, value in flags.items() if value is not None}


def check_arguments(schema: Mapping[str, Any], arguments: Mapping[str, Any] | None) -> None:
    """Raise BadArguments naming each way `arguments` break `schema`."""
    # Imported here, not at the top: start-up loads only what --help needs.
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    problems = sorted(validator.iter_errors(dict(arguments or {})), key=lambda e: list(e.path))
    if problems:
        raise BadArguments("; ".join(_problem(p) for p in problems))


def _problem(error: Any) -> str:
    where = ".".join(str(p) for p in error.path)
    if list(error.path)[:1] == ["secrets"] and len(error.path) == 2:  # never echo a value
        return (f"{where}: give a secret's name, NAME or NAME=VAR (its value comes from the "
                "server's environment)")
    return f"{where}: {error.message}" if where else error.message


def task_args(arguments: Mapping[str, Any] | None) -> TaskArgs:
    check_arguments(RUN_TASK_INPUT, arguments)
    args = dict(arguments or {})
    if not args["task"].strip():
        raise BadArguments("task: say what to do (it is blank)")
    return TaskArgs(task=args["task"], app=args.get("app"),
                    virtual_display=args.get("virtual_display"),
                    max_steps=args.get("max_steps"), timeout_s=args.get("timeout_s"),
                    max_cost_usd=args.get("max_cost_usd"), replay=args.get("replay"),
                    secrets=tuple(args.get("secrets") or ()))


def step_line(record: Any) -> str:
    """A step in one line: the first line of Claude's text, and the actions' names."""
    text = next((line.strip() for line in (record.text or "").splitlines() if line.strip()), "")
    names = ", ".join(a.name for a in record.actions)
    line = f"{text} [{names}]" if text and names else text or names or "(no action)"
    return line if len(line) <= 200 else line[:199] + "…"


def approval_question(request: Any) -> str:
    """What the terminal prompt shows, as one message: the action in words, the window, the
    rule and its reason."""
    v, w = request.verdict, request.window
    window = w.wm_class or w.instance or "unknown"
    window = f'{window} "{visible(w.title)}"' if w.title else window
    lines = [f"cua wants to carry out step {request.step}'s action, which its policy asks a "
             "person to approve.",
             f"action: {describe_action(request.name, request.action)}",
             f"window: {window}",
             f"rule: {v.rule} ({v.source}): {v.reason}"]
    if request.crop_path:
        lines.append(f"picture of the target: {request.crop_path}")
    lines.append("Accept to carry it out; decline or cancel and it is not carried out and the "
                 "run stops (status needs_approval).")
    return "\n".join(lines)


# Accepting with `remember` approves the same kind of action for the rest of the run, as the
# terminal's [a]; only primitive fields are allowed in an elicitation form.
APPROVAL_FORM: dict[str, Any] = {
    "type": "object",
    "properties": {"remember": {
        "type": "boolean", "default": False,
        "title": "Also approve this kind of action for the rest of the run"}},
}


def answer_for(action: str, content: Mapping[str, Any] | None) -> str:
    """The gate's answer for an elicitation's result: accept is once (or always, with
    `remember`); decline and cancel stop the run, as nobody answering does."""
    if action != "accept":
        return "stop"
    return "always" if (content or {}).get("remember") is True else "once"


def result_text(summary: Mapping[str, Any]) -> str:
    """The result's short text: status, Claude's summary, steps, time, cost, run id."""
    parts = [f"cua run {summary.get('status') or 'error'}"]
    if summary.get("summary"):
        parts.append(f": {summary['summary']}")
    figures = [counted(summary.get("steps") or 0, "step")]
    if summary.get("duration_s") is not None:
        figures.append(f"{summary['duration_s']:.1f} s")
    if summary.get("cost_usd") is not None:
        figures.append(f"${summary['cost_usd']:.4f}")
    parts.append(f" ({', '.join(figures)})")
    if summary.get("error"):
        parts.append(f"\nerror: {summary['error']}")
    if summary.get("approval"):
        approval = summary["approval"]
        parts.append(f"\nstopped for approval: {approval.get('rule')}: {approval.get('reason')}")
    if summary.get("run_id"):
        parts.append(f"\nrun {summary['run_id']} (show_run for its steps)")
    return "".join(parts)
