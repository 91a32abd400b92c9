import pytest
from claude_cua.core.errors import ConfigError
from claude_cua.core.settings import UNSET, Settings, read_config_file, resolve_settings


def resolve(file=None, env=None, flags=None):
    return resolve_settings(Settings(), file=file or {}, file_path=None, env=env or {},
                            flags=flags or {})


def test_flags_beat_env_beat_file_beat_defaults():
    settings, sources = resolve(
        file={"max_steps": 10, "model": "m-file", "keep_images": 1},
        env={"CUA_MAX_STEPS": "20", "CUA_MODEL": "m-env"},
        flags={"max_steps": 30, "model": UNSET},
    )
    assert (settings.max_steps, settings.model, settings.keep_images) == (30, "m-env", 1)
    assert sources["max_steps"] == "flag"
    assert sources["model"] == "env CUA_MODEL"
    assert sources["monitor"] == "default"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CUA_MAX_STEPS": "many"}, "CUA_MAX_STEPS: max_steps must be a whole number"),
        ({"CUA_MAX_STEPS": "0"}, "at least 1"),
        ({"CUA_TOOL_VERSION": "computer_1999"}, "tool_version must be one of"),
    ],
)
def test_bad_values_name_their_source(env, message):
    with pytest.raises(ConfigError, match=message):
        resolve(env=env)


def test_config_file_errors_are_clear(tmp_path):
    bad = tmp_path / "config.toml"
    bad.write_text("max_steps = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        read_config_file(bad, is_explicit=True)
    bad.write_text("api_key = 'sk-nope'\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        read_config_file(bad, is_explicit=True)
    assert read_config_file(tmp_path / "missing.toml", is_explicit=False) == {}
    with pytest.raises(ConfigError, match="does not exist"):
        read_config_file(tmp_path / "missing.toml", is_explicit=True)
