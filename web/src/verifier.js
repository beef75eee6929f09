// Trustmeter's proof verifier, request and transaction signer, in the page: the Rust verifier
// (crates/webverify, built to web/dist/verifier.wasm by web/build-wasm.sh) behind a small API.
// No dependencies; works in browsers and in Node 20+.
//
//   import { loadVerifier } from "./verifier.js";
//   const v = await loadVerifier("/dist/verifier.wasm");
//   const r = v.verify("reading", await (await fetch(proofUrl)).text(), trustedGenesisText);
//   r.ok; r.steps; r.summary; r.error;   // see crates/webverify/README.md
//
// Every method returns the module's JSON answer as an object, `{ok, error, ...}`; `error` is
// null or `{code, step, message}`. Nothing is sent anywhere: the proof, the genesis and the key
// stay in the page.

const ABI_VERSION = 1;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Reads the module's bytes from a URL (fetch; `file:` URLs through node:fs in Node). */
async function readBytes(source) {
  let base = globalThis.location?.href;
  if (base === undefined && globalThis.process?.cwd) {
    // Node: a relative path is relative to the working directory.
    const { pathToFileURL } = await import("node:url");
    base = pathToFileURL(`${globalThis.process.cwd()}/`).href;
  }
  const url = source instanceof URL ? source : new URL(String(source), base);
  if (url.protocol === "file:") {
    const fs = await import("node:fs/promises");
    return new Uint8Array(await fs.readFile(url));
  }
  const response = await fetch(url);
  if (!response.ok) throw new Error(`fetching ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** Compiles the module from a URL, path, bytes or an already compiled WebAssembly.Module. */
async function compile(source) {
  if (source instanceof WebAssembly.Module) return source;
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) return WebAssembly.compile(source);
  return WebAssembly.compile(await readBytes(source));
}

/**
 * Loads the verifier.
 * @param {string|URL|ArrayBuffer|Uint8Array|WebAssembly.Module} urlOrBytes the module: a URL
 *   (or a path, relative to the page), its bytes, or a compiled module.
 * @returns {Promise<Verifier>}
 */
export async function loadVerifier(urlOrBytes) {
  const module = await compile(urlOrBytes);
  const verifier = new Verifier(module);
  await verifier._start();
  return verifier;
}

/** The verifier: one WebAssembly instance and the keys opened in it. */
class Verifier {
  constructor(module) {
    this._module = module;
    this._exports = null;
  }

  /**
   * The module's imports. Randomness (batch signature verification draws random coefficients;
   * they cannot change a verdict) comes through getrandom's wasm-bindgen backend, which the
   * module's dependencies select: without wasm-bindgen's tool the module imports its raw
   * intrinsics, `__wbg_getRandomValues_<hash>(ptr, len)` and a few that nothing calls (they throw
   * here). See crates/webverify/src/abi.rs.
   */
  _imports() {
    const imports = {};
    const fill = (ptr, len) => {
      const cryptoApi = globalThis.crypto;
      if (!cryptoApi?.getRandomValues) throw new Error("no crypto.getRandomValues in this environment");
      for (let off = 0; off < len; off += 65536) {
        const n = Math.min(65536, len - off);
        cryptoApi.getRandomValues(new Uint8Array(this._exports.memory.buffer, ptr + off, n));
      }
    };
    for (const { module, name, kind } of WebAssembly.Module.imports(this._module)) {
      if (kind !== "function") throw new Error(`verifier.wasm imports a ${kind} ${module}.${name}: not a module this verifier.js can run`);
      imports[module] ??= {};
      if (module === "__wbindgen_placeholder__" && name.startsWith("__wbg_getRandomValues_")) {
        imports[module][name] = fill;
      } else {
        imports[module][name] = () => {
          throw new Error(`verifier.wasm called ${module}.${name}, which this verifier.js does not provide`);
        };
      }
    }
    return imports;
  }

  _use(instance) {
    const version = instance.exports.tm_abi_version();
    if (version !== ABI_VERSION) {
      throw new Error(`verifier.wasm speaks ABI ${version}, this verifier.js ${ABI_VERSION}: rebuild them together`);
    }
    this._exports = instance.exports;
  }

  async _start() {
    this._use(await WebAssembly.instantiate(this._module, this._imports()));
  }

  /** After a trap: a fresh instance (synchronously where allowed, else in the background). */
  _restart() {
    this._exports = null;
    try {
      this._use(new WebAssembly.Instance(this._module, this._imports()));
    } catch {
      this._restarting = WebAssembly.instantiate(this._module, this._imports()).then((i) => {
        this._use(i);
        this._restarting = null;
      });
    }
  }

  /** Resolves once the module is ready (after a restart in the background). */
  async ready() {
    if (this._restarting) await this._restarting;
  }

  /** Copies bytes into a fresh module buffer; returns its pointer (0 for no bytes). */
  _put(bytes) {
    if (bytes.length === 0) return 0;
    const ptr = this._exports.tm_alloc(bytes.length);
    if (ptr === 0) throw new BufferRefused(bytes.length);
    new Uint8Array(this._exports.memory.buffer, ptr, bytes.length).set(bytes);
    return ptr;
  }

  /** Wipes and frees a buffer of `_put`. */
  _drop(ptr, len) {
    if (ptr === 0) return;
    new Uint8Array(this._exports.memory.buffer, ptr, len).fill(0);
    this._exports.tm_free(ptr, len);
  }

  /**
   * Runs an operation: `op` (string) on `input` (an object, sent as JSON). Returns the answer.
   * A trap (out of memory, or a bug) is answered as an error and the module is restarted: keys
   * opened before it are gone.
   */
  call(op, input) {
    if (this._exports === null) return failure("internal", "the verifier is restarting; await ready() and try again");
    const opBytes = encoder.encode(op);
    const inBytes = encoder.encode(JSON.stringify(input));
    const exports = this._exports;
    let opPtr = 0;
    let inPtr = 0;
    try {
      opPtr = this._put(opBytes);
      inPtr = this._put(inBytes);
      const { ptr, len } = unpack(exports.tm_call(opPtr, opBytes.length, inPtr, inBytes.length));
      if (ptr === 0) return failure("internal", "the module had no memory for its answer");
      const text = decoder.decode(new Uint8Array(exports.memory.buffer, ptr, len));
      exports.tm_free(ptr, len);
      return JSON.parse(text);
    } catch (e) {
      if (e instanceof BufferRefused) return failure("too_large", e.message);
      if (e instanceof WebAssembly.RuntimeError) {
        const why = panicMessage(exports);
        opPtr = inPtr = 0;
        this._restart();
        return failure("internal", `the verifier stopped (${why || e.message}); it was restarted and its open keys are closed`);
      }
      throw e;
    } finally {
      if (this._exports === exports) {
        this._drop(opPtr, opBytes.length);
        this._drop(inPtr, inBytes.length);
      }
    }
  }

  /**
   * Verifies a proof.
   * @param {"reading"|"figure"|"carbon"|"receipt"|"state"} kind what the document proves
   * @param {string} bundleText the proof document as the node served it
   * @param {string|null} genesisText the genesis you trust; null to use the proof's own (the
   *   answer then says `trusted_genesis: false` and warns)
   * @param {{txHash?: string}} [options] `txHash`: the transaction a receipt proof is for
   * @returns {{ok: boolean, kind: string, trusted_genesis: boolean, genesis: object|null,
   *   steps: {id: string, name: string, name_zh: string, status: "passed"|"failed"|"not_reached", detail: string}[],
   *   summary: object, warnings: string[], error: null|{code: string, step: string|null, message: string}}}
   */
  verify(kind, bundleText, genesisText = null, options = {}) {
    const input = { kind, bundle: String(bundleText), genesis: genesisText == null ? null : String(genesisText) };
    if (options.txHash != null) input.tx_hash = String(options.txHash);
    return this.call("verify", input);
  }

  /** The genesis hash (as /v1/status reports it), its fingerprint, chain id, hash algorithm, validators. */
  genesisInfo(genesisText) {
    return this.call("genesis_info", { genesis: String(genesisText) });
  }

  /**
   * Opens an account key file (its text); the secret stays in the module.
   * @returns {{ok: boolean, handle: number, public_key: string, alg: string, label: string,
   *   organisation: string|null, device: string|null, encrypted: boolean, error: object|null}}
   */
  openKey(fileText, passphrase = null) {
    return this.call("open_key", { file: String(fileText), passphrase: passphrase == null ? null : String(passphrase) });
  }

  /**
   * Signs a request for the node's API with an open key (RFC 9421, as `trustmeter query --key`).
   * @param {number} handle from openKey
   * @param {{method?: string, url?: string|URL, path?: string, query?: string|null,
   *   created?: number, body?: string, bodyBase64?: string}} request `url` (absolute, or a path
   *   with its query) or `path` and `query` (without `?`), exactly as the request is sent;
   *   `created` Unix seconds, now by default
   * @returns {{ok: boolean, headers: Object<string, string>, error: object|null}} the headers to
   *   send (`signature-input`, `signature`, and `content-digest` with a body)
   */
  signRequest(handle, request) {
    let { path, query = null } = request;
    if (request.url != null) {
      const u = new URL(String(request.url), "http://placeholder");
      path = u.pathname;
      query = u.search.startsWith("?") ? u.search.slice(1) : null;
    }
    const input = {
      handle,
      method: String(request.method ?? "GET").toUpperCase(),
      path: String(path),
      query: query == null || query === "" ? null : String(query),
      created: request.created ?? Math.floor(Date.now() / 1000),
    };
    if (request.body != null) input.body = String(request.body);
    if (request.bodyBase64 != null) input.body_base64 = String(request.bodyBase64);
    return this.call("sign_request", input);
  }

  /**
   * Signs a transaction with an open key, as the CLI does (`trustmeter tx`): only the kinds a page
   * may sign (`set_shift_calendar`, `record_shift_output`; crates/webverify/src/transactions.rs).
   * @param {number} handle from openKey: the sender
   * @param {{chainId: string, nonce: number, payload: object, hashAlg?: "sha256"|"sm3"|null}} tx
   *   the chain (`/v1/status`), the nonce (the account's `last_nonce` + 1), the payload as a
   *   transaction's JSON holds it (`{type: "record_shift_output", output: {…}}`), and the
   *   chain's hash algorithm for `tx_hash`
   * @returns {{ok: boolean, transaction: string, kind: string, sender: string, nonce: number,
   *   chain_id: string, tx_hash: string|null, error: object|null}} `transaction`: the body of
   *   `POST /v1/transactions` (application/json)
   */
  signTransaction(handle, tx) {
    if (!Number.isSafeInteger(tx.nonce) || tx.nonce < 1) return failure("bad_input", "the nonce is a whole number from 1");
    return this.call("sign_transaction", {
      handle,
      chain_id: String(tx.chainId),
      nonce: tx.nonce,
      payload: tx.payload,
      hash_alg: tx.hashAlg ?? null,
    });
  }

  /** Closes a key: its secret is wiped from the module's memory. */
  closeKey(handle) {
    return this.call("close_key", { handle });
  }
}

/** The module refused a buffer (larger than its input limit, or out of memory). */
class BufferRefused extends Error {
  constructor(len) {
    super(`the module refused a buffer of ${len} bytes (larger than it accepts, or out of memory)`);
  }
}

/** The message of the panic that trapped the last call, if any. */
function panicMessage(exports) {
  try {
    const { ptr, len } = unpack(exports.tm_panic_message());
    if (ptr === 0 || len === 0) return "";
    return new TextDecoder().decode(new Uint8Array(exports.memory.buffer, ptr, len));
  } catch {
    return "";
  }
}

function unpack(packed) {
  const v = BigInt.asUintN(64, BigInt(packed));
  return { ptr: Number(v >> 32n), len: Number(v & 0xffffffffn) };
}

function failure(code, message) {
  return { ok: false, error: { code, step: null, message } };
}
