"""`cua --help` must stay fast: no SDK, no X libraries at start-up."""

import json
import subprocess
import sys

import pytest

PROBE = """
import sys
sys.argv = ["cua", *{args!r}]
from claude_cua.cli.main import main
try:
    main()
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in ("anthropic", "pyautogui", "mss", "Xlib", "httpx2", "PIL", "pydantic",
                           "rich.progress", "rich.live", "ray", "mcp", "tesserocr", "jeepney")
               if m in sys.modules)
sys.stderr.write("MODULES=" + repr(heavy) + "\\n")
"""


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["run", "--help"],
                                  ["runs", "list", "--json"]])
def test_help_and_runs_list_do_not_import_heavy_modules(args, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CUA_DATA_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], capture_output=True,
                          text=True, env=env, timeout=60)
    line = [x for x in proc.stderr.splitlines() if x.startswith("MODULES=")][-1]
    assert line == "MODULES=[]", proc.stderr


def test_runs_list_json_on_an_empty_data_dir(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CUA_DATA_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "claude_cua.cli", "runs", "list", "--json"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


@pytest.mark.parametrize(("args", "message"), [
    (["run", "--max-steps", "0", "a task"], "--max-steps: max_steps must be at least 1"),
    (["no-such-command"], "No such command"),
    ([], "Usage: cua"),
])
def test_usage_errors_exit_2_with_a_message(args, message, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CUA_DATA_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "claude_cua.cli", *args],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
