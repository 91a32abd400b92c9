"""Secrets end to end: `cua run` as a subprocess on its own Xvfb, eight hostile --secret values
and a hostile API key, a scripted Claude that echoes them in every encoding through every path
that can quote input. No form of any value may reach stdout, stderr, the run folder or any
request body the fake API received."""

import shlex
import sys

import pexpect
from claude_cua.cli.demo.fakeapi import Error, Reply
from claude_cua.cli.demo.policies import approval_request, report, text
from secret_forms import ENCODINGS, SECRET_VALUES, encoded, hostile, leaks, leaks_in_tree

from .conftest import summary_of

API_KEY = 'sk-ant-e2e"key\\with/+=odd&chars'
VALUES = (*SECRET_VALUES, API_KEY)
SECRET_ENV = {f"VAR{i}": v for i, v in enumerate(SECRET_VALUES)}
SECRET_FLAGS = [arg for i in range(len(SECRET_VALUES)) for arg in ("--secret", f"S{i}=VAR{i}")]


def all_forms(value):
    return " | ".join(encoded(value, how) for how in ENCODINGS)


def script():
    items = []
    for value in VALUES:
        items += [
            lambda r, v=value: Reply([text(f"I see {all_forms(v)}"), hostile(r, "key", text=v)]),
            lambda r, v=value: Reply([hostile(r, v, coordinate=[1, 1])]),
            lambda r, v=value: Reply([hostile(r, "scroll", coordinate=[5, 5],
                                              scroll_direction=v, scroll_amount=1)]),
            lambda r, v=value: Reply([approval_request(f"send {all_forms(v)}")]),
        ]
    summary = " ".join(all_forms(v) for v in VALUES)
    return [*items, Reply([report("success", summary)])]


def check_command():
    words = " ".join(shlex.quote(all_forms(v)) for v in VALUES)
    return f"printf '%s\\n' {words}; exit 1"


def assert_clean(cua, api, *outputs):
    assert api.requests
    for i, request in enumerate(api.requests):
        assert leaks(request.body, VALUES) == [], f"request {i}"
    for output in outputs:
        assert leaks(output.encode(), VALUES) == []
    assert leaks_in_tree(cua.home / "data", VALUES) == []


def test_no_form_of_a_secret_reaches_stdout_stderr_records_or_requests(cua, api):
    api.queue(*script())
    proc = cua.run("run", "--json", "--yes", *SECRET_FLAGS, "--check", check_command(),
                   "--virtual-display", "800x600", f"log in with {SECRET_VALUES[0]}",
                   ANTHROPIC_API_KEY=API_KEY, **SECRET_ENV)
    summary = summary_of(proc)
    assert proc.returncode == 1, proc.stderr
    assert summary["status"] == "check_failed"
    assert_clean(cua, api, proc.stdout, proc.stderr)
    assert "{{S0}}" in proc.stdout and "[redacted $ANTHROPIC_API_KEY]" in proc.stdout
    (run_dir,) = (cua.home / "data" / "runs").iterdir()
    assert (run_dir / "check.txt").read_text().count("{{S") >= len(SECRET_VALUES)


def test_an_api_error_quoting_secrets_is_clean_on_stderr_and_in_the_json(cua, api):
    message = "bad request near " + " ".join(encoded(v, "json") for v in VALUES)
    api.queue(Reply([hostile_free_text()]),
              Error(400, body={"type": "error", "error": {"type": "invalid_request_error",
                                                           "message": message}}))
    proc = cua.run("run", "--json", *SECRET_FLAGS, "--virtual-display", "800x600", "x",
                   ANTHROPIC_API_KEY=API_KEY, **SECRET_ENV)
    assert proc.returncode == 6, proc.stderr
    summary = summary_of(proc)
    assert summary["status"] == "error" and "{{S" in summary["error"]
    assert "bad request near" in proc.stderr
    assert_clean(cua, api, proc.stdout, proc.stderr)


def hostile_free_text():
    return text(" ".join(all_forms(v) for v in VALUES))


def test_the_live_view_streams_text_but_never_a_secret(cua, api):
    # The fake streams each text in pieces, so values arrive split across chunks.
    api.queue(*[Reply([text(f"step: I can read {all_forms(v)} here"),
                       report("success", "done") if v is VALUES[-1] else text("more")])
                for v in VALUES[-3:]])
    env = cua.env(COLUMNS="300", LINES="40", TERM="xterm", ANTHROPIC_API_KEY=API_KEY,
                  **SECRET_ENV)
    child = pexpect.spawn(sys.executable, ["-m", "claude_cua.cli", "run", *SECRET_FLAGS,
                                           "--virtual-display", "800x600", "read it"],
                          env=env, encoding="utf-8", timeout=60, dimensions=(40, 300))
    child.expect(pexpect.EOF, timeout=120)
    child.close()
    assert "I can read" in child.before
    assert leaks(child.before.encode(), VALUES) == []
    assert leaks_in_tree(cua.home / "data", VALUES) == []
