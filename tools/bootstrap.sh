#!/usr/bin/env bash
# One-command set-up for dctredact on a fresh Debian/Ubuntu machine.
#   bash tools/bootstrap.sh demo   # install, redact the shipped fixtures into out/, print the report
#   bash tools/bootstrap.sh test   # install, then run the whole test suite (what CI runs)
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-test}"

apt_pkgs=(tesseract-ocr tesseract-ocr-eng libjpeg-turbo-progs chromium libglib2.0-0)
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
    rm -rf out
    # OCR + the CTP rules of DicomPixelAnonymizer.script over every shipped fixture image;
    # one JSON record per file goes to out/report.jsonl, a summary to the terminal.
    .venv/bin/dctredact redact fixtures -o out --rules fixtures/ctp/DicomPixelAnonymizer.script \
      --json > out.report.jsonl || status=$?
    mkdir -p out && mv out.report.jsonl out/report.jsonl
    .venv/bin/python - <<'PY'
import collections, json
rows = [json.loads(line) for line in open("out/report.jsonl")]
count = collections.Counter(r["outcome"] for r in rows)
print(f"{'outcome':10s} {'handler':14s} {'boxes':>5s} {'changed':>9s}  file")
for r in rows:
    n = len(r.get("boxes") or []) + sum(len(v) for v in (r.get("frame_boxes") or {}).values())
    print(f"{r['outcome']:10s} {str(r.get('handler')):14s} {n:5d} {r.get('changed', 0):9d}"
          f" {r.get('unit') or '':6s} {r['input']}")
print("summary:", dict(count), "- full report in out/report.jsonl, images in out/")
PY
    exit "${status:-0}"
    ;;
  test)
    .venv/bin/python -m pytest -q -n 2 "${@:2}"
    ;;
  *)
    echo "usage: bash tools/bootstrap.sh demo|test" >&2
    exit 2
    ;;
esac
