#!/usr/bin/env bash
# Fuzz smoke: builds every target once, then runs each for FUZZ_SECONDS (default 10) from its
# checked-in seed corpus. New inputs go to a temporary directory (the repo's corpus is only
# read); a crash leaves its input under fuzz/artifacts/<target>/ and fails the script.
#
# Stable Rust: cargo-fuzz needs nightly-only flags, so RUSTC_BOOTSTRAP=1 unlocks them.
# FUZZ_BUILD: extra `cargo fuzz` build flags. The default (`--dev --sanitizer none`: no
# optimisation, debug assertions on, no AddressSanitizer) keeps the build short on 2 cores;
# the readers are safe Rust, so the sanitizer buys little here. For long local runs use
# `FUZZ_BUILD="--release"` (optimised, ASan on).
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
# cargo-fuzz picks its own target dir (fuzz/target); a workspace-wide one would mix flags.
unset CARGO_TARGET_DIR
secs="${FUZZ_SECONDS:-10}"
read -r -a build <<<"${FUZZ_BUILD:---dev --sanitizer none}"
# LDK 0.3 refuses to compile under cfg(fuzzing) with its default `grind_signatures` feature
# (which lightning-net-tokio turns on), and under cfg(fuzzing) LDK and secp256k1 swap real
# crypto for stubs anyway: our targets fuzz our readers on top of the real library.
build+=(--no-cfg-fuzzing)
targets=(jsonrpc_codec rpc_request manifest cli_params hook_replies sendcustommsg custommsg_in commando_in bolt11_decode)
if [ "$#" -gt 0 ]; then targets=("$@"); fi

start=$(date +%s)
cargo fuzz build "${build[@]}"
echo "fuzz build: $(($(date +%s) - start)) s"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
printf '%-16s %12s %8s %s\n' target execs secs result
for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  log="$work/$t.log"
  if cargo fuzz run "${build[@]}" "$t" "$work/$t" "corpus/$t" -- \
    -max_total_time="$secs" -max_len=8192 -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  else
    result=CRASH
    status=1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  printf '%-16s %12s %8s %s\n' "$t" "${execs:-?}" "$secs" "$result"
  if [ "$result" != ok ]; then
    grep -m1 -A12 "panicked at\|ERROR: libFuzzer\|ERROR: AddressSanitizer" "$log" || tail -30 "$log"
  fi
done
echo "fuzz smoke total: $(($(date +%s) - start)) s"
exit "$status"
