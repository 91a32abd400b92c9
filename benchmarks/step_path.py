"""Which of cua's own files one click step runs through, from Claude's reply to the next request.

The step: Claude asks for a left_click in an xterm window with an `ask` rule matching (a user
policy rule, so the gate asks and `--yes` answers), on a FakeDesktop, with the real SDK against
the fake Messages API; events go to the run recorder and the plain view, as in `cua run`.
Traced with sys.setprofile: every Python call whose code lives in core/ or cli/ between the
return of the first ClaudeClient.send and the start of the second.
Prints the files of the step itself in first-visit order, how many times the path switched
file and how many of those switches went back into the most visited file; then, apart, the
files the event sinks (run recorder, plain view) ran through.

    python benchmarks/step_path.py [SOURCE_ROOT]

SOURCE_ROOT (default: this checkout) is where the traced claude_cua package's files live, so an
older checkout can be measured with PYTHONPATH pointing at it.
"""

from __future__ import annotations

import io
import itertools
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent


def main() -> None:
    from claude_cua.cli.view import PlainView
    from claude_cua.core.claude import ClaudeClient
    from claude_cua.core.demo.fakeapi import FakeMessagesAPI, Reply
    from claude_cua.core.demo.policies import computer_call, report
    from claude_cua.core.desktop import FakeDesktop, Window
    from claude_cua.core.flavours import flavour_for
    from claude_cua.core.gate import approve_all
    from claude_cua.core.loop import LoopConfig, run_task
    from claude_cua.core.policy_file import effective_rules
    from claude_cua.core.runs import RunRecorder
    from rich.console import Console

    folder = Path(tempfile.mkdtemp())
    policy = folder / "policy.toml"
    policy.write_text('[[rule]]\nname = "ask-clicks"\nverdict = "ask"\naction = "click"\n')
    desktop = FakeDesktop()
    desktop.window = Window("XTerm", "xterm", "bash")
    visited: list[str] = []
    in_sinks: list[str] = []
    state = {"on": False, "sends": 0, "sink": 0}
    send_code = ClaudeClient.send.__code__

    def profile(frame, event, arg):
        code = frame.f_code
        if code is send_code:
            if event == "call":
                state["sends"] += 1
                if state["sends"] == 2:
                    state["on"] = False
            elif event == "return" and state["sends"] == 1:
                state["on"] = True
            return
        if not state["on"]:
            return
        if code in sink_codes:  # calls made by the event sinks are counted apart
            state["sink"] += 1 if event == "call" else -1
            return
        if event != "call":
            return
        path = Path(code.co_filename).resolve()
        try:
            rel = path.relative_to(ROOT)
        except ValueError:
            return
        if rel.parts[0] in ("core", "cli"):
            (in_sinks if state["sink"] else visited).append(str(rel))

    with FakeMessagesAPI() as api:
        api.queue(lambda req: Reply([computer_call(req, "left_click", coordinate=[100, 100])]),
                  Reply([report("success", "ok")]))
        client = ClaudeClient(api_key="k", base_url=api.url, max_retries=0)
        model = "claude-sonnet-5-5"
        config = LoopConfig(model=model, flavour=flavour_for(model), max_steps=3,
                            rules=tuple(effective_rules([policy])))
        (folder / "run").mkdir()
        recorder = RunRecorder(folder / "run", meta={})
        view = PlainView(Console(file=io.StringIO()))
        sink_codes = {RunRecorder.__call__.__code__, PlainView.__call__.__code__}

        def on_event(event: object) -> None:  # what the cli's session does with each event
            recorder(event)
            view(event)

        sys.setprofile(profile)
        try:
            run_task("click", desktop=desktop, client=client, config=config, on_event=on_event,
                     approver=approve_all, sleep=lambda s: None, run_dir=str(folder / "run"))
        finally:
            sys.setprofile(None)
            client.close()
            recorder.close()

    order = list(dict.fromkeys(visited))
    switches = [b for a, b in itertools.pairwise(visited) if a != b]
    top, _ = Counter(visited).most_common(1)[0]
    print(f"the step itself: {len(order)} files")
    for name in order:
        print(f"  {name}  ({visited.count(name)} calls)")
    print(f"switches between files: {len(switches)}; back into {top}: {switches.count(top)}")
    sinks = list(dict.fromkeys(in_sinks))
    print(f"the event sinks (recorder, plain view): {len(sinks)} files: {', '.join(sinks)}")
    print(f"together: {len(set(order) | set(sinks))} files")


if __name__ == "__main__":
    main()
