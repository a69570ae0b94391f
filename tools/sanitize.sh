#!/usr/bin/env bash
# The test suite against an AddressSanitizer + UndefinedBehaviorSanitizer build of latentforge.
#
#   tools/sanitize.sh [VENV_DIR] [pytest arguments...]
#
# Builds the extension (and the test-only emulator) with -fsanitize=address,undefined into a
# fresh virtual environment (default /tmp/latentforge-asan), then runs the tests of this
# checkout against it with libasan/libubsan preloaded into Python (an uninstrumented interpreter
# loading an instrumented extension needs the runtime first). Any ASan report or undefined
# behaviour aborts the run (halt_on_error, -fno-sanitize-recover). Leak detection is off:
# CPython itself does not free everything at exit. CUDA is off (nothing here can run it).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${1:-/tmp/latentforge-asan}
shift || true

python3 -m venv "$venv"
# shellcheck disable=SC1091
. "$venv/bin/activate"
echo "sanitize: building latentforge with ASan + UBSan into $venv" >&2
LATENTFORGE_SANITIZE=ON LATENTFORGE_CUDA=OFF pip install -q "$root[test]" \
  -Cbuild-dir="$venv/build"

cxx=${CXX:-g++}
preload="$("$cxx" -print-file-name=libasan.so) $("$cxx" -print-file-name=libubsan.so)"
for lib in $preload; do
  [[ -f $lib ]] || { echo "sanitize: $lib not found (install the compiler's sanitizer runtimes)" >&2; exit 2; }
done
cd "$root"
export LD_PRELOAD="$preload"
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "sanitize: running the tests (LD_PRELOAD=$preload)" >&2
python -m pytest -q -p no:cacheprovider "$@"
