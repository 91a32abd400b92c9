"""Every exit path of `cua run --json`: exactly one JSON object, always the same keys, and a run
that stops before its first step leaves no run folder behind. In-process (`run_cli` with the
fake desktop, the real SDK against the fake API)."""

import json

import pytest
from claude_cua.cli.demo.fakeapi import Error, Reply
from claude_cua.cli.demo.policies import computer_call, report
from claude_cua.cli.main import run_cli
from claude_cua.cli.summary import SUMMARY_KEYS

FAKE = ("--desktop", "fake", "--model", "claude-sonnet-5-5")


@pytest.fixture
def env(api, monkeypatch, isolated_environment):
    data = isolated_environment / "data"
    monkeypatch.setenv("CUA_DATA_DIR", str(data))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-exit-paths-0123456789")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)
    monkeypatch.setenv("CUA_MAX_RETRIES", "0")
    return data


def run_json(capsys, *argv):
    capsys.readouterr()
    code = run_cli(["run", "--json", *argv])
    out, err = capsys.readouterr()
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, f"exit {code}; stdout {out!r}; stderr {err}"
    summary = json.loads(lines[0])
    assert tuple(summary) == SUMMARY_KEYS, sorted(set(summary) ^ set(SUMMARY_KEYS))
    assert summary["exit_code"] == code
    return code, summary, err


def run_folders(data):
    runs = data / "runs"
    return sorted(p.name for p in runs.iterdir()) if runs.is_dir() else []


def bad_config(tmp_path, text):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return str(path)


# (flags, extra environment, expected exit code). Usage and configuration errors are exit 2.
EARLY = [
    (["--max-steps", "0", "t"], {}, 2),
    (["--max-steps", "many", "t"], {}, 2),
    (["--monitor", "-1", "t"], {}, 2),
    (["--keep-images", "-3", "t"], {}, 2),
    (["--no-such-flag", "t"], {}, 2),
    ([], {}, 2),  # no TASK
    (["--tool-version", "computer_1999", *FAKE, "t"], {}, 2),
    (["--virtual-display", "huge", "t"], {}, 2),
    (["--app", "'unbalanced", "t"], {}, 2),
    ([*FAKE, "t"], {"CUA_MAX_STEPS": "0"}, 2),
    ([*FAKE, "t"], {"CUA_MAX_STEPS": "lots"}, 2),
    ([*FAKE, "t"], {"CUA_MONITOR": "-2"}, 2),
    ([*FAKE, "t"], {"CUA_MAX_COST_USD": "cheap"}, 2),
    ([*FAKE, "t"], {"CUA_REPORT": "maybe"}, 2),
    ([*FAKE, "t"], {"CUA_POLICY": "missing-policy.toml"}, 2),
    ([*FAKE, "--config", "missing.toml", "t"], {}, 2),
    ([*FAKE, "--config", "BAD_TOML", "t"], {}, 2),
    ([*FAKE, "--config", "UNKNOWN_KEY", "t"], {}, 2),
    ([*FAKE, "--policy", "missing-policy.toml", "t"], {}, 2),
    ([*FAKE, "--secret", "NOT_SET_ANYWHERE", "t"], {}, 2),
    ([*FAKE, "t"], {"ANTHROPIC_API_KEY": None}, 2),
    (["--desktop", "fake", "--app", "xterm", "t"], {}, 2),
]


@pytest.mark.parametrize(("flags", "extra", "code"), EARLY,
                         ids=[f"{i}-{' '.join(f)[:40]}" for i, (f, _, _) in enumerate(EARLY)])
def test_an_early_exit_prints_one_object_with_every_key_and_leaves_no_folder(
        env, capsys, monkeypatch, tmp_path, flags, extra, code):
    for name, value in extra.items():
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value)
    replacements = {"BAD_TOML": bad_config(tmp_path, "max_steps = [\n"),
                    "UNKNOWN_KEY": bad_config(tmp_path, "maximum_steps = 3\n")}
    flags = [replacements.get(f, f) for f in flags]
    exit_code, summary, err = run_json(capsys, *flags)
    assert exit_code == code
    assert summary["status"] == "error"
    assert summary["error"] and summary["error"].strip()
    assert summary["run_id"] is None and summary["run_dir"] is None
    assert summary["steps"] == 0  # no step ran, whichever layer stopped the run
    assert "Traceback" not in err
    assert run_folders(env) == []


def test_paths_that_ran_share_the_keys(env, capsys, api):
    api.queue(Reply([report("success", "done")]))
    code, summary, _ = run_json(capsys, *FAKE, "t")
    assert (code, summary["status"], summary["error"]) == (0, "success", None)
    assert summary["run_id"] and run_folders(env) == [summary["run_id"]]
    api.queue(Reply([report("failure", "no")]))
    code, summary, _ = run_json(capsys, *FAKE, "t")
    assert (code, summary["status"]) == (1, "failure")
    api.queue(lambda req: Reply([computer_call(req, "mouse_move", coordinate=[5, 5])]))
    code, summary, _ = run_json(capsys, *FAKE, "--max-steps", "1", "t")
    assert (code, summary["status"]) == (3, "budget_exhausted")
    api.queue(Error(401))
    code, summary, _ = run_json(capsys, *FAKE, "t")
    assert (code, summary["status"]) == (6, "error") and "401" in summary["error"]
    api.queue(Reply([report("success", "done")]))
    code, summary, _ = run_json(capsys, *FAKE, "--replay", "auto", "t")
    assert code == 0 and summary["replay"] is not None
    assert len(run_folders(env)) == 5  # each run that started has its record


def test_monitor_0_all_monitors_is_accepted_as_the_help_says(env, capsys, api):
    api.queue(Reply([report("success", "done")]))
    code, _summary, err = run_json(capsys, *FAKE, "--monitor", "0", "t")
    assert code == 0, err


def test_run_dir_is_for_one_run_and_cua_data_dir_is_the_cron_pattern(
        env, capsys, api, tmp_path, monkeypatch):
    fixed = tmp_path / "job"
    api.queue(Reply([report("success", "night 1")]))
    code, first, _ = run_json(capsys, *FAKE, "--run-dir", str(fixed), "t")
    assert code == 0 and first["run_dir"] == str(fixed)
    api.queue(Reply([report("success", "night 2")]))
    code, second, _err = run_json(capsys, *FAKE, "--run-dir", str(fixed), "t")
    assert code == 2 and "CUA_DATA_DIR" in second["error"]
    assert json.loads((fixed / "run.json").read_text())["summary"] == "night 1"  # untouched
    assert len(api.requests) == 1  # refused before any model call
    monkeypatch.setenv("CUA_DATA_DIR", str(tmp_path / "cron"))
    for night in (1, 2):
        api.queue(Reply([report("success", f"night {night}")]))
        code, _, _ = run_json(capsys, *FAKE, "t")
        assert code == 0
    assert len(run_folders(tmp_path / "cron")) == 2
