"""`--replay RUN|latest|auto` for `cua run`, and `cua replay-check RUN`."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from ..core.vocab.words import counted

HELP_CHECK = """\
Compare the current screen with the first step of a recording that acts (steps that only
took a screenshot need not match) and say whether
`cua run --replay RUN` would start replaying it, without acting (exit 0: it would;
1: it would hand over to Claude at once; 2: RUN cannot be replayed).

Uses $DISPLAY, and the model `cua run` would use (its scale must be the
recording's). RUN is a run id, a unique prefix, a run folder, or `latest`
(the newest run that can be replayed). Whether the run is given the secrets the
recording types is for `cua run --replay RUN --dry-run` to say.
"""


def resolve_recording(spec: str, *, root: Path, exclude: str = "") -> Any:
    from ..core.engine.replay import resolve_recording as resolve  # the engine: imported on use

    return resolve(spec, root=root, exclude=exclude)


def latest_replayable(root: Path, *, exclude: str = "", demo: bool | None = None) -> Any:
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.engine.replay import latest_replayable as latest

    return latest(root, exclude=exclude, demo=demo)


def run_space(settings: Any, *, model_is_default: bool, env: Mapping[str, str],
              headers: Mapping[str, str], size: tuple[int, int], base_url: str | None = None
              ) -> Any:
    """The screen as a run with these settings would see it: its model decides the scale."""
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.model.context import image_limits_for
    from ..core.model.providers import resolve_endpoint
    from ..core.vocab.actions import space_for

    endpoint = resolve_endpoint(
        provider=settings.provider, model=settings.model, model_is_default=model_is_default,
        region=settings.region, project=settings.project, base_url=base_url or settings.base_url,
        headers=headers, env=env)
    model = endpoint.model
    limits = image_limits_for(model.canonical or model.id)
    return space_for(*size, max_long_edge=limits.max_long_edge, max_pixels=limits.max_pixels)


def replay_check_command(
    run_id: Annotated[str, typer.Argument(
        help="Run id, prefix, folder, or `latest` (the newest run that can be replayed).",
        metavar="RUN")],
    monitor: Annotated[int, typer.Option(
        help="Which monitor to capture (1 = primary, 0 = all monitors as one).",
        metavar="N")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> int:
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.errors import ConfigError
    from ..core.store.runs import runs_root

    if monitor < 0:
        raise ConfigError(f"--monitor must be 0 (all monitors) or more, not {monitor}")
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.settings import load_settings

    env = dict(os.environ)
    loaded = load_settings(env, None, {})  # the model `cua run --replay` would use
    recording = resolve_recording(run_id, root=runs_root(env))

    def space(size: tuple[int, int]) -> Any:
        return run_space(loaded.settings, model_is_default=loaded.sources["model"] == "default",
                         env=env, headers=loaded.headers, size=size)

    verdict = check_now(recording, env=env, monitor=monitor, space=space)
    return print_verdict(verdict, as_json=as_json)


def print_verdict(verdict: Mapping[str, Any], *, as_json: bool,
                  redact: Callable[[str], str] = str) -> int:
    """The verdict on stdout (one line, or one JSON object); the exit code that says it."""
    if as_json:
        # Imported here, not at the top: start-up loads only what --help needs.
        from .summary import mark_printed

        mark_printed()  # `cua run --json --dry-run`: this is its one object
        text = json.dumps(verdict, ensure_ascii=False)
    elif verdict["would_replay"]:
        steps = counted(verdict["steps"], "step")
        text = (f"would replay {verdict['run_id']} ({steps}): the screen "
                f"matches its first step that acts (match {verdict['match']:.3f})")
    else:
        text = f"would hand over to Claude at once: {verdict['reason']}"
    sys.stdout.write(redact(text) + "\n")
    return 0 if verdict["would_replay"] else 1


def check_now(recording: Any, *, env: Mapping[str, str], monitor: int,
              space: Callable[[tuple[int, int]], Any] | None = None) -> dict[str, Any]:
    """Look at the screen once and judge the recording's first step that acts against it."""
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.errors import DesktopError
    from ..core.x11.xdesktop import XDesktop
    from ..core.x11.xserver import check_display, ensure_xauthority

    try:
        name = check_display(env)
    except DesktopError as exc:  # its own advice: replay-check looks at the screen there is
        happened = str(exc).partition(";")[0]
        raise DesktopError(
            f"{happened}; replay-check compares the screen on $DISPLAY: run it inside the X "
            "session the replay would use, or judge the replay on a private Xvfb with `cua run "
            "--replay RUN --dry-run --virtual-display WxH --app CMD TASK`") from None
    desktop = XDesktop(display=name, xauthority=ensure_xauthority(env), monitor=monitor)
    try:
        # The secrets a replay types come with `cua run --secret`: judged by its --dry-run.
        return verdict_of(recording, desktop,
                          space=None if space is None else space(desktop.size()),
                          secrets=tuple(recording.header.secrets))
    finally:
        desktop.close()


def verdict_of(recording: Any, desktop: Any, redact: Callable[[str], str] = str,
               wait_s: float = 0.0, space: Any = None, secrets: tuple[str, ...] = ()
               ) -> dict[str, Any]:
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.engine.replay import first_step_verdict

    match = first_step_verdict(recording, desktop, redact=redact, wait_s=wait_s, space=space,
                               secrets=secrets)
    return {"run_id": recording.run_id, "steps": len(recording.steps),
            "would_replay": match.is_match, "match": match.score, "reason": match.reason}


def dry_run(plan: Any) -> int:
    """`cua run TASK --replay RUN --dry-run`: the desktop set up as the run would set it up
    (the display or --virtual-display, --app started and drawn, the display lock), the
    recording's first step that acts judged against it as replay would judge it (waiting as
    replay would, up to replay_wait_s, for a screen still drawing), and nothing done: no input,
    no model request (no API key needed), no run folder. What it judges is what the replay
    judges (`core.replay.start_problem`: the recording, the secrets, the screen's size and the
    scale this run's model sees it at, then the screen itself). Exit 0: the replay would start;
    1: Claude would take over at once (or, `auto` finding nothing, do an ordinary run)."""
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.engine.replay import find_recording
    from ..core.errors import ConfigError
    from ..core.safety.secrets import Secrets
    from ..core.store.runs import list_runs, load_run, runs_root
    from ..core.x11.session import open_session

    spec = plan.settings.replay
    if not spec:
        raise ConfigError("--dry-run says whether a replay would start, so it needs --replay "
                          "RUN (or CUA_REPLAY, or the config key replay)")
    secrets = Secrets.from_specs(plan.secret_specs, plan.env)
    root = runs_root(plan.env)
    recording = None if spec == "auto" else resolve_recording(spec, root=root)
    with open_session(plan.env, virtual_display=plan.virtual_display, app=plan.app,
                      monitor=plan.settings.monitor, wait_lock_s=plan.wait_lock_s,
                      app_wait_s=plan.app_wait_s, fake=plan.desktop) as session:
        desktop = session.desktop
        if recording is None:
            width, height = desktop.size()
            recording = find_recording(
                list_runs(root), task=secrets.redact(plan.task), screen_size=(width, height),
                monitor=plan.settings.monitor,
                load=lambda info: load_run(root, str(info.path)))
            if recording is None:
                verdict: dict[str, Any] = {
                    "run_id": None, "steps": 0, "would_replay": False, "match": 0.0,
                    "reason": f"no earlier successful run of this task on a {width}x{height} "
                              "screen to replay; an ordinary run would start"}
        if recording is not None:
            space = run_space(plan.settings, model_is_default=plan.model_is_default,
                              env=plan.env, headers=plan.headers, size=desktop.size(),
                              base_url=plan.base_url)
            verdict = verdict_of(recording, desktop, redact=secrets.redact,
                                 wait_s=plan.settings.replay_wait_s, space=space,
                                 secrets=tuple(secrets.names))
    return print_verdict(verdict, as_json=plan.as_json, redact=secrets.redact)
