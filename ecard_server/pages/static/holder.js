// The holder's e-card on a phone. The device key is made here (WebCrypto Ed25519, private key non-extractable)
// and kept in IndexedDB; every call to the server is signed with it (Authorization: Device <JWS>). With a
// network the code is a server-signed token; without one it is an offline presentation made here under one of a
// batch of issuer credentials fetched while online. Each credential binds a key made for it alone and makes one code
// only, so two verifiers cannot link two offline scans (docs/ecard.md, "Unlinkable codes").
"use strict";
(function () {
  const { t, status, show, api } = pages;
  const TTL = 60, REFRESH_BEFORE = 10, BATCH = 5;  // BATCH: the server's default SSCARD_ECARD_BATCH
  const masked = (name) => (name || "").slice(0, 1) + "*".repeat(Math.max(1, (name || "").length - 1));  // 张*
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
    no_cred: { zh: "无网络，且离线码已用完：请联网一次", en: "No network and no offline code left: go online once" },
    offline_left: { zh: "离线码已过期，点“刷新二维码”出示新码（还可出示 {n} 次）", en: "The offline code expired; tap New code for another ({n} left)" },
    cred_expired: { zh: "离线凭证已过期（7 天），请联网一次", en: "The offline credential has expired (7 days): go online once" },
    benefits_btn: { zh: "待遇发放记录", en: "Benefits paid" },
    benefits_h: { zh: "待遇发放记录", en: "Benefits paid" },
    benefits_total: { zh: "共 {n} 笔，合计 {sum} 元", en: "{n} payments, {sum} yuan in all" },
    benefits_none: { zh: "尚无发放记录", en: "No benefit has been paid yet" },
    benefit_line: { zh: "{period} · {date} 发放至 {account}", en: "{period} · paid {date} to {account}" },
    loading: { zh: "正在读取…", en: "Loading…" },
    need_network: { zh: "需要联网才能查看：{e}", en: "This needs the network: {e}" },
    yuan: { zh: "{v} 元", en: "{v} yuan" },
    access_btn: { zh: "谁查看了我的信息", en: "Who looked at my record" },
    access_h: { zh: "谁查看了我的信息", en: "Who looked at my record" },
    access_none: { zh: "尚无查看记录", en: "Nobody has looked at your record yet" },
    access_count: { zh: "最近 {n} 条，最新的在前", en: "The latest {n}, newest first" },
    access_fields: { zh: "查看内容：{f}", en: "Read: {f}" },
    older_btn: { zh: "更早的记录", en: "Older entries" },
    family_btn: { zh: "亲情服务（代办、为亲属认证）", en: "Family (proxies, certify for a relative)" },
    family_h: { zh: "亲情服务", en: "Family services" },
    principals_h: { zh: "我为其代办的亲属", en: "Relatives I act for" },
    proxies_h: { zh: "为我代办的亲属", en: "Relatives who act for me" },
    acts_h: { zh: "代办记录", en: "What was done" },
    none: { zh: "（无）", en: "(none)" },
    family_note: { zh: "代办关系在柜台办理（本人持卡和密码，或经办人确认），代办人用自己的电子社保卡同意。", en: "A proxy is set up at a counter (the holder with card and PIN, or an officer); the proxy accepts with their own e-card." },
    st_active: { zh: "生效中", en: "in force" }, st_pending_proxy: { zh: "待代办人同意", en: "waiting for the proxy" },
    st_pending_principal: { zh: "待本人到柜台确认", en: "waiting for the holder at a counter" },
    st_revoked: { zh: "已解除", en: "ended" }, st_expired: { zh: "已到期", en: "expired" },
    sc_certification: { zh: "资格认证", en: "certification" }, sc_view_benefits: { zh: "查看待遇", en: "view benefits" },
    sc_show_code: { zh: "出示电子码", en: "show the code" },
    act_certification: { zh: "资格认证", en: "certification" }, act_view_benefits: { zh: "查看待遇", en: "viewed benefits" },
    act_show_code: { zh: "出示电子码", en: "showed the code" },
    binding_line: { zh: "{name} · {state}", en: "{name} · {state}" },
    act_line: { zh: "{at} {who}：{act} {detail}", en: "{at} {who}: {act} {detail}" },
    act_by_me: { zh: "我为 {name}", en: "I for {name}" }, act_for_me: { zh: "{name} 为我", en: "{name} for me" },
    f_person: { zh: "亲属", en: "Relative" }, f_scopes: { zh: "代办事项", en: "May do" },
    f_state: { zh: "状态", en: "State" }, f_ends: { zh: "有效期至", en: "Until" },
    f_consent: { zh: "本人确认方式", en: "Holder's consent" },
    c_card_pin: { zh: "本人持卡和密码", en: "card and PIN" }, c_officer: { zh: "经办人确认", en: "an officer" },
    binding_principal_h: { zh: "我为 {name} 代办", en: "I act for {name}" },
    binding_proxy_h: { zh: "{name} 为我代办", en: "{name} acts for me" },
    consent_btn: { zh: "同意为其代办", en: "Accept: act for them" },
    certify_btn: { zh: "为其完成 {year} 年度资格认证", en: "Certify them for {year}" },
    certified_for: { zh: "已为 {name} 完成 {year} 年度资格认证", en: "{name} is certified for {year}" },
    already_certified: { zh: "{name} 的 {year} 年度资格已认证过", en: "{name} was already certified for {year}" },
    consented: { zh: "已同意，代办关系生效", en: "Accepted: the binding is in force" },
    revoke_btn: { zh: "解除代办关系", en: "End this binding" },
    revoke_h: { zh: "确认解除代办关系？", en: "End this binding?" },
    revoke_warn: { zh: "解除后，{name} 与您之间的代办立即停止，需到柜台重新办理。", en: "Acting between you and {name} stops at once; a new binding is made at a counter." },
    revoke_yes: { zh: "确认解除", en: "Yes, end it" },
    revoked: { zh: "代办关系已解除", en: "The binding has ended" },
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

  // The proof names the path without its query (device.sign_request's htu).
  async function signed(method, path, body, query = "") {
    const text = body === undefined ? "" : JSON.stringify(body);
    const proof = await sscard.signRequest(device.privateKey, device.deviceId, method, path, new TextEncoder().encode(text));
    const r = await fetch(path + query, { method, body: body === undefined ? undefined : text,
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
      offline: [], credentialExp: 0, who: "" };
    await save(device);
    await renewCredential();
    try { const me = await signed("GET", "/v1/me"); device.who = masked(me.name); } catch (e) { /* shown later */ }
    await save(device);
  }

  // A fresh batch replaces what is left of the last: one key pair per credential (non-extractable, like the device
  // key), the public halves sent as device_keys. A server configured for smaller batches says so with a 400: then one.
  async function renewCredential() {
    let c, pairs;
    for (const n of [BATCH, 1]) {
      pairs = [];
      for (let i = 0; i < n; i++) pairs.push(await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]));
      const keys = [];
      for (const p of pairs) keys.push({ kty: "OKP", crv: "Ed25519", x: (await crypto.subtle.exportKey("jwk", p.publicKey)).x });
      try { c = await signed("POST", "/v1/credentials/offline", { device_keys: keys }); break; } catch (e) { if (e.status !== 400 || n === 1) throw e; }
    }
    device.offline = c.credentials.map((credential, i) => ({ credential, key: pairs[i].privateKey }));
    device.credentialExp = c.expires_at;
    delete device.credential;  // a single credential of an older page: reused, it would link scans
    await save(device);
  }

  function stop(why) {
    clearTimeout(timer);
    benefits = null; renderBenefits(); access = null; renderAccess(); family = null; current = null; renderFamily();
    document.getElementById("qr").innerHTML = "";
    document.getElementById("stopped-why").textContent = why;
    show("stopped");
  }

  let expiresAt = 0;
  // `how` is "auto" for the timer and the network coming or going: those never spend an offline credential unasked
  // (each makes one code only); a tap, opening the page or coming back to this screen does.
  async function showCode(how) {
    clearTimeout(timer);
    const now = Date.now() / 1000;
    let token, mode;
    try {
      const r = await signed("POST", "/v1/token", { ttl: TTL });
      token = r.token; mode = "online";
      expiresAt = r.expires_at;
      if ((device.offline || []).length < 2 || device.credentialExp - now < 86400) renewCredential().catch(() => {});
    } catch (e) {
      if (e.status === 401) return stop(t("device_gone"));
      if (e.status === 403) return stop(e.message);
      console.warn("sscard holder: online code unavailable:", e.message);
      if (how === "auto") return keepOrExpire(now);
      if (!(device.offline || []).length) { clearCode(); status(t("no_cred"), "bad"); show("show"); return; }
      if (device.credentialExp <= now) { clearCode(); status(t("cred_expired"), "bad"); show("show"); return; }
      const member = device.offline.shift();
      await save(device);  // spent before it is shown, so no credential ever makes two codes
      token = await sscard.present(sscard.b64uDecode(member.credential), member.key, now, TTL);
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
    timer = setTimeout(left <= 0 ? () => showCode("auto") : tick, left <= 0 ? 0 : 1000);
  }
  function clearCode() {
    const box = document.getElementById("qr");
    box.innerHTML = ""; delete box.dataset.token; delete box.dataset.mode;
    document.getElementById("countdown").textContent = "";
  }
  // No network on an automatic refresh: the code on screen stays until it expires, then the holder is told how many
  // offline codes are left and taps for the next.
  function keepOrExpire(now) {
    const box = document.getElementById("qr");
    if (box.dataset.token && expiresAt > now) {
      document.getElementById("countdown").textContent = "";
      timer = setTimeout(() => showCode("auto"), (expiresAt - now) * 1000 + 200);
      return;
    }
    clearCode();
    const n = (device.offline || []).length;
    status(n ? t("offline_left", { n }) : t("no_cred"), n ? "" : "bad");
    show("show");
  }

  document.getElementById("activate-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const code = document.getElementById("code").value.trim().toUpperCase();
    if (!/^[A-Z2-7]{10}$/.test(code)) { status(t("bad_code"), "bad"); return; }
    status(t("activating"));
    try { await activate(code); status(t("activated"), "ok"); await showCode(); } catch (e) { status(e.message, "bad"); }
  });
  document.getElementById("refresh").addEventListener("click", () => showCode());
  document.getElementById("to-more").addEventListener("click", () => { clearTimeout(timer); show("more"); });
  document.getElementById("back").addEventListener("click", () => showCode());
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
  // ---- the access log (GET /v1/me/access-log): who read the record, when, why, which fields ----
  const when = (iso) => iso.slice(0, 16).replace("T", " ");
  let access = null;
  function renderAccess() {
    const list = document.getElementById("access-list");
    list.textContent = "";
    if (!access) return;
    document.getElementById("access-note").textContent = access.entries.length ? t("access_count", { n: access.entries.length }) : t("access_none");
    for (const e of access.entries) {
      const li = list.appendChild(document.createElement("li"));
      li.appendChild(document.createElement("strong")).textContent = `${when(e.at)} · ${e.who}`;
      li.appendChild(document.createElement("div")).textContent = e.why;
      if (e.fields.length) {
        const f = li.appendChild(document.createElement("div"));
        f.className = "muted"; f.textContent = t("access_fields", { f: e.fields.join(", ") });
      }
    }
    document.getElementById("access-more").hidden = !access.next;
  }
  async function loadAccess(before) {
    try {
      const page = await signed("GET", "/v1/me/access-log", undefined, "?limit=20" + (before ? "&before=" + before : ""));
      access = { entries: [...(before && access ? access.entries : []), ...page.entries], next: page.next_before };
      renderAccess();
    } catch (e) {
      if (e.status === 401) return stop(t("device_gone"));
      document.getElementById("access-note").textContent = t("need_network", { e: e.message });
    }
  }
  document.getElementById("to-access").addEventListener("click", () => {
    access = null; renderAccess();
    document.getElementById("access-note").textContent = t("loading");
    show("access");
    loadAccess(null);
  });
  document.getElementById("access-more").addEventListener("click", () => loadAccess(access && access.next));
  document.getElementById("access-back").addEventListener("click", () => { access = null; renderAccess(); show("more"); });

  // ---- family proxies (GET /v1/family, consent, revoke, certify a principal) ----
  let family = null, current = null;
  function other(b) { return current && current.side === "proxies" ? b.proxy : b.principal; }
  function bindingItem(b, side) {
    const li = document.createElement("li");
    const btn = li.appendChild(document.createElement("button"));
    btn.type = "button"; btn.className = "secondary"; btn.dataset.binding = b.binding_id;
    btn.textContent = t("binding_line", { name: masked((side === "proxies" ? b.proxy : b.principal).name), state: t("st_" + b.state) });
    btn.addEventListener("click", () => openBinding(b.binding_id, side));
    return li;
  }
  function renderFamily() {
    for (const id of ["principals", "proxies", "acts"]) document.getElementById(id).textContent = "";
    if (!family) return;
    document.getElementById("family-note").textContent = t("family_note");
    for (const side of ["principals", "proxies"]) {
      const ul = document.getElementById(side);
      for (const b of family[side]) ul.appendChild(bindingItem(b, side));
      if (!family[side].length) ul.appendChild(document.createElement("li")).textContent = t("none");
    }
    const names = {};
    for (const b of [...family.principals, ...family.proxies]) names[b.binding_id] = b;
    const acts = document.getElementById("acts");
    for (const a of family.acts) {
      const b = names[a.binding_id];
      const who = b ? t(a.for_me ? "act_for_me" : "act_by_me", { name: masked((a.for_me ? b.proxy : b.principal).name) }) : "";
      acts.appendChild(document.createElement("li")).textContent = t("act_line", { at: when(a.at), who, act: t("act_" + a.act), detail: a.detail });
    }
    if (!family.acts.length) acts.appendChild(document.createElement("li")).textContent = t("none");
  }
  async function loadFamily() {
    try { family = await signed("GET", "/v1/family"); renderFamily(); return true; } catch (e) {
      if (e.status === 401) { stop(t("device_gone")); return false; }
      document.getElementById("family-note").textContent = t("need_network", { e: e.message });
      return false;
    }
  }
  document.getElementById("to-family").addEventListener("click", () => {
    family = null; renderFamily();
    document.getElementById("family-note").textContent = t("loading");
    show("family");
    loadFamily();
  });
  document.getElementById("family-back").addEventListener("click", () => { family = null; renderFamily(); show("more"); });
  const YEAR = new Date().getFullYear();
  function renderBinding() {
    if (!current || !family) return;
    const b = family[current.side].find((x) => x.binding_id === current.id);
    if (!b) return;
    const name = masked(other(b).name);
    document.getElementById("binding-h").textContent = t(current.side === "proxies" ? "binding_proxy_h" : "binding_principal_h", { name });
    const info = document.getElementById("binding-info");
    info.textContent = "";
    const rows = [["f_person", `${name} ${other(b).holder}`], ["f_scopes", b.scopes.map((s) => t("sc_" + s)).join("、")],
      ["f_state", t("st_" + b.state)], ["f_ends", b.ends_on]];
    if (b.principal_consent) rows.push(["f_consent", t("c_" + b.principal_consent)]);
    for (const [k, v] of rows) { info.appendChild(document.createElement("dt")).textContent = t(k); info.appendChild(document.createElement("dd")).textContent = v; }
    const mine = current.side === "principals";  // I am the proxy
    document.getElementById("binding-consent").hidden = !(mine && b.state === "pending_proxy");
    const certify = document.getElementById("binding-certify");
    certify.hidden = !(mine && b.state === "active" && b.scopes.includes("certification"));
    certify.textContent = t("certify_btn", { year: YEAR });
    document.getElementById("binding-revoke").hidden = b.state === "revoked" || b.state === "expired";
    document.getElementById("revoke-warn").textContent = t("revoke_warn", { name });
  }
  function openBinding(id, side) { current = { id, side }; status(""); renderBinding(); show("binding"); }
  async function act(path, body, done) {
    try {
      const r = await signed("POST", `/v1/family/bindings/${current.id}/${path}`, body);
      await loadFamily();
      renderBinding();
      status(done(r), "ok");
    } catch (e) {
      if (e.status === 401) return stop(t("device_gone"));
      status(e.message, "bad");
    }
  }
  document.getElementById("binding-consent").addEventListener("click", () => act("consent", {}, () => t("consented")));
  document.getElementById("binding-certify").addEventListener("click", () => {
    const name = masked(other(family[current.side].find((x) => x.binding_id === current.id)).name);
    act("certify", { year: YEAR }, (r) => t(r.created ? "certified_for" : "already_certified", { name, year: r.year }));
  });
  document.getElementById("binding-revoke").addEventListener("click", () => { status(""); show("confirm-revoke"); });
  document.getElementById("revoke-no").addEventListener("click", () => show("binding"));
  document.getElementById("revoke-yes").addEventListener("click", async () => {
    show("binding");
    await act("revoke", {}, () => t("revoked"));
  });
  document.getElementById("binding-back").addEventListener("click", () => { current = null; status(""); show("family"); renderFamily(); });
  document.addEventListener("langchange", () => { renderAccess(); renderFamily(); renderBinding(); });

  document.getElementById("reset").addEventListener("click", async () => { await forget(); device = null; show("activate"); });
  document.addEventListener("langchange", () => { const m = document.getElementById("mode"); if (m.textContent && device) m.textContent = t(document.getElementById("qr").dataset.mode || "online"); });
  window.addEventListener("online", () => { if (device && !document.getElementById("show").hidden) showCode("auto"); });
  window.addEventListener("offline", () => { if (device && !document.getElementById("show").hidden) showCode("auto"); });

  if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js").catch(() => {});
  load().then((d) => { device = d || null; if (device) showCode(); else show("activate"); })
    .catch(() => show("activate"));
})();
