//! The built module, through `web/src/verifier.js`, in Node: runs `node --test web/test/`, which
//! loads `web/dist/verifier.wasm` and checks the committed vectors' cases, key files and signed
//! headers with it. Fails, saying what to do, when Node (20 or later) or the module is missing.

use crate::root;
use std::process::Command;

#[test]
fn the_wasm_module_passes_the_javascript_tests() {
    let root = root();
    let wasm = root.join("web/dist/verifier.wasm");
    assert!(
        wasm.is_file(),
        "{} is missing: build it with web/build-wasm.sh (needs the wasm32-unknown-unknown target and clang)",
        wasm.display()
    );
    let version = Command::new("node").arg("--version").output().unwrap_or_else(|e| {
        panic!("cannot run `node` ({e}): the WebAssembly verifier's tests need Node.js 20 or later on the PATH")
    });
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    let major: u32 = version.trim_start_matches('v').split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    assert!(major >= 20, "Node.js {version} is too old for the WebAssembly verifier's tests: 20 or later is needed");
    let out = Command::new("node").arg("--test").arg("web/test/").current_dir(&root).output().expect("node --test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "node --test web/test/ failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("# fail 0"), "node --test ran no test or failed:\n{stdout}\n{stderr}");
}
