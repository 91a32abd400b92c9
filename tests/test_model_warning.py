"""Unknown or retired model names are warned about, naming the tool version cua assumed."""

import subprocess
import sys

import pytest
from claude_cua.core.model.context import MODEL_FLAVOURS, NEWEST_FAMILIES, model_warning


@pytest.mark.parametrize("model", [
    *(prefix for prefix, _ in MODEL_FLAVOURS if prefix != "claude-3-5-sonnet"),
    *(f"{family}-20261101" for family in NEWEST_FAMILIES),
    "claude-opus-5-5", "claude-sonnet-4-6", "claude-sonnet-5-5",
])
def test_models_in_the_table_are_not_warned_about(model):
    assert model_warning(model) is None


@pytest.mark.parametrize(("model", "version"), [
    ("gpt-4o", "computer_toolset_20260801"),
    ("claude-3-opus-20240229", "computer_toolset_20260801"),
    ("claude-2.1", "computer_toolset_20260801"),
    ("sonnet", "computer_toolset_20260801"),
])
def test_unknown_models_are_warned_with_the_assumed_tool_version(model, version):
    warning = model_warning(model)
    assert warning is not None
    assert f"{model!r} is not in cua's model table" in warning
    assert f"assuming computer tool version {version} (the newest)" in warning
    assert "--tool-version" in warning


def test_a_retired_model_is_warned_about_as_retired():
    warning = model_warning("claude-3-5-sonnet-20241022")
    assert warning is not None and "is retired" in warning
    assert "computer_20241022" in warning


def test_a_forced_tool_version_is_named_as_such():
    warning = model_warning("gpt-4o", "computer_20250124")
    assert warning is not None
    assert "using computer tool version computer_20250124, as --tool-version asks" in warning


def test_cua_run_warns_on_stderr_before_anything_else(tmp_path):
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "CUA_DATA_DIR": str(tmp_path / "d")}
    proc = subprocess.run([sys.executable, "-m", "claude_cua.cli", "run", "--model", "gpt-4o",
                           "--json", "do it"], capture_output=True, text=True, env=env,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2  # no API key: a configuration error, after the warning
    first = proc.stderr.splitlines()[0]
    assert first.startswith("cua: warning: model 'gpt-4o' is not in cua's model table")
    assert "computer_toolset_20260801" in first
    assert "warning" not in proc.stdout
