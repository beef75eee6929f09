#!/usr/bin/env bash
# Builds the browser verifier (crates/webverify) for wasm32-unknown-unknown and copies it to
# web/dist/verifier.wasm (committed: the node binary embeds web/dist).
#
# Reproducible: the bytes depend on the source, Cargo.lock and the Rust toolchain only, not on
# where the checkout, $CARGO_HOME or the target directory are (--remap-path-prefix), so CI can
# rebuild it and diff. Profile `wasm` (Cargo.toml): opt-level "z", fat LTO, one codegen unit,
# panic = "abort", stripped.
#
# Needs: rustup target add wasm32-unknown-unknown, and clang (blst, a C dependency of
# commonware-cryptography, is compiled for wasm32). No wasm-bindgen tool, no wasm-opt.
#
#   web/build-wasm.sh            build and copy, print size and sha256
#   web/build-wasm.sh --check    build and fail if web/dist/verifier.wasm differs
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cargo_home="$(cd "${CARGO_HOME:-$HOME/.cargo}" && pwd)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
mkdir -p "$target_dir"
target_dir="$(cd "$target_dir" && pwd)"
rustup_home="$(cd "${RUSTUP_HOME:-$HOME/.rustup}" 2>/dev/null && pwd || echo /nonexistent-rustup)"

# Flags separated by 0x1f (CARGO_ENCODED_RUSTFLAGS), so paths with spaces stay whole. The last
# matching remap wins: the target directory (perhaps inside the checkout) comes last.
sep=$'\x1f'
flags="--remap-path-prefix=${rustup_home}=/rustup"
flags+="${sep}--remap-path-prefix=${cargo_home}=/cargo"
flags+="${sep}--remap-path-prefix=${root}=/trustmeter"
flags+="${sep}--remap-path-prefix=${target_dir}=/target"
unset RUSTFLAGS
export CARGO_ENCODED_RUSTFLAGS="$flags"
export CARGO_INCREMENTAL=0

start=$(date +%s)
(cd "$root" && cargo build --locked -p trustmeter-webverify --lib \
    --target wasm32-unknown-unknown --profile wasm --target-dir "$target_dir")
built="$target_dir/wasm32-unknown-unknown/wasm/trustmeter_webverify.wasm"
out="$root/web/dist/verifier.wasm"

if [[ "${1:-}" == "--check" ]]; then
    if ! cmp -s "$built" "$out"; then
        echo "web/dist/verifier.wasm is stale: run web/build-wasm.sh and commit it" >&2
        echo "  built     $(sha256sum "$built" | cut -d' ' -f1)" >&2
        echo "  committed $(sha256sum "$out" 2>/dev/null | cut -d' ' -f1)" >&2
        exit 1
    fi
    echo "web/dist/verifier.wasm is up to date"
else
    mkdir -p "$(dirname "$out")"
    cp "$built" "$out"
fi
echo "verifier.wasm: $(stat -c %s "$out") bytes, sha256 $(sha256sum "$out" | cut -d' ' -f1), built in $(( $(date +%s) - start )) s"
