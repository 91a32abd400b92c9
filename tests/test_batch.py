"""Batch files, ids, the batch's exit code, its state file and its parallelism: pure, no X."""

import json
import signal
from pathlib import Path

import pytest
from claude_cua.cli.batch import ray_alone
from claude_cua.cli.main import run_cli
from claude_cua.core.batch.runner import (
    EXIT_ORDER,
    batch_exit_code,
    default_parallel,
    plan_jobs,
    read_progress,
)
from claude_cua.core.batch.state import BatchState, state_path
from claude_cua.core.batch.tasks import load_batch
from claude_cua.core.errors import ConfigError
from hypothesis import given
from hypothesis import strategies as st


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_jsonl_defaults_line_applies_to_every_task_and_a_task_overrides_it(tmp_path):
    path = write(tmp_path, "b.jsonl", "\n".join([
        '{"defaults": {"max_steps": 7, "tags": ["nightly"], "virtual_display": "1024x768"}}',
        "",
        "# a comment",
        '{"task": "one"}',
        '{"task": "two", "id": "second", "max_steps": 3, "secrets": ["PW=PORTAL_PW"]}',
    ]))
    batch = load_batch(path)
    first, second = batch.tasks
    assert (first.task, first.line, first.get("max_steps"), first.tags) == (
        "one", 4, 7, ("nightly",))
    assert (second.id, second.line, second.get("max_steps"), second.get("secrets")) == (
        "second", 5, 3, ("PW=PORTAL_PW",))
    assert second.get("virtual_display") == "1024x768"


def test_toml_top_level_keys_are_defaults_and_policy_paths_are_relative_to_the_file(tmp_path):
    path = write(tmp_path, "b.toml", """\
max_cost = 0.5
policy = "rules.toml"

[[task]]
task = "one"

# another
[[task]]
id = "b"
task = "two"
timeout = 30
""")
    batch = load_batch(path)
    assert [(t.id, t.line) for t in batch.tasks] == [(batch.tasks[0].id, 4), ("b", 8)]
    assert batch.tasks[1].get("timeout") == 30.0 and batch.tasks[0].get("max_cost") == 0.5
    assert batch.tasks[0].get("policy") == (str(tmp_path / "rules.toml"),)


@pytest.mark.parametrize(("text", "line", "words"), [
    ('{"task": "a"}\n{"task": "b", "max_steps": "ten"}\n', 2, "max_steps must be a whole"),
    ('{"task": "a"}\nnot json\n', 2, "not a JSON object"),
    ('{"task": "a"}\n[1, 2]\n', 2, "must be a JSON object"),
    ('{"task": "a", "colour": 1}\n', 1, "unknown field 'colour'"),
    ('{"id": "x"}\n', 1, "has no `task`"),
    ('{"task": "a", "id": "x"}\n{"task": "b", "id": "x"}\n', 2, "also the id of the task on "
     "line 1"),
    ('{"task": "a"}\n{"defaults": {"max_steps": 2}}\n', 2, "defaults line must come first"),
    ('{"defaults": {"task": "x"}}\n{"task": "a"}\n', 1, "cannot be a default"),
    ('{"task": "a", "virtual_display": "big"}\n', 1, "WIDTHxHEIGHT"),
    ('{"task": "a", "secrets": ["PW=hunter 2"]}\n', 1, "NAME or NAME=VAR"),
    ('{"task": "a", "timeout": 0}\n', 1, "more than 0 seconds"),
    ('{"task": "a", "max_cost": true}\n', 1, "max_cost must be a number"),
    ('{"task": "a", "id": "../x"}\n', 1, "letters, digits"),
    ('{"task": " "}\n', 1, "must not be empty"),
])
def test_a_bad_line_is_an_error_naming_file_and_line(tmp_path, text, line, words):
    path = write(tmp_path, "b.jsonl", text)
    with pytest.raises(ConfigError) as caught:
        load_batch(path)
    assert str(caught.value).startswith(f"{path}:{line}: "), caught.value
    assert words in str(caught.value)


def test_a_bad_toml_task_names_its_header_line(tmp_path):
    path = write(tmp_path, "b.toml", '[[task]]\ntask = "a"\n\n[[task]]\ntask = "b"\n'
                 'max_steps = 0\n')
    with pytest.raises(ConfigError, match=rf"^{path}:4: max_steps must be at least 1"):
        load_batch(path)


def test_an_empty_or_missing_batch_file_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="holds no task"):
        load_batch(write(tmp_path, "b.jsonl", "\n# nothing\n"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_batch(tmp_path / "missing.jsonl")


def test_settings_are_checked_per_task_before_anything_runs(tmp_path):
    path = write(tmp_path, "b.jsonl", '{"task": "a"}\n{"task": "b", "provider": "azure"}\n')
    with pytest.raises(ConfigError, match=rf"^{path}:2: .*provider must be one of"):
        plan_jobs(load_batch(path), env={}, config=None, assume_yes=False, report=False)


def test_cua_batch_with_a_bad_line_exits_2_and_runs_nothing(tmp_path, capsys):
    path = write(tmp_path, "b.jsonl", '{"task": "a"}\n{"task": "b", "max_steps": -1}\n')
    assert run_cli(["batch", str(path)]) == 2
    captured = capsys.readouterr()
    assert f"{path}:2: max_steps must be at least 1" in captured.err
    assert captured.out == ""
    assert not (tmp_path / "data").exists()


def test_generated_ids_depend_only_on_the_task_itself(tmp_path):
    one = load_batch(write(tmp_path, "a.jsonl", '{"task": "a"}\n{"task": "b"}\n{"task": "a"}\n'))
    other = load_batch(write(tmp_path, "b.jsonl", '{"defaults": {"max_steps": 4}}\n'
                             '{"task": "new"}\n{"task": "b"}\n{"task": "a"}\n{"task": "a"}\n'))
    ids = [t.id for t in one.tasks]
    assert len(set(ids)) == 3 and ids[2] == ids[0] + "-2"
    assert [t.id for t in other.tasks][1:] == [ids[1], ids[0], ids[0] + "-2"]


def test_every_task_runs_on_a_private_display_and_never_asks(tmp_path):
    path = write(tmp_path, "b.jsonl", '{"task": "-a", "app": "xterm -e \'x y\'"}\n'
                 '{"task": "b", "virtual_display": "800x600", "secrets": ["PW"]}\n')
    first, second = plan_jobs(load_batch(path), env={}, config=None, assume_yes=False,
                              report=True)
    assert first.args[first.args.index("--virtual-display") + 1] == "1280x800"
    assert "--non-interactive" in first.args and "--report" in first.args
    assert first.args[-2:] == ("--", "-a")  # a task that looks like an option stays the task
    assert second.args[second.args.index("--virtual-display") + 1] == "800x600"
    assert second.args[second.args.index("--secret") + 1] == "PW"  # a name, never a value
    yes, _ = plan_jobs(load_batch(path), env={"CUA_VIRTUAL_DISPLAY": "640x480"}, config=None,
                       assume_yes=True, report=False)
    assert "--yes" in yes.args and "--non-interactive" not in yes.args
    assert yes.args[yes.args.index("--virtual-display") + 1] == "640x480"


@given(st.lists(st.sampled_from([0, *EXIT_ORDER]), max_size=8))
def test_the_batch_exits_with_its_worst_outcome(codes):
    code = batch_exit_code(codes)
    if all(c == 0 for c in codes):
        assert code == 0
    else:
        assert code in codes
        assert all(EXIT_ORDER.index(code) <= EXIT_ORDER.index(c) for c in codes if c)


def test_exit_order_examples():
    assert batch_exit_code([0, 1, 4, 70, 3]) == 70
    assert batch_exit_code([0, 1, 3]) == 3
    assert batch_exit_code([1, 4]) == 4
    assert batch_exit_code([0, 99]) == 70  # a code nobody documented is treated as a bug


def test_default_parallel_is_bounded_by_cores_and_memory():
    assert default_parallel(cpus=2, available_mb=20000) == 4
    assert default_parallel(cpus=16, available_mb=800) == 4  # 170 MB each
    assert default_parallel(cpus=1, available_mb=10) == 1


def test_the_state_file_is_rewritten_whole_and_read_back(tmp_path):
    batch_file = tmp_path / "b.jsonl"
    path = state_path(tmp_path / "runs", batch_file)
    assert path.parent == tmp_path / "runs" / "batches"
    state = BatchState(path, batch_file)
    state.record("a", {"status": "success", "exit_code": 0})
    state.record("b", {"status": "interrupted", "exit_code": 130})
    again = BatchState.load(path, batch_file)
    assert again.succeeded("a") and not again.succeeded("b") and not again.succeeded("c")
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    path.write_text("{not json")
    assert BatchState.load(path, batch_file).tasks == {}


def test_progress_comes_from_the_steps_recorded_so_far(tmp_path):
    (tmp_path / "steps.jsonl").write_text(json.dumps({"step": 1, "cost_usd": 0.25}) + "\n"
                                          + json.dumps({"step": 2, "cost_usd": None}) + "\n"
                                          + '{"step": 3, "cost_usd"')  # being written
    assert read_progress(tmp_path) == (2, 0.25)
    assert read_progress(tmp_path / "missing") == (0, 0.0)


def test_ray_alone_means_a_local_instance(tmp_path):
    path = write(tmp_path, "b.jsonl", '{"task": "a"}\n')
    assert ray_alone(["batch", "--ray"]) == ["batch", "--ray=local"]
    assert ray_alone(["batch", "--ray", "-q", "f"]) == ["batch", "--ray=local", "-q", "f"]
    assert ray_alone(["batch", "--ray", str(path)]) == ["batch", "--ray=local", str(path)]
    assert ray_alone(["batch", "--ray", "10.0.0.5:6379", "f"]) == [
        "batch", "--ray", "10.0.0.5:6379", "f"]


def test_ray_without_its_extra_is_a_usage_error_naming_the_install_command(
        tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # `import ray` fails
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")  # set by cua; restored after
    path = write(tmp_path, "b.jsonl", '{"task": "a"}\n')
    assert run_cli(["batch", str(path), "--ray"]) == 2
    captured = capsys.readouterr()
    assert "pip install 'claude-cua[ray]'" in captured.err and "CUA_EXTRAS=ray" in captured.err
    assert captured.out == ""


def test_a_fault_in_running_one_task_is_that_tasks_outcome_and_the_others_go_on(tmp_path):
    from claude_cua.core.batch.runner import BatchRunner

    path = write(tmp_path, "b.jsonl", '{"task": "a"}\n{"task": "boom"}\n{"task": "c"}\n')
    jobs = plan_jobs(load_batch(path), env={}, config=None, assume_yes=False, report=False)

    def execute(job, run_dir, child, state):
        if job.task.task == "boom":
            raise RuntimeError("the runner itself broke")
        return {"status": "success", "exit_code": 0, "steps": 2, "cost_usd": 0.5}

    seen = []
    runner = BatchRunner(jobs, parallel=2, runs_folder=tmp_path, execute=execute,
                         on_change=lambda s: seen.append((s.id, s.status)))
    states = runner.run()
    assert [s.status for s in states] == ["success", "error", "success"]
    assert states[1].result == {"status": "error", "exit_code": 70,
                                "error": "RuntimeError: the runner itself broke"}
    assert runner.total_cost == 1.0
    assert len({s.run_dir for s in states}) == 3  # a fresh run folder each
    assert [status for _, status in seen].count("running") == 3


def test_tasks_starting_together_never_share_a_run_folder(tmp_path):
    from claude_cua.core.batch.runner import BatchRunner

    path = write(tmp_path, "b.jsonl", "".join(f'{{"task": "t{i}"}}\n' for i in range(4)))
    jobs = plan_jobs(load_batch(path), env={}, config=None, assume_yes=False, report=False)
    ids = iter(["same", "same", "other", "same", "third", "fourth", "fifth"])
    (tmp_path / "third").mkdir()  # on disk already: never handed out
    runner = BatchRunner(jobs, parallel=1, runs_folder=tmp_path, new_run_id=lambda: next(ids),
                         execute=lambda job, run_dir, child, state: {"status": "success",
                                                                      "exit_code": 0})
    assert [s.run_dir.name for s in runner.run()] == ["same", "other", "fourth", "fifth"]


def test_a_bad_toml_default_names_its_own_line(tmp_path):
    path = write(tmp_path, "b.toml", 'max_steps = 5\ncolour = "red"\n\n[[task]]\ntask = "a"\n')
    with pytest.raises(ConfigError, match=rf"^{path}:2: unknown field 'colour'"):
        load_batch(path)


def test_a_cluster_on_the_loopback_keeps_the_driver_on_it_too():
    from claude_cua.core.batch.ray_cluster import _is_loopback

    assert _is_loopback("127.0.0.1:6379") and _is_loopback("localhost:6379")
    assert _is_loopback("[::1]:6379")
    assert not _is_loopback("10.0.0.5:6379") and not _is_loopback("auto")


def test_an_in_process_task_reports_its_progress_and_a_stop_reaches_its_cancel(tmp_path):
    from claude_cua.core.batch.runner import BatchRunner
    from claude_cua.core.cancel import Cancel

    path = write(tmp_path, "b.jsonl", '{"task": "a"}\n')
    jobs = plan_jobs(load_batch(path), env={}, config=None, assume_yes=False, report=False)
    ended = []

    def execute(job, run_dir, child, state):
        child.progress(1, 0.25)
        child.progress(2, 0.5)
        cancel = Cancel()
        child.cancelled_by(cancel)
        runner.cancel(signal.SIGTERM)  # as the batch's signal handler does
        try:
            cancel.check()
        except KeyboardInterrupt as exc:
            ended.append(type(exc).__name__)
        return {"status": "interrupted", "exit_code": 143, "steps": 2, "cost_usd": 0.5}

    seen = []
    runner = BatchRunner(jobs, parallel=1, runs_folder=tmp_path, execute=execute,
                         progress_files=False,
                         on_change=lambda s: seen.append((s.status, s.step, s.cost_usd)))
    runner.run()
    assert seen == [("running", 0, 0.0), ("running", 1, 0.25), ("running", 2, 0.5),
                    ("interrupted", 2, 0.5)]
    assert ended == ["Terminated"] and runner.stopped_by == signal.SIGTERM


@pytest.mark.parametrize("has_data_filter", [True, False])
def test_a_run_archive_unpacks_its_files_only_inside_the_folder(tmp_path, monkeypatch,
                                                                has_data_filter):
    """Records come home from Ray workers as archives: files and folders land inside the run
    folder, private, on every Python cua supports (3.11.2, Debian 12's, has no tarfile filter);
    an archive that reaches outside it, or holds a link, is refused."""
    import io
    import tarfile

    from claude_cua.core.batch import ray_cluster

    if not has_data_filter:
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    run = tmp_path / "worker-run"
    (run / "sub").mkdir(parents=True)
    (run / "run.json").write_text('{"x": 1}')
    (run / "sub" / "step-001.png").write_bytes(b"png")
    home = tmp_path / "home-run"
    ray_cluster.unpack(ray_cluster._pack(run), home)
    assert (home / "run.json").read_text() == '{"x": 1}'
    assert (home / "sub" / "step-001.png").read_bytes() == b"png"
    assert home.stat().st_mode & 0o777 == 0o700
    assert (home / "sub" / "step-001.png").stat().st_mode & 0o777 == 0o600

    for name, kind in [("../escaped.txt", tarfile.REGTYPE), ("link", tarfile.SYMTYPE)]:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            member = tarfile.TarInfo(name)
            member.type = kind
            member.linkname = "/etc/passwd" if kind == tarfile.SYMTYPE else ""
            tar.addfile(member, io.BytesIO(b"") if kind == tarfile.REGTYPE else None)
        with pytest.raises((ValueError, tarfile.TarError)):
            ray_cluster.unpack(buffer.getvalue(), tmp_path / f"hostile-{kind!r}")
        assert not (tmp_path / "escaped.txt").exists()
