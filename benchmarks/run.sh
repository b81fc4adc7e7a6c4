#!/usr/bin/env bash
# Overhead benchmark runner: creates one virtualenv per subject under .cache/bench/
# (idempotent: a venv is rebuilt only when its pinned requirements change) and then runs
# every subject through benchmarks/overhead.py --all, printing one markdown table.
#
#   benchmarks/run.sh                      # set up (if needed) and run everything (~7 min)
#   benchmarks/run.sh --setup-only         # only create/refresh the venvs
#   benchmarks/run.sh --recreate ...       # delete and rebuild the venvs first
#   benchmarks/run.sh --quick              # smoke test, ~1 min
#   benchmarks/run.sh --subjects bare,llmotel --reps 1    # any overhead.py driver option
#   benchmarks/run.sh --scenarios anthropic               # only the Anthropic scenarios
#
# Pins (override through the environment): OPENAI_VERSION, ANTHROPIC_VERSION,
# OTEL_SDK_VERSION, PYTHON.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BENCH=$ROOT/.cache/bench
PY=${PYTHON:-python3.11}
# Same openai and opentelemetry-sdk everywhere; the defaults are what the project's
# own .venv resolved when this benchmark was written.
OPENAI_VERSION=${OPENAI_VERSION:-3.57.0}
ANTHROPIC_VERSION=${ANTHROPIC_VERSION:-2.15.0}
OTEL_SDK_VERSION=${OTEL_SDK_VERSION:-1.45.2}
COMMON=("openai==$OPENAI_VERSION" "opentelemetry-sdk==$OTEL_SDK_VERSION")
ANTHROPIC_COMMON=("anthropic==$ANTHROPIC_VERSION" "opentelemetry-sdk==$OTEL_SDK_VERSION")

setup_only=0
recreate=0
args=()
for a in "$@"; do
  case "$a" in
    --setup-only) setup_only=1 ;;
    --recreate) recreate=1 ;;
    *) args+=("$a") ;;
  esac
done

mkdir -p "$BENCH"

# make_venv NAME REQUIREMENT...  (a requirement "-e PATH" is passed through as-is)
make_venv() {
  local name=$1; shift
  local dir=$BENCH/$name spec
  spec=$(printf '%s\n' "$@" "${BENCH_SPEC_EXTRA:-}")
  if [[ $recreate == 1 ]]; then rm -rf "$dir"; fi
  if [[ -x $dir/bin/python && -f $dir/.bench-spec && $(cat "$dir/.bench-spec") == "$spec" ]]; then
    echo "venv $name: up to date"
    return 0
  fi
  echo "venv $name: installing $*"
  rm -rf "$dir"
  # explicit checks: set -e does not apply inside a function called from an `if`
  "$PY" -m venv "$dir" || return 1
  "$dir/bin/pip" install -q --disable-pip-version-check "$@" || return 1
  printf '%s' "$spec" > "$dir/.bench-spec"
}

# llmotel: an editable install of this checkout. If the project cannot be built as a
# package yet (e.g. metadata incomplete), fall back to its declared dependencies plus a
# .pth file pointing at the source tree, and say so.
make_llmotel_venv() {
  local dir=$BENCH/llmotel
  # the spec carries pyproject.toml's hash, so a changed dependency list triggers a reinstall
  export BENCH_SPEC_EXTRA="pyproject.toml sha256 $(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
  if make_venv llmotel "${COMMON[@]}" "anthropic==$ANTHROPIC_VERSION" -e "$ROOT[openai,anthropic]" \
      2>"$BENCH/llmotel.install.err"; then
    return 0
  fi
  echo "WARNING: 'pip install -e $ROOT[openai,anthropic]' failed (tail of the error below);" \
       "falling back to the declared dependencies + a .pth to $ROOT" >&2
  grep -E '(Error|error):' "$BENCH/llmotel.install.err" | tail -3 >&2 || true
  rm -rf "$dir"
  "$PY" -m venv "$dir"
  mapfile -t deps < <("$PY" -c '
import sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
print("\n".join(project["dependencies"]))' "$ROOT/pyproject.toml")
  "$dir/bin/pip" install -q --disable-pip-version-check "${COMMON[@]}" "anthropic==$ANTHROPIC_VERSION" "${deps[@]}"
  local site
  site=$("$dir/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "$ROOT" > "$site/llmotel-src.pth"
  # no .bench-spec: retried (and possibly upgraded to a real editable install) next time
}

pids=()
names=()
( make_llmotel_venv ) > "$BENCH/llmotel.install.log" 2>&1 & pids+=($!); names+=(llmotel)
( make_venv genai-openai "${COMMON[@]}" \
    "opentelemetry-instrumentation-genai-openai==1.3b0" "opentelemetry-util-genai==1.3b0" \
) > "$BENCH/genai-openai.install.log" 2>&1 & pids+=($!); names+=(genai-openai)
# openai-v2 2.4b0 only instruments with util-genai < 1.2 (1.2b0 is a pre-release of 1.2
# and already too new, hence the exact pin); openai 3.x no longer brings httpx, which
# it still imports.
( make_venv openai-v2 "${COMMON[@]}" \
    "opentelemetry-instrumentation-openai-v2==2.4b0" "opentelemetry-util-genai==1.1b0" httpx \
) > "$BENCH/openai-v2.install.log" 2>&1 & pids+=($!); names+=(openai-v2)

# Anthropic: the official instrumentation; its venv also serves the bare and bare+native
# Anthropic subjects (the openai venvs have no anthropic SDK).
( make_venv genai-anthropic "${ANTHROPIC_COMMON[@]}" \
    "opentelemetry-instrumentation-genai-anthropic==1.3b0" "opentelemetry-util-genai==1.3b0" \
) > "$BENCH/genai-anthropic.install.log" 2>&1 & pids+=($!); names+=(genai-anthropic)

failed=0
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then
    grep -v '^WARNING: Location' "$BENCH/${names[$i]}.install.log" || true
  else
    echo "ERROR: setting up venv ${names[$i]} failed:" >&2
    grep -v '^WARNING: Location' "$BENCH/${names[$i]}.install.log" | tail -20 >&2
    failed=1
  fi
done
# A failed venv is reported by the driver as "skipped"; the others still run.
if [[ $failed == 1 ]]; then echo "continuing with the venvs that exist" >&2; fi

if [[ $setup_only == 1 ]]; then exit "$failed"; fi
exec "$PY" benchmarks/overhead.py --all ${args[@]+"${args[@]}"}
