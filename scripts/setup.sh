#!/bin/sh
# Installs everything cua needs on a fresh Debian/Ubuntu machine: the X tools it drives and tests
# with (Xvfb, a window manager, xterm, X utilities), Tk for the bundled form, then cua itself.
# Usage: sh scripts/setup.sh          (cua)
#        sh scripts/setup.sh --test   (cua plus what the tests need)
set -eu
cd "$(dirname "$0")/.."

packages="xvfb openbox xterm x11-utils xauth"
python3 -c "import tkinter" 2>/dev/null || packages="$packages python3-tk"

missing=""
for p in $packages; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
fi

if [ "${1:-}" = "--test" ]; then
    python3 -m pip install -q -e ".[test]"
else
    python3 -m pip install -q .
fi
