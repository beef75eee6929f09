// The built verifier (web/dist/verifier.wasm) through web/src/verifier.js, in Node:
//   node --test web/test/
// Runs every case of the committed vectors (web/test/vectors/cases.json, generated and checked
// by `cargo test -p trustmeter-webverify`), opens the test key files and checks the headers it
// signs against the committed ones and against Node's own Ed25519 verification, and the
// transactions it signs against the committed ones (transactions.json: the CLI's signer's).

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { createPublicKey, verify as cryptoVerify } from "node:crypto";
import { loadVerifier } from "../src/verifier.js";

const here = new URL(".", import.meta.url);
const vectors = new URL("vectors/", here);
const wasmUrl = new URL("../dist/verifier.wasm", here);
const read = (name) => readFile(new URL(name, vectors), "utf8");

const verifier = await loadVerifier(wasmUrl);

/** Checks an answer against a case of cases.json (as crates/webverify/tests/vectors.rs does). */
function checkCase(c, a) {
  assert.equal(a.ok, c.ok, `${c.name}: ${JSON.stringify(a.error)}`);
  assert.equal(a.kind, c.kind, c.name);
  assert.ok(a.steps.length > 0, c.name);
  for (const s of a.steps) {
    for (const f of ["id", "name", "name_zh", "status", "detail"]) assert.equal(typeof s[f], "string", `${c.name}: ${f}`);
  }
  if (c.ok) {
    assert.ok(a.steps.every((s) => s.status === "passed"), c.name);
    assert.equal(a.error, null);
    for (const [k, v] of Object.entries(c.summary ?? {})) assert.deepEqual(a.summary[k], v, `${c.name}: summary.${k}`);
    assert.ok(Object.keys(a.summary).length > 0, c.name);
  } else {
    assert.equal(a.error.code, "verify_failed", c.name);
    assert.equal(a.error.step, c.step, `${c.name}: ${a.error.message}`);
    const at = a.steps.findIndex((s) => s.id === c.step);
    assert.ok(at >= 0, c.name);
    assert.equal(a.steps[at].status, "failed", c.name);
    assert.equal(a.steps[at].detail, a.error.message, c.name);
    assert.ok(a.steps.slice(0, at).every((s) => s.status !== "failed"), c.name);
    assert.ok(a.steps.slice(at + 1).every((s) => s.status === "not_reached"), c.name);
    assert.deepEqual(a.summary, {}, c.name);
  }
}

test("every committed case gets its verdict at its step", async () => {
  const cases = JSON.parse(await read("cases.json"));
  assert.ok(cases.length >= 20);
  for (const c of cases) {
    const a = verifier.verify(c.kind, await read(c.bundle), c.genesis == null ? null : await read(c.genesis), {
      txHash: c.tx_hash,
    });
    checkCase(c, a);
  }
});

test("a genuine reading passes every step; a tampered one fails visibly", async () => {
  const genesis = await read("genesis.json");
  const good = verifier.verify("reading", await read("reading.json"), genesis);
  assert.equal(good.ok, true);
  assert.deepEqual(
    good.steps.map((s) => s.id),
    ["format", "genesis", "reading_signature", "registry", "state_proofs", "inclusion", "epoch_chain", "finality"],
  );
  assert.equal(good.trusted_genesis, true);
  assert.equal(good.summary.unit, "kWh");
  assert.match(good.steps[7].detail, /3 of 4 validators/);
  assert.equal(good.steps[2].name_zh, "读数签名");

  const bad = verifier.verify("reading", await read("tampered-reading-value.json"), genesis);
  assert.equal(bad.ok, false);
  assert.equal(bad.error.step, "reading_signature");
  assert.deepEqual(
    bad.steps.map((s) => s.status),
    ["passed", "passed", "failed", "not_reached", "not_reached", "not_reached", "not_reached", "not_reached"],
  );
  assert.match(bad.error.message, /does not verify/);
});

test("without a trusted genesis the answer says so", async () => {
  const a = verifier.verify("reading", await read("reading.json"), null);
  assert.equal(a.ok, true);
  assert.equal(a.trusted_genesis, false);
  assert.ok(a.warnings.some((w) => w.startsWith("NOT CHECKED AGAINST A TRUSTED GENESIS")));
  assert.match(a.steps[1].detail, /^NOT TRUSTED/);
});

test("genesis info gives the hash /v1/status reports and a fingerprint", async () => {
  const g = verifier.genesisInfo(await read("genesis.json"));
  assert.equal(g.ok, true);
  assert.match(g.hash, /^[0-9a-f]{64}$/);
  assert.equal(g.fingerprint.replaceAll(" ", ""), g.hash.slice(0, 32));
  assert.equal(g.chain_id, "webverify-example");
  assert.equal(g.validators, 4);
  const reading = verifier.verify("reading", await read("reading.json"), await read("genesis.json"));
  assert.equal(reading.genesis.hash, g.hash);
  const bad = verifier.genesisInfo("{}");
  assert.equal(bad.ok, false);
  assert.equal(bad.error.code, "bad_genesis");
});

test("malformed and oversized inputs get error answers", async () => {
  assert.equal(verifier.call("no_such_op", {}).error.code, "unknown_op");
  assert.equal(verifier.call("verify", { kind: "reading" }).error.code, "bad_input");
  const a = verifier.verify("reading", "not json", null);
  assert.equal(a.ok, false);
  assert.equal(a.error.step, "format");
  const huge = verifier.verify("reading", "x".repeat(64 * 1024 * 1024 + 1), null);
  assert.equal(huge.ok, false);
  assert.equal(huge.error.code, "too_large");
  // The module still answers afterwards.
  assert.equal(verifier.verify("reading", await read("reading.json"), await read("genesis.json")).ok, true);
});

/** The signature base of Trustmeter's RFC 9421 profile (crates/httpsig), for an independent check. */
function signatureBase(method, path, query, digest, signatureInput) {
  const params = signatureInput.replace(/^tm=/, "");
  const lines = [`"@method": ${method}`, `"@path": ${path}`, `"@query": ?${query ?? ""}`];
  if (digest) lines.push(`"content-digest": ${digest}`);
  lines.push(`"@signature-params": ${params}`);
  return lines.join("\n");
}

test("keys open and sign the committed headers; Ed25519 ones verify with node:crypto", async () => {
  const vectors = JSON.parse(await read("sign.json"));
  assert.ok(vectors.length >= 6);
  const handles = new Map();
  for (const v of vectors) {
    if (!handles.has(v.key)) {
      const k = verifier.openKey(await read(v.key), v.passphrase);
      assert.equal(k.ok, true, JSON.stringify(k.error));
      const file = JSON.parse(await read(v.key));
      assert.equal(k.public_key, file.public_key);
      handles.set(v.key, k);
    }
    const k = handles.get(v.key);
    const url = v.query == null ? v.path : `${v.path}?${v.query}`;
    const s = verifier.signRequest(k.handle, { method: v.method, url, created: v.created, body: v.body });
    assert.equal(s.ok, true, JSON.stringify(s.error));
    assert.deepEqual(s.headers, v.headers, `${v.key} ${v.method} ${v.path}`);
    if (k.alg === "ed25519") {
      const raw = Buffer.from(k.public_key.slice("ed25519:".length), "hex");
      const der = Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), raw]);
      const key = createPublicKey({ key: der, format: "der", type: "spki" });
      const base = signatureBase(v.method, v.path, v.query, s.headers["content-digest"], s.headers["signature-input"]);
      const sig = Buffer.from(s.headers.signature.replace(/^tm=:/, "").replace(/:$/, ""), "base64");
      assert.ok(cryptoVerify(null, Buffer.from(base), key, sig), "node:crypto verifies the signature");
    }
  }
  for (const k of handles.values()) {
    assert.equal(verifier.closeKey(k.handle).closed, true);
    const after = verifier.signRequest(k.handle, { path: "/v1/status", created: 1 });
    assert.equal(after.error.code, "no_such_key");
  }
});

test("transactions sign byte for byte as the committed vectors (the CLI's); other kinds are refused", async () => {
  const vectors = JSON.parse(await read("transactions.json"));
  assert.ok(vectors.length >= 6);
  const handles = new Map();
  for (const v of vectors) {
    if (!handles.has(v.key)) handles.set(v.key, verifier.openKey(await read(v.key), v.passphrase).handle);
    const a = verifier.signTransaction(handles.get(v.key), { chainId: v.chain_id, nonce: v.nonce, payload: v.payload, hashAlg: "sha256" });
    assert.equal(a.ok, true, JSON.stringify(a.error));
    assert.equal(a.transaction, v.transaction, `${v.key} nonce ${v.nonce}`);
    assert.equal(a.tx_hash, v.tx_hash);
    assert.equal(a.kind, v.payload.type);
    const tx = JSON.parse(a.transaction);
    assert.equal(tx.body.nonce, v.nonce);
    assert.deepEqual(tx.body.payload, v.payload);
  }
  const handle = handles.values().next().value;
  const refused = verifier.signTransaction(handle, { chainId: "c-1", nonce: 1, payload: { type: "transfer", to: "x", amount: 1, memo: "" } });
  assert.equal(refused.error.code, "not_allowed");
  const bad = structuredClone(vectors.find((v) => v.payload.type === "record_shift_output").payload);
  bad.output.products[0].quantity = -5;
  const negative = verifier.signTransaction(handle, { chainId: "c-1", nonce: 1, payload: bad });
  assert.equal(negative.error.code, "bad_input");
  assert.match(negative.error.message, /negative/);
  assert.equal(verifier.signTransaction(handle, { chainId: "c-1", nonce: 0, payload: bad }).error.code, "bad_input");
  for (const h of handles.values()) verifier.closeKey(h);
  assert.equal(verifier.signTransaction(handle, { chainId: "c-1", nonce: 1, payload: vectors[0].payload }).error.code, "no_such_key");
});

test("a wrong passphrase is refused and the passphrase is not echoed", async () => {
  const a = verifier.openKey(await read("key-encrypted.json"), "not the passphrase");
  assert.equal(a.ok, false);
  assert.equal(a.error.code, "key_error");
  assert.match(a.error.message, /passphrase is wrong/);
  assert.ok(!a.error.message.includes("not the passphrase"));
});

test("the module loads from bytes or a compiled module as well as a URL", async () => {
  const bytes = await readFile(wasmUrl);
  const fromBytes = await loadVerifier(bytes);
  assert.equal(fromBytes.genesisInfo(await read("genesis.json")).ok, true);
  const fromModule = await loadVerifier(await WebAssembly.compile(bytes));
  assert.equal(fromModule.verify("figure", await read("figure.json"), await read("genesis.json")).ok, true);
});

test("mutated proofs never trap the module", async () => {
  const genesis = await read("genesis.json");
  let seed = 2026;
  const rand = (n) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (const [kind, file] of [["reading", "reading.json"], ["figure", "figure.json"], ["state", "state.json"]]) {
    const text = await read(file);
    for (let i = 0; i < 80; i++) {
      const at = rand(text.length);
      const mutated = rand(2) === 0
        ? text.slice(0, at) + "0{[\",x"[rand(6)] + text.slice(at + 1)
        : text.slice(0, at);
      const a = verifier.verify(kind, mutated, genesis);
      assert.notEqual(a.error?.code, "internal", `${kind} at ${at}: ${a.error?.message}`);
      assert.equal(typeof a.ok, "boolean");
    }
  }
  const nested = verifier.verify("reading", "[".repeat(100000), null);
  assert.equal(nested.error.step, "format");
});
