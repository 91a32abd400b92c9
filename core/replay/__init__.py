"""Replay: screen comparison and the replayer."""
