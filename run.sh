#!/usr/bin/env bash
# One entry point for a fresh machine:
#   ./run.sh [serve options]   install what the chat needs into .venv if needed, then start the chat
#                               (it prints "budget-qa: 聊天页面已就绪：http://127.0.0.1:7860" once it listens)
#   ./run.sh test [pytest args] install that plus the test extras (and Chromium for the browser tests and
#                               PostgreSQL for the server-backend tests), then run the test suite
#   ./run.sh SUBCOMMAND ...    install if needed, then `budget-qa SUBCOMMAND ...` (ask, ingest, serve, ...)
#
# The install step creates .venv with `python3 -m venv`, installs the pinned CPU build of torch FIRST
# (an unpinned torch would pull a multi-GB CUDA build), then the package in editable mode: `pip install
# -e .` for the chat, `pip install -e '.[test]'` for the tests (only the test extras are added then;
# they include llama-cpp-python, which compiles from source for the real-model test). Each step is
# skipped while its stamp exists: .venv/.installed-app-<sha1 of pyproject.toml> and
# .venv/.installed-test-<sha1> (the test install covers the chat's too), so editing pyproject.toml
# triggers a reinstall and editing code does not. pip's output is shortened to one line per package
# with the elapsed seconds. Install output goes to stderr so that stdout stays clean for
# `./run.sh ask --json`.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"

TORCH_PIN="torch==2.13.0"
VENV=".venv"

say() { printf 'run.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Nothing is fetched from a model hub at run time; telemetry stays off (callers may override).
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
export TRANSFORMERS_OFFLINE="${TRANSFORMERS_OFFLINE:-1}"
export GRADIO_ANALYTICS_ENABLED="${GRADIO_ANALYTICS_ENABLED:-False}"
export ANONYMIZED_TELEMETRY="${ANONYMIZED_TELEMETRY:-False}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

# `pip install ARGS` into the venv, its output shortened to what shows progress: one line per package
# ("Collecting …" or "Processing <file>", "Building wheel …") with the seconds elapsed since START,
# plus everything else pip says (warnings, errors) except the chatter about packages already there
# and local index folders. A step that prints nothing for HEARTBEAT seconds (installing the
# packages, compiling llama-cpp-python) gets a "still …" line. All on stderr. Returns pip's exit code.
HEARTBEAT=30
pip_install() {
    local t0=$1
    shift
    PYTHONUNBUFFERED=1 "$VENV/bin/pip" install --progress-bar off "$@" 2>&1 | {
        local line text n rc last="running pip install $*"
        while :; do
            rc=0
            IFS= read -r -t "$HEARTBEAT" line || rc=$?
            if [ "$rc" -gt 128 ] && [ -z "$line" ]; then  # nothing for a while: say we are still busy
                printf 'run.sh: [%4d s] still %s\n' "$((SECONDS - t0))" "$last" >&2
                continue
            fi
            [ "$rc" -ne 0 ] && [ -z "$line" ] && break  # end of pip's output
            text="${line#"${line%%[![:space:]]*}"}"  # without leading blanks
            case "$text" in
                "Requirement already satisfied"* | "Using cached"* | "Downloading "* \
                | "Obtaining "* | "Looking in "* | "Preparing "* | "Checking if build backend"* \
                | "Getting requirements to build"* | "Installing build dependencies"* \
                | "Installing backend dependencies"* | "Created wheel"* | "Stored in directory"* \
                | "Attempting uninstall"* | "Found existing installation"* | "Uninstalling "* \
                | "Successfully uninstalled"* | "Successfully built"* | "WARNING: Location '"*"' is ignored"* | "")
                    [ "$rc" -eq 0 ] && continue || break ;;
                "Processing "*)  # a package from a local folder or index: its file name
                    text="Processing ${text##*/}" ;;
                "Installing collected packages: "*)
                    n=$(($(tr -cd ',' <<<"$text" | wc -c) + 1))
                    text="installing $n package$([ "$n" = 1 ] || echo s) (one line when done)" ;;
                "Successfully installed "*)
                    n=$(wc -w <<<"${text#Successfully installed }")
                    text="installed $n package$([ "$n" = 1 ] || echo s)" ;;
            esac
            printf 'run.sh: [%4d s] %s\n' "$((SECONDS - t0))" "$text" >&2
            last="at: $text"
            [ "$rc" -eq 0 ] || break
        done
    }
}

# one stamp per pyproject.toml version and kind (app: the chat; test: the chat and the test extras)
stamp() { printf '%s/.installed-%s-%s' "$VENV" "$1" "$(sha1sum pyproject.toml | cut -d' ' -f1)"; }

write_stamp() {
    rm -f "$VENV/.installed-$1-"* "$VENV"/.installed-[0-9a-f][0-9a-f][0-9a-f]*  # and older run.sh's stamps
    : > "$(stamp "$1")"
}

install_python() {  # $1: app (what the chat needs) or test (that plus the test extras)
    local kind=$1
    command -v python3 >/dev/null 2>&1 || die "python3 not found (Python 3.11 or newer is needed)"
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "python3 is $(python3 -V 2>&1); Python 3.11 or newer is needed"

    if ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then  # (--clear removes the stamps too)
        say "creating $VENV ($(python3 -V 2>&1))"
        python3 -m venv --clear "$VENV" >&2 \
            || die "python3 -m venv failed (on Debian/Ubuntu system Python: apt-get install python3-venv)"
    fi

    [ -e "$(stamp test)" ] && return 0
    [ "$kind" = app ] && [ -e "$(stamp app)" ] && return 0

    local t0=$SECONDS
    if [ ! -e "$(stamp app)" ]; then
        say "installing what the chat needs into $VENV, step 1 of 2: $TORCH_PIN (CPU build)"
        pip_install "$t0" "$TORCH_PIN" || die "pip install $TORCH_PIN failed"
        say "installing what the chat needs into $VENV, step 2 of 2: budget-qa (pip install -e .)"
        pip_install "$t0" -e . || die "pip install -e . failed"
        write_stamp app
        say "installed what the chat needs in $((SECONDS - t0)) s"
    fi
    [ "$kind" = app ] && return 0

    local t1=$SECONDS
    say "installing the test extras into $VENV (pip install -e '.[test]'); llama-cpp-python, for the"
    say "  real-model test, compiles from source unless pip has built it before: about 6 min on 2 cores"
    # the smallest llama.cpp build that serves a GGUF model (no multimodal library, tools or tests)
    CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_CURL=OFF}" \
    CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}" \
        pip_install "$t1" -e '.[test]' || die "pip install -e '.[test]' failed"
    write_stamp test
    say "installed the test extras in $((SECONDS - t1)) s"
}

# OCR (rapidocr-onnxruntime, for pages without a text layer) imports OpenCV, whose PyPI wheel links the
# system's libGL and GLib: present on a desktop or a full Debian image, missing on a minimal one.
install_ocr_libs() {
    command -v ldconfig >/dev/null 2>&1 || return 0
    if ldconfig -p 2>/dev/null | grep -q 'libGL\.so\.1' && ldconfig -p 2>/dev/null | grep -q 'libglib-2\.0\.so\.0'; then
        return 0
    fi
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing Debian packages libgl1 and libglib2.0-0 (OpenCV, used by the OCR of pages without text)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq </dev/null >/dev/null || die "apt-get update failed"
        apt-get install -y -qq --no-install-recommends libgl1 libglib2.0-0 </dev/null >/dev/null \
            || die "apt-get install libgl1 libglib2.0-0 failed"
        return 0
    fi
    say "NOTE: libGL/GLib are missing and we are not root: pages without a text layer (scans, table images)"
    say "      cannot be read. To read them: sudo apt-get install -y libgl1 libglib2.0-0"
}

install() {  # $1: app or test (see install_python)
    # Serialise concurrent first runs (two pips in one venv would corrupt it). The lock is on the
    # .venv directory itself (survives `venv --clear`) and is held in a subshell, so it is released
    # before we exec the long-running command.
    mkdir -p "$VENV"
    if command -v flock >/dev/null 2>&1; then
        (
            flock 9
            install_python "$1"
        ) 9<"$VENV"
    else
        install_python "$1"
    fi
    install_ocr_libs
}

# Browser-test dependencies: Debian's chromium (driven by Playwright with executable_path=/usr/bin/chromium,
# never `playwright install`) and a CJK font so Chinese text renders. Returns 1 if they are unavailable.
install_browser() {
    local have_font=1
    if command -v dpkg >/dev/null 2>&1 && ! dpkg -s fonts-wqy-microhei >/dev/null 2>&1; then
        have_font=0
    fi
    [ -x /usr/bin/chromium ] && [ "$have_font" = 1 ] && return 0

    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing Debian packages chromium and fonts-wqy-microhei for the browser tests"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq </dev/null >/dev/null || die "apt-get update failed"
        apt-get install -y -qq --no-install-recommends chromium fonts-wqy-microhei </dev/null >/dev/null \
            || die "apt-get install chromium fonts-wqy-microhei failed"
        [ -x /usr/bin/chromium ] || die "/usr/bin/chromium is still missing after apt-get install"
        return 0
    fi

    if [ -x /usr/bin/chromium ]; then
        say "NOTE: fonts-wqy-microhei is not installed and we are not root; Chinese text may render as boxes"
        say "      (as root: apt-get install -y fonts-wqy-microhei)"
        return 0
    fi
    say "NOTE: /usr/bin/chromium is missing and we are not root (or have no apt-get):"
    say "      the browser tests (-m browser) will be SKIPPED (deselected)."
    say "      To run them: sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium fonts-wqy-microhei"
    return 1
}

# Server-backend tests (tests/test_store_backends.py): Debian's PostgreSQL binaries. The test session
# itself starts a throw-away cluster and `chroma run` on loopback and stops them at its end; nothing
# is installed for the chat. Without the binaries (not root) those tests are skipped with the reason.
install_postgres() {
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && return 0
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing Debian package postgresql for the server-backend tests"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq </dev/null >/dev/null || die "apt-get update failed"
        apt-get install -y -qq --no-install-recommends postgresql </dev/null >/dev/null \
            || die "apt-get install postgresql failed"
        compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null \
            || die "initdb is still missing after apt-get install postgresql"
        return 0
    fi
    say "NOTE: PostgreSQL is not installed and we are not root: the PostgreSQL tests will be SKIPPED."
    say "      To run them: sudo apt-get install -y --no-install-recommends postgresql"
}

case "${1:-}" in
    test)
        install test
        install_postgres
        extra=()
        install_browser || extra=(-m "not browser")
        # our -m comes first so that one given on the command line wins
        exec "$VENV/bin/python" -m pytest -q "${extra[@]}" "${@:2}"
        ;;
    "" | -*)
        install app
        exec "$VENV/bin/budget-qa" serve "$@"
        ;;
    *)
        install app
        exec "$VENV/bin/budget-qa" "$@"
        ;;
esac
