//! The committed bundle (`web/dist`) is what its sources build, byte for byte: the script, styles
//! and page (`web/build.mjs --check`, esbuild from `web/package-lock.json`) and the WebAssembly
//! verifier (`web/build-wasm.sh --check`, its own target directory `target/wasm-check`). A change
//! to `web/src` or to the verifier's Rust without rebuilding the bundle fails here.
//!
//! Needs Node.js with `web/node_modules` (installed with `npm ci` when missing), the
//! `wasm32-unknown-unknown` target and clang (`bash .ci/run` installs them).

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the workspace root")
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_committed_script_styles_and_page_are_what_web_src_builds() {
    let web = root().join("web");
    if !web.join("node_modules/esbuild/package.json").exists() {
        run(Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&web), "npm ci in web/");
    }
    run(Command::new("node").args(["build.mjs", "--check"]).current_dir(&web), "node web/build.mjs --check");
}

#[test]
fn the_committed_verifier_is_what_crates_webverify_builds() {
    let root = root();
    run(
        Command::new("bash")
            .arg(root.join("web/build-wasm.sh"))
            .arg("--check")
            .env("CARGO_TARGET_DIR", root.join("target/wasm-check"))
            .current_dir(&root),
        "web/build-wasm.sh --check (needs `rustup target add wasm32-unknown-unknown` and clang)",
    );
}
