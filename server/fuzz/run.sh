#!/usr/bin/env bash
# Fuzzes every natter fuzz target for a while; see README.md.
#
#   server/fuzz/run.sh [SECONDS_PER_TARGET]      (default 60)
#
# Environment:
#   FUZZ_SANITIZER  address (default) or none
#   FUZZ_TARGETS    space-separated targets (default: all of `cargo fuzz list`)
#   FUZZ_ARGS       extra libFuzzer flags, e.g. "-max_len=8192"
#   CARGO_BUILD_JOBS  build parallelism (default 1)
#
# New inputs go to a scratch corpus (seeded from corpus/<target>), never to
# the committed one. On a crash the input is copied to
# regressions/<target>/, the script says how to reproduce it, and it exits
# non-zero after the remaining targets have run.
set -euo pipefail

secs="${1:-60}"
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [[ "$secs" -lt 1 ]]; then
    echo "usage: $0 [SECONDS_PER_TARGET]" >&2
    exit 2
fi
sanitizer="${FUZZ_SANITIZER:-address}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

# cargo-fuzz passes nightly-only flags (-Zsanitizer, -Cpasses=sancov...);
# RUSTC_BOOTSTRAP lets the stable toolchain accept them.
export RUSTC_BOOTSTRAP=1
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

scratch="$(mktemp -d "${TMPDIR:-/tmp}/natter-fuzz.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
# The server target's data dir is a temp dir that outlives the fuzzer
# process; keep it in the scratch dir so it goes too.
mkdir -p "$scratch/tmp"

targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"
failed=()
for target in $targets; do
    echo "== building $target (sanitizer: $sanitizer)"
    cargo fuzz build -s "$sanitizer" "$target"

    corpus="$scratch/corpus/$target"
    artifacts="$scratch/artifacts/$target"
    mkdir -p "$corpus" "$artifacts"
    echo "== fuzzing $target for ${secs}s"
    set +e
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
    TMPDIR="$scratch/tmp" cargo fuzz run -s "$sanitizer" "$target" "$corpus" "corpus/$target" -- \
        -max_total_time="$secs" \
        -timeout=60 \
        -rss_limit_mb=4096 \
        -print_final_stats=1 \
        -artifact_prefix="$artifacts/" \
        ${FUZZ_ARGS:-} 2>&1 | tee "$scratch/$target.log"
    status=${PIPESTATUS[0]}
    set -e
    echo "== $target: $(find "$corpus" -type f | wc -l) inputs in the scratch corpus"
    if [[ $status -eq 0 ]]; then
        continue
    fi

    failed+=("$target")
    mkdir -p "regressions/$target"
    found=0
    for artifact in "$artifacts"/*; do
        [[ -f "$artifact" ]] || continue
        case "$(basename "$artifact")" in
            slow-unit-*) continue ;;
        esac
        cp "$artifact" "regressions/$target/"
        found=1
        saved="regressions/$target/$(basename "$artifact")"
        # The fuzzer's output (the finding's message, the stack), out of the
        # way of the regression tests, which replay only top-level files.
        mkdir -p "regressions/$target/logs"
        grep -v '^"' "$scratch/$target.log" | tail -n 300 \
            >"regressions/$target/logs/$(basename "$artifact").log" || true
        cat <<EOF
== $target FAILED: saved $saved
   log:        regressions/$target/logs/$(basename "$artifact").log
   reproduce:  cd server/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -s $sanitizer $target $saved
   minimize:   cd server/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz tmin -s $sanitizer $target $saved
   debug:      cd server/fuzz && cargo run --example replay -- $target $saved
   Once fixed, keep (or rename) the file: the regression tests replay every file
   in regressions/$target (see README.md).
EOF
    done
    if [[ $found -eq 0 ]]; then
        echo "== $target FAILED (exit $status) without leaving an input; see the log above"
    fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "== findings in: ${failed[*]}"
    exit 1
fi
echo "== no findings"
