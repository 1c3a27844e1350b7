#!/bin/sh
# The compiled scanner's tests under AddressSanitizer and UndefinedBehaviorSanitizer.
#
#   sh tools/sanitize_scanner.sh      (from the repository, after tools/setup.sh)
#
# Builds src/vhostguard/logs/_scan.c with -fsanitize=address,undefined into a
# copy of the package in a temp dir, then runs tests/logs/test_scanner*.py
# against that copy (PYTHONPATH before the editable install) with libasan
# preloaded into the interpreter (then tests/monitor/test_watch_engines.py).
# Any sanitizer report fails the run. Skips,
# saying so, when there is no C compiler (the pure-Python engine has nothing
# to sanitize). About half a minute.
set -eu
cd "$(dirname "$0")/.."
python=.venv/bin/python
cc=${CC:-gcc}
if ! command -v "$cc" >/dev/null 2>&1; then
    echo "sanitize_scanner: no C compiler ($cc): skipped" >&2
    exit 0
fi
include=$($python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r src/vhostguard "$work/vhostguard"
rm -f "$work"/vhostguard/logs/_scan*.so
"$cc" -shared -fPIC -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all \
    -DPy_LIMITED_API=0x030B0000 -I"$include" \
    src/vhostguard/logs/_scan.c -o "$work/vhostguard/logs/_scan.abi3.so"
asan=$("$cc" -print-file-name=libasan.so)
ubsan=$("$cc" -print-file-name=libubsan.so)
# Python's own allocations are not ours to judge: leaks off; everything else aborts the run.
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
LD_PRELOAD="$asan $ubsan" PYTHONPATH="$work" PYTHONMALLOC=malloc \
    $python -m pytest -q -p no:cacheprovider -p no:xdist tests/logs/ -k "test_tally or (test_scanner and (templates or each_line or corpus or threads)) or (test_parquet and (corpus or engines or per_endpoint or escaped))" \
    -o addopts="" --rootdir=. "$@"
# watch's counting in the scanner (watch_cells), against the Python path
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
LD_PRELOAD="$asan $ubsan" PYTHONPATH="$work" PYTHONMALLOC=malloc \
    $python -m pytest -q -p no:cacheprovider -p no:xdist tests/monitor/test_watch_engines.py -o addopts="" --rootdir=. "$@"
# the tests ran against the sanitized build, not the installed one
ASAN_OPTIONS=detect_leaks=0 LD_PRELOAD="$asan $ubsan" PYTHONPATH="$work" $python -c \
    "import sys, vhostguard.logs._scan as s; sys.exit(0 if s.__file__.startswith(sys.argv[1]) else 'not the sanitized build')" "$work"
