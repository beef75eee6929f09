// The signed-in member and the verifier module. The account key is opened inside the WebAssembly
// module and stays there (a handle in this page's memory): never stored, never sent. Every API
// request is signed with it (RFC 9421, the node's authentication), so the node applies the
// member's access rules exactly as it does for the CLI.

import { loadVerifier } from "./verifier.js";

let verifierPromise = null;

/** The WebAssembly verifier and signer, loaded once. */
export function verifier() {
  verifierPromise ??= loadVerifier("/app/verifier.wasm");
  return verifierPromise;
}

/** A module answer's value, or its error thrown (with the module's sentence). */
export function must(answer) {
  if (!answer.ok) throw new Error(answer.error?.message ?? "the verifier refused the request");
  return answer;
}

/** Who is signed in: null, or {handle, publicKey, org: {id, name, kind, region}}. */
export const session = { current: null, listeners: new Set() };

/** Calls `f` whenever the member signs in or out. */
export function onSessionChange(f) {
  session.listeners.add(f);
}

function changed() {
  for (const f of session.listeners) f(session.current);
}

/**
 * Opens a key file, finds its organisation on the chain and signs in. Throws with a message the
 * page shows when the file is not a key, the passphrase is wrong, or the key is no member's.
 */
export async function signIn(fileText, passphrase) {
  const v = await verifier();
  const key = must(await v.openKey(fileText, passphrase || null));
  try {
    const account = await fetchJson(`/v1/accounts/${encodeURIComponent(key.public_key)}`);
    if (!account.organisation) throw new Error(`the key ${key.public_key} is no member's account`);
    const org = await fetchJson(`/v1/organisations/${encodeURIComponent(account.organisation)}`);
    if (session.current) await signOut();
    session.current = { handle: key.handle, publicKey: key.public_key, org };
    changed();
    return session.current;
  } catch (e) {
    await v.closeKey(key.handle);
    throw e;
  }
}

/** Wipes the key from the module's memory and forgets the member. */
export async function signOut() {
  if (!session.current) return;
  const v = await verifier();
  await v.closeKey(session.current.handle);
  session.current = null;
  changed();
}

/** The signature headers of `GET path?query`, or {} when nobody is signed in. */
export async function signatureHeaders(method, path, query) {
  if (!session.current) return {};
  const v = await verifier();
  const signed = must(await v.signRequest(session.current.handle, { method, path, query: query || null, created: Math.floor(Date.now() / 1000) }));
  return signed.headers;
}

async function fetchJson(path) {
  const r = await fetch(path);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.message || `${r.status} ${path}`);
  return body;
}
