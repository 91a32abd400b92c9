"""--app that cannot start, or exits at once, fails before the first model call (exit 5, the
fake API records no request) and leaves no run folder; on --virtual-display and on $DISPLAY."""

import pytest

from .conftest import summary_of

CASES = [
    (["/nonexistent/program-xyz"], "cannot start --app '/nonexistent/program-xyz': "
     "No such file or directory"),
    (["no-such-program-xyz --flag"], "cannot start --app 'no-such-program-xyz': "
     "No such file or directory"),
    (["false"], "the --app program exited with status 1 before its window appeared"),
    (["sh -c 'exit 7'"], "the --app program exited with status 7 before its window appeared"),
]


@pytest.mark.parametrize(("app", "message"), CASES, ids=["path", "name", "false", "exit-7"])
def test_a_failing_app_stops_the_run_before_claude_is_asked(cua, api, app, message):
    proc = cua.run("run", "--json", "--virtual-display", "640x480", "--app", app[0],
                   "--model", "claude-sonnet-5-5", "do something", timeout=120)
    assert proc.returncode == 5, proc.stderr
    assert message in proc.stderr
    summary = summary_of(proc)
    assert summary["status"] == "error" and message in summary["error"]
    assert summary["run_id"] is None and summary["run_dir"] is None
    assert api.requests == []
    runs = cua.home / "data" / "runs"
    assert not runs.exists() or list(runs.iterdir()) == []


def test_on_display_a_missing_app_fails_the_same_way(cua, api, virtual_display):
    proc = cua.run("run", "--json", "--app", "no-such-program-xyz",
                   "--model", "claude-sonnet-5-5", "do something", timeout=120,
                   **virtual_display.env)
    assert proc.returncode == 5, proc.stderr
    assert "cannot start --app 'no-such-program-xyz': No such file or directory" in proc.stderr
    assert api.requests == []
