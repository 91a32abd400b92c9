"""End-to-end helpers: `cua` as a subprocess, on its own Xvfb, against the fake Messages API."""

import json
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from claude_cua.cli.demo.fakeapi import FakeMessagesAPI, Reply

FORM = [sys.executable, "-m", "claude_cua.cli.demo.supplier_form"]

def pytest_collection_modifyitems(items):
    if shutil.which("Xvfb") is None:
        skip = pytest.mark.skip(reason="Xvfb is not installed (apt-get install xvfb)")
        for item in items:
            if "e2e" in str(item.fspath):
                item.add_marker(skip)


@dataclass
class Cua:
    """Runs `cua` in a clean environment whose data dir and HOME are the test's tmp_path."""

    home: Path
    api: FakeMessagesAPI

    def env(self, **extra):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ANTHROPIC_", "CUA_")) and k not in ("DISPLAY", "XAUTHORITY")}
        env.update(HOME=str(self.home), CUA_DATA_DIR=str(self.home / "data"),
                   ANTHROPIC_API_KEY="test-key-e2e", ANTHROPIC_BASE_URL=self.api.url,
                   CUA_MAX_RETRIES="0", CUA_TRIPWIRE="off")  # tripwire tests pass "on"
        env.update(extra)
        return {k: v for k, v in env.items() if v is not None}

    def argv(self, *args):
        return [sys.executable, "-m", "claude_cua.cli", *args]

    def run(self, *args, timeout=120, umask=None, **extra_env):
        return subprocess.run(self.argv(*args), capture_output=True, text=True,
                              env=self.env(**extra_env), timeout=timeout, stdin=subprocess.DEVNULL,
                              preexec_fn=None if umask is None else lambda: os.umask(umask))

    def popen(self, *args, **extra_env):
        return subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=self.env(**extra_env), stdin=subprocess.DEVNULL)


@pytest.fixture
def cua(tmp_path, api):
    return Cua(tmp_path, api)


def summary_of(proc):
    """The single JSON object `--json` prints on stdout."""
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"stdout: {proc.stdout!r}\nstderr: {proc.stderr}"
    return json.loads(lines[0])


class Hang:
    """A script item that keeps its request waiting (a model that never answers) until
    `release()`, or 60 s; then answers with a failure report."""

    def __init__(self):
        self.released = threading.Event()

    def __call__(self, request):
        self.released.wait(60)
        return Reply([{"type": "text", "text": "released"}])

    def release(self):
        self.released.set()


@pytest.fixture
def hang():
    item = Hang()
    yield item
    item.release()
