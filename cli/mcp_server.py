"""`cua mcp`'s server: MCP tools that open runs through the composition root (core/engine/root.py),
several at once, each in a thread of its own, on a private display of its own.

A run talks to the client through its `Channel`: the run's thread posts events and approval
questions into the server's event loop; the tool call's handler turns them into progress
notifications and elicitations, and the run's end into the tool result. An approval question
reaches the client as an `elicitation/create` request (protocol versions with the initialize
handshake) or, on 2026-07-28 connections where servers send no requests, as the call's
`InputRequiredResult`: the run waits, parked under an unguessable token, until the client
retries the call with the answer.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import json
import secrets as token_source
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp.server import Server
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from ..core.errors import CuaError
from . import mcp_tools as tools
from .mcp_tools import BadArguments, TaskArgs

_PARK_TTL_S = 3600.0  # an unclaimed parked run's result is dropped this long after it ended
_SHUTDOWN_WAIT_S = 60.0  # how long a cancelled run may take to end cleanly


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """How `cua mcp` was started."""

    env: Mapping[str, str]  # what runs see: API key, endpoint, secrets' values
    config: Path | None = None
    policy_files: tuple[Path, ...] = ()
    allow_desktop: bool = False
    max_concurrent: int = 2
    approval_timeout_s: float = 300.0
    app_wait_s: float = 15.0
    desktop: str | None = None  # hidden test desktop spec, as `cua run --desktop`


# --- one run and its channel to the client ------------------------------------------------------


@dataclass
class Ask:
    """An approval question from the run's thread; `settle` answers it once."""

    request: Any  # core.gate.ApprovalRequest
    key: str
    future: concurrent.futures.Future[str] = field(default_factory=concurrent.futures.Future)

    def settle(self, answer: str) -> bool:
        with contextlib.suppress(concurrent.futures.InvalidStateError):
            self.future.set_result(answer)
            return True
        return False


@dataclass(frozen=True, slots=True)
class Progress:
    step: int
    total: int
    line: str


@dataclass(frozen=True, slots=True)
class Done:
    outcome: Any  # core.engine.RunOutcome


class Channel:
    """One run in its thread, and the queue its events reach the server's loop through."""

    who = "MCP client"  # how the run record names who answered an approval

    def __init__(self, loop: asyncio.AbstractEventLoop, *, redact: Callable[[str], str],
                 max_steps: int, approval_timeout_s: float) -> None:
        # Imported here, not at the top: start-up loads only what --help needs.
        from ..core.engine.root import Cancel

        self.loop = loop
        self.queue: asyncio.Queue[Ask | Progress | Done] = asyncio.Queue()
        self.cancel = Cancel()
        self.redact = redact
        self.max_steps = max_steps
        self.approval_timeout_s = approval_timeout_s
        self.finished = threading.Event()
        self.outcome: Any = None
        self.ended_at: float | None = None
        self.pending: Ask | None = None  # the question a parked run waits on
        self._picture: bytes | Callable[[], bytes] | None = None
        self._asked = 0

    # the run's thread

    def start(self, request: Any, on_end: Callable[[], None]) -> None:
        thread = threading.Thread(target=self._run, args=(request, on_end), daemon=True,
                                  name="cua-mcp-run")
        thread.start()

    def _run(self, request: Any, on_end: Callable[[], None]) -> None:
        # Imported here, not at the top: start-up loads only what --help needs.
        from ..core.engine.root import RunHooks, run

        try:
            self.outcome = run(request, RunHooks(on_event=self.on_event, approver=self,
                                                 warn=_warn, cancel=self.cancel))
        finally:
            self.ended_at = time.monotonic()
            self.finished.set()
            self._post(Done(self.outcome))
            self._call(on_end)

    def on_event(self, event: Any) -> None:
        # Imported here, not at the top: start-up loads only what --help needs.
        from ..core.vocab.events import FirstScreenshot, StepFinished

        if isinstance(event, FirstScreenshot):
            self._picture = event.png
        elif isinstance(event, StepFinished):
            if event.screenshot_png is not None:
                self._picture = event.screenshot_png
            self._post(Progress(event.step, self.max_steps,
                                self.redact(tools.step_line(event.record))))

    def __call__(self, request: Any) -> str:
        """The run's approver (`who` names it in the record): post the question, wait for
        the client's answer. Timeout: the action is not carried out and the run stops
        (needs_approval)."""
        self._asked += 1
        ask = Ask(request, key=f"approve-step-{request.step}-{self._asked}")
        self._post(ask)
        deadline = time.monotonic() + self.approval_timeout_s
        while True:
            with contextlib.suppress(concurrent.futures.TimeoutError):
                return ask.future.result(timeout=0.1)
            if self.cancel.is_set():  # not carried out; the cancellation ends the run next
                return "deny" if ask.settle("deny") else ask.future.result()
            if time.monotonic() >= deadline and ask.settle("stop"):
                return "stop"

    def _post(self, item: Ask | Progress | Done) -> None:
        self._call(lambda: self.queue.put_nowait(item))

    def _call(self, fn: Callable[[], None]) -> None:
        with contextlib.suppress(RuntimeError):  # the server's loop has closed
            self.loop.call_soon_threadsafe(fn)

    def picture(self) -> bytes | None:
        """The last screenshot of the run (after its last step), PNG."""
        picture = self._picture
        if callable(picture):
            try:
                return picture()
            except Exception:
                return None
        return picture


# --- the server -------------------------------------------------------------------------------


class CuaMcp:
    """The tools and the runs in flight of one `cua mcp` process."""

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.slots = asyncio.Semaphore(options.max_concurrent)
        self.running = 0
        self.waiting = 0
        self.channels: set[Channel] = set()
        self.parked: dict[str, Channel] = {}

    def server(self) -> Server[Any]:

        return Server("cua", version=metadata.version("claude-cua"),
                      instructions="cua carries out GUI tasks on a private virtual display "
                                   "with Claude's computer use; see the run_task tool.",
                      on_list_tools=self.list_tools, on_call_tool=self.call_tool)

    async def list_tools(self, ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[
            types.Tool(name="run_task", title="Run a GUI task with cua",
                       description=tools.RUN_TASK_HELP, input_schema=tools.RUN_TASK_INPUT,
                       output_schema=tools.RUN_SUMMARY_SCHEMA),
            types.Tool(name="list_runs", title="List cua's recent runs",
                       description=tools.LIST_RUNS_HELP, input_schema=tools.LIST_RUNS_INPUT,
                       output_schema=tools.LIST_RUNS_OUTPUT),
            types.Tool(name="show_run", title="Show one cua run",
                       description=tools.SHOW_RUN_HELP, input_schema=tools.SHOW_RUN_INPUT,
                       output_schema=tools.SHOW_RUN_OUTPUT),
        ])

    async def call_tool(self, ctx: Any, params: types.CallToolRequestParams
                        ) -> types.CallToolResult | types.InputRequiredResult:
        try:
            if params.name == "run_task":
                if params.request_state is not None:
                    return await self._resume(ctx, params)
                return await self._run_task(ctx, tools.task_args(params.arguments))
            if params.name == "list_runs":
                tools.check_arguments(tools.LIST_RUNS_INPUT, params.arguments)
                return _structured(self._list_runs((params.arguments or {}).get("limit", 20)))
            if params.name == "show_run":
                tools.check_arguments(tools.SHOW_RUN_INPUT, params.arguments)
                return _structured(self._show_run(params.arguments["run"]))  # type: ignore[index]
        except (BadArguments, CuaError) as exc:
            return _error(str(exc))
        return _error(f"no tool named {params.name!r}; the tools are run_task, list_runs and "
                      "show_run")

    # run_task

    async def _run_task(self, ctx: Any, args: TaskArgs
                        ) -> types.CallToolResult | types.InputRequiredResult:
        request, redact = self._request(args)
        if self.slots.locked():
            self.waiting += 1
            await ctx.session.report_progress(
                0, request.settings.max_steps,
                f"waiting for a free run slot: {self.running} running, --max-concurrent "
                f"{self.options.max_concurrent}, {self.waiting} waiting")
            try:
                await self.slots.acquire()
            finally:
                self.waiting -= 1
        else:
            await self.slots.acquire()
        self.running += 1
        channel = Channel(asyncio.get_running_loop(), redact=redact,
                          max_steps=request.settings.max_steps,
                          approval_timeout_s=self.options.approval_timeout_s)
        self.channels.add(channel)

        def on_end() -> None:
            self.running -= 1
            self.slots.release()
            self.channels.discard(channel)

        channel.start(request, on_end)
        return await self._follow(ctx, channel)

    def _request(self, args: TaskArgs) -> tuple[Any, Callable[[str], str]]:
        """The RunRequest for a call, from the server's settings and environment; the key and
        endpoint never come from the call. Raises CuaError for settings that cannot run."""
        # Imported here, not at the top: start-up loads only what --help needs.
        from ..core.engine.root import RunRequest
        from ..core.safety.secrets import CREDENTIAL_VARS, Secrets
        from ..core.settings import load_settings
        from .session import parse_app

        env = self.options.env
        loaded = load_settings(env, self.options.config, args.settings_flags())
        s = loaded.settings
        display = args.virtual_display
        if display is None and not self.options.allow_desktop:
            display = s.virtual_display or tools.DEFAULT_DISPLAY
        if self.options.desktop is not None:  # tests: a fake desktop, no display at all
            display = None
        policy = self.options.policy_files or tuple(Path(p) for p in s.policy)
        request = RunRequest(
            task=args.task, settings=s, env=env, virtual_display=display,
            app=parse_app(s.app), api_key=env.get("ANTHROPIC_API_KEY"), headers=loaded.headers,
            model_is_default=loaded.sources["model"] == "default",
            price_overrides=loaded.prices, policy_files=policy, secret_specs=args.secrets,
            timeout_s=s.timeout_s, wait_lock_s=s.wait_lock_s, app_wait_s=self.options.app_wait_s,
            desktop=self.options.desktop)
        try:  # what goes to the client is redacted again here, whatever the run does
            redactor = Secrets.from_specs(args.secrets, env, CREDENTIAL_VARS)
        except CuaError:
            redactor = Secrets.credentials_only(env, CREDENTIAL_VARS)
        return request, redactor.redact

    async def _follow(self, ctx: Any, channel: Channel
                      ) -> types.CallToolResult | types.InputRequiredResult:
        """Relay the run to this call until it ends, or until it needs an answer this call's
        protocol can only get by returning (then the run is parked)."""
        try:
            while True:
                item = await channel.queue.get()
                if isinstance(item, Done):
                    return self._result(channel)
                if isinstance(item, Progress):
                    await ctx.session.report_progress(item.step, item.total, item.line)
                    continue
                how = _elicitation_path(ctx)
                if how == "request":
                    await self._elicit(ctx, item, channel)
                elif how == "input_required":
                    return self._park(item, channel)
                else:
                    item.settle("stop")  # nobody to ask: as an unattended run
        except BaseException as exc:  # cancelled, or the client is gone: the run ends too
            cancelled = isinstance(exc, anyio.get_cancelled_exc_class())
            channel.cancel.set("the MCP client cancelled the call" if cancelled else
                               "the MCP client can no longer be reached")
            with anyio.CancelScope(shield=True), anyio.move_on_after(_SHUTDOWN_WAIT_S):
                await anyio.to_thread.run_sync(channel.finished.wait)
            raise

    async def _elicit(self, ctx: Any, ask: Ask, channel: Channel) -> None:
        answer = "stop"
        with anyio.move_on_after(self.options.approval_timeout_s):
            try:
                result = await ctx.session.elicit_form(
                    channel.redact(tools.approval_question(ask.request)), tools.APPROVAL_FORM,
                    ctx.request_id)
                answer = tools.answer_for(result.action, result.content)
            except Exception:  # the client failed to ask: nobody answered
                answer = "stop"
        ask.settle(answer)

    def _park(self, ask: Ask, channel: Channel) -> types.InputRequiredResult:
        self._sweep()
        token = token_source.token_urlsafe(24)
        channel.pending = ask
        self.parked[token] = channel
        question = types.ElicitRequest(params=types.ElicitRequestFormParams(
            message=channel.redact(tools.approval_question(ask.request)),
            requested_schema=tools.APPROVAL_FORM))
        return types.InputRequiredResult(input_requests={ask.key: question}, request_state=token)

    async def _resume(self, ctx: Any, params: types.CallToolRequestParams
                      ) -> types.CallToolResult | types.InputRequiredResult:
        channel = self.parked.pop(params.request_state or "", None)
        if channel is None:
            return _error("this run_task call is no longer waiting for an answer (the server "
                          "restarted, or it was answered already); see list_runs for its run")
        ask, channel.pending = channel.pending, None
        if ask is not None:
            response = (params.input_responses or {}).get(ask.key)
            if isinstance(response, types.ElicitResult):
                ask.settle(tools.answer_for(response.action, response.content))
            else:
                ask.settle("stop")
        return await self._follow(ctx, channel)

    def _sweep(self) -> None:
        """Forget parked runs that ended long ago and were never claimed."""
        now = time.monotonic()
        for token, channel in list(self.parked.items()):
            if channel.ended_at is not None and now - channel.ended_at > _PARK_TTL_S:
                del self.parked[token]

    def _result(self, channel: Channel) -> types.CallToolResult:
        outcome = channel.outcome
        if outcome is None:  # the engine itself failed to return: a bug, reported as one
            # Imported here, not at the top: start-up loads only what --help needs.
            from ..core.engine.root import empty_summary

            summary = {**empty_summary(), "status": "error", "exit_code": 70,
                       "error": "cua's run ended without an outcome (a bug in cua)"}
            return types.CallToolResult(content=[types.TextContent(text=summary["error"])],
                                        structured_content=summary, is_error=True)
        summary = outcome.summary
        could_not_run = outcome.error is not None and summary.get("run_id") is None
        content: list[Any] = [types.TextContent(text=channel.redact(tools.result_text(summary)))]
        png = channel.picture()
        if png:
            content.append(types.ImageContent(data=base64.b64encode(png).decode("ascii"),
                                              mime_type="image/png"))
        return types.CallToolResult(content=content, structured_content=summary,
                                    is_error=could_not_run)

    # list_runs, show_run

    def _list_runs(self, limit: int) -> dict[str, Any]:
        # Imported here, not at the top: start-up loads only what --help needs.
        from ..core.store.runs import list_runs, runs_root

        rows = []
        for info in list_runs(runs_root(self.options.env))[:limit]:
            h = info.header
            rows.append({"run_id": info.run_id, "task": h.task, "status": h.status,
                         "started_at": h.started_at, "cost_usd": h.cost_usd, "steps": h.steps})
        return {"runs": rows}

    def _show_run(self, run: str) -> dict[str, Any]:
        # Imported here, not at the top: start-up loads only what --help needs.
        from ..core.errors import ConfigError
        from ..core.store.runs import load_run, runs_root
        from .runs import run_as_json

        if "/" in run or run in (".", ".."):
            raise ConfigError(f"show_run takes a run id, a prefix of one or `latest`, not a path "
                              f"({run!r})")
        return run_as_json(load_run(runs_root(self.options.env), run))

    # shutting down

    async def stop_all(self, reason: str) -> None:
        """Cancel every run in flight and wait (bounded) until each has ended cleanly."""
        channels = list(self.channels)
        for channel in channels:
            channel.cancel.set(reason)
        with anyio.CancelScope(shield=True), anyio.move_on_after(_SHUTDOWN_WAIT_S):
            for channel in channels:
                await anyio.to_thread.run_sync(channel.finished.wait)


def _warn(line: str) -> None:
    """A run's warning (already redacted), for whoever reads the server's stderr."""
    sys.stderr.write(f"cua mcp: warning: {line}\n")
    sys.stderr.flush()


def _elicitation_path(ctx: Any) -> str | None:
    """How this call can ask its client's user: "request" (elicitation/create), or
    "input_required" (2026-07-28: the call returns the question), or None (it cannot)."""
    capabilities = ctx.session.client_capabilities
    if capabilities is None or capabilities.elicitation is None:
        return None
    elicitation = capabilities.elicitation
    if elicitation.form is None and elicitation.url is not None:  # URL mode only
        return None
    if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        return "input_required"
    return "request" if ctx.session.can_send_request else None


def _structured(data: dict[str, Any]) -> types.CallToolResult:

    return types.CallToolResult(
        content=[types.TextContent(text=json.dumps(data, ensure_ascii=False, indent=1))],
        structured_content=data)


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)
