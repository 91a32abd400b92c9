"""The redacting terminal streams live in cli/view.py (the terminal); this name stays too."""

from .view import RedactingWriter, guarded_stdio

__all__ = ["RedactingWriter", "guarded_stdio"]
