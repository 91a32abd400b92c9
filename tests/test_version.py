"""`cua --version` prints the installed distribution's version."""

import subprocess
import sys
from importlib import metadata


def test_version_prints_the_installed_version():
    proc = subprocess.run([sys.executable, "-m", "claude_cua.cli", "--version"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"cua {metadata.version('claude-cua')}\n"
