"""`cua batch` end to end: the real command, its tasks run in process through core.engine.run
(or, with --isolate, as `cua run` children) on private Xvfb displays, the fake Messages API
answering each task by the task it was given."""

import json
import signal
import threading
from pathlib import Path
from stat import S_IMODE

import pytest
from browser import browser, require_browser
from claude_cua.cli.demo.fakeapi import FakeMessagesAPI, Reply
from claude_cua.cli.demo.policies import (
    approval_request,
    computer_call,
    report,
    supplier_form_policy,
)
from helpers import wait_until

from .conftest import FORM, Cua

pytestmark = pytest.mark.display

VALUES = {
    "acme": {"company": "Acme Tools Ltd", "email": "orders@acme.example",
             "country": "Österreich", "notes": "Net 30 <urgent>"},
    "globex": {"company": "Globex Corp", "email": "ap@globex.example", "country": "Danmark",
               "notes": "PO #4411 & co"},
}


def task_of(request):
    """The task text of a request: its first user message."""
    content = request["messages"][0]["content"]
    if isinstance(content, str):
        return content
    return " ".join(b.get("text", "") for b in content if isinstance(b, dict))


class ByTask:
    """The fake model: the policy of the first key found in the request's task text, and a
    count of requests per key."""

    def __init__(self, policies):
        self.policies = dict(policies)
        self.asked = dict.fromkeys(self.policies, 0)
        self.lock = threading.Lock()

    def __call__(self, request):
        task = task_of(request)
        for key, policy in list(self.policies.items()):
            if key in task:
                with self.lock:
                    self.asked[key] += 1
                return policy(request)
        return Reply([report("failure", f"no policy for {task!r}")])


def succeed(request):
    return Reply([report("success", "done")])


class Gate:
    """A model that waits (for `open()`, at most 60 s) and then reports success."""

    def __init__(self):
        self.opened = threading.Event()
        self.waiting = 0

    def __call__(self, request):
        self.waiting += 1
        self.opened.wait(60)
        return Reply([report("success", "done after the wait")])

    def open(self):
        self.opened.set()


def lines_of(stdout):
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def descendants_named(pid, name):
    """Processes called `name` below `pid` (children, grandchildren...)."""
    parents, names = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            left, right = stat.read_text().rsplit(")", 1)
            parents[int(stat.parent.name)] = int(right.split()[1])
            names[int(stat.parent.name)] = left.split("(", 1)[1]
        except (OSError, IndexError, ValueError):
            continue
    found = []
    for proc, comm in names.items():
        up = parents.get(proc)
        while up and up != pid:
            up = parents.get(up)
        if up == pid and comm == name:
            found.append(proc)
    return found


def gone(pid):
    try:
        return "Z" in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:3]
    except OSError:
        return True


def run_folders(home):
    runs = home / "data" / "runs"
    return [p for p in runs.iterdir() if p.is_dir() and p.name != "batches"] \
        if runs.is_dir() else []


# --- supplier forms on private displays, and the batch page ----------------------------------


@pytest.fixture(scope="module")
def form_batch(tmp_path_factory):
    home = tmp_path_factory.mktemp("forms")
    policies = {key: supplier_form_policy(values) for key, values in VALUES.items()}
    model = ByTask({f"for {key}": p for key, p in policies.items()})
    with FakeMessagesAPI(default=model) as api:
        lines = ["max_steps = 20\n"]
        for key in VALUES:
            app = " ".join([*FORM, "--out", str(home / f"{key}.json")])
            lines.append(f'[[task]]\nid = "{key}"\ntask = "fill the supplier form for {key}"\n'
                         f"app = {json.dumps(app)}\ntags = [\"forms\"]\n")
        path = home / "forms.toml"
        path.write_text("\n".join(lines), encoding="utf-8")
        cua = Cua(home, api)
        proc = cua.run("batch", str(path), "--parallel", "2", "--report", timeout=300,
                       umask=0o022)
        yield cua, proc, home


def test_each_task_fills_its_own_form_on_its_own_display(form_batch):
    cua, proc, home = form_batch
    assert proc.returncode == 0, proc.stderr
    lines = lines_of(proc.stdout)
    assert sorted(line["id"] for line in lines) == sorted(VALUES)
    for line in lines:
        assert json.loads((home / f"{line['id']}.json").read_text("utf-8")) == VALUES[line["id"]]
        assert (line["status"], line["exit_code"], line["tags"]) == ("success", 0, ["forms"])
        run = json.loads((Path(line["run_dir"]) / "run.json").read_text())
        assert run["status"] == "success"
    displays = {json.loads((Path(x["run_dir"]) / "run.json").read_text())["display"]
                for x in lines}
    assert len(displays) == 2  # a private display each
    shown = cua.run("runs", "show", lines[0]["run_id"])
    assert shown.returncode == 0, shown.stderr
    assert "batch done: 2 success" in proc.stderr
    assert "local, in this process" in proc.stderr  # the default: runs on threads of the batch


def test_everything_a_batch_writes_is_readable_by_its_owner_only(form_batch):
    _, proc, home = form_batch  # cua ran with umask 022
    assert proc.returncode == 0, proc.stderr
    data = home / "data"
    written = sorted(data.rglob("*"))
    assert {"batches", "forms-*.json", "forms-*.html", "report.html"} <= {
        "forms-*" + p.suffix if p.name.startswith("forms-") else p.name for p in written}
    wrong = [f"{p.relative_to(home)} {oct(S_IMODE(p.stat().st_mode))}" for p in
             [data, *written] if S_IMODE(p.stat().st_mode) != (0o700 if p.is_dir() else 0o600)]
    assert wrong == []


def test_the_batch_page_shows_every_task_in_a_browser(form_batch):
    require_browser()
    _, proc, home = form_batch
    page_path = next((home / "data" / "runs" / "batches").glob("*.html"))
    assert f"batch report: {page_path}" in proc.stderr
    with browser() as open_page:
        page = open_page(page_path.as_uri())
        wait_until(lambda: page.page.evaluate(
            "() => Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"),
            30, message="every thumbnail decoded")
        rows = page.page.eval_on_selector_all(
            "tr[data-id]", "rs => rs.map(r => [r.dataset.id, "
            "r.querySelector('.status').textContent, r.querySelectorAll('img').length, "
            "r.querySelector('a') && r.querySelector('a').href])")
        assert page.foreign_requests() == [] and page.console_errors == []
    assert [r[:3] for r in rows] == [[key, "success", 1] for key in VALUES]
    for row in rows:
        assert row[3].startswith("file://") and Path(row[3][7:]).is_file()  # its own report


# --- outcomes ----------------------------------------------------------------------------------


MODES = {"in process": [], "--isolate": ["--isolate"]}
BACKENDS = {"in process": "local, in this process", "--isolate": "local, a process per task"}


@pytest.mark.parametrize("mode", list(MODES))
def test_each_task_has_its_own_outcome_and_the_batch_exits_with_the_worst(
        cua, api, tmp_path, mode):
    model = ByTask({
        "all good": succeed,
        "give up": lambda r: Reply([report("failure", "the form is not there")]),
        "ask first": lambda r: Reply([approval_request("wire 10,000 EUR")]),
        "crashes": lambda r: Reply([computer_call(r, "left_click", coordinate=[10, 10])]),
    })
    api.queue(*[model] * 8)
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(json.dumps(t) for t in [
        {"defaults": {"desktop": "fake:800x600", "max_steps": 3}},
        {"id": "ok", "task": "all good"},
        {"id": "fails", "task": "give up"},
        {"id": "asks", "task": "ask first"},
        {"id": "bug", "task": "crashes", "desktop": "fake:800x600:crash=click"},
    ]) + "\n")
    proc = cua.run("batch", str(path), "--parallel", "2", *MODES[mode])
    assert BACKENDS[mode] in proc.stderr
    by_id = {line["id"]: line for line in lines_of(proc.stdout)}
    assert {k: (v["status"], v["exit_code"]) for k, v in by_id.items()} == {
        "ok": ("success", 0), "fails": ("failure", 1), "asks": ("needs_approval", 4),
        "bug": ("error", 70)}
    assert proc.returncode == 70, proc.stderr
    assert "fake desktop's click crashed" in by_id["bug"]["error"]


def test_the_batch_max_cost_stops_starting_tasks(cua, api, tmp_path):
    api.queue(*[succeed] * 4)
    path = tmp_path / "costly.jsonl"
    path.write_text("".join(json.dumps({"task": f"task {i}", "desktop": "fake:640x480"}) + "\n"
                            for i in range(3)))
    proc = cua.run("batch", str(path), "--parallel", "1", "--max-cost", "0.000001")
    lines = lines_of(proc.stdout)
    assert [line["status"] for line in lines] == ["success", "skipped", "skipped"]
    assert "--max-cost" in lines[1]["error"]
    assert proc.returncode == 3, proc.stderr
    assert len(api.requests) == 1


# --- interrupted, resumed ------------------------------------------------------------------


@pytest.mark.parametrize(("signum", "code", "mode"), [
    (signal.SIGINT, 130, "in process"), (signal.SIGTERM, 143, "in process"),
    (signal.SIGTERM, 143, "--isolate")])
def test_a_signal_stops_every_task_cleanly_and_resume_runs_only_the_rest(
        cua, api, tmp_path, signum, code, mode):
    gate = Gate()
    model = ByTask({"quick one": succeed, "slow one": gate, "slow two": gate,
                    "never started": succeed})
    api.queue(*[model] * 40)
    path = tmp_path / "nightly.jsonl"
    path.write_text("\n".join(json.dumps(t) for t in [
        {"id": "quick", "task": "quick one", "desktop": "fake:640x480"},
        {"id": "slow1", "task": "slow one"},  # a private Xvfb each
        {"id": "slow2", "task": "slow two"},
        {"id": "later", "task": "never started", "desktop": "fake:640x480"},
    ]) + "\n")
    # quick, then slow2 in its place
    proc = cua.popen("batch", str(path), "--parallel", "2", *MODES[mode])
    try:
        wait_until(lambda: gate.waiting >= 2, 120, message="both slow tasks to ask the model")
        xvfbs = descendants_named(proc.pid, "Xvfb")
        assert len(xvfbs) == 2
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        gate.open()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    statuses = {line["id"]: line["status"] for line in lines_of(out)}
    assert statuses == {"quick": "success", "slow1": "interrupted", "slow2": "interrupted"}
    for pid in xvfbs:
        wait_until(lambda pid=pid: gone(pid), 10, message="the task's Xvfb to stop")
    folders = run_folders(cua.home)
    assert len(folders) == 3 and all((f / "run.json").is_file() for f in folders)
    asked_quick = model.asked["quick one"]

    again = cua.run("batch", str(path), "--resume", "--parallel", "2", *MODES[mode])
    assert again.returncode == 0, again.stderr
    assert sorted(line["id"] for line in lines_of(again.stdout)) == ["later", "slow1", "slow2"]
    assert model.asked["quick one"] == asked_quick  # the finished task never asked again
    assert "1 task(s) already succeeded" in again.stderr


def test_a_batch_killed_outright_leaves_no_xvfb_of_its_in_process_tasks(cua, api, tmp_path):
    gate = Gate()
    api.queue(*[gate] * 4)
    path = tmp_path / "killed.jsonl"
    path.write_text("".join(json.dumps({"id": f"t{i}", "task": f"wait {i}"}) + "\n"
                            for i in range(2)))
    proc = cua.popen("batch", str(path), "--parallel", "2")
    try:
        wait_until(lambda: gate.waiting >= 2, 120, message="both tasks to ask the model")
        xvfbs = descendants_named(proc.pid, "Xvfb")
        assert len(xvfbs) == 2
        proc.kill()  # SIGKILL: no handler runs; the kernel ends each Xvfb (PR_SET_PDEATHSIG)
        proc.communicate(timeout=30)
    finally:
        gate.open()
        if proc.poll() is None:
            proc.kill()
    for pid in xvfbs:
        wait_until(lambda pid=pid: gone(pid), 10, message="the task's Xvfb to stop")


@pytest.mark.parametrize("mode", list(MODES))
def test_a_task_that_cannot_start_ends_as_cua_run_would_and_the_others_go_on(
        cua, api, tmp_path, mode):
    api.queue(succeed)
    path = tmp_path / "unset.jsonl"
    path.write_text("\n".join(json.dumps(t) for t in [
        {"defaults": {"desktop": "fake:640x480", "max_steps": 2}},
        {"id": "unset", "task": "type it", "secrets": ["CUA_TEST_NEVER_SET"]},
        {"id": "fine", "task": "all good"},
    ]) + "\n")
    proc = cua.run("batch", str(path), "--parallel", "1", *MODES[mode])
    by_id = {line["id"]: line for line in lines_of(proc.stdout)}
    assert (by_id["unset"]["status"], by_id["unset"]["exit_code"]) == ("error", 2)
    assert "CUA_TEST_NEVER_SET" in by_id["unset"]["error"]
    assert by_id["unset"]["run_dir"] is None and len(api.requests) == 1
    assert (by_id["fine"]["status"], proc.returncode) == ("success", 2), proc.stderr
