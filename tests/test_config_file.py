"""Bad input files and environment values: every one gives a ConfigError that names the file,
the line and the key (or the variable), and nothing else ever escapes: generated TOML of every
shape for every known key, binary junk, non-UTF-8 text, deep nesting, special files."""

import math
import os
import re
import tomllib

import pytest
from claude_cua.core.config_file import MAX_DEPTH, describe, key_line
from claude_cua.core.errors import ConfigError
from claude_cua.core.safety.policy_file import load_policy_file
from claude_cua.core.settings import ENV_NAMES, Settings, read_config_file, resolve_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

KEYS = [*(f for f in Settings.__dataclass_fields__), "prices", "unknown_key"]
SETTINGS_OF_HYPOTHESIS = settings(max_examples=400, deadline=None,
                                  suppress_health_check=[HealthCheck.function_scoped_fixture])

# --- TOML values of every shape, written out as TOML text ---------------------------------------

plain_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
scalars = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1), st.floats(allow_nan=True),
    st.booleans(), plain_text, st.just("1979-05-27T07:32:00Z"),
)


def toml_value(value, depth=0):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        if value == "1979-05-27T07:32:00Z":
            return value  # a TOML datetime
        return '"' + "".join(c if c not in '"\\' else "\\" + c for c in value) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v, depth + 1) for v in value) + "]"
    return "{" + ", ".join(f'"{k}" = {toml_value(v, depth + 1)}' for k, v in value.items()) + "}"


values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(
        ["input", "output", "cache_write", "cache_read", "x", "claude-opus-5"]), inner,
        max_size=5)), max_leaves=12)


@st.composite
def config_texts(draw):
    lines = ["# generated"]
    for key in draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=4)):
        lines.append(f"{key} = {toml_value(draw(values))}")
    return "\n".join(lines) + "\n"


def assert_names_file_and_line(message, path):
    assert re.search(re.escape(str(path)) + r":\d+", message), message
    assert "Traceback" not in message and len(message) < 600, message


@SETTINGS_OF_HYPOTHESIS
@given(text=config_texts())
def test_any_toml_for_any_key_is_read_or_refused_with_file_line_and_key(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    try:
        data = read_config_file(path, is_explicit=True)
    except ConfigError as exc:
        message = str(exc)
        assert_names_file_and_line(message, path)
        parsed = tomllib.loads(text)
        assert any(key in message for key in parsed), message
        return
    # Accepted: then it resolves into valid settings, with finite, in-range numbers.
    settings_, _ = resolve_settings(Settings(), file=data, file_path=path, env={}, flags={})
    for name in ("max_steps", "max_tokens", "monitor", "keep_images", "max_retries"):
        assert isinstance(getattr(settings_, name), int)
    assert math.isfinite(settings_.settle_ceiling_s)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.binary(max_size=200))
def test_binary_junk_is_refused_with_the_file_and_line(tmp_path, junk):
    for reader, name in ((lambda p: read_config_file(p, is_explicit=True), "config.toml"),
                         (load_policy_file, "policy.toml")):
        path = tmp_path / name
        path.write_bytes(junk)
        try:
            reader(path)
        except ConfigError as exc:
            assert_names_file_and_line(str(exc), path)


@pytest.mark.parametrize(("text", "line", "words"), [
    (b"model = 'x'\nmax_steps = \xff\xfe\n", 2, "not UTF-8"),
    (b"# caf\xe9\n", 1, "not UTF-8"),
    (b"a = 1\n\x00\x01\x02", 2, "NUL"),
    (b"max_steps = 5\nprices = 5\n", 2, "prices"),
    (b"[prices]\nopus = 5\n", 2, "prices"),
    (b'[prices."m"]\ninput = 1\noutput = 2\ncache_write = 3\ncache_read = "x"\n', 5,
     "cache_read"),
    (b'[prices."m"]\ninput = nan\noutput = 2\ncache_write = 3\ncache_read = 1\n', 2, "finite"),
    (b"max_steps = 1.5\n", 1, "whole number"),
    (b"max_steps = inf\n", 1, "whole number"),
    (b"max_cost_usd = nan\n", 1, "finite"),
    (b"model = 5\n", 1, "model must be text"),
    (b"\n\nkeep_images = [1]\n", 3, "keep_images"),
    (b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n", 1, "levels deep"),
    (b"a = 1\nb = " + b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), 2, "levels deep"),
    (b"max_steps = 3\nmax_steps = 4\n", 2, "not valid TOML"),
])
def test_each_kind_of_bad_config_names_file_line_and_what(tmp_path, text, line, words):
    path = tmp_path / "config.toml"
    path.write_bytes(text)
    with pytest.raises(ConfigError) as caught:
        read_config_file(path, is_explicit=True)
    assert f"{path}:{line}:" in str(caught.value)
    assert words in str(caught.value)


def test_a_deeply_nested_policy_region_is_a_config_error_with_its_line(tmp_path):
    path = tmp_path / "policy.toml"
    for depth in (50, 900, 20000):
        region = "[" * depth + "1" + "]" * depth
        path.write_text(f'[[rule]]\nverdict = "deny"\nregion = {region}\n')
        with pytest.raises(ConfigError, match=rf"{re.escape(str(path))}:3:"):
            load_policy_file(path)


@pytest.mark.parametrize("kind", ["directory", "fifo", "device"])
def test_a_config_path_that_is_not_a_file_is_refused_at_once(tmp_path, kind):
    path = tmp_path / "cfg"
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)  # reading it would block forever
    else:
        path = tmp_path / "zero"
        os.symlink("/dev/zero", path)  # reading it would never end
    with pytest.raises(ConfigError, match="not a regular file"):
        read_config_file(path, is_explicit=True)


env_values = st.one_of(
    st.text(max_size=30), st.integers().map(str), st.floats().map(str),
    st.sampled_from(["", " ", "1e400", "nan", "inf", "-0", "0x10", "9" * 5000, "1_000",
                     "\udcff\udcfe", "4\x00", "\uff11\uff12"]),
)


@settings(max_examples=400, deadline=None)
@given(var=st.sampled_from(sorted(ENV_NAMES)), value=env_values)
def test_any_cua_variable_value_is_used_or_refused_naming_the_variable(var, value):
    try:
        settings_, _ = resolve_settings(Settings(), file={}, file_path=None, env={var: value},
                                        flags={})
    except ConfigError as exc:
        assert var in str(exc) and len(str(exc)) < 600
        return
    result = getattr(settings_, ENV_NAMES[var])
    if isinstance(result, float):
        assert math.isfinite(result)
    if isinstance(result, str):
        result.encode("utf-8")  # strict: nothing that cannot be written later


def test_a_secret_from_a_non_utf8_environment_is_a_config_error():
    from claude_cua.core.safety.secrets import Secrets

    with pytest.raises(ConfigError, match="PW is not valid UTF-8"):
        Secrets.from_specs(["PW"], {"PW": "ab\udcffcd"})


def test_key_line_finds_dotted_keys_tables_and_inline_tables():
    text = 'a = 1\n[prices."claude-x"]\ninput = 1\n[t]\nsub.k = 2\ninline = {x = 1}\n'
    assert key_line(text, ("a",)) == 1
    assert key_line(text, ("prices", "claude-x")) == 2
    assert key_line(text, ("prices", "claude-x", "input")) == 3
    assert key_line(text, ("t", "sub", "k")) == 5
    assert key_line(text, ("t", "inline", "x")) == 6


def test_describe_is_short_for_any_value():
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    assert len(describe(deep)) < 100
    assert len(describe("x" * 10**6)) < 100
