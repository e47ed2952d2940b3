// Shared by the four pages: Chinese first with English as the second language, elder mode (长辈版), a status line.
"use strict";
(function (global) {
  const T = {};
  let lang = "zh";
  const params = new URLSearchParams(location.search);

  function t(key, vars) {
    const entry = T[key];
    let s = entry ? entry[lang] || entry.zh : key;
    for (const [k, v] of Object.entries(vars || {})) s = s.replace(`{${k}}`, v);
    return s;
  }
  function apply() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
    for (const el of document.querySelectorAll("[data-t-label]")) el.setAttribute("aria-label", t(el.dataset.tLabel));
    for (const el of document.querySelectorAll("[data-t-placeholder]")) el.placeholder = t(el.dataset.tPlaceholder);
    const title = document.querySelector("[data-t-title]");
    if (title) document.title = t(title.dataset.tTitle);
    const langBtn = document.getElementById("lang");
    if (langBtn) langBtn.textContent = lang === "zh" ? "English" : "中文";
    const elderBtn = document.getElementById("elder");
    if (elderBtn) {
      const on = document.body.classList.contains("elder");
      elderBtn.textContent = on ? t("standard_mode") : t("elder_mode");
      elderBtn.setAttribute("aria-pressed", String(on));
    }
    document.dispatchEvent(new CustomEvent("langchange"));
  }
  // `persist` is false on the kiosk: it keeps nothing in the browser.
  function init(strings, { persist = true } = {}) {
    Object.assign(T, strings, {
      elder_mode: { zh: "长辈版", en: "Elder mode" },
      standard_mode: { zh: "标准版", en: "Standard" },
    });
    const store = persist ? localStorage : null;
    lang = params.get("lang") || (store && store.getItem("sscard.lang")) || "zh";
    const elder = params.has("elder") ? params.get("elder") === "1" : store && store.getItem("sscard.elder") === "1";
    document.body.classList.toggle("elder", !!elder);
    const langBtn = document.getElementById("lang");
    if (langBtn) langBtn.addEventListener("click", () => {
      lang = lang === "zh" ? "en" : "zh";
      if (store) store.setItem("sscard.lang", lang);
      apply();
    });
    const elderBtn = document.getElementById("elder");
    if (elderBtn) elderBtn.addEventListener("click", () => {
      const on = !document.body.classList.contains("elder");
      document.body.classList.toggle("elder", on);
      if (store) store.setItem("sscard.elder", on ? "1" : "0");
      apply();
    });
    apply();
  }
  function status(text, kind) {
    const el = document.getElementById("status");
    if (!el) return;
    el.textContent = text;
    el.className = "status" + (kind ? " " + kind : "");
  }
  function show(id) {
    for (const s of document.querySelectorAll("main > section")) s.hidden = s.id !== id;
    const h = document.querySelector(`#${id} h2`);
    if (h) { h.tabIndex = -1; h.focus({ preventScroll: true }); }
  }
  async function api(method, path, body, headers) {
    const r = await fetch(path, { method, headers: { ...(body !== undefined ? { "Content-Type": "application/json" } : {}), ...(headers || {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined });
    let data = null;
    try { data = await r.json(); } catch (e) { /* not JSON */ }
    if (!r.ok) { const err = new Error((data && data.detail) || `HTTP ${r.status}`); err.status = r.status; throw err; }
    return data;
  }
  global.pages = { t, init, apply, status, show, api, get lang() { return lang; } };
})(window);
