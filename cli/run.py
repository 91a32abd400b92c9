"""`cua run TASK`: resolve settings, then hand the run to cli.session."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from ..core import defaults

HELP = """\
Carry out TASK on the desktop with Claude, step by step, until Claude reports the outcome or a budget runs out.

Uses $DISPLAY, or a private Xvfb with --virtual-display. Needs ANTHROPIC_API_KEY (and honours ANTHROPIC_BASE_URL), or with --provider bedrock, vertex or foundry that cloud's own credentials (README, "Providers"). Every run is recorded; see `cua runs list`.

Before each action cua asks its policy (built-in rules, then your --policy files; see `cua policy show`). An action the policy wants approved is asked on the terminal; with nobody at a terminal (stdin not a TTY, or --non-interactive) it is never carried out: the run stops with status needs_approval, exit 4. --yes approves every such action; a rule that denies stays denied.

\b
Examples:
  cua run "open the settings and turn on dark mode"
  cua run --virtual-display 1280x800 --app xterm --json "print the date in xterm"
  cua run --max-steps 20 --model claude-sonnet-4-6 "fill the vendor form" | tee out.txt
  PORTAL_PW=... cua run --secret PASSWORD=PORTAL_PW --timeout 300 \\
      --check "test -s ~/invoice.pdf" "log in with {{PASSWORD}} and download the invoice"
"""


_DEFAULT_MODELS = (f"{defaults.MODEL}; Bedrock {defaults.BEDROCK_MODEL}; "
                   f"Vertex {defaults.VERTEX_MODEL}")


def _settings_flags(**flags: object) -> dict[str, object]:
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.settings import UNSET

    return {name: UNSET if value is None else value for name, value in flags.items()}


def run(
    task: Annotated[str, typer.Argument(help="What Claude should do, in plain words.",
                                        show_default=False, metavar="TASK")],
    model: Annotated[str | None, typer.Option(
        help="Claude model, written as the provider writes it (env CUA_MODEL). Examples: "
        "--model claude-sonnet-4-6; on Bedrock us.anthropic.claude-sonnet-4-5-20250929-v1:0; "
        "on Vertex claude-sonnet-4-5@20250929.",
        show_default=_DEFAULT_MODELS)] = None,
    provider: Annotated[str | None, typer.Option(
        help="Where Claude runs: anthropic, bedrock (Amazon Bedrock), vertex (Google Vertex AI) or foundry (Microsoft Foundry) (env CUA_PROVIDER).",
        show_default=defaults.PROVIDER)] = None,
    region: Annotated[str | None, typer.Option(
        help="Cloud region (env CUA_REGION; else AWS_REGION/AWS_DEFAULT_REGION on Bedrock, CLOUD_ML_REGION on Vertex). Example: --region us-east-1, --region global.")] = None,
    project: Annotated[str | None, typer.Option(
        help="Google Cloud project for Vertex AI (env CUA_PROJECT; else ANTHROPIC_VERTEX_PROJECT_ID, or the credentials' project).")] = None,
    base_url: Annotated[str | None, typer.Option(
        help="Send requests to this URL, e.g. a gateway or proxy (env CUA_BASE_URL; else the SDK's ANTHROPIC_BASE_URL, ANTHROPIC_BEDROCK_BASE_URL, ANTHROPIC_VERTEX_BASE_URL or ANTHROPIC_FOUNDRY_BASE_URL). Extra headers come from the config file's [headers] table.",
        metavar="URL")] = None,
    tool_version: Annotated[str | None, typer.Option(
        help="Computer tool version, instead of the one the model table picks: "
        "computer_20241022, computer_20250124, computer_20251124, computer_toolset_20260801.")] = None,
    max_steps: Annotated[int | None, typer.Option(
        help="Stop (exit 3) after this many Claude replies (env CUA_MAX_STEPS).",
        show_default=str(defaults.MAX_STEPS))] = None,
    max_tokens: Annotated[int | None, typer.Option(
        help="Output-token limit of each Claude reply (env CUA_MAX_TOKENS).",
        show_default=str(defaults.MAX_TOKENS))] = None,
    monitor: Annotated[int | None, typer.Option(
        help="Which monitor to capture and drive (1 = primary, 0 = all monitors as one).",
        show_default=str(defaults.MONITOR))] = None,
    keep_images: Annotated[int | None, typer.Option(
        help="Screenshots kept in the conversation; older ones become a short placeholder.",
        show_default=str(defaults.KEEP_IMAGES))] = None,
    max_cost: Annotated[float | None, typer.Option(
        help="Stop (exit 3) before a step once the run has cost this many US dollars, by the price table (env CUA_MAX_COST_USD).",
        metavar="USD")] = None,
    virtual_display: Annotated[str | None, typer.Option(
        help="Run on a private Xvfb of this size, started and stopped by cua. "
        "Example: --virtual-display 1920x1080 (env CUA_VIRTUAL_DISPLAY, config virtual_display)", metavar="WxH")] = None,
    app: Annotated[str | None, typer.Option(
        help='Start this program before the first screenshot (env CUA_APP, config app). Example: --app "xterm"',
        metavar="CMD")] = None,
    run_dir: Annotated[Path | None, typer.Option(
        help="Write this run's record into DIR instead of the user data directory.",
        metavar="DIR")] = None,
    config: Annotated[Path | None, typer.Option(
        help="Config file (TOML) instead of ~/.config/cua/config.toml (env CUA_CONFIG).",
        metavar="FILE")] = None,
    policy: Annotated[list[Path] | None, typer.Option(
        help="Policy file (TOML) whose rules come before the built-in ones; repeatable "
        "(env CUA_POLICY, files separated by ':'; config policy, a list). Default: policy.toml "
        "in the config directory, if it exists. See `cua policy show`.",
        metavar="FILE")] = None,
    yes: Annotated[bool, typer.Option(
        "--yes", "-y", help="Approve every action the policy would ask about. Actions a rule "
        "denies stay denied.")] = False,
    non_interactive: Annotated[bool, typer.Option(
        "--non-interactive", help="Never prompt, even on a terminal: an action that needs "
        "approval stops the run (status needs_approval, exit 4). Implied when stdin is not a "
        "terminal (env CUA_NON_INTERACTIVE=1, config non_interactive = true).")] = False,
    scope_window: Annotated[str | None, typer.Option(
        help="Keep the run to windows whose WM_CLASS class, instance or title matches REGEX (case-insensitive): an action aimed at any other window (a click: the window under its point; typing and keys: the focused window) needs a person's approval (rule outside-scope). Example: --scope-window 'vendor|firefox'. A policy file can set scope_window too.",
        metavar="REGEX")] = None,
    secret: Annotated[list[str] | None, typer.Option(
        help="Let Claude type a secret without seeing it: NAME takes the value of $NAME, "
        "NAME=VAR of $VAR. Claude writes {{NAME}}; cua types the value. Repeatable.",
        metavar="NAME[=VAR]")] = None,
    timeout: Annotated[float | None, typer.Option(
        help="Stop (status timeout, exit 3) once the run has taken this many seconds of wall "
        "time (env CUA_TIMEOUT_S).", metavar="SECONDS")] = None,
    check: Annotated[str | None, typer.Option(
        help="After Claude reports success, run CMD with the shell; success stands only if it "
        "exits 0 (else status check_failed, exit 1). Its output goes to check.txt in the run "
        "folder.", metavar="CMD")] = None,
    wait_lock: Annotated[float | None, typer.Option(
        help="If another cua run holds this display, wait this long for it before giving up "
        "(exit 5) (env CUA_WAIT_LOCK_S).", metavar="SECONDS",
        show_default=f"{defaults.WAIT_LOCK_S:g}")] = None,
    replay: Annotated[str | None, typer.Option(
        help="Replay a recorded run without Claude, checking every step on screen; Claude takes "
        "over where the screen differs. RUN: a run id, prefix or folder, `latest` (the newest run "
        "that can be replayed), or `auto` "
        "(the newest success of this task on this screen; none found: an ordinary run). "
        "Env CUA_REPLAY.", metavar="RUN")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="With --replay: set the desktop up as the run would (--virtual-display, "
        "--app), compare the screen with the recording's first step that acts and say whether the replay "
        "would start (exit 0) or Claude would take over at once (exit 1), without acting: no "
        "input, no model request, no run folder. Like `cua replay-check`.")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print exactly one JSON object (the run summary) on stdout at the end; "
        "progress stays on stderr.")] = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No progress output.")] = False,
    verbose: Annotated[int, typer.Option(
        "--verbose", "-v", count=True, help="More detail: -v adds settling and overhead per "
        "step, every field of each action, and cua's info logs; -vv adds debug logs.")] = 0,
    desktop: Annotated[str | None, typer.Option(
        hidden=True, help="For tests: drive fake[:WxH][:window=CLASS][:fail=METHOD[@N]] "
        "instead of an X display.", metavar="SPEC")] = None,
    report: Annotated[bool | None, typer.Option(
        "--report/--no-report", help="When the run ends, however it ends (crash, timeout, approval needed, Ctrl-C or SIGTERM included), write report.html into the run folder (see `cua runs report`) and name it on stderr (env CUA_REPORT=1, config report = true).",
        show_default=defaults.REPORT)] = None,
) -> int:
    # Imported here, not at the top: start-up loads only what --help needs.
    from .preflight import raise_all
    from .session import execute

    plan, problems = make_plan(
        task, env=dict(os.environ), model=model, tool_version=tool_version,
        max_steps=max_steps, max_tokens=max_tokens, monitor=monitor, keep_images=keep_images,
        max_cost=max_cost, provider=provider, region=region, project=project,
        base_url=base_url, replay=replay, timeout=timeout, wait_lock=wait_lock,
        virtual_display=virtual_display, app=app, policy=policy, non_interactive=non_interactive,
        report=report, config=config, run_dir=run_dir, as_json=as_json, quiet=quiet,
        secret=secret, yes=yes, check=check, verbose=verbose, desktop=desktop, dry_run=dry_run,
        scope_window=scope_window)
    raise_all(problems, plan)
    if dry_run:
        # Imported here, not at the top: start-up loads only what --help needs.
        from .replay import dry_run as replay_dry_run

        return replay_dry_run(plan)
    return execute(plan)


def make_plan(task: str, *, env: dict[str, str], model: str | None = None,
              tool_version: str | None = None, max_steps: int | None = None,
              max_tokens: int | None = None, monitor: int | None = None,
              keep_images: int | None = None, max_cost: float | None = None,
              provider: str | None = None, region: str | None = None,
              project: str | None = None, base_url: str | None = None,
              replay: str | None = None, timeout: float | None = None,
              wait_lock: float | None = None, virtual_display: str | None = None,
              app: str | None = None, policy: list[Path] | None = None,
              non_interactive: bool = False, report: bool | None = None,
              config: Path | None = None, run_dir: Path | None = None, as_json: bool = False,
              quiet: bool = False, secret: list[str] | None = None, yes: bool = False,
              check: str | None = None, verbose: int = 0, desktop: str | None = None,
              dry_run: bool = False, scope_window: str | None = None
              ) -> tuple[Any, list[str]]:
    """The RunPlan `cua run` makes of these options (its own option names), and every problem
    that stops it before it starts (empty: it can run). `cua run` and the in-process
    `cua batch` both build their runs here, so a batch task runs exactly as `cua run` would."""
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.settings import SettingsError, load_settings
    from .preflight import problems_of
    from .session import RunPlan, parse_app

    problems: list[str] = []
    try:
        loaded = load_settings(env, config, _settings_flags(
        model=model, tool_version=tool_version, max_steps=max_steps, max_tokens=max_tokens,
        monitor=monitor, keep_images=keep_images, max_cost_usd=max_cost, provider=provider,
        region=region, project=project, base_url=base_url, replay=replay, timeout_s=timeout,
        wait_lock_s=wait_lock, virtual_display=virtual_display, app=app,
        policy=policy or None, non_interactive=non_interactive or None, report=report))
    except SettingsError as exc:  # checked on with the good values, reported all at once
        problems, loaded = exc.problems, exc.partial
    plan = RunPlan(
        task=task, settings=loaded.settings, env=env,
        virtual_display=loaded.settings.virtual_display, app=parse_app(loaded.settings.app),
        run_dir=run_dir, as_json=as_json, quiet=quiet,
        api_key=env.get("ANTHROPIC_API_KEY"), headers=loaded.headers,
        model_is_default=loaded.sources["model"] == "default",
        price_overrides=loaded.prices,
        policy_files=tuple(Path(p) for p in loaded.settings.policy),
        secret_specs=tuple(secret or ()), assume_yes=yes,
        non_interactive=loaded.settings.non_interactive,
        timeout_s=loaded.settings.timeout_s, check=check,
        wait_lock_s=loaded.settings.wait_lock_s, verbose=verbose,
        desktop=desktop, report=loaded.settings.report, scope_window=scope_window,
    )
    return plan, problems + problems_of(plan, dry_run=dry_run)
