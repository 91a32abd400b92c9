"""The run folder: the only writer of run records, and their readers."""
