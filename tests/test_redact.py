"""The redactor on its own: every value of the hostile set, in every encoding, embedded in text,
JSON data and streams, comes out as its placeholder and in no form at all."""

import json
import random

import pytest
from claude_cua.core.safety.secrets import Redactor, Secrets, StreamRedactor
from hypothesis import given, settings
from hypothesis import strategies as st
from secret_forms import ENCODINGS, SECRET_VALUES, encoded, forms, leaks

REDACTOR = Redactor([(v, f"{{{{S{i}}}}}") for i, v in enumerate(SECRET_VALUES)])


@pytest.mark.parametrize("how", ENCODINGS)
@pytest.mark.parametrize("value", SECRET_VALUES)
def test_each_value_in_each_encoding_is_redacted_in_text(value, how):
    text = f"before «{encoded(value, how)}» after"
    out = REDACTOR.redact(text)
    assert leaks(out.encode()) == []
    assert "{{S" in out and out.startswith("before «")


@pytest.mark.parametrize("value", SECRET_VALUES)
def test_base64_of_a_value_is_found_at_every_offset_of_a_larger_blob(value):
    import base64

    for prefix_len in range(6):
        for alphabet in (base64.b64encode, base64.urlsafe_b64encode):
            blob = alphabet(b"P" * prefix_len + value.encode() + b"suffix").decode()
            assert leaks(REDACTOR.redact(blob).encode(), (value,)) == [], (prefix_len, blob)


@pytest.mark.parametrize("value", SECRET_VALUES)
def test_json_data_is_clean_however_it_is_serialised(value):
    # The value, its JSON-decoded twin (a\"b -> a"b), as a key, nested in lists.
    decoded = json.loads(f'"{value}"') if _is_json_inner(value) else value
    data = {"text": f"x{value}y", "k": [{value: decoded}], "r": repr(value),
            "decoded": decoded}
    out = REDACTOR.redact_data(data)
    for ensure_ascii in (False, True):
        assert leaks(json.dumps(out, ensure_ascii=ensure_ascii).encode()) == []
    assert leaks(repr(out).encode()) == []


def _is_json_inner(value):
    try:
        json.loads(f'"{value}"')
    except ValueError:
        return False
    return True


def test_a_value_that_only_appears_once_serialised_is_caught():
    value = 'a\\"b'  # a text holding a"b serialises to a\"b: the value itself
    redactor = Redactor([(value, "{{PW}}")])
    out = redactor.redact_data({"t": 'say a"b now'})
    assert value not in json.dumps(out)


def test_image_data_is_left_alone_and_other_fields_are_not():
    value = SECRET_VALUES[0]
    image = {"type": "base64", "media_type": value, "data": "iVBORw0KGgo" + "A" * 40}
    out = REDACTOR.redact_data({"source": image})
    assert out["source"]["data"] == image["data"]
    assert value not in json.dumps(out)


@pytest.mark.parametrize("value", SECRET_VALUES)
def test_a_value_split_across_streamed_pieces_never_reaches_the_output(value):
    text = f"I can read {value} on the screen, and {encoded(value, 'json')} too."
    for cut in range(1, len(text)):
        pieces: list[str] = []
        stream = StreamRedactor(REDACTOR, pieces.append)
        stream.feed(text[:cut])
        stream.feed(text[cut:])
        stream.flush()
        assert "".join(pieces) == REDACTOR.redact(text)
        for piece in pieces:
            assert leaks(piece.encode(), (value,)) == []


def test_streaming_passes_text_on_before_the_end():
    pieces: list[str] = []
    stream = StreamRedactor(REDACTOR, pieces.append)
    stream.feed("x" * 5000)
    assert pieces and len(pieces[0]) > 4000


@settings(max_examples=300, deadline=None)
@given(value=st.text(min_size=8, max_size=24).filter(lambda v: len(v.encode()) >= 8),
       before=st.text(max_size=20), after=st.text(max_size=20),
       how=st.sampled_from(ENCODINGS))
def test_any_value_in_any_encoding_is_redacted(value, before, after, how):
    redactor = Redactor([(value, "{{PW}}")])
    out = redactor.redact(before + encoded(value, how) + after)
    assert leaks(out.encode("utf-8", "surrogatepass"), (value,)) == []


@settings(max_examples=150, deadline=None)
@given(value=st.text(min_size=8, max_size=16).filter(lambda v: len(v.encode()) >= 8),
       seed=st.integers(0, 2**32))
def test_any_value_in_nested_data_is_clean_once_serialised(value, seed):
    rng = random.Random(seed)
    redactor = Redactor([(value, "{{PW}}")])
    data = {"a": [value, {"b": f"{rng.random()}{value}"}], value: repr(value),
            "c": json.dumps({"v": value})}
    out = json.dumps(redactor.redact_data(data), ensure_ascii=rng.random() < 0.5)
    assert leaks(out.encode("utf-8", "surrogatepass"), (value,)) == []


def test_credentials_in_the_environment_are_redacted_but_never_typed():
    env = {"ANTHROPIC_API_KEY": "sk-ant-api03-abcdef", "PW": "hunter2-long"}
    secrets = Secrets.from_specs(["PW"], env)
    assert secrets.redact("key sk-ant-api03-abcdef") == "key [redacted $ANTHROPIC_API_KEY]"
    typed = secrets.substitute("{{ANTHROPIC_API_KEY}} {{PW}}")
    assert typed == "{{ANTHROPIC_API_KEY}} hunter2-long"
    assert "sk-ant" not in repr(secrets)


def test_every_form_the_oracle_knows_is_distinct_enough_to_test():
    # The oracle itself: a form that equals ordinary text would make the tests meaningless.
    for value in SECRET_VALUES:
        assert all(len(f) >= 8 for f in forms(value).values())
