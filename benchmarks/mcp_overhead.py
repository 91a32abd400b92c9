"""What a run pays for going through `cua mcp`, against `cua run` on the same task, and the
server's memory with two runs in flight.

The task is the supplier form on a private 1280x800 Xvfb, against the fake Messages API (a
scripted Claude that answers at once), so everything measured is cua's own time:
  start → first model request: from the tool call (or from starting `cua run`) until the fake
      API receives the run's first request (Xvfb, the form and the first screenshot included);
  last reply → result: from the fake API's last answer until the tool result arrives (or until
      `cua run --json` has printed its summary and exited).
Memory: the server process's resident set (VmRSS) idle after the handshake, and its peak, and
that of the server with its children (Xvfb, openbox, the forms), while two run_task calls run
at once.

Run:  python benchmarks/mcp_overhead.py [--runs 5]   (needs the mcp extra, Xvfb and openbox)
(Not named mcp.py: run as a script, that file would shadow the mcp package.)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import anyio
from claude_cua.cli.demo.fakeapi import FakeMessagesAPI, Reply
from claude_cua.cli.demo.policies import supplier_form_policy
from mcp import Client
from mcp.client.stdio import StdioServerParameters

FORM = f"{sys.executable} -m claude_cua.cli.demo.supplier_form"
TASK = "Fill the supplier form"


class Timed:
    """The form filler, noting when each request arrived and each answer left."""

    def __init__(self) -> None:
        self.policy = supplier_form_policy()
        self.arrived: list[float] = []
        self.answered: list[float] = []
        self.lock = threading.Lock()

    def __call__(self, request: dict[str, Any]) -> Reply:
        with self.lock:
            self.arrived.append(time.perf_counter())
        reply = self.policy(request)
        with self.lock:
            self.answered.append(time.perf_counter())
        return reply

    def reset(self) -> None:
        with self.lock:
            self.arrived.clear()
            self.answered.clear()


def environment(home: Path, api: FakeMessagesAPI) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC_", "CUA_")) and k not in ("DISPLAY", "XAUTHORITY")}
    env.update(HOME=str(home), CUA_DATA_DIR=str(home / "data"), ANTHROPIC_API_KEY="bench-key",
               ANTHROPIC_BASE_URL=api.url, CUA_MAX_RETRIES="0", CUA_MODEL="claude-sonnet-4-5")
    return env


def through_cua_run(env: dict[str, str], timed: Timed, home: Path) -> tuple[float, float]:
    timed.reset()
    cua = str(Path(sys.executable).parent / "cua")
    t0 = time.perf_counter()
    proc = subprocess.run([cua, "run", "--json", "--virtual-display", "1280x800", "--app",
                           f"{FORM} --out {home / 'form.json'}", TASK],
                          capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    t1 = time.perf_counter()
    assert json.loads(proc.stdout)["status"] == "success", proc.stderr
    return timed.arrived[0] - t0, t1 - timed.answered[-1]


async def through_mcp(client: Client, timed: Timed, home: Path) -> tuple[float, float]:
    timed.reset()
    t0 = time.perf_counter()
    result = await client.call_tool("run_task", {
        "task": TASK, "app": f"{FORM} --out {home / 'form.json'}",
        "virtual_display": "1280x800"})
    t1 = time.perf_counter()
    assert result.structured_content["status"] == "success", result.content
    return timed.arrived[0] - t0, t1 - timed.answered[-1]


async def one_of_two(client: Client, out: Path) -> None:
    result = await client.call_tool("run_task", {"task": TASK, "app": f"{FORM} --out {out}",
                                                 "virtual_display": "1280x800"})
    assert result.structured_content["status"] == "success", result.content


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def server_pid() -> int:
    """The `cua mcp` process the SDK's stdio client started (a child of this process)."""
    for pid in descendants(os.getpid()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"claude_cua.cli" in cmdline and b"mcp" in cmdline:
            return pid
    raise RuntimeError("no cua mcp process found")


def total_rss(pid: int) -> int:
    total = 0
    for p in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError):
            total += rss_kib(p)
    return total


def report(name: str, pairs: list[tuple[float, float]]) -> None:
    first = statistics.median(p[0] for p in pairs) * 1000
    last = statistics.median(p[1] for p in pairs) * 1000
    print(f"{name}: start → first model request {first:.0f} ms, last reply → result "
          f"{last:.0f} ms (median of {len(pairs)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    timed = Timed()
    with tempfile.TemporaryDirectory() as tmp, FakeMessagesAPI(default=timed) as api:
        home = Path(tmp)
        (home / "data").mkdir()
        env = environment(home, api)
        report("cua run", [through_cua_run(env, timed, home) for _ in range(args.runs)])

        async def mcp_runs() -> None:
            server = StdioServerParameters(command=sys.executable,
                                           args=["-m", "claude_cua.cli", "mcp"], env=env)
            async with Client(server) as client:
                pid = server_pid()
                fresh = rss_kib(pid)
                await through_mcp(client, timed, home)  # the server's first run warms it up
                report("cua mcp (stdio)",
                       [await through_mcp(client, timed, home) for _ in range(args.runs)])
                idle = rss_kib(pid)
                peak = [0, 0]
                done = threading.Event()

                def sample() -> None:
                    while not done.wait(0.05):
                        with contextlib.suppress(OSError):
                            peak[0] = max(peak[0], rss_kib(pid))
                            peak[1] = max(peak[1], total_rss(pid))

                sampler = threading.Thread(target=sample, daemon=True)
                sampler.start()
                async with anyio.create_task_group() as tg:
                    for n in range(2):
                        tg.start_soon(one_of_two, client, home / f"form-{n}.json")
                done.set()
                sampler.join()
                print(f"cua mcp memory: {fresh / 1024:.0f} MiB after the handshake, "
                      f"{idle / 1024:.0f} MiB idle after {args.runs + 1} runs; "
                      f"{peak[0] / 1024:.0f} MiB peak with two runs in flight; "
                      f"{peak[1] / 1024:.0f} MiB with its children (Xvfb, openbox, the forms)")

        anyio.run(mcp_runs)


if __name__ == "__main__":
    main()
