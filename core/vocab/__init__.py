"""The shared vocabulary at the bottom: the desktop protocol, screen geometry, keys, actions, the
run record and events."""
