"""The desktop: the X implementation, private Xvfb displays, the display lock, the key-release
watchdog."""
