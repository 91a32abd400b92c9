"""`cua batch --ray`: each task is a Ray task needing one `display` resource.

On the worker the task is what it is locally: `cua run --json` in a process of its own
(core.batch_run.run_process) on a private Xvfb, its record written in a temporary folder
there; the folder comes back to the driver as a tar archive with the result and is unpacked
into the local runs folder (or --results-dir), so `cua runs list/show/report` work on it.

Secrets never travel: a task carries only secret names (`--secret NAME`), and the worker's
`cua run` reads the values, and ANTHROPIC_API_KEY, from the worker's own environment, the one
`ray start` was run with (a local instance started here inherits this process's). Nothing in
Ray's object store, task arguments or logs holds a value: the records that come back are
redacted by the run that wrote them, and workers' output is not sent to the driver's log.

A task whose worker process or node dies (Ray's system errors, not the task's own outcome) is
submitted once more, and its JSON line says `"retried": true`; the dead node has left the
cluster, so Ray places it on one that is alive.

Ctrl-C (or SIGTERM) does not cancel the Ray tasks: a cancelled task's result never comes back,
and its record would be lost with the worker's temporary folder. The driver names the runs to
stop in a small actor of its own (`_Stops`, up before the first task starts, on the driver's
node where Ray can place it); each worker watches it and passes the signal on to its `cua
run`, which ends as it would locally (input released, record complete, status
`interrupted`), and the record comes home like any other. Only a worker that has not
answered within `STOP_GRACE_S` is cancelled outright.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import tarfile
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .runner import Child, TaskJob, TaskState, run_process

INSTALL = "pip install 'claude-cua[ray]' (or CUA_EXTRAS=ray sh scripts/setup.sh)"
RESOURCE = "display"
# Ray's errors that mean the worker or its node died, not that the task itself failed.
_SYSTEM_ERRORS = ("WorkerCrashedError", "NodeDiedError", "RaySystemError", "ObjectLostError",
                  "OwnerDiedError", "LocalRayletDiedError", "ObjectFetchTimedOutError",
                  "OutOfMemoryError")
# How long a stopped task may take to finish its record on its worker and send it home before
# it is cancelled outright (cua run's own cleanup takes well under a second).
STOP_GRACE_S = 30.0
# How long the driver's stop actor may take to start before the batch gives up.
STOPS_START_S = 180.0
# How often a worker asks the driver's actor whether its run was stopped.
STOP_POLL_S = 0.5


def import_ray(*, loopback: bool = False) -> Any:
    """Ray, with its usage statistics off; a ConfigError naming the install command without.

    `loopback`: a Ray instance started by this process uses 127.0.0.1 as its node address, and
    Ray binds its servers (gcs_server, raylet, workers) to the node address. Ray reads the
    switch for that (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0: what keeps a laptop's Ray on the
    loopback) when it is imported, so it is set before."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # no telemetry, whatever else is set
    if loopback:
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    try:
        # Imported here: an optional extra, needed only on this path.
        import ray
        from ray._private import ray_constants
    except ImportError:
        raise ConfigError(f"--ray needs the Ray extra, which is not installed: {INSTALL}"
                          ) from None
    if loopback:  # imported before (in-process callers): the constant Ray already read
        ray_constants.ENABLE_RAY_CLUSTER = False
    return ray


class _Stops:
    """A Ray actor of the driver's: which runs it asked to stop, and with which signal."""

    def __init__(self) -> None:
        self._stopped: dict[str, int] = {}

    def stop(self, run_name: str, signum: int) -> None:
        self._stopped[run_name] = signum

    def signal_for(self, run_name: str) -> int | None:
        return self._stopped.get(run_name)

    def ready(self) -> bool:
        return True


def _start_stops(ray: Any) -> Any:
    """The driver's `_Stops` actor, started before any task: an actor's process takes seconds
    to start (a minute on a loaded machine), and a stop sent before it is up would reach no
    task in time. It runs on the driver's own node where Ray can place it there (a worker
    node may die and take it along; the driver's cannot without ending the batch), and Ray
    restarts it if its node dies all the same (the driver sends its stops again)."""
    options: dict[str, Any] = {"num_cpus": 0, "max_restarts": -1, "max_task_retries": -1}
    with contextlib.suppress(Exception):  # a Ray client (ray://) has no node of its own
        # Imported here: an optional extra, loaded already on this path.
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(
            ray.get_runtime_context().get_node_id(), soft=True)
    stops = ray.remote(_Stops).options(**options).remote()
    try:
        ray.get(stops.ready.remote(), timeout=STOPS_START_S)
    except Exception as exc:
        raise ConfigError(f"the Ray cluster did not start cua's stop actor within "
                          f"{STOPS_START_S:.0f} s ({type(exc).__name__}), so a Ctrl-C could "
                          "not reach the tasks; check the cluster (ray status)") from None
    return stops


def run_on_worker(args: list[str], run_name: str, policies: dict[str, str],
                  stops: Any = None) -> dict[str, Any]:
    """A Ray task's body: the run in a temporary folder, returned with the folder's files.
    `policies` maps the driver's policy file paths to their text, written here so the
    worker's `cua run --policy` reads the same rules. `stops` is the driver's `_Stops`
    actor: when it names this run, the run is stopped with that signal and still returns."""
    child = Child()
    done = threading.Event()
    if stops is not None:
        threading.Thread(target=_watch_stops, args=(stops, run_name, child, done),
                         name="cua-ray-stop", daemon=True).start()
    try:
        with tempfile.TemporaryDirectory(prefix="cua-batch-") as tmp:
            args = _local_policies(args, policies, Path(tmp))
            run_dir = Path(tmp) / run_name
            try:
                summary = run_process(args, run_dir=run_dir, env=os.environ, child=child)
            except KeyboardInterrupt:  # ray.cancel: the run ends as Ctrl-C ends it
                child.stop(signal.SIGINT)
                if child.proc is not None:
                    child.proc.wait()
                raise
            return {"summary": summary, "files": _pack(run_dir) if run_dir.is_dir() else None,
                    "node": socket.gethostname()}
    finally:
        done.set()


def _watch_stops(stops: Any, run_name: str, child: Child, done: threading.Event) -> None:
    # Imported here: this runs on a Ray worker, where Ray is loaded already.
    import ray

    while not done.wait(STOP_POLL_S):
        try:
            signum = ray.get(stops.signal_for.remote(run_name), timeout=10)
        except Exception:  # slow to answer (the actor restarting after its node died): ask
            continue  # again; if the driver has gone, Ray ends this task with it
        if signum is not None:
            child.stop(signum)
            return


def _local_policies(args: list[str], policies: Mapping[str, str], tmp: Path) -> list[str]:
    out, i = [], 0
    while i < len(args):
        if args[i] == "--policy" and i + 1 < len(args) and args[i + 1] in policies:
            local = tmp / f"policy-{len(out)}.toml"
            local.write_text(policies[args[i + 1]], encoding="utf-8")
            out += ["--policy", str(local)]
            i += 2
            continue
        out.append(args[i])
        i += 1
    return out


def _pack(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        tar.add(folder, arcname=".")
    return buffer.getvalue()


def unpack(data: bytes, into: Path) -> None:
    """Unpack a run folder archive into `into` (which must not hold a record yet); only
    regular files and folders inside it (tarfile's `data` filter)."""
    # Imported here: keeps importing this module light (start-up time).
    from ..store.runs import private_dir

    private_dir(into)  # a run record: 0700, like the run folders cua makes itself
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(into, filter="data")
        else:  # Python before 3.11.4 (Debian 12 has 3.11.2): the same rules, checked here
            tar.extractall(into, members=[_plain_member(m) for m in tar.getmembers()])
    for folder, folders, files in os.walk(into):  # private whatever modes the archive carried
        for name in folders:
            os.chmod(os.path.join(folder, name), 0o700)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o600)
    os.chmod(into, 0o700)


def _plain_member(member: tarfile.TarInfo) -> tarfile.TarInfo:
    """`member` if it is a regular file or a folder inside the archive's root, owned by whoever
    unpacks it, with no set-id bits; else ValueError (what tarfile's `data` filter refuses)."""
    parts = Path(member.name).parts
    if member.name.startswith("/") or ".." in parts or not (member.isfile() or member.isdir()):
        raise ValueError(f"the run archive holds {member.name!r}, which is not a plain file or "
                         "folder inside it")
    member.uid, member.gid = os.getuid(), os.getgid()
    member.uname = member.gname = ""
    member.mode &= 0o777
    return member


class RayBackend:
    """The batch runner's `execute` for a Ray cluster, and the connection to it."""

    def __init__(self, ray: Any, *, parallel: int, started_here: bool) -> None:
        self.ray = ray
        self.parallel = parallel
        self._started_here = started_here
        self.name = (f"Ray ({'local instance on 127.0.0.1' if started_here else 'cluster'}, "
                     f"{parallel} display(s))")
        self._remote = ray.remote(run_on_worker).options(
            num_cpus=0, resources={RESOURCE: 1}, max_retries=0)
        self._stops = _start_stops(ray)
        self._lock = threading.Lock()

    @classmethod
    def connect(cls, address: str, *, env: Mapping[str, str],
                parallel: int | None) -> RayBackend:
        """Join the cluster at `address`, or with `local` start a Ray instance here bound to
        127.0.0.1 with `parallel` display resources (default: as `cua batch` locally)."""
        started_here = address == "local"
        # A cluster on this machine's loopback (a local one, or ADDRESS 127.0.0.1:PORT) needs
        # the driver on the loopback too: its node address is where results come back.
        ray = import_ray(loopback=started_here or _is_loopback(address))
        began = time.monotonic()
        try:
            if started_here:
                # Imported here: keeps importing this module light (start-up time).
                from .runner import default_parallel

                displays = parallel or default_parallel()
                ray.init(address="local", _node_ip_address="127.0.0.1", include_dashboard=False,
                         resources={RESOURCE: displays}, log_to_driver=False,
                         configure_logging=False)
            else:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
        except ConnectionError as exc:
            raise ConfigError(f"--ray {address}: cannot connect to a Ray cluster there ({exc}); "
                              "check the address (host:port of the head node) or use --ray "
                              "local") from None
        total = int(ray.cluster_resources().get(RESOURCE, 0))
        if total < 1:
            ray.shutdown()
            raise ConfigError(
                f"--ray {address}: no node of the cluster has a `{RESOURCE}` resource, so no "
                "task could run; start each worker with ray start --address HEAD:6379 "
                f"--resources '{{\"{RESOURCE}\": 4}}' (on a machine with Xvfb and cua)")
        try:
            backend = cls(ray, parallel=min(total, parallel) if parallel and not started_here
                          else total, started_here=started_here)
        except ConfigError:
            ray.shutdown()
            raise
        backend.name += f", ready in {time.monotonic() - began:.1f} s"
        return backend

    def execute(self, job: TaskJob, run_dir: Path, child: Child,
                state: TaskState) -> dict[str, Any]:
        policies = {p: Path(p).read_text(encoding="utf-8") for p in job.policy_files}
        last_error = ""
        for attempt in (1, 2):
            ref = self._remote.remote(list(job.args), run_dir.name, policies, self._stops)
            try:
                out = self._wait(ref, child, run_dir.name)
            except Exception as exc:
                if type(exc).__name__ in _SYSTEM_ERRORS or _is_system(exc):
                    last_error = f"{type(exc).__name__}: {_first_line(exc)}"
                    if attempt == 1:
                        state.retried = True
                        continue
                    return {"status": "error", "exit_code": 5,
                            "error": f"the Ray worker died twice ({last_error})"}
                if child.stopped is not None:
                    return {"status": "interrupted", "exit_code": 128 + child.stopped,
                            "error": f"cancelled on the Ray worker, which did not send its "
                                     f"record within {STOP_GRACE_S:.0f} s of the stop"}
                return {"status": "error", "exit_code": 70,
                        "error": f"the Ray task failed: {_first_line(exc)}"}
            return self._bring_back(out, run_dir)
        raise AssertionError("unreachable")

    def _wait(self, ref: Any, child: Child, run_name: str) -> Any:
        """The task's result. Once `child` is stopped, the stop is sent to the actor at every
        turn until the task returns (never waiting on it: the actor may be starting, or
        restarting after its node died, and a send that fails is simply made again); the task
        is cancelled outright when it has not returned STOP_GRACE_S after the actor first
        confirmed the stop, or twice that after the stop when the actor never did."""
        stopped_at: float | None = None
        confirmed_at: float | None = None
        sent: Any = None
        cancelled = False
        while True:
            ready, _ = self.ray.wait([ref], timeout=0.5)
            if ready:
                return self.ray.get(ref)
            if child.stopped is None or cancelled:
                continue
            now = time.monotonic()
            if stopped_at is None:
                stopped_at = now
            if sent is not None and confirmed_at is None and self.ray.wait([sent], timeout=0)[0]:
                with contextlib.suppress(Exception):  # failed: the next send may not
                    self.ray.get(sent)
                    confirmed_at = now
            sent = self._stops.stop.remote(run_name, child.stopped)
            waited = now - (confirmed_at if confirmed_at is not None else stopped_at)
            if waited > (STOP_GRACE_S if confirmed_at is not None else 2 * STOP_GRACE_S):
                self.ray.cancel(ref)
                cancelled = True

    def _bring_back(self, out: Mapping[str, Any], run_dir: Path) -> dict[str, Any]:
        summary = dict(out["summary"])
        if out.get("files"):
            unpack(out["files"], run_dir)
            summary["run_dir"], summary["run_id"] = str(run_dir), run_dir.name
        else:
            summary["run_dir"] = summary["run_id"] = None
        summary["node"] = out.get("node")
        return summary

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ray.shutdown()


def _is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0].strip("[]") if ":" in address else address
    return host == "localhost" or host == "::1" or host.startswith("127.")


def _is_system(exc: BaseException) -> bool:
    cause = getattr(exc, "cause", None)
    return cause is not None and type(cause).__name__ in _SYSTEM_ERRORS


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
