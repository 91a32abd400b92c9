#!/bin/sh
# Installs everything cua needs on a fresh Debian/Ubuntu machine: the X tools it drives and tests
# with (Xvfb, a window manager, xterm, X utilities and apps), Tk for the bundled form, then cua
# itself into a virtual environment, because Debian's own python3 refuses `pip install` outside
# one (PEP 668, "externally-managed-environment").
#
# Usage: sh scripts/setup.sh          (cua, with the injection tripwire's OCR)
#        sh scripts/setup.sh --test   (cua, editable, plus what the tests need)
#        CUA_EXTRAS=bedrock,vertex sh scripts/setup.sh   (cua with cloud providers' libraries)
#        CUA_EXTRAS=ray sh scripts/setup.sh   (cua batch --ray: a Ray driver or worker node)
#        CUA_EXTRAS=mcp sh scripts/setup.sh   (cua mcp: the MCP server)
#        CUA_OCR=0 sh scripts/setup.sh   (without Tesseract: the injection tripwire stays off)
#
# The injection tripwire reads the screen with Tesseract: the Debian packages tesseract-ocr,
# -eng and -chi-sim (Chinese, the language data), and the `ocr` extra (tesserocr, Tesseract
# in process), installed unless CUA_OCR=0.
#
# Where cua goes: the active virtual environment if one is active ($VIRTUAL_ENV), else a
# virtual environment of its own, $CUA_VENV or ~/.local/share/cua/venv, made with the first
# python3 on PATH. `cua` is linked into ~/.local/bin either way.
set -eu
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ -n "${VIRTUAL_ENV:-}" ]; then
    venv=$VIRTUAL_ENV
else
    venv=${CUA_VENV:-$HOME/.local/share/cua/venv}
fi

# System packages: the X tools, plus Tk and venv support for this python when it lacks them.
packages="xvfb openbox xterm x11-utils x11-apps xauth"
ocr=${CUA_OCR:-1}
if [ "$ocr" != 0 ]; then
    packages="$packages tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim"
fi
# The report's browser tests open it in Debian's chromium (through Playwright, no download);
# the tripwire's tests show Chinese text, which needs a CJK font.
if [ "${1:-}" = "--test" ]; then packages="$packages chromium dbus-daemon fonts-wqy-microhei"; fi
"$python" -c "import tkinter" 2>/dev/null || packages="$packages python3-tk"
if [ ! -x "$venv/bin/python" ]; then
    # Debian ships `venv` without ensurepip (so without pip) until python3-venv is installed.
    "$python" -c "import ensurepip, venv" 2>/dev/null || packages="$packages python3-venv"
fi

missing=""
for p in $packages; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || {
            echo "setup.sh: needs these Debian packages:$missing; install them as root" >&2
            exit 1
        }
        sudo="sudo"
    fi
    echo "setup.sh: installing$missing with apt-get (a minute or two on a fresh machine)" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
fi

if [ ! -x "$venv/bin/python" ]; then
    echo "setup.sh: creating the virtual environment $venv" >&2
    "$python" -m venv "$venv"
    # Debian's bundled pip predates PEP 517 by default and warns about half the dependencies.
    echo "setup.sh: updating pip in it" >&2
    "$venv/bin/python" -m pip install -q --upgrade pip
fi

extras=${CUA_EXTRAS:-}
if [ "$ocr" != 0 ]; then extras="${extras:+$extras,}ocr"; fi
if [ "${1:-}" = "--test" ]; then
    # The cloud extras too: the provider tests run the SDK's Bedrock and Vertex clients;
    # notify: the notification tests monitor a private session bus; ray: `cua batch --ray`'s
    # tests start a two-node Ray cluster on 127.0.0.1; mcp: `cua mcp`'s tests (the MCP SDK's own
    # client against the server).
    echo "setup.sh: installing cua (editable) with pip, with what the tests need (pytest," \
         "Hypothesis, Playwright, the Bedrock and Vertex libraries, jeepney, Ray, the MCP SDK):" \
         "about a minute" >&2
    # setuptools explains, in a box of !!, how an editable install of this layout finds its
    # modules: useful to setuptools' developers, noise to everyone else. Only that is hidden.
    PYTHONWARNINGS="ignore:Editable installation"
    export PYTHONWARNINGS
    "$venv/bin/python" -m pip install -q -e ".[test,bedrock,vertex,notify,ray,mcp${extras:+,$extras}]"
elif [ -n "$extras" ]; then
    # e.g. CUA_EXTRAS=bedrock or CUA_EXTRAS=bedrock,vertex: the cloud providers' libraries;
    # CUA_EXTRAS=ray for cua batch --ray; the tripwire's ocr extra unless CUA_OCR=0
    echo "setup.sh: installing cua with pip, with the $extras libraries (under a minute)" >&2
    "$venv/bin/python" -m pip install -q ".[$extras]"
else
    echo "setup.sh: installing cua and its Python libraries with pip (about 30 s)" >&2
    "$venv/bin/python" -m pip install -q .
fi

mkdir -p "$HOME/.local/bin"
ln -sf "$venv/bin/cua" "$HOME/.local/bin/cua"
echo "setup.sh: cua $("$venv/bin/cua" --version | cut -d' ' -f2) is $HOME/.local/bin/cua" \
     "(Python: $venv/bin/python)" >&2
case ":$PATH:" in
    *":$HOME/.local/bin:"*) ;;
    *) echo "setup.sh: $HOME/.local/bin is not on PATH: call $HOME/.local/bin/cua, or add it" \
            "to PATH in your shell profile" >&2 ;;
esac
