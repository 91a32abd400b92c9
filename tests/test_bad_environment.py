"""A bad environment through the real command, as a subprocess: every broken config file,
CUA_* value, policy file, credential or run folder gives exactly one line on stderr naming the
file (and line) or variable, the right exit code, and with --json one JSON object; never a
traceback. These fail before any display is needed."""

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BINARY_JUNK = bytes(range(256)) * 4


def cua(tmp_path, *args, **env_extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CUA_", "ANTHROPIC_"))}
    env.update(HOME=str(tmp_path), CUA_DATA_DIR=str(tmp_path / "data"),
               XDG_CONFIG_HOME=str(tmp_path / "config"), ANTHROPIC_API_KEY="test-key",
               ANTHROPIC_BASE_URL="http://127.0.0.1:9", CUA_MAX_RETRIES="0")
    env.update(env_extra)
    env = {k: v for k, v in env.items() if v is not None}
    return subprocess.run([sys.executable, "-m", "claude_cua.cli", "run", *args, "a task"],
                          capture_output=True, env=env, timeout=60, stdin=subprocess.DEVNULL)


def assert_one_clear_line(proc, code, *words):
    stderr = proc.stderr.decode("utf-8", "backslashreplace")
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cua: "), stderr
    for word in words:
        assert word in lines[0], stderr
    return lines[0]


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


CONFIG_CASES = {
    "non-utf8": (b"model = 'caf\xe9'\n", ":1:", "UTF-8"),
    "binary junk": (BINARY_JUNK, ":2:", "UTF-8"),  # byte 10 ends line 1
    "nul bytes": (b"a = 1\n\x00\x01\x02\n", ":2:", "NUL"),
    "deep array": (b"max_steps = 1\nx = " + b"[" * 100000 + b"]" * 100000, ":2:", "deep"),
    "prices = 5": (b"prices = 5\n", ":1:", "prices"),
    "prices wrong type": (b'[prices."m"]\ninput = "1"\noutput = 1\ncache_write = 1\n'
                          b"cache_read = 1\n", ":2:", "input"),
    "string for int": (b'max_steps = "many"\n', ":1:", "max_steps"),
    "huge float": (b"max_steps = 1e400\n", ":1:", "max_steps"),
    "nan budget": (b"\nmax_cost_usd = nan\n", ":2:", "max_cost_usd"),
    "bool model": (b"model = true\n", ":1:", "model"),
    "unknown key": (b"api_key = 'sk-x'\n", ":1:", "api_key"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
@pytest.mark.parametrize("how", ["CUA_CONFIG", "--config", "default"])
def test_a_bad_config_file_is_one_line_naming_file_and_line(tmp_path, case, how):
    data, line, word = CONFIG_CASES[case]
    if how == "default":
        path = write(tmp_path / "config" / "cua" / "config.toml", data)
        proc = cua(tmp_path)
    else:
        path = write(tmp_path / "my.toml", data)
        proc = cua(tmp_path, "--config", str(path)) if how == "--config" else cua(
            tmp_path, CUA_CONFIG=str(path))
    assert_one_clear_line(proc, 2, f"{path}{line}", word)


@pytest.mark.parametrize("target", ["directory", "/dev/zero", "fifo"])
def test_cua_config_pointing_at_something_that_is_not_a_file_is_refused_at_once(tmp_path,
                                                                                target):
    if target == "directory":
        path = tmp_path
    elif target == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
    else:
        path = Path(target)
    assert_one_clear_line(cua(tmp_path, CUA_CONFIG=str(path)), 2, str(path), "regular file")


@pytest.mark.parametrize(("var", "value"), [
    ("CUA_MAX_STEPS", "abc"), ("CUA_MAX_STEPS", "1e400"), ("CUA_MAX_STEPS", "9" * 5000),
    ("CUA_MAX_COST_USD", "nan"), ("CUA_MAX_COST_USD", "-1"), ("CUA_KEEP_IMAGES", "1.5"),
    ("CUA_TOOL_VERSION", "computer_1999"), ("CUA_SETTLE_CEILING_S", "inf"),
    ("CUA_MONITOR", "-1"),
])
def test_a_bad_cua_variable_is_one_line_naming_it(tmp_path, var, value):
    assert_one_clear_line(cua(tmp_path, **{var: value}), 2, var)


def test_a_cua_variable_that_is_not_utf8_is_one_line_naming_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CUA_", "ANTHROPIC_"))}
    env_bytes = {k.encode(): v.encode() for k, v in env.items()}
    env_bytes.update({b"HOME": str(tmp_path).encode(), b"ANTHROPIC_API_KEY": b"test-key",
                      b"CUA_MODEL": b"claude-\xff\xfe"})
    proc = subprocess.run([sys.executable, "-m", "claude_cua.cli", "run", "x"],
                          capture_output=True, env=env_bytes, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert_one_clear_line(proc, 2, "CUA_MODEL", "UTF-8")


@pytest.mark.parametrize(("data", "line"), [
    (b'[[rule]]\nverdict = "deny"\nregion = ' + b"[" * 50000 + b"1" + b"]" * 50000, 3),
    (b'[[rule]]\nverdict = "deny"\nregion = ' + b"[" * 500 + b"1" + b"]" * 500, 3),
    (b'[[rule]]\nverdict = "deny"\nregion = [1, 2, "x", 4]\n', 3),
    (b'[[rule]]\nverdict = "deny"\nregion = [' + b"1, " * 100000 + b"1]\n", 3),
    (b'[[rule]]\nverdict = ["' + b"x" * 100000 + b'"]\n', 2),
    (b"[[rule]]\nverdict = \xff\n", 2),
    (BINARY_JUNK, 2),
])
def test_a_bad_policy_file_is_one_line_naming_file_and_line(tmp_path, data, line):
    path = write(tmp_path / "policy.toml", data)
    message = assert_one_clear_line(cua(tmp_path, "--policy", str(path)), 2, f"{path}:{line}:")
    assert len(message) < 600


@pytest.mark.parametrize("key", ["sk-zz9 space", "sk-zz9-\u00e9", "sk-zz9\n", "sk-zz9\x7f"])
def test_an_api_key_a_header_cannot_carry_is_one_line_that_never_shows_it(tmp_path, key):
    line = assert_one_clear_line(cua(tmp_path, ANTHROPIC_API_KEY=key), 2, "ANTHROPIC_API_KEY")
    assert key.strip() not in line


@contextlib.contextmanager
def read_only_folder(tmp_path):
    """A folder nobody may write in: a read-only tmpfs where we may mount one (root ignores
    file modes), else a folder without write permission."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs",
                              str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("how", ["--run-dir", "CUA_DATA_DIR"])
def test_a_read_only_run_folder_is_exit_5_with_the_reason(tmp_path, how):
    with read_only_folder(tmp_path) as folder:
        if how == "--run-dir":
            proc = cua(tmp_path, "--json", "--run-dir", str(folder / "run"))
        else:
            proc = cua(tmp_path, "--json", CUA_DATA_DIR=str(folder))
    line = assert_one_clear_line(proc, 5, str(folder), "writable")
    summary = json.loads(proc.stdout)
    assert summary["exit_code"] == 5 and summary["status"] == "error"
    assert "cannot write" in summary["error"] and "cannot write" in line
