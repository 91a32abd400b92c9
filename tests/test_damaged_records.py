"""A run record is input too: the report, `runs show`, `runs list` and replay read records that a
user's own tools may have written, a disk may have torn, or a person may have edited. Whatever a
record holds (any field of any step or of run.json turned into another JSON value, lines torn,
dropped or reordered), these commands end with a clear message or their normal output, never a
crash (exit 70); and replay never acts on a recording it cannot read whole.

Property-based: Hypothesis picks the field and the value, through the real CLI in-process, on
the fake desktop.
"""

import json
import shutil
from pathlib import Path

import pytest
from claude_cua.cli.demo.fakeapi import Reply
from claude_cua.cli.demo.policies import computer_call, report, text
from claude_cua.core.engine.replay import replay_problem
from claude_cua.core.store.runs import load_run
from helpers import InProcessCli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

KEY = "sk-ant-damaged-records-0123456789"
RUN = ("run", "--json", "--desktop", "fake", "--model", "claude-sonnet-4-6")
TASK = "fill it in"
EXAMPLES = 50

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=6)


def paths(value, prefix=()):
    """Every path into a JSON value (keys and list indexes), the value itself included."""
    yield prefix
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from paths(inner, (*prefix, index))


def replaced(value, path, new):
    if not path:
        return new
    copy = value.copy()
    copy[path[0]] = replaced(value[path[0]], path[1:], new)
    return copy


@pytest.fixture
def cua(api, capsys, monkeypatch, isolated_environment):
    return InProcessCli.against(api, capsys, monkeypatch, isolated_environment, key=KEY)


@pytest.fixture
def recording(cua, api):
    """A recorded run with a click, typing, a key, a scroll and a screenshot."""
    api.queue(
        lambda req: Reply([text("clicking"), computer_call(req, "left_click",
                                                           coordinate=[714, 402])]),
        lambda req: Reply([computer_call(req, "type", text="Acme <Ltd> \"q\"")]),
        lambda req: Reply([computer_call(req, "key", text="ctrl+a"),
                           computer_call(req, "scroll", coordinate=[100, 100],
                                         scroll_direction="down", scroll_amount=3)]),
        lambda req: Reply([computer_call(req, "screenshot")]),
        Reply([report("success", "filled in")]))
    code, summary, err = cua.json(*RUN, TASK)
    assert code == 0, err
    return Path(summary["run_dir"])


def commands_survive(cua, api, folder: Path) -> None:
    """show, report, list and replay on `folder`: none of them crashes."""
    for argv in (("runs", "show", str(folder)), ("runs", "show", str(folder), "--json"),
                 ("runs", "report", str(folder), "-o", str(folder / "r.html")),
                 ("runs", "list", "--json")):
        code, _, err = cua(*argv)
        assert code != 70 and "Traceback" not in err, (argv, err)
    api.queue(*[Reply([report("success", "done by Claude")])] * 3)
    code, _, err = cua(*RUN, "--replay", str(folder), TASK)
    assert code != 70 and "Traceback" not in err, err


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(data=st.data())
def test_any_field_of_any_step_turned_into_any_value_never_crashes(cua, api, recording,
                                                                    tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("damaged") / recording.name
    shutil.copytree(recording, folder)
    lines = (recording / "steps.jsonl").read_text().splitlines()
    which = data.draw(st.sampled_from(["run.json", *range(len(lines))]), label="where")
    original = json.loads((recording / "run.json").read_text() if which == "run.json"
                          else lines[which])
    path = data.draw(st.sampled_from(list(paths(original))), label="path")
    damaged = replaced(original, path, data.draw(json_values, label="value"))
    if which == "run.json":
        (folder / "run.json").write_text(json.dumps(damaged))
    else:
        lines[which] = json.dumps(damaged)
        (folder / "steps.jsonl").write_text("\n".join(lines) + "\n")
    commands_survive(cua, api, folder)


@pytest.mark.parametrize("damage", ["torn middle line", "dropped step", "swapped steps",
                                    "duplicated step", "not an object"])
def test_a_recording_missing_a_step_is_never_replayed(cua, api, recording, damage):
    lines = (recording / "steps.jsonl").read_text().splitlines()
    if damage == "torn middle line":
        lines[1] = lines[1][: len(lines[1]) // 2]
    elif damage == "dropped step":
        del lines[1]
    elif damage == "swapped steps":
        lines[1], lines[2] = lines[2], lines[1]
    elif damage == "duplicated step":
        lines.insert(1, lines[1])
    else:
        lines[1] = "[1, 2, 3]"
    (recording / "steps.jsonl").write_text("\n".join(lines) + "\n")
    problem = replay_problem(load_run(recording.parent, str(recording)))
    assert problem is not None and "steps.jsonl" in problem
    sent = len(api.requests)
    code, _, err = cua(*RUN, "--replay", str(recording), TASK)
    assert code == 2 and "cannot be replayed" in err and "steps.jsonl" in err
    assert len(api.requests) == sent  # refused before anything was done or asked
    code, _, err = cua("runs", "show", str(recording))
    assert code == 0 and "steps.jsonl" in err  # shown, with the damage named


ODD_VALUES = [
    ("run.json", ("screen_size",), [0, 0]), ("run.json", ("model_size",), [0, 0]),
    ("run.json", ("model_size",), [-5, 10**9]), ("run.json", ("screen_size",), [1, 10**12]),
    ("run.json", ("format",), 99), ("run.json", ("steps",), -1),
    ("run.json", ("monitor",), -3), ("run.json", ("started_at",), "yesterday"),
    ("run.json", ("duration_s",), -1e308), ("run.json", ("cost_usd",), 1e308),
    (0, ("step",), -7), (0, ("step",), 10**30), (0, ("format",), 99),
    (0, ("actions", 0, "points"), [[10**9, -10**9]]),
    (0, ("actions", 0, "action", "at", "api"), [-10**6, 10**6]),
    (0, ("actions", 0, "action", "at", "screen"), [10**9, 10**9]),
    (0, ("actions", 0, "action", "count"), 10**9),
    (0, ("actions", 0, "region"), [500, 500, 10, 10]),
    (0, ("usage", "input_tokens"), -10**12), (0, ("model_s",), 1e300),
    (0, ("screenshot",), "../../../etc/passwd"), (0, ("screenshot_before",), "/etc/passwd"),
    (0, ("screenshot",), "step-001.png\u0000x"), (0, ("match",), -4.0),
]


@pytest.mark.parametrize(("where", "path", "value"), ODD_VALUES,
                         ids=[f"{w}:{'.'.join(map(str, p))}={v!r}"[:60]
                              for w, p, v in ODD_VALUES])
def test_values_of_the_right_type_but_out_of_all_reason_never_crash(cua, api, recording,
                                                                   where, path, value):
    if where == "run.json":
        header = json.loads((recording / "run.json").read_text())
        (recording / "run.json").write_text(json.dumps(replaced(header, path, value)))
    else:
        lines = (recording / "steps.jsonl").read_text().splitlines()
        lines[where] = json.dumps(replaced(json.loads(lines[where]), path, value))
        (recording / "steps.jsonl").write_text("\n".join(lines) + "\n")
    commands_survive(cua, api, recording)
