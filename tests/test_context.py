from claude_cua.core.model.context import (
    PLACEHOLDER,
    image_block,
    prune_images,
    system_blocks,
    with_moving_cache_mark,
)


def _turn(i):
    return [
        {"role": "assistant", "content": [{"type": "tool_use", "id": f"t{i}", "name": "computer",
                                           "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"t{i}",
                                      "content": [image_block(bytes([i]))]}]},
    ]


def _conversation(n):
    messages = [{"role": "user", "content": [{"type": "text", "text": "task"},
                                             image_block(b"\x00")]}]
    for i in range(1, n):
        messages += _turn(i)
    return messages


def _images(messages):
    return str(messages).count("'type': 'image'")


def _breakpoints(messages):
    return str(messages).count("cache_control")


def test_cache_mark_sits_on_the_newest_block_only_and_does_not_mutate():
    messages = _conversation(4)
    marked = with_moving_cache_mark(messages)
    assert _breakpoints(messages) == 0
    assert _breakpoints(marked) == 1
    assert "cache_control" in marked[-1]["content"][-1]
    assert _breakpoints(system_blocks()) == 1  # system + newest: two of the four allowed


def test_pruning_waits_for_a_full_chunk_then_keeps_the_newest():
    assert prune_images(_conversation(5), keep=3, chunk=3) == _conversation(5)
    pruned = prune_images(_conversation(6), keep=3, chunk=3)
    assert _images(pruned) == 3
    assert pruned[0]["content"][1] == PLACEHOLDER
    assert pruned[-1] == _conversation(6)[-1]


def test_prefix_stays_identical_between_prunes():
    messages = prune_images(_conversation(6), keep=3, chunk=3)
    prefix = messages[:4]
    for i in range(6, 8):
        messages = prune_images(messages + _turn(i), keep=3, chunk=3)
        assert messages[:4] == prefix
    assert _images(messages) == 5
    messages = prune_images(messages + _turn(8), keep=3, chunk=3)
    assert _images(messages) == 3


def test_keep_zero_drops_every_image_once_chunk_reached():
    assert _images(prune_images(_conversation(3), keep=0, chunk=1)) == 0
