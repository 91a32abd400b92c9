"""Which of cua's own files one ordinary step runs through, from Claude's reply to the next request.

The run: `cua run --virtual-display 1024x768 --app xterm --non-interactive TASK`, in process
(cli.main.run_cli, as the `cua` command runs it), on a real private Xvfb with a real xterm,
plain progress output (stderr is not a terminal here), ANTHROPIC_API_KEY set and
ANTHROPIC_BASE_URL pointing at the fake Messages API on 127.0.0.1, whose scripted Claude asks
for one left_click in the xterm and then reports success. The step traced is that click: from
the moment the step gets its first reply back from the model client to the moment it hands the
next request to it (the `send` that core/engine/step.py calls; what the client stack does with
a request, redaction, the interruptible wrapper and the SDK call, is the request itself), on
every thread, with sys.setprofile and threading.setprofile: every Python call whose code lives
in core/ or cli/ (cli/demo/, the fake Claude itself, left out).

Before 2026-12-07 the boundary was the bare SDK client's send (ClaudeClient.send), one layer
further in; `--inner` measures that way, for comparison with older figures.

Prints the files in first-visit order with their call counts, and how many times the path
switched file.

    python benchmarks/step_path.py [--inner] [SOURCE_ROOT]

SOURCE_ROOT (default: this checkout) is where the traced claude_cua package's files live: run
this file with an older checkout's venv and its folder to measure that commit the same way.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import sys
import tempfile
import threading
from pathlib import Path

ARGS = [a for a in sys.argv[1:] if a != "--inner"]
INNER = "--inner" in sys.argv[1:]
ROOT = Path(ARGS[0]).resolve() if ARGS else Path(__file__).resolve().parent.parent
STEP_FILE = str(ROOT / "core" / "engine" / "step.py")


def main() -> None:
    from claude_cua.cli.demo.fakeapi import FakeMessagesAPI, Reply
    from claude_cua.cli.demo.policies import computer_call, report
    from claude_cua.cli.main import run_cli
    from claude_cua.core.model.claude import ClaudeClient

    folder = Path(tempfile.mkdtemp(prefix="cua-step-path-"))
    visited: list[str] = []
    lock = threading.Lock()
    state = {"on": False, "sends": 0}
    send_code = ClaudeClient.send.__code__

    def is_boundary(frame) -> bool:
        if INNER:
            return frame.f_code is send_code
        caller = frame.f_back
        return (frame.f_code.co_name == "send" and caller is not None
                and caller.f_code.co_filename == STEP_FILE)

    def profile(frame, event, arg):
        code = frame.f_code
        if is_boundary(frame):
            with lock:
                if event == "call":
                    state["sends"] += 1
                    if state["sends"] == 2:
                        state["on"] = False
                elif event == "return" and state["sends"] == 1:
                    state["on"] = True
            return
        if event != "call" or not state["on"]:
            return
        try:
            rel = Path(code.co_filename).resolve().relative_to(ROOT)
        except ValueError:
            return
        if rel.parts[0] in ("core", "cli") and rel.parts[:2] != ("cli", "demo"):
            with lock:
                visited.append(str(rel))

    with FakeMessagesAPI() as api:
        api.queue(lambda req: Reply([computer_call(req, "left_click", coordinate=[200, 150])]),
                  Reply([report("success", "clicked")]))
        saved = dict(os.environ)
        os.environ.update(ANTHROPIC_API_KEY="sk-ant-step-path", ANTHROPIC_BASE_URL=api.url,
                          HOME=str(folder), XDG_DATA_HOME=str(folder / "data"),
                          XDG_CONFIG_HOME=str(folder / "config"))
        err = io.StringIO()
        threading.setprofile(profile)
        sys.setprofile(profile)
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = run_cli(["run", "--virtual-display", "1024x768", "--app",
                                "xterm -geometry 80x20+0+0", "--non-interactive",
                                "--model", "claude-sonnet-4-5", "click into the xterm"])
        finally:
            sys.setprofile(None)
            threading.setprofile(None)  # type: ignore[arg-type]
            os.environ.clear()
            os.environ.update(saved)
    if code != 0 or state["sends"] < 2:
        sys.exit(f"the traced run did not get to its second request (exit {code}):\n"
                 f"{err.getvalue()}")
    order = list(dict.fromkeys(visited))
    switches = sum(1 for a, b in itertools.pairwise(visited) if a != b)
    in_core = sum(1 for name in order if name.startswith("core"))
    print(f"one step, Claude's reply to the next request: {len(order)} files "
          f"({in_core} in core, {len(order) - in_core} in cli)")
    for name in order:
        print(f"  {name}  ({visited.count(name)} calls)")
    print(f"switches between files: {switches}")


if __name__ == "__main__":
    main()
