"""Batches on top of the engine: the task file, the runner, its state, its page, Ray."""
