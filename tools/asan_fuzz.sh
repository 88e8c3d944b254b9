#!/usr/bin/env bash
# Run the compiled entropy codec (src/dctredact/jpeg/_entropy.c + _recode.c) under
# AddressSanitizer and UndefinedBehaviorSanitizer.
#
# The tree is copied into a scratch folder (default /tmp/asan), the extension is compiled
# there with -fsanitize=address,undefined, and Python runs with libasan preloaded and
# PYTHONPATH pointing at the scratch copy, so `import dctredact` picks up the sanitized
# module (checked before anything runs). The working tree and its own build are untouched.
#
# Usage:
#   tools/asan_fuzz.sh build                 # copy + compile only
#   tools/asan_fuzz.sh tests [EXAMPLES]      # codec/real/streaming/fuzz tests; hypothesis
#                                            # examples of test_fuzz.py raised to EXAMPLES
#   tools/asan_fuzz.sh corpus [N] [SEED]     # tools/fuzz_corpus.py over the real corpus
#   tools/asan_fuzz.sh entropy [SECONDS] [SEED]  # tools/fuzz_entropy.py (direct C fuzzer)
#   tools/asan_fuzz.sh all                   # all of the above, default sizes
#   tools/asan_fuzz.sh shell CMD...          # run CMD in the sanitized environment
#
# Environment: ASAN_DIR (scratch folder), PYTHON (default /work/venv/bin/python),
# CORPUS (default ../shared/corpus/real next to the repository), JOBS (default 2).
# Any sanitizer report aborts the process (halt_on_error), so a run that ends with exit
# status 0 had no finding; reports are also written to $ASAN_DIR/logs/*.<pid>.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ASAN_DIR="${ASAN_DIR:-/tmp/asan}"
PYTHON="${PYTHON:-/work/venv/bin/python}"
CORPUS="${CORPUS:-$here/../shared/corpus/real}"
JOBS="${JOBS:-2}"

build() {
    mkdir -p "$ASAN_DIR" "$ASAN_DIR/logs"
    # A fresh copy of the sources, tests, tools and fixtures (no build products, no git).
    rm -rf "$ASAN_DIR/src" "$ASAN_DIR/tests" "$ASAN_DIR/tools" "$ASAN_DIR/fixtures"
    for d in src tests tools fixtures; do
        [ -e "$here/$d" ] && cp -r "$here/$d" "$ASAN_DIR/$d"
    done
    for f in pyproject.toml setup.py; do
        [ -e "$here/$f" ] && cp "$here/$f" "$ASAN_DIR/$f"
    done
    find "$ASAN_DIR/src" \( -name '*.so' -o -name '__pycache__' \) -prune -exec rm -rf {} +
    local inc suffix
    inc="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
    suffix="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"
    gcc -shared -fPIC -std=c99 -g -O1 -fno-omit-frame-pointer \
        -fsanitize=address,undefined -fno-sanitize-recover=undefined \
        -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
        -I"$inc" "$ASAN_DIR/src/dctredact/jpeg/_entropy.c" \
        -o "$ASAN_DIR/src/dctredact/jpeg/_entropy$suffix"
    echo "built $ASAN_DIR/src/dctredact/jpeg/_entropy$suffix"
}

sanitized() {
    # Everything a (sub)process needs; multiprocessing/xdist children inherit it.
    # libstdc++ is preloaded too: otherwise ASan's __cxa_throw interceptor finds no real
    # __cxa_throw and aborts ("CHECK failed: asan_interceptors.cpp:320") as soon as an
    # uninstrumented C++ library (CharLS, for JPEG-LS) throws an exception.
    LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so)" \
    ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:log_path=$ASAN_DIR/logs/asan" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$ASAN_DIR/logs/ubsan" \
    PYTHONPATH="$ASAN_DIR/src:$ASAN_DIR/tools" \
    PYTHONMALLOC=malloc \
    "$@"
}

check_module() {
    sanitized "$PYTHON" - "$ASAN_DIR" <<'EOF'
import sys
from dctredact.jpeg import _entropy
assert _entropy.__file__.startswith(sys.argv[1]), _entropy.__file__
print("sanitized module:", _entropy.__file__)
EOF
}

logs_clean() {
    if compgen -G "$ASAN_DIR/logs/*" >/dev/null; then
        echo "SANITIZER REPORTS:" >&2
        ls -l "$ASAN_DIR/logs" >&2
        head -n 60 "$ASAN_DIR"/logs/* >&2
        return 1
    fi
    echo "no sanitizer report"
}

run_tests() {
    local examples="${1:-800}"
    # More hypothesis examples in the scratch copy only (test_fuzz.py has them inline).
    sed -i "s/max_examples=160/max_examples=$examples/" "$ASAN_DIR/tests/test_fuzz.py"
    (cd "$ASAN_DIR" && sanitized "$PYTHON" -m pytest -q -p no:cacheprovider -n "$JOBS" \
        tests/test_jpeg_codec.py tests/test_jpeg_baseline_real.py tests/test_streaming.py \
        tests/test_fuzz.py)
}

run_corpus() {
    local n="${1:-3000}" seed="${2:-11}"
    (cd "$ASAN_DIR" && sanitized "$PYTHON" tools/fuzz_corpus.py "$CORPUS" -n "$n" -j "$JOBS" \
        --seed "$seed" --timeout 120 --crashes "$ASAN_DIR/fuzz-crashes")
}

run_entropy() {
    local seconds="${1:-1200}" seed="${2:-1}"
    (cd "$ASAN_DIR" && sanitized "$PYTHON" tools/fuzz_entropy.py --seconds "$seconds" \
        --seed "$seed" -j "$JOBS")
}

cmd="${1:-all}"
shift || true
case "$cmd" in
    build) build; check_module ;;
    tests) build; check_module; run_tests "$@"; logs_clean ;;
    corpus) build; check_module; run_corpus "$@"; logs_clean ;;
    entropy) build; check_module; run_entropy "$@"; logs_clean ;;
    all) build; check_module; run_entropy 1200; run_tests 800; run_corpus 3000; logs_clean ;;
    shell) sanitized "$@" ;;
    *) sed -n '2,22p' "$0"; exit 2 ;;
esac
