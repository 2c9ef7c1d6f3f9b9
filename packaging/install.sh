#!/usr/bin/env bash
# Install the Inspector bundle for this user (no root, no Python, no internet needed):
#   ./install.sh            -> ~/.local/lib/inspector, ~/.local/bin/inspector, menu entry + icon
#   ./install.sh --uninstall
# PREFIX=/some/dir ./install.sh installs under that prefix instead of ~/.local.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prefix="${PREFIX:-$HOME/.local}"
data="${XDG_DATA_HOME:-$HOME/.local/share}"
lib="$prefix/lib/inspector"
bin="$prefix/bin"
apps="$data/applications"
icons="$data/icons/hicolor/256x256/apps"

if [ "${1:-}" = "--uninstall" ]; then
  rm -rf "$lib" "$bin/inspector" "$apps/inspector.desktop" "$icons/inspector.png"
  echo "Inspector removed (your workspaces and models in $data/inspector are kept)."
  exit 0
fi
[ -x "$here/inspector/inspector" ] || { echo "error: $here/inspector/inspector not found — run install.sh from the unpacked archive" >&2; exit 1; }
mkdir -p "$prefix/lib" "$bin" "$apps" "$icons"
tmp="$(mktemp -d "$prefix/lib/.inspector-install.XXXXXX")"
cp -a "$here/inspector/." "$tmp/"          # copy first, then swap: a failed copy leaves the old install
rm -rf "$lib"
mv "$tmp" "$lib"
ln -sfn "$lib/inspector" "$bin/inspector"
cp "$here/inspector.png" "$icons/inspector.png"
sed "s|@BINDIR@|$lib|g" "$here/inspector.desktop" > "$apps/inspector.desktop"
command -v update-desktop-database >/dev/null && update-desktop-database "$apps" || true
echo "Inspector installed in $lib"
echo "  start it from the applications menu, or run: $bin/inspector   (check: inspector --self-test)"
case ":$PATH:" in *":$bin:"*) ;; *) echo "  note: $bin is not on your PATH" ;; esac
