"""The loop with the real SDK over HTTP against the fake Messages API, on a FakeDesktop."""

import base64
import io

import pytest
from claude_cua.cli.demo.fakeapi import Error, Malformed, Reply
from claude_cua.cli.demo.policies import computer_call, report, text
from claude_cua.core.engine.loop import LoopConfig, run_task
from claude_cua.core.errors import ActionError, ConfigError, DesktopError, ModelError
from claude_cua.core.model.claude import ClaudeClient
from claude_cua.core.model.context import FLAVOURS, flavour_for
from claude_cua.core.vocab.desktop import FakeDesktop
from claude_cua.core.vocab.events import RunFinished, StepFinished
from claude_cua.core.vocab.record import price_for
from PIL import Image

FAST_RETRY = {"retry-after-ms": "1"}  # the SDK ignores retry-after: 0


def run(api, *, model="claude-sonnet-5-5", tool_version=None, max_steps=10, retries=0,
        desktop=None, key="test-key"):
    desktop = desktop or FakeDesktop(1920, 1080)
    events = []
    client = ClaudeClient(api_key=key, base_url=api.url, max_retries=retries)
    config = LoopConfig(model=model, flavour=flavour_for(model, tool_version), max_steps=max_steps)
    try:
        result = run_task("do the thing", desktop=desktop, client=client, config=config,
                          on_event=events.append, sleep=lambda s: None)
    finally:
        client.close()
    return result, desktop, events


def _png_size(block):
    image = Image.open(io.BytesIO(base64.b64decode(block["source"]["data"])))
    return image.size


def test_toolset_click_maps_to_screen_and_result_echoes_toolset(api):
    api.queue(lambda req: Reply([text("clicking"), computer_call(req, "left_click",
                                                                 coordinate=[714, 402])]),
              Reply([report("success", "clicked it")]))
    result, desktop, _ = run(api)
    assert (result.status, result.summary, result.steps) == ("success", "clicked it", 2)
    assert desktop.calls == [("click", (960, 540), "left", 1, None)]
    first, second = (r.json for r in api.requests)
    assert api.requests[0].path == "/v1/messages"  # the toolset is GA: standard client
    assert "anthropic-beta" not in api.requests[0].headers
    assert first["tools"][0] == {"type": "computer_toolset_20260801"}
    assert _png_size(first["messages"][0]["content"][1]) == (1429, 804)
    tool_result = second["messages"][-1]["content"][0]
    assert tool_result["toolset_name"] == "computer"
    assert tool_result["content"][-1]["type"] == "image"
    assert _png_size(tool_result["content"][-1]) == (1429, 804)


@pytest.mark.parametrize("version", ["computer_20241022", "computer_20250124", "computer_20251124"])
def test_single_tool_flavours_declare_size_and_beta(api, version):
    api.queue(lambda req: Reply([computer_call(req, "mouse_move", coordinate=[100, 50])]),
              Reply([report("success", "ok")]))
    result, desktop, _ = run(api, model="claude-sonnet-4-6", tool_version=version)
    assert result.status == "success"
    assert desktop.calls == [("move", (135, 67))]
    request = api.requests[0]
    assert request.headers["anthropic-beta"] == FLAVOURS[version].beta
    tool = request.json["tools"][0]
    assert (tool["type"], tool["name"]) == (version, "computer")
    assert (tool["display_width_px"], tool["display_height_px"]) == (1429, 804)
    assert tool.get("enable_zoom", False) == (version == "computer_20251124")
    assert "toolset_name" not in api.requests[1].json["messages"][-1]["content"][0]


def test_wrong_input_is_answered_with_is_error_and_the_run_goes_on(api):
    api.queue(
        lambda req: Reply([computer_call(req, "left_click", coordinate=[5000, 10]),
                           computer_call(req, "key", text="Return")]),
        lambda req: Reply([computer_call(req, "key", text="ctrl+s")]),
        Reply([report("failure", "could not")]),
    )
    result, desktop, _ = run(api)
    assert result.status == "failure"
    results = api.requests[1].json["messages"][-1]["content"]
    assert results[0]["is_error"] is True
    assert "outside the screen" in results[0]["content"][0]["text"]
    assert results[1]["is_error"] is True
    assert results[1]["content"][0]["text"].startswith("Not executed")
    assert desktop.calls == [("key", "ctrl+s", 1)]


def test_a_turn_without_tool_calls_is_nudged_once_then_unknown(api):
    api.queue(Reply([text("I think I am done.")]), Reply([text("Really done.")]))
    result, _, _ = run(api)
    assert result.status == "unknown"
    nudge = api.requests[1].json["messages"][-1]
    assert "report_outcome" in nudge["content"][-1]["text"]


def test_nudge_then_report_succeeds(api):
    api.queue(Reply([text("done")]), Reply([report("success", "all good")]))
    assert run(api)[0].status == "success"


def test_budget_exhaustion_stops_with_its_own_status(api):
    api.queue(*[lambda req: Reply([computer_call(req, "screenshot")])] * 3)
    result, _, events = run(api, max_steps=3)
    assert (result.status, result.steps) == ("budget_exhausted", 3)
    assert isinstance(events[-1], RunFinished) and events[-1].status == "budget_exhausted"
    assert len(api.requests) == 3


def test_steps_record_overhead_and_usage(api):
    api.queue(lambda req: Reply([computer_call(req, "left_click", coordinate=[1, 1])]),
              Reply([report("success", "ok")]))
    result, _, events = run(api)
    steps = [e for e in events if isinstance(e, StepFinished)]
    assert steps[0].record.overhead_s >= 0
    assert steps[0].screenshot_png.startswith(b"\x89PNG")
    assert result.usage.total > 0
    for field, total in result.usage.as_dict().items():
        assert total == sum(getattr(e.record.usage, field) for e in steps)


def test_rate_limit_is_retried_by_the_sdk(api):
    api.queue(Error(429, headers=FAST_RETRY), Error(529, headers=FAST_RETRY),
              Reply([report("success", "ok")]))
    result, _, _ = run(api, retries=2)
    assert result.status == "success"
    assert len(api.requests) == 3


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (Error(401), "ANTHROPIC_API_KEY"),
        (Error(400), "400"),
        (Error(529), "529"),
        (Malformed(), "could not read|broke mid-reply"),
        (Malformed(body=b"{not json"), "could not read|ended before"),
    ],
)
def test_api_errors_become_model_errors_and_release_input(api, answer, message):
    api.queue(answer)
    desktop = FakeDesktop()
    with pytest.raises(ModelError, match=message) as info:
        run(api, desktop=desktop)
    assert "test-key" not in str(info.value)
    assert desktop.released_all == 1


def test_missing_key_is_a_configuration_error(api):
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        run(api, key="")


def run_priced(api, *, max_cost=None, steps=4):
    desktop = FakeDesktop(1920, 1080)
    events = []
    client = ClaudeClient(api_key="k", base_url=api.url, max_retries=0)
    model = "claude-sonnet-4-6"
    config = LoopConfig(model=model, flavour=flavour_for(model), max_steps=steps,
                        price=price_for(model), max_cost_usd=max_cost)
    try:
        result = run_task("t", desktop=desktop, client=client, config=config,
                          on_event=events.append, sleep=lambda s: None)
    finally:
        client.close()
    return result, events


def test_cost_in_the_summary_is_the_sum_of_step_costs(api):
    api.queue(*[lambda req: Reply([computer_call(req, "screenshot")])] * 3,
              Reply([report("success", "ok")]))
    result, events = run_priced(api)
    step_costs = [e.record.cost_usd for e in events if isinstance(e, StepFinished)]
    assert len(step_costs) == 4 and all(c > 0 for c in step_costs)
    assert result.cost_usd == pytest.approx(sum(step_costs), abs=1e-6)
    assert events[-1].cost_usd == result.cost_usd


def test_max_cost_stops_before_the_step_that_would_start_over_budget(api):
    api.queue(*[lambda req: Reply([computer_call(req, "screenshot")])] * 10)
    result, _events = run_priced(api, max_cost=0.000001, steps=10)
    assert result.status == "budget_exhausted"
    assert result.steps == 1 and len(api.requests) == 1
    assert "--max-cost" in result.summary


def _count(obj, key, value=None):
    """How many dicts in a JSON tree have `key` (equal to `value`, if given)."""
    if isinstance(obj, dict):
        here = int(key in obj and (value is None or obj[key] == value))
        return here + sum(_count(v, key, value) for v in obj.values())
    if isinstance(obj, list):
        return sum(_count(v, key, value) for v in obj)
    return 0


def test_a_long_run_keeps_images_and_breakpoints_bounded(api):
    api.queue(*[lambda req: Reply([computer_call(req, "left_click", coordinate=[9, 9])])] * 30,
              Reply([report("success", "ok")]))
    result, events = run_priced(api, steps=31)
    assert result.status == "success"
    bodies = [r.json for r in api.requests]
    images = [_count(b["messages"], "type", "image") for b in bodies]
    assert max(images) <= 3 + 3  # --keep-images 3, removed in chunks of 3
    assert images[-1] >= 3
    breakpoints = [_count(b, "cache_control") for b in bodies]
    assert all(n <= 4 for n in breakpoints) and set(breakpoints) == {2}
    newest = bodies[-1]["messages"][-1]["content"][-1]
    assert "cache_control" in newest  # the moving breakpoint sits on the newest block
    step_costs = [e.record.cost_usd for e in events if isinstance(e, StepFinished)]
    assert result.cost_usd == pytest.approx(sum(step_costs), abs=1e-6)


def _user_texts(request):
    last = request.json["messages"][-1]
    assert last["role"] == "user"
    return [b["text"] for b in last["content"] if b.get("type") == "text"]


@pytest.mark.parametrize("max_steps", [1, 2, 3, 5])
def test_the_last_two_requests_warn_claude_that_the_step_budget_runs_out(api, max_steps):
    api.queue(*[lambda req: Reply([computer_call(req, "mouse_move", coordinate=[10, 10])])
                for _ in range(max_steps)])
    result, _, _ = run(api, max_steps=max_steps)
    assert result.status == "budget_exhausted"
    assert len(api.requests) == max_steps
    for step, request in enumerate(api.requests, start=1):
        notes = [t for t in _user_texts(request) if "left of" in t]
        left = max_steps - step + 1
        if left > 2:
            assert notes == [], f"step {step} of {max_steps}"
        else:
            word = "step" if left == 1 else "steps"
            assert notes == [f"{left} {word} left of {max_steps}: finish the task now, or call "
                             "report_outcome with what you have done so far."]
    # The warning stays in the history, so the request before the last keeps its cached prefix.
    if max_steps >= 2:
        previous_turn = api.requests[-1].json["messages"][-3]
        assert any("2 steps left of" in b.get("text", "") for b in previous_turn["content"])


# -- a desktop that fails mid-run (FakeDesktop.fail) --------------------------------------------


def test_an_input_failure_mid_run_ends_it_as_an_error_with_input_released(api):
    api.queue(lambda req: Reply([computer_call(req, "left_click", coordinate=[5, 5])]),
              lambda req: Reply([computer_call(req, "type", text="hello")]))
    desktop = FakeDesktop()
    desktop.fail("type_text", DesktopError("XTest refused the key"))
    with pytest.raises(DesktopError, match="XTest refused"):
        run(api, desktop=desktop)
    assert desktop.calls == [("click", (7, 7), "left", 1, None)]
    assert desktop.released_all == 1
    assert len(api.requests) == 2


def test_a_failure_claude_can_fix_goes_back_as_an_error_result(api):
    api.queue(lambda req: Reply([computer_call(req, "key", text="ctrl+s"),
                                 computer_call(req, "key", text="Return")]),
              lambda req: Reply([computer_call(req, "key", text="ctrl+s")]),
              Reply([report("success", "saved")]))
    desktop = FakeDesktop()
    desktop.fail("key", ActionError("no such key here"), after=0)
    result, _, events = run_with_events(api, desktop)
    assert result.status == "success"
    first = api.requests[1].json["messages"][-1]["content"]
    assert first[0]["is_error"] is True and "no such key here" in first[0]["content"][0]["text"]
    assert first[1]["content"][0]["text"].startswith("Not executed")
    [step_one] = [e.record for e in events if isinstance(e, StepFinished)][:1]
    assert step_one.actions[0].error == "no such key here" and step_one.actions[0].is_error


def test_a_capture_failing_after_an_action_ends_the_run(api):
    api.queue(lambda req: Reply([computer_call(req, "left_click", coordinate=[5, 5])]))
    desktop = FakeDesktop()
    desktop.fail("capture", DesktopError("the X server went away"), after=1)
    with pytest.raises(DesktopError, match="went away"):
        run(api, desktop=desktop)
    assert desktop.released_all == 1


def run_with_events(api, desktop):
    events = []
    client = ClaudeClient(api_key="k", base_url=api.url, max_retries=0)
    model = "claude-sonnet-5-5"
    config = LoopConfig(model=model, flavour=flavour_for(model), max_steps=5)
    try:
        result = run_task("t", desktop=desktop, client=client, config=config,
                          on_event=events.append, sleep=lambda s: None)
    finally:
        client.close()
    return result, desktop, events
