"""The path that reports a bug cannot fail itself: crash.txt unwritable, no temporary folder,
an exception whose own __str__ raises; and what it writes is redacted like everything else."""

import json
import tempfile
from pathlib import Path

from claude_cua.cli.main import BUG_EXIT, InternalError, _bug_outside_a_run
from claude_cua.cli.session import write_crash
from claude_cua.core.safety.secrets import Secrets
from secret_forms import SECRET_VALUES, leaks


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("__str__ is broken too")


def raised(exc):
    try:
        raise exc
    except BaseException as caught:
        return caught


def test_crash_txt_holds_the_redacted_traceback(tmp_path):
    secrets = Secrets.from_specs([f"S{i}=V{i}" for i in range(len(SECRET_VALUES))],
                                 {f"V{i}": v for i, v in enumerate(SECRET_VALUES)})
    exc = raised(ValueError(json.dumps(list(SECRET_VALUES)) + repr(SECRET_VALUES)))
    written = write_crash(str(tmp_path), exc, secrets)
    assert written == str(tmp_path / "crash.txt")
    text = (tmp_path / "crash.txt").read_bytes()
    assert b"ValueError" in text and b"Traceback" in text
    assert leaks(text) == []


def test_an_unwritable_crash_txt_falls_back_to_a_temporary_file(tmp_path):
    (tmp_path / "crash.txt").mkdir()  # so that writing the file fails
    written = write_crash(str(tmp_path), raised(KeyError("k")))
    assert written is not None and written != str(tmp_path / "crash.txt")
    try:
        assert "KeyError" in Path(written).read_text(encoding="utf-8")
    finally:
        Path(written).unlink()


def test_with_nowhere_to_write_the_crash_path_still_returns(tmp_path, monkeypatch):
    (tmp_path / "crash.txt").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    assert write_crash(str(tmp_path), raised(KeyError("k"))) is None


def test_an_exception_whose_str_fails_is_still_reported(tmp_path):
    exc = raised(Unprintable())
    assert str(InternalError(str(tmp_path), exc)) == "Unprintable"
    written = write_crash(str(tmp_path), exc)
    assert written and "Unprintable" in (tmp_path / "crash.txt").read_text()


def test_a_bug_outside_a_run_is_one_line_and_exit_70(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-leaky-key-123")
    code = _bug_outside_a_run(raised(RuntimeError("boom sk-ant-leaky-key-123")))
    err = capsys.readouterr().err
    assert code == BUG_EXIT
    assert err.startswith("cua: internal error: RuntimeError: boom [redacted $ANTHROPIC_API_KEY]")
    assert "Traceback" not in err and "sk-ant-leaky" not in err
    (crash,) = tmp_path.glob("cua-crash-*.txt")
    assert "sk-ant-leaky" not in crash.read_text() and "RuntimeError" in crash.read_text()
