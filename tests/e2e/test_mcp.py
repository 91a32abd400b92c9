"""`cua mcp` through the MCP SDK's own client, over stdio and Streamable HTTP: a real server
process, real protocol, runs against the fake Messages API on private displays (or a fake
desktop where no screen is looked at).

Every stdio server here writes through `tee`, so each test also reads the raw stdout stream:
nothing but JSON-RPC messages, and never a secret's value."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2 as httpx
import pytest
from claude_cua.cli.demo.fakeapi import FakeMessagesAPI, Reply
from claude_cua.cli.demo.policies import computer_call, report, supplier_form_policy
from claude_cua.cli.demo.supplier_form import FIELDS
from helpers import keys_down, pointer_state, wait_until

mcp = pytest.importorskip("mcp", reason="cua mcp needs the mcp extra: pip install -e '.[mcp]'")
import mcp_types as types  # noqa: E402
from mcp import Client  # noqa: E402
from mcp.client.stdio import StdioServerParameters  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

FORM = f"{sys.executable} -m claude_cua.cli.demo.supplier_form"
SECRET_VALUE = "s3cr3t-Pfl4ume-7781"  # typed into the form's Notes as {{NOTE}}
MODEL = "claude-sonnet-4-5"
BUTTONS = 0x1F00  # the pointer's button bits in an X event state


def values(company: str) -> dict[str, str]:
    return {"company": company, "email": "orders@example.com", "country": "Österreich",
            "notes": "{{NOTE}}"}


def task_text(request: dict[str, Any]) -> str:
    first = request["messages"][0]["content"]
    return " ".join(b.get("text", "") for b in first if isinstance(b, dict))


def form_policy(*companies: str):
    """Fills the form with the company the task names (two runs at once share one fake API)."""
    fillers = {c: supplier_form_policy(values(c)) for c in companies}

    def answer(request: dict[str, Any]) -> Reply:
        task = task_text(request)
        return next(f for c, f in fillers.items() if c in task)(request)

    return answer


@dataclass
class Server:
    """What a test needs around a `cua mcp` process: its environment and its folders."""

    home: Path
    api: FakeMessagesAPI
    extra_env: dict[str, str | None] = field(default_factory=dict)  # None: left out

    @property
    def runs(self) -> Path:
        return self.home / "data" / "runs"

    @property
    def raw(self) -> Path:
        return self.home / "stdout.raw"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ANTHROPIC_", "CUA_")) and k not in ("DISPLAY", "XAUTHORITY")}
        env.update(HOME=str(self.home), CUA_DATA_DIR=str(self.home / "data"),
                   ANTHROPIC_API_KEY="test-key-mcp", ANTHROPIC_BASE_URL=self.api.url,
                   CUA_MAX_RETRIES="0", CUA_MODEL=MODEL, NOTE=SECRET_VALUE)
        env.update(self.extra_env)
        return {k: v for k, v in env.items() if v is not None}

    def stdio(self, *args: str) -> StdioServerParameters:
        """`cua mcp ARGS` on stdio; its stdout also goes, byte for byte, to `raw`."""
        cua = shlex.join([sys.executable, "-m", "claude_cua.cli", "mcp", *args])
        err = shlex.quote(str(self.home / "stderr.log"))
        return StdioServerParameters(
            command="sh", args=["-c", f"{cua} 2>>{err} | tee {shlex.quote(str(self.raw))}"],
            env=self.env())

    def raw_messages(self) -> list[dict[str, Any]]:
        """Every line the server wrote to stdout, each of which must be a JSON-RPC message."""
        data = self.raw.read_bytes()
        assert SECRET_VALUE.encode() not in data
        assert base64.b64encode(SECRET_VALUE.encode()).rstrip(b"=") not in data
        lines = data.decode("utf-8").splitlines()
        messages = [json.loads(line) for line in lines]
        assert all(m.get("jsonrpc") == "2.0" for m in messages), lines
        return messages

    def record(self, summary: dict[str, Any]) -> dict[str, Any]:
        return json.loads((Path(summary["run_dir"]) / "run.json").read_text())


@pytest.fixture
def server(tmp_path: Path, api: FakeMessagesAPI) -> Server:
    (tmp_path / "data").mkdir()
    return Server(tmp_path, api)


@contextmanager
def http_server(server: Server, *args: str) -> Iterator[tuple[str, str]]:
    """`cua mcp --http 127.0.0.1:0 ARGS`; yields (its URL, its token) as printed on stderr."""
    argv = [sys.executable, "-m", "claude_cua.cli", "mcp", "--http", "127.0.0.1:0", *args]
    with subprocess.Popen(argv, env=server.env(), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
        reader.start()

        def printed() -> tuple[str, str] | None:
            text = "".join(lines)
            url = re.search(r"at (http://\S+/mcp)", text)
            token = re.search(r"bearer token: (\S+)", text)
            return (url[1], token[1]) if url and token else None

        try:
            yield wait_until(lambda: printed() or proc.poll() is not None, 60) and printed()
        finally:
            proc.terminate()
            assert proc.wait(60) == 143, "".join(lines)  # SIGTERM, as for every cua command
            reader.join(10)
            assert proc.stdout.read() == ""  # over HTTP nothing goes to stdout either


@asynccontextmanager
async def http_client(url: str, token: str, **kwargs: Any) -> AsyncIterator[Client]:
    """The SDK's client over Streamable HTTP, sending the bearer token."""
    http = httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"},
                             timeout=httpx.Timeout(30, read=300))
    async with http, Client(streamable_http_client(url, http_client=http), **kwargs) as client:
        yield client


def decoded_image(result: types.CallToolResult):
    from PIL import Image

    [image] = [c for c in result.content if isinstance(c, types.ImageContent)]
    return Image.open(io.BytesIO(base64.b64decode(image.data)))


def form_values(path: Path) -> dict[str, str]:
    return json.loads(path.read_text(encoding="utf-8"))


def expected_form(company: str) -> dict[str, str]:
    return {key: values(company)[key] for key, _label, _colour in FIELDS} | {
        "notes": SECRET_VALUE}


ALLOW_NOTE = """\
[[rule]]
name = "note"
verdict = "allow"
secret = "NOTE"
"""
ASK_COMPANY = ALLOW_NOTE + """
[[rule]]
name = "company-name"
verdict = "ask"
action = "type"
text = "Acme"
reason = "the company name goes to the supplier register"
"""


# --- stdio ------------------------------------------------------------------------------------


def test_tools_are_listed_with_their_schemas_and_a_call_that_cannot_run_is_an_error(
        server: Server) -> None:
    server.extra_env["ANTHROPIC_API_KEY"] = None

    async def main() -> tuple[list[types.Tool], types.CallToolResult, types.CallToolResult]:
        async with Client(server.stdio("--desktop", "fake")) as client:
            tools = (await client.list_tools()).tools
            bad = await client.call_tool("run_task", {"task": "x", "max_steps": "many"})
            keyless = await client.call_tool("run_task", {"task": "look at the screen"})
            return tools, bad, keyless

    listed, bad, keyless = anyio.run(main)
    tools = {t.name: t for t in listed}
    assert set(tools) == {"run_task", "list_runs", "show_run"}
    run_task = tools["run_task"]
    assert run_task.input_schema["required"] == ["task"]
    assert set(run_task.input_schema["properties"]) == {
        "task", "app", "virtual_display", "max_steps", "timeout_s", "max_cost_usd", "replay",
        "secrets"}
    assert "api_key" not in json.dumps(run_task.input_schema)  # key and endpoint: server only
    summary_keys = {"status", "summary", "steps", "exit_code", "model", "tool_version",
                    "provider", "region", "run_id", "run_dir", "duration_s", "usage",
                    "cost_usd", "error", "approval", "check", "replay"}
    assert set(run_task.output_schema["required"]) == summary_keys
    assert tools["show_run"].input_schema["required"] == ["run"]
    assert bad.is_error and "max_steps: 'many' is not of type 'integer'" in bad.content[0].text
    assert keyless.is_error and "ANTHROPIC_API_KEY" in keyless.content[0].text
    assert keyless.structured_content["status"] == "error"
    assert keyless.structured_content["exit_code"] == 2
    assert not list(server.runs.glob("*"))  # nothing ran, nothing recorded
    server.raw_messages()


def test_the_supplier_form_through_run_task(server: Server, api: FakeMessagesAPI) -> None:
    """A private display, progress after every step, the image, an approval the client's user
    accepts, a secret typed but never sent to the client, and the form written."""
    api._default = form_policy("Acme")
    out = server.home / "form.json"
    policy = server.home / "policy.toml"
    policy.write_text(ASK_COMPANY)
    progress: list[tuple[float, float | None, str | None]] = []
    asked: list[str] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    async def approve(ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"remember": False})

    async def main() -> types.CallToolResult:
        async with Client(server.stdio("--policy", str(policy)),
                          elicitation_callback=approve) as client:
            return await client.call_tool("run_task", {
                "task": "Fill the supplier form for Acme; notes: {{NOTE}}",
                "app": f"{FORM} --out {out}", "virtual_display": "1024x768",
                "max_steps": 20, "secrets": ["NOTE"]}, progress_callback=on_progress)

    result = anyio.run(main)
    summary = result.structured_content
    assert not result.is_error, result.content
    assert (summary["status"], summary["exit_code"]) == ("success", 0), summary
    assert form_values(out) == expected_form("Acme")
    assert decoded_image(result).size == (1024, 768)
    assert [p[0] for p in progress] == list(range(1, summary["steps"] + 1))
    assert {p[1] for p in progress} == {20}
    assert all(p[2] for p in progress)
    [question] = asked
    assert "type" in question and "Acme" in question and "company-name" in question
    assert "the company name goes to the supplier register" in question
    assert server.record(summary)["virtual_display"] == "1024x768"
    messages = server.raw_messages()
    assert sum(m.get("method") == "notifications/progress" for m in messages) == len(progress)


def test_a_cancelled_call_ends_its_run_with_nothing_held(server: Server, api: FakeMessagesAPI,
                                                         virtual_display) -> None:
    """The run holds the mouse button down, then holds Shift for a minute; the client cancels
    in the middle. The run ends as Ctrl-C ends one, at once. --allow-desktop puts it on the
    test's own display, so the button and the key are observed there."""
    server.extra_env.update(DISPLAY=virtual_display.display,
                            XAUTHORITY=str(virtual_display.xauthority))
    api.queue(lambda req: Reply([computer_call(req, "left_mouse_down")]),
              lambda req: Reply([computer_call(req, "hold_key", text="shift", duration=60)]))

    def button_down() -> bool:
        return bool(pointer_state(virtual_display)[2] & BUTTONS)

    def both_down() -> bool:
        return button_down() and bool(keys_down(virtual_display))

    async def main() -> None:
        async with Client(server.stdio("--allow-desktop")) as client:
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.call_tool, "run_task", {"task": "press and hold"})
                await anyio.to_thread.run_sync(lambda: wait_until(both_down, 60))
                tg.cancel_scope.cancel()
            # the server ends the run as Ctrl-C does, while it goes on serving
            await anyio.to_thread.run_sync(lambda: wait_until(
                lambda: [r for r in server.runs.glob("*/run.json")
                         if json.loads(r.read_text()).get("exit_code") is not None], 60))
            listed = await client.call_tool("list_runs", {})
            [row] = listed.structured_content["runs"]
            shown = await client.call_tool("show_run", {"run": row["run_id"][:12]})
        assert row["status"] == "interrupted"
        assert shown.structured_content["run"]["exit_code"] == 130
        assert [s["step"] for s in shown.structured_content["steps"]] == [1]
        assert shown.structured_content["run"]["duration_s"] < 30  # not the minute's hold

    anyio.run(main)
    assert not button_down() and keys_down(virtual_display) == []
    server.raw_messages()


# --- approvals on a fake desktop (no screen needed), over HTTP: one server, several clients ---


def hold_on_until_run_ends(server: Server):
    """An elicitation callback that answers only after the run has ended (so, too late)."""
    async def late(ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        def ended() -> bool:
            return any(json.loads(r.read_text())["status"] != "running"
                       for r in server.runs.glob("*/run.json"))
        await anyio.to_thread.run_sync(lambda: wait_until(ended, 60))
        return types.ElicitResult(action="accept", content={"remember": False})
    return late


async def decline(ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    return types.ElicitResult(action="decline")


@pytest.mark.parametrize(("how", "mode"), [("decline", "auto"), ("decline", "legacy"),
                                           ("unanswered", "auto"), ("unsupported", "auto")])
def test_an_action_the_client_does_not_approve_is_not_carried_out(
        server: Server, api: FakeMessagesAPI, how: str, mode: str) -> None:
    api.queue(lambda req: Reply([computer_call(req, "type", text="rm -rf ~/build\n")]),
              Reply([report("success", "never reached")]))
    callback = {"decline": decline, "unanswered": hold_on_until_run_ends(server),
                "unsupported": None}[how]
    with http_server(server, "--desktop", "fake:window=XTerm/bash",
                     "--approval-timeout", "2") as (url, token):
        async def main() -> types.CallToolResult:
            async with http_client(url, token, mode=mode, elicitation_callback=callback) as c:
                return await c.call_tool("run_task", {"task": "clean the build"})

        result = anyio.run(main)
    summary = result.structured_content
    assert not result.is_error
    assert (summary["status"], summary["exit_code"]) == ("needs_approval", 4)
    assert summary["approval"]["answer"] == "stop"
    assert summary["approval"]["answered_by"] == "MCP client"
    assert len(api.requests) == 1  # the run ended at the question; Claude was not asked again


def test_a_call_beyond_max_concurrent_waits_and_says_so(server: Server, api: FakeMessagesAPI,
                                                        hang) -> None:
    """With --max-concurrent 1 the second call waits until the first run has ended."""
    api.queue(hang)
    api._default = lambda request: Reply([report("success", task_text(request))])
    said: list[str | None] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        said.append(message)
        hang.release()  # the second call has said it waits: let the first run go on

    with http_server(server, "--desktop", "fake", "--max-concurrent", "1") as (url, token):
        async def main() -> list[types.CallToolResult]:
            async with http_client(url, token) as client:
                first = None

                async def call_first() -> None:
                    nonlocal first
                    first = await client.call_tool("run_task", {"task": "first"})

                async with anyio.create_task_group() as tg:
                    tg.start_soon(call_first)
                    await anyio.to_thread.run_sync(lambda: api.wait_for_requests(1, timeout=60))
                    second = await client.call_tool("run_task", {"task": "second"},
                                                    progress_callback=on_progress)
                return [first, second]

        first, second = anyio.run(main)
    assert said[0].startswith("waiting for a free run slot: 1 running, --max-concurrent 1")
    assert first.structured_content["status"] == "success"
    assert second.structured_content["status"] == "success"
    first_run, second_run = (server.record(r.structured_content) for r in (first, second))
    assert second_run["started_at"] >= first_run["finished_at"]  # one after the other


def test_http_refuses_requests_without_the_token(server: Server) -> None:
    with http_server(server) as (url, token):
        hello = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        headers = {"Accept": "application/json, text/event-stream"}
        wrong = {**headers, "Authorization": "Bearer " + "x" * len(token)}
        with httpx.Client() as http:
            assert http.post(url, json=hello, headers=headers).status_code == 401
            assert http.post(url, json=hello, headers=wrong).status_code == 401

        async def main() -> list[str]:
            async with http_client(url, token) as client:
                return [t.name for t in (await client.list_tools()).tools]

        assert "run_task" in anyio.run(main)


def test_two_calls_at_once_each_fill_their_own_form(server: Server, api: FakeMessagesAPI) -> None:
    api._default = form_policy("Acme", "Globex")
    outs = {c: server.home / f"{c}.json" for c in ("Acme", "Globex")}
    results: dict[str, types.CallToolResult] = {}
    policy = server.home / "policy.toml"
    policy.write_text(ALLOW_NOTE)  # nothing asks

    with http_server(server, "--policy", str(policy)) as (url, token):
        async def one(client: Client, company: str) -> None:
            results[company] = await client.call_tool("run_task", {
                "task": f"Fill the supplier form for {company}; notes: {{{{NOTE}}}}",
                "app": f"{FORM} --out {outs[company]}", "secrets": ["NOTE"]})

        async def main() -> None:
            async with http_client(url, token) as client, anyio.create_task_group() as tg:
                for company in outs:
                    tg.start_soon(one, client, company)

        anyio.run(main)
    for company, out in outs.items():
        summary = results[company].structured_content
        assert summary["status"] == "success", (summary["error"], summary)
        assert form_values(out) == expected_form(company)
    displays = {json.loads((Path(r.structured_content["run_dir"]) / "run.json").read_text())[
        "display"] for r in results.values()}
    assert len(displays) == 2
    starts = sorted(json.loads((Path(r.structured_content["run_dir"]) / "run.json").read_text())[
        "started_at"] for r in results.values())
    ends = sorted(json.loads((Path(r.structured_content["run_dir"]) / "run.json").read_text())[
        "finished_at"] for r in results.values())
    assert starts[1] < ends[0]  # side by side, not one after the other
