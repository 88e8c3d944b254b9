#!/usr/bin/env bash
# One-command set-up for dctredact on a fresh Debian/Ubuntu machine.
#   bash tools/bootstrap.sh demo   # install, redact the shipped fixtures into out/, print the report
#   bash tools/bootstrap.sh test   # install, then run the whole test suite (what CI runs)
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-test}"

apt_pkgs=(tesseract-ocr tesseract-ocr-eng libjpeg-turbo-progs)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -q || true
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q "${missing[@]}"
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test,dask]"

case "$mode" in
  demo)
    .venv/bin/dctredact redact fixtures/ -o out/ --no-ocr --rules fixtures/demo.script --box 0,0,64,24
    ;;
  test)
    .venv/bin/python -m pytest -q -n 2 "${@:2}"
    ;;
  *)
    echo "usage: bash tools/bootstrap.sh demo|test" >&2
    exit 2
    ;;
esac
