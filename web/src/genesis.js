// The genesis the user trusts, pinned in this browser (localStorage, per chain id). Every proof
// is verified against it, never against what a node sends alongside a proof. The node's own
// genesis is compared with it at every start: a node of another chain, or a forged one, shows a
// red banner.

import { must, verifier } from "./session.js";
import { t } from "./i18n.js";
import { esc } from "./format.js";

const keyOf = (chainId) => `tm.genesis.${chainId}`;

/** The pinned genesis of `chainId`: {text, info} or null. */
export async function pinned(chainId) {
  const text = localStorage.getItem(keyOf(chainId));
  if (!text) return null;
  const info = must(await (await verifier()).genesisInfo(text));
  return { text, info };
}

/** Pins a genesis document (its text); answers its info. Refuses one of another chain. */
export async function pin(text, expectedChainId) {
  const info = must(await (await verifier()).genesisInfo(text));
  if (expectedChainId && info.chain_id !== expectedChainId) {
    throw new Error(`this genesis is of chain ${info.chain_id}, not ${expectedChainId}`);
  }
  localStorage.setItem(keyOf(info.chain_id), text);
  return info;
}

/** Forgets the pinned genesis of a chain. */
export function unpin(chainId) {
  localStorage.removeItem(keyOf(chainId));
}

/**
 * Renders the pinning panel into `el`: the node's genesis with its fingerprint, to compare and
 * trust, or a file to import. Calls `done(info)` once pinned.
 */
export async function pinPanel(el, status, done) {
  const text = await (await fetch("/v1/genesis")).text();
  const info = must(await (await verifier()).genesisInfo(text));
  el.innerHTML = `
    <h2>${t("genesis")} · ${esc(info.chain_id)}</h2>
    <p>${t("genesis_intro")}</p>
    <p>${t("fingerprint")}: <code class="fingerprint" data-testid="genesis-fingerprint">${esc(info.fingerprint)}</code></p>
    <p class="muted small">SHA: <code data-testid="genesis-hash">${esc(info.hash)}</code> · ${esc(info.hash_alg)} · ${t("validators")} ${info.validators}</p>
    ${info.hash !== status.genesis_hash ? `<p class="bad">${t("genesis_mismatch")}</p>` : ""}
    <p><button type="button" class="primary" data-testid="pin-genesis">${t("genesis_pin")}</button>
       <label class="file">${t("genesis_import")} <input type="file" accept=".json,application/json" data-testid="genesis-file"></label></p>
    <p class="bad" data-role="err"></p>`;
  el.querySelector("[data-testid=pin-genesis]").onclick = async () => done(await pin(text, status.chain_id));
  el.querySelector("[data-testid=genesis-file]").onchange = async (ev) => {
    try {
      done(await pin(await ev.target.files[0].text(), status.chain_id));
    } catch (e) {
      el.querySelector("[data-role=err]").textContent = e.message;
    }
  };
}
