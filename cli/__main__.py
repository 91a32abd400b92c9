"""`python -m claude_cua.cli`, the same as the `cua` command."""

from .main import entry

entry()
