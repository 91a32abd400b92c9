"""`cua run` in-process on the fake desktop: secrets through the whole command (JSON summary,
stderr, run folder, request bodies), and a crash whose crash.txt cannot be written."""

import json
import tempfile

import pytest
from claude_cua.cli.demo.fakeapi import Reply
from claude_cua.cli.demo.policies import approval_request, computer_call, report, text
from claude_cua.cli.main import run_cli
from secret_forms import ENCODINGS, SECRET_VALUES, encoded, hostile, leaks, leaks_in_tree

API_KEY = "sk-ant-inproc\"key\\+/=&x"  # quotes, a backslash, &+/=: ASCII, as a header needs
VALUES = (*SECRET_VALUES, API_KEY)
RUN = ("run", "--json", "--yes", "--desktop", "fake", "--model", "claude-sonnet-5-5")


@pytest.fixture
def env(api, monkeypatch, isolated_environment):
    data = isolated_environment / "data"
    monkeypatch.setenv("CUA_DATA_DIR", str(data))
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)
    monkeypatch.setenv("CUA_MAX_RETRIES", "0")
    for i, value in enumerate(SECRET_VALUES):
        monkeypatch.setenv(f"VAR{i}", value)
    return data


SECRETS = [arg for i in range(len(SECRET_VALUES)) for arg in ("--secret", f"S{i}=VAR{i}")]


def forms_of(value):
    return " ~ ".join(encoded(value, how) for how in ENCODINGS)


def test_no_form_of_a_secret_reaches_the_summary_stderr_records_or_requests(env, api, capsys):
    script = []
    for v in VALUES:
        script += [lambda r, v=v: Reply([text(forms_of(v)), hostile(r, "key", text=v)]),
                   lambda r, v=v: Reply([hostile(r, v)]),
                   lambda r, v=v: Reply([hostile(r, "zoom", region=[v, 1, 2, 3])]),
                   lambda r, v=v: Reply([approval_request(forms_of(v))])]
    api.queue(*script, Reply([report("failure", " ".join(forms_of(v) for v in VALUES))]))
    code = run_cli([*RUN, *SECRETS, "--max-steps", "60", f"use {SECRET_VALUES[2]}"])
    out, err = capsys.readouterr()
    assert code == 1, err
    assert json.loads(out)["status"] == "failure"
    assert leaks(out.encode(), VALUES) == [] and leaks(err.encode(), VALUES) == []
    assert leaks_in_tree(env, VALUES) == []
    assert all(leaks(r.body, VALUES) == [] for r in api.requests)
    assert "{{S3}}" in out and "[redacted $ANTHROPIC_API_KEY]" in out


@pytest.mark.parametrize("nowhere", [False, True])
def test_a_crash_whose_crash_txt_cannot_be_written_is_still_one_clear_message(
        env, api, capsys, monkeypatch, tmp_path, nowhere):
    run_dir = tmp_path / "run"
    (run_dir / "crash.txt").mkdir(parents=True)  # writing crash.txt fails
    if nowhere:  # and so does a temporary file
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-folder"))
    else:
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    api.queue(lambda r: Reply([computer_call(r, "left_click", coordinate=[5, 5])]))
    code = run_cli(["run", "--json", "--desktop", "fake:crash=click", "--run-dir", str(run_dir),
                    "--model", "claude-sonnet-5-5", "click"])
    out, err = capsys.readouterr()
    assert code == 70
    assert json.loads(out)["exit_code"] == 70
    assert "Traceback" not in err
    assert "cua: internal error: RuntimeError: the fake desktop's click crashed" in err
    if nowhere:
        assert "the traceback could not be written anywhere" in err
    else:
        (crash,) = tmp_path.glob("cua-crash-*.txt")
        assert f"the traceback is in {crash}" in err
        assert "RuntimeError" in crash.read_text()
