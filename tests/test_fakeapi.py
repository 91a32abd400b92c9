"""The fake Messages API, driven by the real anthropic SDK, and the scripted policies it serves."""

from __future__ import annotations

import base64
import io
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx2
import pytest
from claude_cua.cli.demo import colours
from claude_cua.cli.demo.fakeapi import (
    Error,
    FakeMessagesAPI,
    Malformed,
    Reply,
    estimate_tokens,
    png_size,
)
from claude_cua.cli.demo.policies import (
    SUPPLIER_VALUES,
    FormField,
    FormFiller,
    computer_call,
    find_colour,
    flavour_of,
    latest_image,
    report,
    screen_space,
    supplier_form_policy,
    text,
)
from PIL import Image, ImageDraw

MODEL = "claude-test-1"
USER = [{"role": "user", "content": "Hello"}]
SINGLE_TOOL_FLAVOURS = {
    "computer_20241022": "computer-use-2024-10-22",
    "computer_20250124": "computer-use-2025-01-24",
    "computer_20251124": "computer-use-2025-11-24",
}
TOOLSET = "computer_toolset_20260801"
CLICK = {
    "type": "tool_use",
    "id": "toolu_click",
    "name": "computer",
    "input": {"action": "left_click", "coordinate": [120, 80]},
}
TOOLSET_TYPE = {
    "type": "tool_use",
    "id": "toolu_type",
    "name": "type",
    "toolset_name": "computer",
    "input": {"text": 'Österreich "Net 30" <urgent> {x: [1]}'},
}


@pytest.fixture
def fake() -> Iterator[FakeMessagesAPI]:
    with FakeMessagesAPI() as server:
        yield server


@pytest.fixture
def client(fake: FakeMessagesAPI) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=fake.url, api_key="test-key", max_retries=0) as c:
        yield c


def computer_tool(flavour: str, size: tuple[int, int] = (1456, 819)) -> dict[str, Any]:
    if flavour == TOOLSET:
        return {"type": TOOLSET}
    return {
        "type": flavour,
        "name": "computer",
        "display_width_px": size[0],
        "display_height_px": size[1],
    }


def png_b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def image_block(image: Image.Image) -> dict[str, Any]:
    source = {"type": "base64", "media_type": "image/png", "data": png_b64(image)}
    return {"type": "image", "source": source}


def stream_final(client: anthropic.Anthropic, *, flavour: str | None = None, **kwargs: Any) -> Any:
    """Stream like cua does: the beta client for single-tool flavours, else the standard one."""
    kwargs = {"model": MODEL, "max_tokens": 100, "messages": USER, **kwargs}
    if flavour in SINGLE_TOOL_FLAVOURS:
        stream = client.beta.messages.stream(betas=[SINGLE_TOOL_FLAVOURS[flavour]], **kwargs)
    else:
        stream = client.messages.stream(**kwargs)
    with stream as events:
        texts = [event.text for event in events if event.type == "text"]
        return events.get_final_message(), texts


# --- JSON replies ------------------------------------------------------------------------------


def test_json_text_reply_echoes_model_and_ends_turn(
    fake: FakeMessagesAPI, client: anthropic.Anthropic
) -> None:
    fake.queue(Reply([text("Hi there")]))
    message = client.messages.create(model=MODEL, max_tokens=100, messages=USER)
    assert message.content[0].type == "text"
    assert message.content[0].text == "Hi there"
    assert message.model == MODEL
    assert message.stop_reason == "end_turn"
    assert message.id.startswith("msg_")
    assert message.usage.input_tokens >= 1
    assert message.usage.output_tokens >= 1


def test_json_single_tool_use_parses_as_tool_use_block(
    fake: FakeMessagesAPI, client: anthropic.Anthropic
) -> None:
    fake.queue(Reply([text("Clicking"), CLICK]))
    message = client.beta.messages.create(
        model=MODEL,
        max_tokens=100,
        messages=USER,
        betas=["computer-use-2025-01-24"],
        tools=[computer_tool("computer_20250124")],
    )
    block = message.content[1]
    assert isinstance(block, anthropic.types.beta.BetaToolUseBlock)
    assert (block.id, block.name, block.input) == ("toolu_click", "computer", CLICK["input"])
    assert block.toolset_name is None
    assert message.stop_reason == "tool_use"


def test_json_toolset_tool_use_carries_toolset_name(
    fake: FakeMessagesAPI, client: anthropic.Anthropic
) -> None:
    fake.queue(Reply([TOOLSET_TYPE]))
    message = client.messages.create(
        model=MODEL, max_tokens=100, messages=USER, tools=[computer_tool(TOOLSET)]
    )
    block = message.content[0]
    assert isinstance(block, anthropic.types.ToolUseBlock)
    assert (block.name, block.toolset_name, block.input) == (
        "type",
        "computer",
        TOOLSET_TYPE["input"],
    )


def test_tool_use_without_id_gets_a_fresh_one(
    fake: FakeMessagesAPI, client: anthropic.Anthropic
) -> None:
    fake.queue(Reply([{"type": "tool_use", "name": "computer", "input": {"action": "screenshot"}}]))
    message = client.messages.create(model=MODEL, max_tokens=100, messages=USER)
    assert message.content[0].id.startswith("toolu_")


# --- streaming ---------------------------------------------------------------------------------


def test_streamed_text_arrives_in_several_deltas(
    fake: FakeMessagesAPI, client: anthropic.Anthropic
) -> None:
    fake.queue(Reply([text("Looking at the screen for the Company field now.")]))
    message, texts = stream_final(client)
    assert len(texts) >= 3
    assert (
        "".join(texts)
        == message.content[0].text
        == "Looking at the screen for the Company field now."
    )
    assert message.stop_reason == "end_turn"
    assert message.model == MODEL


@pytest.mark.parametrize("flavour", sorted(SINGLE_TOOL_FLAVOURS))
def test_streamed_single_tool_use_accumulates_its_input(
    fake: FakeMessagesAPI, client: anthropic.Anthropic, flavour: str
) -> None:
    fake.queue(Reply([text("Clicking"), CLICK]))
    message, _ = stream_final(client, flavour=flavour, tools=[computer_tool(flavour)])
    block = message.content[1]
    assert isinstance(block, anthropic.types.beta.BetaToolUseBlock)
    assert (block.id, block.name, block.input) == ("toolu_click", "computer", CLICK["input"])
    assert message.stop_reason == "tool_use"
    assert fake.requests[-1].headers["anthropic-beta"] == SINGLE_TOOL_FLAVOURS[flavour]


@pytest.mark.parametrize("use_beta", [False, True], ids=["standard", "beta"])
def test_streamed_toolset_tool_use_keeps_toolset_name_and_unicode_input(
    fake: FakeMessagesAPI, client: anthropic.Anthropic, use_beta: bool
) -> None:
    # The accumulator only tracks input deltas for its generic ToolUseBlock classes; this pins
    # that a toolset member still lands in one (not a per-member class) with its input filled.
    fake.queue(Reply([TOOLSET_TYPE]))
    kwargs = {
        "model": MODEL,
        "max_tokens": 100,
        "messages": USER,
        "tools": [computer_tool(TOOLSET)],
    }
    messages = client.beta.messages if use_beta else client.messages
    with messages.stream(**kwargs) as stream:
        deltas = [e.partial_json for e in stream if e.type == "input_json"]
        message = stream.get_final_message()
    block = message.content[0]
    assert len(deltas) >= 2
    assert (block.name, block.toolset_name, block.input) == (
        "type",
        "computer",
        TOOLSET_TYPE["input"],
    )
    assert message.stop_reason == "tool_use"


def test_streamed_usage_is_reported_on_the_final_message(
    fake: FakeMessagesAPI, client: anthropic.Anthropic
) -> None:
    fake.queue(Reply([text("ok")], usage={"output_tokens": 42}))
    message, _ = stream_final(client)
    assert message.usage.output_tokens == 42
    assert message.usage.input_tokens >= 1
    assert message.usage.cache_read_input_tokens == 0


# --- errors, retries, malformed bodies ----------------------------------------------------------

ERROR_CLASSES = [
    (429, anthropic.RateLimitError, "rate_limit_error"),
    (500, anthropic.InternalServerError, "api_error"),
    (401, anthropic.AuthenticationError, "authentication_error"),
    (400, anthropic.BadRequestError, "invalid_request_error"),
    (529, anthropic.OverloadedError, "overloaded_error"),
]


@pytest.mark.parametrize(("status", "exc_class", "kind"), ERROR_CLASSES)
@pytest.mark.parametrize("streaming", [False, True], ids=["json", "stream"])
def test_error_status_maps_to_sdk_exception(
    fake: FakeMessagesAPI,
    client: anthropic.Anthropic,
    status: int,
    exc_class: type[Exception],
    kind: str,
    streaming: bool,
) -> None:
    fake.queue(Error(status))
    with pytest.raises(exc_class) as caught:
        if streaming:
            stream_final(client)
        else:
            client.messages.create(model=MODEL, max_tokens=100, messages=USER)
    assert isinstance(caught.value, anthropic.APIStatusError)
    assert caught.value.status_code == status
    assert caught.value.type == kind
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["type"] == "error"


def test_custom_error_body_and_headers_reach_the_sdk(
    fake: FakeMessagesAPI, client: anthropic.Anthropic
) -> None:
    body = {"type": "error", "error": {"type": "not_found_error", "message": "model: nope"}}
    fake.queue(Error(404, body, {"request-id": "req_custom"}))
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(model="nope", max_tokens=100, messages=USER)
    assert caught.value.api_message == "model: nope"
    assert caught.value.request_id == "req_custom"


def test_error_mid_stream_raises_api_status_error_with_status_200(
    fake: FakeMessagesAPI, client: anthropic.Anthropic
) -> None:
    # The API can overload after the 200: the SDK then raises the base APIStatusError (not
    # OverloadedError), carrying HTTP status 200 and the error type from the event.
    fake.queue(Error(529, in_stream=True))
    with pytest.raises(anthropic.APIStatusError) as caught:
        stream_final(client)
    assert type(caught.value) is anthropic.APIStatusError
    assert caught.value.status_code == 200
    assert caught.value.type == "overloaded_error"


def test_exhausted_script_answers_500(fake: FakeMessagesAPI, client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.InternalServerError, match="fake API script exhausted"):
        client.messages.create(model=MODEL, max_tokens=100, messages=USER)


def test_sdk_retries_a_429_and_succeeds(fake: FakeMessagesAPI) -> None:
    # retry-after: 0 is not "retry now": the SDK only honours positive values and otherwise
    # backs off 0.5 s (with jitter), so this test costs about 0.4 s. retry-after-ms: 1 is fast.
    fake.queue(
        Error(429, headers={"retry-after": "0"}),
        Error(529, headers={"retry-after-ms": "1"}),
        Reply([text("finally")]),
    )
    with anthropic.Anthropic(base_url=fake.url, api_key="test-key", max_retries=2) as client:
        started = time.monotonic()
        message = client.messages.create(model=MODEL, max_tokens=100, messages=USER)
        took = time.monotonic() - started
    assert message.content[0].text == "finally"
    retry_counts = [r.headers["x-stainless-retry-count"] for r in fake.requests]
    assert retry_counts == ["0", "1", "2"]
    assert took >= 0.3


def test_x_should_retry_false_stops_sdk_retries(fake: FakeMessagesAPI) -> None:
    fake.queue(Error(500, headers={"x-should-retry": "false"}), Reply([text("unused")]))
    with (
        anthropic.Anthropic(base_url=fake.url, api_key="test-key", max_retries=2) as client,
        pytest.raises(anthropic.InternalServerError),
    ):
        client.messages.create(model=MODEL, max_tokens=100, messages=USER)
    assert len(fake.requests) == 1
    assert fake.pending == 1


def test_malformed_json_body_raises_value_error(
    fake: FakeMessagesAPI, client: anthropic.Anthropic
) -> None:
    fake.queue(Malformed())
    with pytest.raises(ValueError, match=r"Unterminated|Expecting"):
        client.messages.create(model=MODEL, max_tokens=100, messages=USER)


def test_malformed_sse_data_raises_value_error(
    fake: FakeMessagesAPI, client: anthropic.Anthropic
) -> None:
    fake.queue(Malformed(body=b"event: message_start\ndata: {not json\n\n"))
    with pytest.raises(ValueError, match="Expecting"):
        stream_final(client)


def test_stream_cut_mid_message_raises_a_transport_error_not_an_api_error(
    fake: FakeMessagesAPI, client: anthropic.Anthropic
) -> None:
    # Pinned because it surprises: the SDK lets httpx2's error through unwrapped, so a caller
    # catching only anthropic.APIError misses it.
    fake.queue(Malformed(events=4))
    with pytest.raises(httpx2.RemoteProtocolError):
        stream_final(client)


# --- what the fake records and serves ------------------------------------------------------------


def test_requests_record_headers_path_and_body(
    fake: FakeMessagesAPI, client: anthropic.Anthropic
) -> None:
    fake.queue(Reply([text("ok")]))
    tools = [computer_tool("computer_20251124") | {"enable_zoom": True}]
    client.beta.messages.create(
        model=MODEL, max_tokens=100, messages=USER, tools=tools, betas=["computer-use-2025-11-24"]
    )
    (request,) = fake.requests
    assert request.method == "POST"
    assert request.path == "/v1/messages"  # SDK 2.12 sends no ?beta=true
    assert request.headers["anthropic-beta"] == "computer-use-2025-11-24"
    # SDK 2.12 sends the API key as a bearer token, not as x-api-key.
    assert request.headers["authorization"] == "Bearer test-key"
    assert "x-api-key" not in request.headers
    assert request.headers["anthropic-version"]
    assert request.json["tools"] == tools
    assert request.json["messages"] == USER
    assert request.body.startswith(b"{")


def test_unknown_route_is_404_and_not_scripted(
    fake: FakeMessagesAPI, client: anthropic.Anthropic
) -> None:
    fake.queue(Reply([text("kept")]))
    with pytest.raises(anthropic.NotFoundError):
        client.models.list()
    assert fake.pending == 1


def test_default_policy_answers_each_request_after_the_script(fake: FakeMessagesAPI) -> None:
    seen: list[int] = []

    def policy(request: dict[str, Any]) -> Reply:
        seen.append(len(request["messages"]))
        return Reply([text(f"turn {len(seen)}")])

    with (
        FakeMessagesAPI(default=policy) as server,
        anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0) as client,
    ):
        server.queue(Reply([text("scripted")]))
        answers = [
            client.messages.create(model=MODEL, max_tokens=10, messages=USER).content[0].text
            for _ in range(3)
        ]
    assert answers == ["scripted", "turn 1", "turn 2"]
    assert seen == [1, 1]


def test_a_failing_policy_answers_500_naming_the_error() -> None:
    def policy(request: dict[str, Any]) -> Reply:
        raise KeyError("no such colour")

    with (
        FakeMessagesAPI(default=policy) as server,
        anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0) as client,
        pytest.raises(anthropic.InternalServerError, match="no such colour"),
    ):
        client.messages.create(model=MODEL, max_tokens=10, messages=USER)


def test_concurrent_requests_are_all_answered_and_recorded() -> None:
    answers: list[str] = []
    lock = threading.Lock()

    def ask(client: anthropic.Anthropic) -> None:
        message = client.messages.create(model=MODEL, max_tokens=10, messages=USER)
        with lock:
            answers.append(message.content[0].text)

    with (
        FakeMessagesAPI(default=lambda request: Reply([text("same")])) as server,
        anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0) as client,
    ):
        threads = [threading.Thread(target=ask, args=(client,)) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
        assert len(server.wait_for_requests(6, timeout=5)) == 6
    assert answers == ["same"] * 6


def test_stop_cuts_a_slow_reply_short_and_the_client_sees_a_connection_error() -> None:
    errors: list[BaseException] = []
    server = FakeMessagesAPI(reply_delay_s=60, default=lambda request: Reply([text("late")]))
    server.start()
    with anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0, timeout=10) as client:

        def ask() -> None:
            try:
                client.messages.create(model=MODEL, max_tokens=10, messages=USER)
            except anthropic.APIConnectionError as exc:
                errors.append(exc)

        thread = threading.Thread(target=ask)
        thread.start()
        server.wait_for_requests(1, timeout=5)
        started = time.monotonic()
        server.stop()
        thread.join(timeout=10)
    assert time.monotonic() - started < 5
    assert not thread.is_alive()
    assert len(errors) == 1


def test_url_before_start_raises() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        _ = FakeMessagesAPI().url


# --- usage estimates ---------------------------------------------------------------------------


def test_png_size_reads_the_header_only() -> None:
    data = png_b64(Image.new("RGB", (321, 123)))
    assert png_size(data) == (321, 123)
    assert png_size("bm90IGEgcG5n") is None


def test_input_tokens_count_text_and_images(
    fake: FakeMessagesAPI, client: anthropic.Anthropic
) -> None:
    fake.queue(Reply([text("ok")]))
    shot = image_block(Image.new("RGB", (750, 100), "white"))
    content = [shot, {"type": "text", "text": "x" * 400}]
    message = client.messages.create(
        model=MODEL, max_tokens=10, messages=[{"role": "user", "content": content}]
    )
    # 100 for the image, 100 for the text, and a few for the block and role names.
    assert 200 <= message.usage.input_tokens <= 210
    assert estimate_tokens(shot) == 100


def test_prompt_cache_writes_then_reads_a_repeated_prefix(
    fake: FakeMessagesAPI, client: anthropic.Anthropic
) -> None:
    fake.queue(Reply([text("one")]), Reply([text("two")]))
    mark = {"type": "ephemeral"}
    shot = image_block(Image.new("RGB", (1000, 1000), "white"))  # 1333 tokens: cacheable
    first = [
        {"role": "user", "content": [shot, {"type": "text", "text": "a", "cache_control": mark}]}
    ]
    second = [
        {"role": "user", "content": [shot, {"type": "text", "text": "a"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "one"}]},
        {"role": "user", "content": [{"type": "text", "text": "b" * 400, "cache_control": mark}]},
    ]
    one = client.messages.create(model=MODEL, max_tokens=10, messages=first).usage
    two = client.messages.create(model=MODEL, max_tokens=10, messages=second).usage
    assert one.cache_read_input_tokens == 0
    assert one.cache_creation_input_tokens >= 1333
    assert two.cache_read_input_tokens == one.cache_creation_input_tokens
    assert 100 <= two.cache_creation_input_tokens <= 110
    assert two.input_tokens == 3  # the turn's own few tokens are never cached


# --- policy helpers ------------------------------------------------------------------------------


def request_with(flavour: str, *images: Image.Image, size: tuple[int, int] = (1456, 819)) -> dict:
    content: list[dict[str, Any]] = [{"type": "text", "text": "Fill in the form"}]
    content += [image_block(image) for image in images]
    return {
        "model": MODEL,
        "tools": [computer_tool(flavour, size)],
        "messages": [{"role": "user", "content": content}],
    }


def patch_image(
    size: tuple[int, int], box: tuple[int, int, int, int], rgb: colours.RGB
) -> Image.Image:
    image = Image.new("RGB", size, (242, 242, 242))
    ImageDraw.Draw(image).rectangle(box, fill=rgb)
    return image


def test_find_colour_returns_the_centre_of_the_patch() -> None:
    image = patch_image((400, 300), (100, 50, 199, 89), colours.COMPANY)
    assert find_colour(image, colours.COMPANY) == (149, 69)


def test_find_colour_returns_none_when_the_colour_is_absent() -> None:
    image = patch_image((400, 300), (100, 50, 199, 89), colours.COMPANY)
    assert find_colour(image, colours.SUBMIT) is None


def test_find_colour_ignores_stray_pixels_and_tolerates_noise() -> None:
    noisy = tuple(c + 12 if c < 200 else c - 12 for c in colours.NOTES)
    image = patch_image((400, 300), (10, 10, 49, 29), noisy)
    image.putpixel((390, 290), colours.NOTES)  # one stray pixel must not stretch the patch
    image = image.convert("RGBA")
    assert find_colour(image, colours.NOTES) == (29, 19)
    assert find_colour(image, colours.NOTES, tolerance=5) is None


def test_find_colour_is_fast_on_a_full_screenshot() -> None:
    image = patch_image((1568, 882), (300, 200, 900, 260), colours.COUNTRY)
    started = time.perf_counter()
    for rgb in (colours.COMPANY, colours.EMAIL, colours.COUNTRY, colours.NOTES, colours.SUBMIT):
        find_colour(image, rgb)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("flavour", [*sorted(SINGLE_TOOL_FLAVOURS), TOOLSET])
def test_flavour_of_reads_the_computer_tool_type(flavour: str) -> None:
    request = request_with(flavour)
    request["tools"].insert(0, {"name": "report_outcome", "input_schema": {"type": "object"}})
    assert flavour_of(request) == flavour


def test_flavour_of_without_a_computer_tool_raises() -> None:
    with pytest.raises(ValueError, match="no computer tool"):
        flavour_of({"tools": [], "messages": []})


def test_screen_space_is_declared_size_or_latest_image_size() -> None:
    shot = Image.new("RGB", (640, 360))
    assert screen_space(request_with("computer_20250124", shot, size=(1280, 720))) == (1280, 720)
    assert screen_space(request_with(TOOLSET, shot)) == (640, 360)
    with pytest.raises(ValueError, match="no screenshot"):
        screen_space(request_with(TOOLSET))


def test_latest_image_looks_inside_tool_results_of_the_last_user_message() -> None:
    old, new = Image.new("RGB", (10, 10)), Image.new("RGB", (20, 10))
    request = request_with(TOOLSET, old)
    request["messages"] += [
        {"role": "assistant", "content": [TOOLSET_TYPE]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_type",
                    "content": [{"type": "text", "text": "typed"}, image_block(new)],
                }
            ],
        },
    ]
    image = latest_image(request)
    assert image is not None
    assert image.size == (20, 10)
    request["messages"][-1]["content"][0]["content"].pop()
    assert latest_image(request) is None
    found = latest_image(request, search_back=True)
    assert found is not None
    assert found.size == (10, 10)


@pytest.mark.parametrize("flavour", sorted(SINGLE_TOOL_FLAVOURS))
def test_computer_call_for_single_tool_flavours_puts_action_in_input(flavour: str) -> None:
    call = computer_call(request_with(flavour), "left_click", coordinate=(3, 4))
    assert call["name"] == "computer"
    assert call["input"] == {"action": "left_click", "coordinate": [3, 4]}
    assert "toolset_name" not in call
    block = anthropic.types.beta.BetaToolUseBlock.model_validate(call)
    assert block.id.startswith("toolu_")


def test_computer_call_for_the_toolset_names_the_member() -> None:
    call = computer_call(request_with(TOOLSET), "left_click", coordinate=(3, 4))
    assert call["name"] == "left_click"
    assert call["toolset_name"] == "computer"
    assert call["input"] == {"coordinate": [3, 4]}
    block = anthropic.types.beta.BetaComputerLeftClickToolUseBlock.model_validate(call)
    assert block.input.coordinate == [3, 4]


def test_computer_call_gives_fresh_ids() -> None:
    request = request_with(TOOLSET)
    assert computer_call(request, "screenshot")["id"] != computer_call(request, "screenshot")["id"]


def test_computer_call_refuses_actions_the_tool_does_not_offer() -> None:
    with pytest.raises(ValueError, match="zoom"):
        computer_call(request_with("computer_20250124"), "zoom", region=(0, 0, 10, 10))
    with pytest.raises(ValueError, match="scroll"):
        computer_call(request_with("computer_20241022"), "scroll", scroll_direction="up")
    with pytest.raises(ValueError, match="zoom"):  # computer_20251124 needs enable_zoom
        computer_call(request_with("computer_20251124"), "zoom", region=(0, 0, 10, 10))
    request = request_with("computer_20251124")
    request["tools"][0]["enable_zoom"] = True
    assert computer_call(request, "zoom", region=(0, 0, 10, 10))["input"]["region"] == [
        0,
        0,
        10,
        10,
    ]
    request = request_with(TOOLSET)
    request["tools"][0]["configs"] = {"zoom": {"enabled": False}}
    with pytest.raises(ValueError, match="zoom"):
        computer_call(request, "zoom", region=(0, 0, 10, 10))


def test_report_and_text_blocks() -> None:
    block = report("success", "done")
    assert block["name"] == "report_outcome"
    assert block["input"] == {"status": "success", "summary": "done"}
    assert text("hi") == {"type": "text", "text": "hi"}


# --- the form filler ---------------------------------------------------------------------------

SCREEN = (960, 540)  # a small "real" screen keeps PNG encoding fast
MODEL_SPACE = (728, 410)  # the screen scaled by ~0.76, as cua does for 1920x1080 → 1456x819
FIELD_BOXES = {
    "company": (200, 80, 700, 120),
    "email": (200, 140, 700, 180),
    "country": (200, 200, 700, 240),
    "notes": (200, 260, 700, 300),
}
FIELD_COLOURS = {
    "company": colours.COMPANY,
    "email": colours.EMAIL,
    "country": colours.COUNTRY,
    "notes": colours.NOTES,
}
SUBMIT_BOX = (200, 330, 360, 380)
BANNER_BOX = (40, 410, 900, 480)


@dataclass
class FakeForm:
    """The supplier form without Tk: patches on a virtual screen that take clicks and typing."""

    hidden: frozenset[str] = frozenset()
    values: dict[str, str] = field(default_factory=lambda: dict.fromkeys(FIELD_BOXES, ""))
    focused: str | None = None
    submitted: bool = False
    missed_clicks: int = 0

    def render(self) -> Image.Image:
        image = Image.new("RGB", SCREEN, (242, 242, 242))
        draw = ImageDraw.Draw(image)
        for key, box in FIELD_BOXES.items():
            if key not in self.hidden:
                draw.rectangle(
                    box, fill=FIELD_COLOURS[key], outline="black" if key == self.focused else None
                )
                draw.text((box[0] + 4, box[1] + 12), self.values[key], fill="white")
        draw.rectangle(SUBMIT_BOX, fill=colours.SUBMIT)
        if self.submitted:
            draw.rectangle(BANNER_BOX, fill=colours.SUBMITTED)
        return image

    def click(self, x: int, y: int) -> None:
        hit = [k for k, (x0, y0, x1, y1) in FIELD_BOXES.items() if x0 <= x <= x1 and y0 <= y <= y1]
        if hit:
            self.focused = hit[0]
        elif SUBMIT_BOX[0] <= x <= SUBMIT_BOX[2] and SUBMIT_BOX[1] <= y <= SUBMIT_BOX[3]:
            self.submitted = True
        else:
            self.missed_clicks += 1

    def type_text(self, value: str) -> None:
        assert self.focused is not None, "typed with no field focused"
        self.values[self.focused] += value


def screenshot(form: FakeForm) -> dict[str, Any]:
    return image_block(form.render().resize(MODEL_SPACE, Image.Resampling.LANCZOS))


def perform(form: FakeForm, action: str, tool_input: dict[str, Any]) -> None:
    if action == "left_click":
        x, y = tool_input["coordinate"]
        form.click(round(x * SCREEN[0] / MODEL_SPACE[0]), round(y * SCREEN[1] / MODEL_SPACE[1]))
    elif action == "type":
        form.type_text(tool_input["text"])


def run_agent(client: anthropic.Anthropic, form: FakeForm, flavour: str) -> dict[str, Any]:
    """A minimal agent loop: stream, perform computer calls on `form`, answer with screenshots."""
    tools = [
        computer_tool(flavour, MODEL_SPACE),
        {"name": "report_outcome", "input_schema": {"type": "object"}},
    ]
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Fill in the supplier form."}]
    for _ in range(20):
        message, _texts = stream_final(client, flavour=flavour, tools=tools, messages=messages)
        messages.append(
            {
                "role": "assistant",
                "content": [b.model_dump(exclude_none=True) for b in message.content],
            }
        )
        results = []
        for block in message.content:
            if block.type != "tool_use":
                continue
            if block.name == "report_outcome":
                return dict(block.input)
            if block.toolset_name:
                perform(form, block.name, dict(block.input))
            else:
                perform(form, block.input["action"], dict(block.input))
            result = {"type": "tool_result", "tool_use_id": block.id, "content": [screenshot(form)]}
            if block.toolset_name:
                result["toolset_name"] = block.toolset_name
            results.append(result)
        messages.append({"role": "user", "content": results})
    raise AssertionError("the agent never reported an outcome")


@pytest.mark.parametrize("flavour", [*sorted(SINGLE_TOOL_FLAVOURS), TOOLSET])
def test_supplier_policy_fills_and_submits_the_form_through_the_sdk(flavour: str) -> None:
    form = FakeForm()
    with (
        FakeMessagesAPI(default=supplier_form_policy()) as server,
        anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0) as client,
    ):
        outcome = run_agent(client, form, flavour)
    assert outcome["status"] == "success"
    assert form.values == SUPPLIER_VALUES
    assert form.submitted
    assert form.missed_clicks == 0


def test_form_filler_refuses_to_guess_a_missing_colour() -> None:
    form = FakeForm(hidden=frozenset({"country"}))
    with (
        FakeMessagesAPI(default=supplier_form_policy()) as server,
        anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0) as client,
    ):
        outcome = run_agent(client, form, TOOLSET)
        clicks = [r.json for r in server.requests]
    assert outcome["status"] == "failure"
    assert "Country" in outcome["summary"]
    assert "orange (#ff9600)" in outcome["summary"]
    assert not form.submitted
    assert form.values["country"] == ""
    assert form.missed_clicks == 0
    assert len(clicks) == 6  # screenshot, company click+type, email click+type, then the report


def test_form_filler_reports_failure_without_the_confirmation() -> None:
    filler = FormFiller(
        [FormField("Company", colours.COMPANY, "Acme")],
        submit=colours.SUBMIT,
        confirmation=colours.SUBMITTED,
    )
    screen = patch_image(SCREEN, (10, 10, 200, 60), colours.COMPANY)
    ImageDraw.Draw(screen).rectangle((10, 100, 200, 150), fill=colours.SUBMIT)
    request = request_with(TOOLSET, screen)
    for _ in range(5):  # screenshot, click, type, submit, screenshot: each answered by one
        reply = filler(request)
        request["messages"] += [
            {"role": "assistant", "content": list(reply.content)},
            {"role": "user", "content": [image_block(screen)]},
        ]
    verdict = filler(request)
    outcome = verdict.content[-1]
    assert outcome["name"] == "report_outcome"
    assert outcome["input"]["status"] == "failure"
    assert "turquoise" in outcome["input"]["summary"]


def test_form_filler_answers_a_repeated_request_the_same_way() -> None:
    filler = supplier_form_policy()
    request = request_with("computer_20250124", FakeForm().render().resize((1456, 819)))
    request["messages"] += [
        {"role": "assistant", "content": [computer_call(request, "screenshot")]},
        {"role": "user", "content": [image_block(FakeForm().render().resize((1456, 819)))]},
    ]
    first, again = filler(request), filler(request)
    assert first.content[1]["input"] == again.content[1]["input"]
    assert first.content[1]["input"]["action"] == "left_click"
    assert first.content[0]["text"] == "Clicking the Company field…"


def test_form_filler_gives_up_when_an_action_failed() -> None:
    filler = supplier_form_policy()
    request = request_with(TOOLSET)
    call = computer_call(request, "screenshot")
    request["messages"] += [
        {"role": "assistant", "content": [call]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": call["id"],
                    "is_error": True,
                    "content": "capture failed",
                }
            ],
        },
    ]
    outcome = filler(request).content[-1]
    assert outcome["input"]["status"] == "failure"
    assert "capture failed" in outcome["input"]["summary"]
