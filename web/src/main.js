// The application shell: header (views, chain, pinned genesis, language, sign-in), a hash router
// and the pages. Each page is a module with `render(main, params)` that answers a cleanup
// function (timers, event streams) called when the page is left.

import { t, setLang, currentLang } from "./i18n.js";
import { esc, shanghaiTime } from "./format.js";
import { session, signIn, signOut, onSessionChange } from "./session.js";
import { pinned, pinPanel } from "./genesis.js";
import { chainInfo, dialog, disposeCharts } from "./ui.js";
import * as publicPage from "./pages/public.js";
import * as regulatorPage from "./pages/regulator.js";
import * as enterprisePage from "./pages/enterprise.js";
import * as meterPage from "./pages/meter.js";
import * as screenPage from "./pages/screen.js";
import * as verifyPage from "./pages/verify.js";

const ROUTES = [
  [/^#?\/?$/, publicPage],
  [/^#\/public$/, publicPage],
  [/^#\/regulator(?:\/(\d{6}))?$/, regulatorPage],
  [/^#\/enterprise(?:\/([0-9A-Z]{18}))?(?:\/loc\/(.+))?$/, enterprisePage],
  [/^#\/meter\/(.+)$/, meterPage],
  [/^#\/screen$/, screenPage],
  [/^#\/verify$/, verifyPage],
];

/** What the current page registered to stop when it is left: timers, event streams. */
let leaving = [];

/** Handed to each page: `onLeave(f)` runs `f` when the page is left, whether it rendered or failed. */
function scope() {
  return { onLeave: (f) => leaving.push(f) };
}

function nav() {
  const here = location.hash || "#/";
  const items = [
    ["#/public", "nav_public"],
    ["#/regulator", "nav_regulator"],
    ["#/enterprise", "nav_enterprise"],
    ["#/screen", "nav_screen"],
    ["#/verify", "nav_verify"],
  ];
  document.getElementById("nav").innerHTML = items
    .map(([href, key]) => `<a href="${href}" data-testid="nav-${key.slice(4)}"${here.startsWith(href) ? ' aria-current="page"' : ""}>${t(key)}</a>`)
    .join("");
  document.getElementById("lang").textContent = currentLang() === "zh" ? "EN" : "中文";
  document.querySelector(".brand span").textContent = t("brand");
  document.getElementById("dialog-close").textContent = t("close");
  const who = document.getElementById("who");
  const s = session.current;
  who.innerHTML = s
    ? `<span class="pill" data-testid="signed-in" data-org="${esc(s.org.id)}" title="${esc(s.publicKey)}">${esc(s.org.name)} · ${t("role_" + s.org.kind)}</span> <button type="button" class="link" data-testid="sign-out">${t("sign_out")}</button>`
    : `<button type="button" class="primary" data-testid="sign-in">${t("sign_in")}</button>`;
  who.querySelector("[data-testid=sign-in]")?.addEventListener("click", signInDialog);
  who.querySelector("[data-testid=sign-out]")?.addEventListener("click", () => signOut());
}

function signInDialog() {
  const body = dialog(`<h2>${t("sign_in")}</h2><p class="small">${t("sign_in_intro")}</p>
    <form data-testid="sign-in-form" class="stack">
      <label>${t("key_file")} <input type="file" name="key" accept=".json,.key,application/json" required data-testid="key-file"></label>
      <label>${t("passphrase")} <input type="password" name="pass" autocomplete="current-password" data-testid="passphrase"></label>
      <button class="primary" data-testid="sign-in-submit">${t("sign_in")}</button>
      <p class="bad" data-role="err" data-testid="sign-in-error"></p>
    </form>`);
  const form = body.querySelector("form");
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    try {
      const file = form.key.files[0];
      await signIn(await file.text(), form.pass.value);
      form.pass.value = "";
      document.getElementById("dialog").close();
    } catch (e) {
      form.querySelector("[data-role=err]").textContent = e.message;
    }
  };
}

async function route() {
  for (const f of leaving.splice(0)) {
    try {
      f();
    } catch {}
  }
  disposeCharts();
  nav();
  // A fresh container per rendering: work a page left unfinished (a panel still loading) writes
  // into its own detached container, never into the next page's.
  const main = document.createElement("div");
  document.getElementById("main").replaceChildren(main);
  const hash = location.hash || "#/";
  const hit = ROUTES.map(([re, page]) => [re.exec(hash), page]).find(([m]) => m);
  if (!hit) {
    main.innerHTML = `<p>${t("error")}: ${esc(hash)}</p>`;
    return;
  }
  const [m, page] = hit;
  // `data-rendered` names the route once its page has rendered (see `data-pending` in api.js).
  document.documentElement.dataset.rendered = "";
  main.innerHTML = `<p class="muted">${t("loading")}</p>`;
  document.body.classList.toggle("screen-mode", page === screenPage);
  try {
    const sc = scope();
    const stop = await page.render(main, m.slice(1).map((x) => (x === undefined ? undefined : decodeURIComponent(x))), sc);
    if (typeof stop === "function") sc.onLeave(stop);
  } catch (e) {
    main.innerHTML = `<p class="bad">${t("error")}: ${esc(e.message)}</p>`;
    console.warn(e);
  }
  if ((location.hash || "#/") === hash) document.documentElement.dataset.rendered = hash;
}

async function refreshStatus() {
  try {
    const s = await (await fetch("/v1/status")).json();
    chainInfo.status = s;
    const pill = document.getElementById("chain-pill");
    pill.textContent = `${s.chain_id} · ${t("height")} ${s.finalized_height} · ${t("epoch")} ${s.epoch}`;
    pill.title = `${t("finalized")} ${shanghaiTime(s.finalized_time_ms)} · ${t("state_root")} ${s.state_root}`;
    pill.dataset.height = s.finalized_height;
    return s;
  } catch {
    return chainInfo.status;
  }
}

async function genesisPill(status) {
  const el = document.getElementById("genesis-pill");
  const banner = document.getElementById("banner");
  const g = await pinned(status.chain_id).catch(() => null);
  if (!g) {
    el.innerHTML = `<button type="button" class="link" data-testid="genesis-unpinned">${t("genesis_unpinned")}</button>`;
    el.querySelector("button").onclick = async () => {
      const body = dialog("");
      await pinPanel(body, status, async () => {
        document.getElementById("dialog").close();
        await genesisPill(status);
      });
    };
    banner.hidden = true;
    return;
  }
  el.innerHTML = `<span data-testid="genesis-pinned" title="${esc(g.info.hash)}">${t("genesis")} ${esc(g.info.fingerprint.slice(0, 14))}…</span>`;
  const mismatch = g.info.hash !== status.genesis_hash;
  banner.hidden = !mismatch;
  banner.textContent = mismatch ? t("genesis_mismatch") : "";
}

async function start() {
  document.getElementById("lang").onclick = () => {
    setLang(currentLang() === "zh" ? "en" : "zh");
    route();
  };
  document.documentElement.lang = currentLang() === "zh" ? "zh-CN" : "en";
  onSessionChange(() => route());
  window.addEventListener("hashchange", route);
  const status = await refreshStatus();
  await genesisPill(status);
  setInterval(refreshStatus, 2000);
  await route();
}

start();
