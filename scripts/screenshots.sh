#!/usr/bin/env bash
# Save docs/screenshots/*.png under a virtual display (installs Xvfb and Qt's X11 libraries when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v xvfb-run >/dev/null; then
  apt-get update && apt-get install -y xvfb xauth libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 \
    libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 \
    libegl1 libgl1 libfontconfig1 libdbus-1-3
fi
# the small laptop screen the window must fit, then a common monitor
xvfb-run -a -s "-screen 0 1366x768x24" .venv/bin/python scripts/screenshots.py "$@"
xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python scripts/screenshots.py --out docs/screenshots/1920x1080 "$@"
