"""Reading a 200-step record (steps.jsonl), and the import cost of what reads it: cua's own
strict reader beside msgspec and cattrs, when they are installed (issue 16, item 4).

cua's reader is what `runs.read_step_lines` does per line: json.loads, StepRecord.from_dict, and
the strict type check (`record.parse_record`). msgspec and cattrs are given the same lines and
the same dataclasses to build, with the one field they cannot express as the format writes it
(an action, a union told apart by its "kind" key) typed as a plain mapping: a lower bound on
what either would cost doing the whole job. Import times are the fastest of fresh interpreters.

    python benchmarks/record_io.py [--steps 200] [--rounds 15]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import time
import typing
from collections.abc import Callable, Mapping
from typing import Any

from claude_cua.core.vocab.actions import Click, Target, TypeText
from claude_cua.core.vocab.desktop import Window
from claude_cua.core.vocab.record import (
    ActionRecord,
    PolicyRecord,
    StepRecord,
    ToolCallRecord,
    Usage,
    parse_record,
)


def step(number: int) -> StepRecord:
    click = ActionRecord("left_click", {"coordinate": [10, 20]}, Click(Target((10, 20), (13, 27))),
                         action_s=0.01, tool_use_id=f"toolu_{number}a",
                         window=Window("Tk", "form", "Form"), points=((13, 27),))
    typed = ActionRecord("type", {"text": "pw {{PASSWORD}}\n"}, TypeText("pw {{PASSWORD}}\n"),
                         policy=PolicyRecord("ask", "secret-typed", "why", "built-in", "once",
                                             "--yes"), tool_use_id=f"toolu_{number}b")
    calls = (ToolCallRecord(f"toolu_{number}a", "computer", {"action": "left_click"}),
             ToolCallRecord(f"toolu_{number}b", "computer", {"action": "type"}))
    return StepRecord(step=number, text="Clicking the field, then typing.", stop_reason="tool_use",
                      tool_calls=calls, actions=(click, typed), usage=Usage(1500, 120, 0, 1400),
                      cost_usd=0.0123, model_s=1.2, overhead_s=0.08, settle_s=0.03,
                      settle_captures=3, is_stable=True, screenshot=f"step-{number:03d}.png",
                      screenshot_before=f"step-{number - 1:03d}.png")


def median_ms(work: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        work()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def import_ms(module: str, rounds: int) -> float | None:
    """The fastest of `rounds` fresh imports (the least disturbed by other load)."""
    code = f"import time; t=time.perf_counter(); import {module}; print(time.perf_counter()-t)"
    times = []
    for _ in range(rounds):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if out.returncode != 0:
            return None
        times.append(float(out.stdout))
    return min(times) * 1000


def loose(cls: type, replaced: Mapping[str, Any]) -> type:
    """`cls` as a plain dataclass with resolved field types, some replaced (see the docstring)."""
    hints = typing.get_type_hints(cls, globalns=vars(sys.modules[cls.__module__]),
                                  localns={"Action": object})
    specs: list[Any] = []
    for f in dataclasses.fields(cls):
        hint = replaced.get(f.name, hints[f.name])
        if f.default_factory is not dataclasses.MISSING:
            specs.append((f.name, hint, dataclasses.field(default_factory=f.default_factory)))
        elif f.default is not dataclasses.MISSING:
            specs.append((f.name, hint, f.default))
        else:
            specs.append((f.name, hint))
    return dataclasses.make_dataclass(cls.__name__ + "Loose", specs, frozen=True)


def loose_step() -> type:
    action = loose(ActionRecord, {"action": Mapping[str, Any] | None})
    return loose(StepRecord, {"actions": tuple[action, ...]})  # type: ignore[valid-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    lines = [json.dumps(step(n).to_dict(), ensure_ascii=False) for n in range(1, args.steps + 1)]
    size = sum(len(line) + 1 for line in lines)
    print(f"{args.steps} steps, {size / 1024:.0f} KiB of steps.jsonl")

    def ours() -> None:
        for line in lines:
            parse_record(StepRecord, json.loads(line))

    print(f"cua's reader (json + from_dict + strict types): {median_ms(ours, args.rounds):.1f} ms; "
          f"import claude_cua.core.vocab.record: "
          f"{import_ms('claude_cua.core.vocab.record', 11):.1f} ms")
    try:
        import msgspec
    except ImportError:
        print("msgspec: not installed")
    else:
        decoder = msgspec.json.Decoder(dict)
        typed = msgspec.json.Decoder(loose_step())
        plain = median_ms(lambda: [decoder.decode(x) for x in lines], args.rounds)
        print(f"msgspec {msgspec.__version__}: to dicts {plain:.1f} ms, "
              f"to typed dataclasses (actions loose) "
              f"{median_ms(lambda: [typed.decode(x) for x in lines], args.rounds):.1f} ms; "
              f"import: {import_ms('msgspec', 11):.1f} ms")
    try:
        import cattrs
    except ImportError:
        print("cattrs: not installed")
    else:
        converter = cattrs.Converter(forbid_extra_keys=False)
        shape = loose_step()

        def with_cattrs() -> None:
            for line in lines:
                converter.structure(json.loads(line), shape)

        try:
            took = f"{median_ms(with_cattrs, args.rounds):.1f} ms"
        except Exception as exc:  # a shape cattrs cannot structure
            took = f"failed ({type(exc).__name__}: {exc})"
        print(f"cattrs: json + structure (actions loose) {took}; import: "
              f"{import_ms('cattrs', 11):.1f} ms")


if __name__ == "__main__":
    main()
