// Signed API reads for the end-to-end tests, written independently of the Rust signer
// (crates/httpsig) and of the browser's (the WebAssembly one): RFC 9421 in Trustmeter's profile,
// Ed25519 keys only, with Node's own crypto. The tests compare what a page shows with what the
// API answers to the same member.
import { createPrivateKey, sign } from "node:crypto";
import { readFileSync } from "node:fs";

/** Loads a plain (unencrypted) Ed25519 key file of `trustmeter keys generate` / the demo. */
export function loadKey(path) {
  const file = JSON.parse(readFileSync(path, "utf8"));
  if (file.scheme !== "ed25519" || !file.secret?.plain) {
    throw new Error(`${path}: only plain Ed25519 key files are read by the test harness`);
  }
  // PKCS#8 of an Ed25519 seed: a fixed 16-byte prefix and the 32-byte seed.
  const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), Buffer.from(file.secret.plain, "hex")]);
  return { keyid: file.public_key, organisation: file.organisation, key: createPrivateKey({ key: der, format: "der", type: "pkcs8" }) };
}

/** The two headers of a signed `method path?query`. */
export function signatureHeaders(k, method, path, query, created = Math.floor(Date.now() / 1000)) {
  const params = `("@method" "@path" "@query");created=${created};keyid="${k.keyid}";alg="ed25519";tag="trustmeter/v1"`;
  const base = `"@method": ${method.toUpperCase()}\n"@path": ${path || "/"}\n"@query": ?${query || ""}\n"@signature-params": ${params}`;
  const sig = sign(null, Buffer.from(base), k.key).toString("base64");
  return { "signature-input": `tm=${params}`, signature: `tm=:${sig}:` };
}

/** GET a JSON document from the node, signed with `k` when given; throws on an HTTP error. */
export async function getJson(base, pathAndQuery, k) {
  const u = new URL(pathAndQuery, base);
  const headers = k ? signatureHeaders(k, "GET", u.pathname, u.search.slice(1)) : {};
  const r = await fetch(u, { headers });
  const text = await r.text();
  if (!r.ok) throw new Error(`GET ${pathAndQuery}: ${r.status} ${text}`);
  return JSON.parse(text);
}

// `node signed.mjs BASE PATH [KEYFILE]`: print a signed GET's answer (for exploring the API).
if (import.meta.url === `file://${process.argv[1]}`) {
  const [base, path, keyFile] = process.argv.slice(2);
  const k = keyFile ? loadKey(keyFile) : undefined;
  console.log(JSON.stringify(await getJson(base, path, k), null, 1));
}
