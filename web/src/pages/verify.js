// Verify a proof file (a reading's bundle, a daily figure's proof, a carbon year's proof, a
// transaction receipt's proof) in this browser, against the pinned genesis, trusting no server.

import { t } from "../i18n.js";
import { esc } from "../format.js";
import { pinned, pinPanel } from "../genesis.js";
import { chainInfo, renderResult, verifyText } from "../ui.js";

const KINDS = ["reading", "figure", "carbon", "receipt", "state"];

/** The kind of a proof document from its `version` (or `format`) field. */
export function kindOf(text) {
  try {
    const v = JSON.parse(text);
    const tag = String(v.version ?? v.format ?? "");
    if (tag.startsWith("trustmeter-proof/")) return "reading";
    if (tag.startsWith("trustmeter-figure-proof/")) return "figure";
    if (tag.startsWith("trustmeter-carbon-proof/")) return "carbon";
    if (tag.startsWith("trustmeter-receipt-proof/")) return "receipt";
    if (tag.startsWith("trustmeter-state-proofs/")) return "state";
  } catch {}
  return "reading";
}

export async function render(main) {
  const status = chainInfo.status;
  main.innerHTML = `<h1>${t("nav_verify")}</h1><p>${t("verify_paste")}</p>
    <div data-role="pin"></div>
    <form class="stack" data-testid="verify-form">
      <label>${t("verify_kind")} <select name="kind">${KINDS.map((k) => `<option>${k}</option>`).join("")}</select></label>
      <input type="file" name="file" accept=".json,application/json" data-testid="proof-file">
      <textarea name="text" rows="8" spellcheck="false" data-testid="proof-text" placeholder="{ &quot;version&quot;: &quot;trustmeter-proof/v4&quot;, … }"></textarea>
      <button class="primary" data-testid="verify-run">${t("verify_run")}</button>
    </form>
    <div data-role="result"></div>`;
  const form = main.querySelector("form");
  form.file.onchange = async () => {
    form.text.value = await form.file.files[0].text();
    form.kind.value = kindOf(form.text.value);
  };
  form.text.oninput = () => (form.kind.value = kindOf(form.text.value));
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    const out = main.querySelector("[data-role=result]");
    let g = await pinned(status.chain_id);
    if (!g) {
      await new Promise((resolve) => pinPanel(main.querySelector("[data-role=pin]"), status, resolve));
      main.querySelector("[data-role=pin]").innerHTML = "";
      g = await pinned(status.chain_id);
    }
    out.innerHTML = `<p>${t("verifying")}</p>`;
    try {
      out.innerHTML = renderResult(await verifyText(form.kind.value, form.text.value, g), g.info);
    } catch (e) {
      out.innerHTML = `<p class="bad">${esc(e.message)}</p>`;
    }
  };
}
