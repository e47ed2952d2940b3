// The holder's e-card on a phone. The device key is made here (WebCrypto Ed25519, private key non-extractable)
// and kept in IndexedDB; every call to the server is signed with it (Authorization: Device <JWS>). With a
// network the code is a server-signed token; without one it is an offline presentation made here under the
// issuer credential fetched while online.
"use strict";
(function () {
  const { t, status, show, api } = pages;
  const TTL = 60, REFRESH_BEFORE = 10;
  pages.init({
    holder_title: { zh: "电子社保卡", en: "E-social security card" },
    activate_h: { zh: "激活电子社保卡", en: "Activate your e-card" },
    activate_help: { zh: "请到柜台读卡并验证密码，工作人员会给您一个激活码。", en: "At the counter your card is read and its PIN checked; staff give you an activation code." },
    code_label: { zh: "激活码", en: "Activation code" },
    activate_btn: { zh: "激活", en: "Activate" },
    code_h: { zh: "出示电子社保卡", en: "Show your e-card" },
    refresh_btn: { zh: "刷新二维码", en: "New code" },
    more_btn: { zh: "更多服务", en: "More" },
    more_h: { zh: "更多服务", en: "More services" },
    loss_btn: { zh: "挂失社保卡", en: "Report card lost" },
    back_btn: { zh: "返回", en: "Back" },
    loss_h: { zh: "确认挂失？", en: "Report the card lost?" },
    loss_warn: { zh: "挂失后，实体卡和电子社保卡都将停止使用，需到柜台办理解挂或补卡。", en: "The card and the e-card stop working at once; the counter can restore or replace the card." },
    loss_yes: { zh: "确认挂失", en: "Yes, report lost" },
    stopped_h: { zh: "电子社保卡已停用", en: "E-card stopped" },
    reset_btn: { zh: "重新激活", en: "Activate again" },
    online: { zh: "在线码", en: "Online code" },
    offline: { zh: "离线码（无网络）", en: "Offline code (no network)" },
    refresh_in: { zh: "{s} 秒后自动刷新", en: "Refreshes in {s} s" },
    qr_label: { zh: "电子社保卡二维码", en: "E-card QR code" },
    activating: { zh: "正在激活…", en: "Activating…" },
    activated: { zh: "激活成功", en: "Activated" },
    bad_code: { zh: "激活码格式不对：10 位字母或数字 2-7", en: "An activation code is 10 letters or digits 2-7" },
    lost_done: { zh: "已挂失。卡号 {card}", en: "Reported lost. Card {card}" },
    card_stopped: { zh: "卡状态：{s}，无法出示电子社保卡", en: "The card is {s}; no e-card code can be shown" },
    device_gone: { zh: "此设备已解绑或卡已挂失，请到柜台重新激活", en: "This device is no longer bound (or the card was reported lost)" },
    no_cred: { zh: "无网络，且尚无离线凭证：请联网一次", en: "No network and no offline credential yet: go online once" },
    cred_expired: { zh: "离线凭证已过期（7 天），请联网一次", en: "The offline credential has expired (7 days): go online once" },
    benefits_btn: { zh: "待遇发放记录", en: "Benefits paid" },
    benefits_h: { zh: "待遇发放记录", en: "Benefits paid" },
    benefits_total: { zh: "共 {n} 笔，合计 {sum} 元", en: "{n} payments, {sum} yuan in all" },
    benefits_none: { zh: "尚无发放记录", en: "No benefit has been paid yet" },
    benefit_line: { zh: "{period} · {date} 发放至 {account}", en: "{period} · paid {date} to {account}" },
    loading: { zh: "正在读取…", en: "Loading…" },
    need_network: { zh: "需要联网才能查看：{e}", en: "This needs the network: {e}" },
    yuan: { zh: "{v} 元", en: "{v} yuan" },
    webcrypto: { zh: "此浏览器不支持 Ed25519 密钥", en: "This browser cannot make an Ed25519 key" },
  });

  // ---- IndexedDB: one object store, the device record under "device" ----
  const DB = "sscard-holder";
  function idb() {
    return new Promise((res, rej) => {
      const r = indexedDB.open(DB, 1);
      r.onupgradeneeded = () => r.result.createObjectStore("kv");
      r.onsuccess = () => res(r.result);
      r.onerror = () => rej(r.error);
    });
  }
  async function kv(mode, fn) {
    const db = await idb();
    return new Promise((res, rej) => {
      const tx = db.transaction("kv", mode), st = tx.objectStore("kv"), req = fn(st);
      tx.oncomplete = () => res(req && req.result);
      tx.onerror = () => rej(tx.error);
    });
  }
  const load = () => kv("readonly", (s) => s.get("device"));
  const save = (d) => kv("readwrite", (s) => s.put(d, "device"));
  const forget = () => kv("readwrite", (s) => s.delete("device"));

  let device = null, timer = null;

  async function signed(method, path, body) {
    const text = body === undefined ? "" : JSON.stringify(body);
    const proof = await sscard.signRequest(device.privateKey, device.deviceId, method, path, new TextEncoder().encode(text));
    const r = await fetch(path, { method, body: body === undefined ? undefined : text,
      headers: { Authorization: "Device " + proof, ...(body === undefined ? {} : { "Content-Type": "application/json" }) } });
    let data = null;
    try { data = await r.json(); } catch (e) { /* empty */ }
    if (!r.ok) { const err = new Error((data && data.detail) || `HTTP ${r.status}`); err.status = r.status; throw err; }
    return data;
  }

  async function activate(code) {
    let pair;
    try {
      pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    } catch (e) { status(t("webcrypto"), "bad"); return; }
    const pub = await crypto.subtle.exportKey("jwk", pair.publicKey);
    const res = await api("POST", "/v1/activate", { code, device_jwk: { kty: "OKP", crv: "Ed25519", x: pub.x },
      device_name: "browser " + (navigator.userAgentData?.platform || navigator.platform || "") });
    device = { deviceId: res.device_id, privateKey: pair.privateKey, publicKey: pair.publicKey, holder: res.holder,
      credential: null, credentialExp: 0, who: "" };
    await save(device);
    await renewCredential();
    try { const me = await signed("GET", "/v1/me"); device.who = me.name.slice(0, 1) + "*".repeat(Math.max(1, me.name.length - 1)); } catch (e) { /* shown later */ }
    await save(device);
  }

  async function renewCredential() {
    const c = await signed("POST", "/v1/credentials/offline", {});
    device.credential = c.credential;
    device.credentialExp = c.expires_at;
    await save(device);
  }

  function stop(why) {
    clearTimeout(timer);
    benefits = null; renderBenefits();
    document.getElementById("qr").innerHTML = "";
    document.getElementById("stopped-why").textContent = why;
    show("stopped");
  }

  let expiresAt = 0;
  async function showCode() {
    clearTimeout(timer);
    const now = Date.now() / 1000;
    let token, mode;
    try {
      const r = await signed("POST", "/v1/token", { ttl: TTL });
      token = r.token; mode = "online";
      expiresAt = r.expires_at;
      if (!device.credential || device.credentialExp - now < 86400) renewCredential().catch(() => {});
    } catch (e) {
      if (e.status === 401) return stop(t("device_gone"));
      if (e.status === 403) return stop(e.message);
      console.warn("sscard holder: online code unavailable, making an offline one:", e.message);
      if (!device.credential) { status(t("no_cred"), "bad"); return; }
      if (device.credentialExp <= now) { document.getElementById("qr").innerHTML = ""; status(t("cred_expired"), "bad"); show("show"); return; }
      token = await sscard.present(sscard.b64uDecode(device.credential), device.privateKey, now, TTL);
      mode = "offline";
      expiresAt = Math.floor(now) + TTL;
    }
    const box = document.getElementById("qr");
    box.innerHTML = sscard.qrSvg(token, t("qr_label"));
    box.dataset.token = token;
    box.dataset.mode = mode;
    const m = document.getElementById("mode");
    m.textContent = t(mode); m.className = "pill" + (mode === "offline" ? " offline" : "");
    document.getElementById("who").textContent = device.who || "";
    show("show");
    status("");
    tick();
  }
  function tick() {
    const left = Math.max(0, Math.round(expiresAt - REFRESH_BEFORE - Date.now() / 1000));
    document.getElementById("countdown").textContent = t("refresh_in", { s: left });
    timer = setTimeout(left <= 0 ? showCode : tick, left <= 0 ? 0 : 1000);
  }

  document.getElementById("activate-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const code = document.getElementById("code").value.trim().toUpperCase();
    if (!/^[A-Z2-7]{10}$/.test(code)) { status(t("bad_code"), "bad"); return; }
    status(t("activating"));
    try { await activate(code); status(t("activated"), "ok"); await showCode(); } catch (e) { status(e.message, "bad"); }
  });
  document.getElementById("refresh").addEventListener("click", showCode);
  document.getElementById("to-more").addEventListener("click", () => { clearTimeout(timer); show("more"); });
  document.getElementById("back").addEventListener("click", showCode);
  document.getElementById("loss").addEventListener("click", () => show("confirm-loss"));
  document.getElementById("loss-no").addEventListener("click", () => show("more"));
  document.getElementById("loss-yes").addEventListener("click", async () => {
    try {
      const r = await signed("POST", "/v1/me/loss", {});
      stop(t("lost_done", { card: r.card_no_masked }));
    } catch (e) { status(e.message, "bad"); }
  });
  // ---- benefits paid (GET /v1/me/benefits): read when opened, kept only on screen ----
  const yuan = (fen) => (fen / 100).toFixed(2);
  // holder_db's benefit-kinds table names a kind "中文 (English)"
  const kindName = (name) => { const m = /^(.*?) \((.*)\)$/.exec(name); return m ? (pages.lang === "zh" ? m[1] : m[2]) : name; };
  let benefits = null;
  function renderBenefits() {
    const list = document.getElementById("benefits-list");
    list.textContent = "";
    if (!benefits) return;
    document.getElementById("benefits-total").textContent = benefits.benefits.length
      ? t("benefits_total", { n: benefits.benefits.length, sum: yuan(benefits.total) }) : t("benefits_none");
    for (const b of benefits.benefits) {
      const li = list.appendChild(document.createElement("li"));
      const amount = li.appendChild(document.createElement("span"));
      amount.className = "amount"; amount.textContent = t("yuan", { v: yuan(b.amount) });
      li.appendChild(document.createElement("strong")).textContent = kindName(b.benefit_name);
      const small = li.appendChild(document.createElement("div"));
      small.className = "muted";
      small.textContent = t("benefit_line", { period: b.period, date: b.paid_at.slice(0, 10), account: b.bank_account_masked });
    }
  }
  document.getElementById("to-benefits").addEventListener("click", async () => {
    benefits = null; renderBenefits();
    document.getElementById("benefits-total").textContent = t("loading");
    show("benefits");
    try { benefits = await signed("GET", "/v1/me/benefits"); renderBenefits(); } catch (e) {
      if (e.status === 401) return stop(t("device_gone"));
      document.getElementById("benefits-total").textContent = t("need_network", { e: e.message });
    }
  });
  document.getElementById("benefits-back").addEventListener("click", () => { benefits = null; renderBenefits(); show("more"); });
  document.addEventListener("langchange", renderBenefits);
  document.getElementById("reset").addEventListener("click", async () => { await forget(); device = null; show("activate"); });
  document.addEventListener("langchange", () => { const m = document.getElementById("mode"); if (m.textContent && device) m.textContent = t(document.getElementById("qr").dataset.mode || "online"); });
  window.addEventListener("online", () => { if (device && !document.getElementById("show").hidden) showCode(); });
  window.addEventListener("offline", () => { if (device && !document.getElementById("show").hidden) showCode(); });

  if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js").catch(() => {});
  load().then((d) => { device = d || null; if (device) showCode(); else show("activate"); })
    .catch(() => show("activate"));
})();
