#!/usr/bin/env bash
# Build the one-folder Inspector bundle with PyInstaller, and its Linux .tar.gz installer.
#
#   packaging/build.sh cpu     # CPU bundle: build venv packaging/.venv-cpu (torch 2.13.0+cpu)
#   packaging/build.sh gpu     # GPU bundle: build venv packaging/.venv-gpu (CUDA torch of constraints.txt)
#
# Outputs: packaging/dist/<variant>/inspector/ (the bundle, run ./inspector) and
# packaging/dist/inspector-<version>-linux-<variant>.tar.gz (bundle + install.sh + desktop entry).
# Env: INSPECTOR_BUILD_PYTHON (python3.11 to make the venv with; default python3),
#      INSPECTOR_BUILD_VENV (use this existing venv instead of making one, e.g. /work/main/.venv for gpu).
set -euo pipefail
variant="${1:-cpu}"
case "$variant" in cpu|gpu) ;; *) echo "usage: $0 cpu|gpu" >&2; exit 2 ;; esac
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
cd "$repo"
py="${INSPECTOR_BUILD_PYTHON:-python3}"
venv="${INSPECTOR_BUILD_VENV:-$here/.venv-$variant}"
t0=$(date +%s)

# Constraints: the project's pins, except that the CPU bundle swaps CUDA torch for the CPU wheel.
# torchvision 0.28.0 is the release for torch 2.13; its compiled ops need CUDA torch, so in the
# CPU bundle torchvision runs without them (pure-Python transforms only; see packaging/README.md).
cons="$here/.constraints-$variant.txt"
if [ "$variant" = cpu ]; then
  grep -viE '^(torch|torchvision|triton|nvidia-[a-z0-9-]+|cuda-[a-z-]+)==' constraints.txt > "$cons"
  printf 'torch==2.13.0+cpu\ntorchvision==0.28.0\n' >> "$cons"
else
  cp constraints.txt "$cons"
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "== creating build venv $venv"
  "$py" -m venv "$venv"
fi
if [ -z "${INSPECTOR_BUILD_VENV:-}" ]; then
  # Dependencies only (inspector itself is taken from this checkout by the spec's pathex).
  "$venv/bin/python" - "$repo/pyproject.toml" > "$here/.requirements.txt" <<'PY'
import sys, tomllib
p = tomllib.load(open(sys.argv[1], "rb"))["project"]
print("\n".join(p["dependencies"] + p["optional-dependencies"]["package"]))
PY
  echo "== installing build dependencies ($variant)"
  nice -n 10 "$venv/bin/pip" install -q -c "$cons" -r "$here/.requirements.txt"
fi
if [ "$variant" = cpu ]; then
  # The same hook the bundle runs, so that PyInstaller's analysis can import torchvision too.
  site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  cp "$here/rthooks/torchvision_without_ops.py" "$site/_inspector_torchvision_without_ops.py"
  echo "import _inspector_torchvision_without_ops" > "$site/_inspector_torchvision_without_ops.pth"
fi
t1=$(date +%s)
echo "== venv ready in $((t1 - t0)) s"

# --- the bundle
dist="$here/dist/$variant"
work="$here/build/$variant"
rm -rf "$dist/inspector"
echo "== PyInstaller ($variant)"
INSPECTOR_VARIANT="$variant" PYTHONPATH="$repo" nice -n 10 "$venv/bin/python" -m PyInstaller \
  --noconfirm --log-level WARN --distpath "$dist" --workpath "$work" "$here/inspector.spec"
t2=$(date +%s)
size=$(du -sm "$dist/inspector" | cut -f1)
echo "== bundle $dist/inspector: ${size} MB, PyInstaller $((t2 - t1)) s"

# --- the Linux installer: bundle + install.sh + desktop entry + icon in one .tar.gz
version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$repo/inspector/__init__.py")
name="inspector-$version-linux-$variant"
stage="$here/dist/$name"
rm -rf "$stage" && mkdir -p "$stage"
mv "$dist/inspector" "$stage/inspector"
cp "$here/install.sh" "$here/inspector.desktop" "$here/inspector.png" "$stage/"
if [ "${INSPECTOR_NO_TARBALL:-}" != 1 ]; then
  tar -C "$here/dist" -cf - "$name" | nice -n 10 gzip -1 > "$here/dist/$name.tar.gz"
  echo "== installer $here/dist/$name.tar.gz: $(du -sm "$here/dist/$name.tar.gz" | cut -f1) MB"
fi
t3=$(date +%s)
echo "== done: venv $((t1 - t0)) s, PyInstaller $((t2 - t1)) s, archive $((t3 - t2)) s, total $((t3 - t0)) s"
echo "   run: $stage/inspector/inspector --self-test"
