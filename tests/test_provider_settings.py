"""The provider settings: --provider/--region/--project/--base-url, their CUA_* variables and
config keys, and the config file's [headers] table."""

import pytest
from claude_cua.core.errors import ConfigError
from claude_cua.core.settings import UNSET, load_settings


def flags(**given):
    names = ("model", "provider", "region", "project", "base_url")
    return {name: given.get(name, UNSET) for name in names}


def test_flags_beat_env_beat_config_for_the_provider_keys(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('provider = "vertex"\nregion = "europe-west1"\nproject = "from-file"\n'
                      'base_url = "http://127.0.0.1:1/v1"\n')
    loaded = load_settings({"CUA_REGION": "us-east5"}, config, flags(project="from-flag"))
    s = loaded.settings
    assert (s.provider, s.region, s.project, s.base_url) == (
        "vertex", "us-east5", "from-flag", "http://127.0.0.1:1/v1")
    assert loaded.sources["region"] == "env CUA_REGION"
    assert loaded.sources["model"] == "default"


def test_an_unknown_provider_is_a_config_error_naming_the_choices(tmp_path):
    empty = tmp_path / "config.toml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="provider must be one of anthropic, bedrock, vertex"):
        load_settings({"CUA_PROVIDER": "azure"}, empty, flags())


def test_the_headers_table_goes_to_every_request(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[headers]\n"X-Gateway-Token" = "abc"\n"X-Team" = "qa"\n')
    loaded = load_settings({}, config, flags(model="claude-opus-4-6"))
    assert loaded.headers == {"X-Gateway-Token": "abc", "X-Team": "qa"}
    assert loaded.sources["model"] == "flag"


@pytest.mark.parametrize("table", ['[headers]\n"Bad Name" = "x"\n', "[headers]\nX-Count = 3\n"])
def test_bad_headers_are_config_errors(tmp_path, table):
    config = tmp_path / "config.toml"
    config.write_text(table)
    with pytest.raises(ConfigError, match=r"\[headers\]"):
        load_settings({}, config, flags())
