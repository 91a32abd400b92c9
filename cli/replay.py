"""`--replay RUN|latest|auto` for `cua run`, and `cua replay-check RUN`."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

HELP_CHECK = """\
Compare the current screen with the first step of a recording that acts (steps that only
took a screenshot need not match) and say whether
`cua run --replay RUN` would start replaying it, without acting (exit 0: it would;
1: it would hand over to Claude at once; 2: RUN cannot be replayed).

Uses $DISPLAY. RUN is a run id, a unique prefix, a run folder, or `latest`.
"""


def resolve_recording(spec: str, *, root: Path, exclude: str = "") -> Any:
    """The Run that `spec` names (an id, prefix, folder or `latest`); ConfigError when it
    does not exist or cannot be replayed. `auto` is resolved later, once the screen is known."""
    from ..core.errors import ConfigError
    from ..core.replay import replay_problem
    from ..core.runs import list_runs, load_run

    if spec == "latest":
        runs = [r for r in list_runs(root) if r.run_id != exclude and r.header.status != "running"]
        if not runs:
            raise ConfigError(f"--replay latest: no finished run in {root}")
        spec = str(runs[0].path)
    run = load_run(root, spec)
    problem = replay_problem(run)
    if problem is not None:
        raise ConfigError(f"--replay {spec}: run {run.run_id} cannot be replayed: {problem}")
    return run


def make_replayer(spec: str | None, *, task: str, root: Path, monitor: int, wait_s: float,
                  exclude: str) -> Any:
    """The Replayer for `--replay SPEC` (None without it)."""
    if not spec:
        return None
    from ..core.replay import Replayer, find_recording
    from ..core.runs import list_runs, load_run

    if spec != "auto":
        return Replayer(resolve_recording(spec, root=root, exclude=exclude), wait_s=wait_s)

    def find(screen_size: tuple[int, int]) -> Any:
        runs = [r for r in list_runs(root) if r.run_id != exclude]
        return find_recording(runs, task=task, screen_size=screen_size, monitor=monitor,
                              load=lambda info: load_run(root, str(info.path)))

    return Replayer(find=find, wait_s=wait_s)


def replay_check_command(
    run_id: Annotated[str, typer.Argument(help="Run id, prefix, folder, or `latest`.",
                                          metavar="RUN")],
    monitor: Annotated[int, typer.Option(help="Which monitor to capture (1 = primary).",
                                         min=1)] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> int:
    from ..core.runs import runs_root

    env = dict(os.environ)
    recording = resolve_recording(run_id, root=runs_root(env))
    verdict = check_now(recording, env=env, monitor=monitor)
    if as_json:
        sys.stdout.write(json.dumps(verdict, ensure_ascii=False) + "\n")
    elif verdict["would_replay"]:
        sys.stdout.write(f"would replay {recording.run_id} ({verdict['steps']} steps): the "
                         f"screen matches its first step that acts (match "
                         f"{verdict['match']:.3f})\n")
    else:
        sys.stdout.write(f"would hand over to Claude at once: {verdict['reason']}\n")
    return 0 if verdict["would_replay"] else 1


def check_now(recording: Any, *, env: Mapping[str, str], monitor: int) -> dict[str, Any]:
    """Look at the screen once and judge the recording's first step against it."""
    from ..core.replay import first_step_verdict
    from ..core.xdesktop import XDesktop
    from ..core.xserver import check_display, ensure_xauthority

    name = check_display(env)
    desktop = XDesktop(display=name, xauthority=ensure_xauthority(env), monitor=monitor)
    try:
        match = first_step_verdict(recording, desktop)
    finally:
        desktop.close()
    return {"run_id": recording.run_id, "steps": len(recording.steps),
            "would_replay": match.is_match, "match": match.score, "reason": match.reason}
