"""The Redactor lives in core/secrets.py (what is secret, and how it is kept out of everything
that leaves a run); this name stays for imports."""

from .secrets import Redactor, StreamRedactor, base64_patterns, text_forms

__all__ = ["Redactor", "StreamRedactor", "base64_patterns", "text_forms"]
