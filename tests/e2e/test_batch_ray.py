"""`cua batch --ray` on a real Ray cluster on this machine (Ray's own test cluster utilities):
a head without displays and two worker nodes with one `display` each, all on 127.0.0.1, started
once for the module (Ray starts slowly). The workers' environment holds the API key, the fake
API's URL and a secret's value, as `ray start` on a worker machine would; the driver's
`cua batch` sends only names."""

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from claude_cua.cli.demo.fakeapi import FakeMessagesAPI, Reply
from claude_cua.cli.demo.policies import computer_call, report
from helpers import wait_until

from .conftest import Cua
from .test_batch_e2e import ByTask, Gate, lines_of

ray = pytest.importorskip("ray", reason="the Ray extra is not installed: "
                          "pip install 'claude-cua[ray]'")
pytestmark = pytest.mark.display

SECRET = "s3cr3t-Ray-W0rker-value"


class Model:
    """The module's fake model; each test sets `policy`."""

    def __init__(self):
        self.policy = None

    def __call__(self, request):
        return self.policy(request)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from ray.cluster_utils import Cluster

    model = Model()
    home = tmp_path_factory.mktemp("rayhome")
    temp_dir = tempfile.mkdtemp(prefix="cua-ray-", dir="/tmp")  # Ray's socket paths are short
    worker_env = {"HOME": str(home), "ANTHROPIC_API_KEY": "test-key-ray", "PORTAL_PW": SECRET,
                  "CUA_MAX_RETRIES": "0", "RAY_USAGE_STATS_ENABLED": "0",
                  "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    saved = dict(os.environ)
    from claude_cua.core.batch.ray_cluster import import_ray

    import_ray(loopback=True)  # this process's Ray, imported already, on 127.0.0.1 too
    with FakeMessagesAPI(default=model) as api:
        os.environ.update(worker_env, ANTHROPIC_BASE_URL=api.url)
        for name in ("DISPLAY", "XAUTHORITY", "CUA_DATA_DIR"):
            os.environ.pop(name, None)
        try:
            cluster = Cluster(initialize_head=True, head_node_args={
                "num_cpus": 1, "resources": {"display": 0}, "include_dashboard": False,
                "temp_dir": temp_dir})
            nodes = [cluster.add_node(num_cpus=1, resources={"display": 1}) for _ in range(2)]
            cluster.wait_for_nodes()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        try:
            yield cluster, nodes, api, model, Path(temp_dir)
        finally:
            cluster.shutdown()
            shutil.rmtree(temp_dir, ignore_errors=True)


def listening_addresses(temp_dir):
    """The local addresses that this cluster's processes (their command lines name its temp
    folder) listen on."""

    ours = {int(p.parent.name) for p in Path("/proc").glob("[0-9]*/cmdline")
            if _reads(p) and str(temp_dir) in _reads(p)}
    found = listening_of(ours)
    assert found, "no listening socket of the cluster found"
    return found


def listening_of(pids):
    """The local addresses that processes `pids` listen on (TCP)."""
    import re
    import subprocess

    found = set()
    listing = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    for line in listing.splitlines():
        found_pids = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        if found_pids & pids:
            found.add(line.split()[3].rsplit(":", 1)[0])
    return found


def runs_named(token):
    """Live `cua run` processes whose command line holds `token`."""
    return [p for p in Path("/proc").glob("[0-9]*/cmdline")
            if token in _reads(p) and "claude_cua.cli run" in _reads(p)
            and "Z" not in _state(p.parent)]


def _state(proc):
    try:
        return (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


def _reads(path):
    try:
        return path.read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def test_ray_alone_starts_its_own_instance_on_the_loopback_and_stops_it(cua, api, tmp_path):
    from .test_batch_e2e import Gate, descendants_named, gone

    gate = Gate()
    api.queue(gate)
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps({"id": "one", "task": "wait", "desktop": "fake:640x480"}) + "\n")
    proc = cua.popen("batch", "--ray", str(path), "--parallel", "1")
    try:
        wait_until(lambda: gate.waiting, 120, message="the task to ask the model")
        ray_pids = [*descendants_named(proc.pid, "gcs_server"),
                    *descendants_named(proc.pid, "raylet")]
        assert len(ray_pids) == 2
        addresses = listening_of(set(ray_pids))
        gate.open()
        out, err = proc.communicate(timeout=120)
    finally:
        gate.open()
        if proc.poll() is None:
            proc.kill()
    assert addresses and addresses <= {"127.0.0.1", "[::ffff:127.0.0.1]"}, addresses
    assert proc.returncode == 0, err
    assert [line["status"] for line in lines_of(out)] == ["success"]
    assert "local instance on 127.0.0.1" in err
    for pid in ray_pids:  # Ray stopped with the batch
        wait_until(lambda pid=pid: gone(pid), 30, message="Ray's processes to stop")


def test_a_batch_on_ray_brings_every_record_home_without_a_secret(cluster, tmp_path):
    ray_cluster, _, api, model, temp_dir = cluster
    assert ray_cluster.address.startswith("127.0.0.1:")
    assert listening_addresses(temp_dir) <= {"127.0.0.1", "[::ffff:127.0.0.1]"}

    def types_secret(request):
        turns = sum(1 for m in request["messages"] if m["role"] == "assistant")
        if turns == 0:
            return Reply([computer_call(request, "type", text="{{PW}}")])
        return Reply([report("success", "typed the password")])

    model.policy = ByTask({"log in": types_secret,
                           "look": lambda r: Reply([report("success", "looked")])})
    path = tmp_path / "ray.jsonl"
    path.write_text("\n".join(json.dumps(t) for t in [
        {"defaults": {"max_steps": 4}},
        {"id": "login", "task": "log in with {{PW}}", "secrets": ["PW=PORTAL_PW"],
         "desktop": "fake:640x480"},
        {"id": "xvfb", "task": "look at the screen"},  # a private Xvfb on the worker
    ]) + "\n")
    results = tmp_path / "results"
    cua = Cua(tmp_path, api)
    proc = cua.run("batch", str(path), "--ray", ray_cluster.address, "--results-dir",
                   str(results), "--report", "--yes", timeout=300)  # typing a secret asks
    assert proc.returncode == 0, proc.stderr
    lines = {line["id"]: line for line in lines_of(proc.stdout)}
    assert {k: v["status"] for k, v in lines.items()} == {"login": "success", "xvfb": "success"}
    for line in lines.values():
        folder = Path(line["run_dir"])
        assert folder.parent == results and (folder / "run.json").is_file()
        assert (folder / "report.html").is_file() and "retried" not in line
        shown = cua.run("runs", "show", str(folder))
        assert shown.returncode == 0, shown.stderr
    assert "{{PW}}" in (Path(lines["login"]["run_dir"]) / "steps.jsonl").read_text()
    # the value was typed on the worker, yet is in no record, no output and none of Ray's files
    assert SECRET not in proc.stdout + proc.stderr
    for root in (results, temp_dir):
        for file in root.rglob("*"):
            if file.is_file() and not file.is_symlink():
                assert SECRET.encode() not in file.read_bytes(), file


def test_a_task_whose_node_dies_is_retried_on_another(cluster, tmp_path):
    ray_cluster, nodes, api, model, _ = cluster
    model.policy = gate = Gate()
    path = tmp_path / "dying.jsonl"
    token = f"batch-{os.getpid()}-{tmp_path.name}"  # names this test's `cua run` processes
    path.write_text("".join(json.dumps({"id": f"t{i}", "task": f"task {i} {token}",
                                        "desktop": "fake:640x480"}) + "\n" for i in (1, 2)))
    cua = Cua(tmp_path, api)
    proc = cua.popen("batch", str(path), "--ray", ray_cluster.address, "--results-dir",
                     str(tmp_path / "results"))
    try:
        wait_until(lambda: gate.waiting >= 2, 120, message="a task running on each node")
        assert len(runs_named(token)) == 2
        ray_cluster.remove_node(nodes[1], allow_graceful=False)
        # its worker died, and with it (PR_SET_PDEATHSIG) the `cua run` it had started
        wait_until(lambda: len(runs_named(token)) == 1, 60, message="the node's task to die")
        gate.open()
        out, err = proc.communicate(timeout=180)
    finally:
        gate.open()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    lines = lines_of(out)
    assert sorted(line["status"] for line in lines) == ["success", "success"]
    assert [line.get("retried", False) for line in lines].count(True) == 1
    assert all(Path(line["run_dir"], "run.json").is_file() for line in lines)
    assert "(retried)" in err or "retried" in out



def test_ctrl_c_stops_the_tasks_on_their_workers_and_brings_their_records_home(cluster,
                                                                                tmp_path):
    import signal

    ray_cluster, _, api, model, _ = cluster
    gate = Gate()
    # Only this test's task opens the gate: a request from a run of an earlier test that is
    # still on its way must not pass for it.
    token = f"stop-{os.getpid()}-{tmp_path.name}"
    model.policy = ByTask({token: gate})
    path = tmp_path / "stopped.jsonl"
    # One task: the module's cluster may have lost a node (and its display) to the test above.
    path.write_text(json.dumps({"id": "t1", "task": f"wait {token}", "desktop": "fake:640x480"})
                    + "\n")
    results = tmp_path / "results"
    proc = Cua(tmp_path, api).popen("batch", str(path), "--ray", ray_cluster.address,
                                    "--results-dir", str(results))
    try:
        wait_until(lambda: gate.waiting, 120, message="the task to ask the model")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        gate.open()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    lines = lines_of(out)
    assert [line["status"] for line in lines] == ["interrupted"], (lines, err)
    for line in lines:  # the run ended on its worker as Ctrl-C ends it, and came home
        assert line.get("run_dir"), (line, err)
        folder = Path(line["run_dir"])
        assert folder.parent == results, line
        run = json.loads((folder / "run.json").read_text())
        assert (run["status"], run["exit_code"]) == ("interrupted", 130)
        assert (folder / "step-000.png").is_file()


def test_the_stop_actor_is_up_before_any_task_and_comes_back_when_it_dies(cluster):
    """What a Ctrl-C relies on: the driver's stop actor answers from the start (not seconds
    into a run, as a just-created actor would), and when its process dies (its node went, say)
    Ray starts it again and a stop sent again reaches it. (It is asked for the driver's node,
    softly: Ray may place it elsewhere, so that is not asserted.)"""
    from claude_cua.core.batch.ray_cluster import _start_stops

    ray_cluster, *_ = cluster
    ray.init(address=ray_cluster.address, log_to_driver=False, configure_logging=False)
    try:
        stops = _start_stops(ray)
        ready, _ = ray.wait([stops.signal_for.remote("r1")], timeout=2)
        assert ready and ray.get(ready[0]) is None
        ray.kill(stops, no_restart=False)  # its process dies, and its state with it

        def sent_and_seen():  # as the driver does: the stop sent again at each turn
            stops.stop.remote("r1", 2)
            return ray.get(stops.signal_for.remote("r1"), timeout=60) == 2

        wait_until(sent_and_seen, 120, message="the restarted actor to hold the stop")
    finally:
        ray.shutdown()
