// The counter: staff sign in with the terminal's API key (kept for this tab only, sessionStorage); the card is read
// in the server's reader over PC/SC and checked against the store; then an activation code, a loss, a status change.
"use strict";
(function () {
  const { t, status, show, api } = pages;
  pages.init({
    counter_title: { zh: "社保卡柜台", en: "Social security card counter" },
    signin_h: { zh: "工作人员登录", en: "Staff sign-in" }, key_label: { zh: "终端密钥", en: "Terminal key" },
    signin_btn: { zh: "登录", en: "Sign in" }, read_h: { zh: "读卡与身份核验", en: "Read card and check identity" },
    reader_label: { zh: "读卡器", en: "Reader" }, pin_label: { zh: "持卡人输入密码（可选）", en: "Holder's PIN (optional)" },
    read_btn: { zh: "读卡", en: "Read card" }, manual_h: { zh: "无读卡器：输入卡号", en: "No reader: type the card number" },
    card_no_label: { zh: "卡号", en: "Card number" }, use_btn: { zh: "使用此卡号", en: "Use this card" },
    checks_h: { zh: "核验项目", en: "Checks" }, issue_btn: { zh: "发放电子社保卡激活码", en: "Issue e-card activation code" },
    loss_btn: { zh: "挂失", en: "Report lost" }, lifecycle_label: { zh: "卡状态变更", en: "Change card status" },
    move_btn: { zh: "变更", en: "Change" }, first_reader: { zh: "（第一个有卡的读卡器）", en: "(first reader with a card)" },
    name: { zh: "姓名", en: "Name" }, id_number: { zh: "社会保障号码", en: "ID number" }, card_no: { zh: "卡号", en: "Card no." },
    card_status: { zh: "卡状态", en: "Card status" }, reading: { zh: "正在读卡…", en: "Reading…" },
    code_valid: { zh: "激活码（5 分钟内有效）：", en: "Activation code (5 minutes): " },
    lost_done: { zh: "已挂失，电子社保卡已停用 {n} 个", en: "Reported lost; {n} e-card(s) revoked" },
    moved: { zh: "卡状态已变更为 {s}", en: "Card is now {s}" },
    holder_known: { zh: "人员库有此人", en: "Holder on record" }, card_status_check: { zh: "卡状态正常", en: "Card active" },
    alive: { zh: "无死亡记录", en: "No death on record" }, id_matches: { zh: "社会保障号码一致", en: "ID number matches" },
    card_no_matches: { zh: "是当前卡", en: "Current card" }, card_id_matches: { zh: "卡识别码一致", en: "Card identification code matches" },
    pin: { zh: "密码核验", en: "PIN" }, genuine: { zh: "卡片真伪", en: "Card genuine" },
    yes: { zh: "通过", en: "pass" }, no: { zh: "不通过", en: "fail" },
    active: { zh: "正常", en: "active" }, lost: { zh: "挂失", en: "lost" }, replaced: { zh: "已补换", en: "replaced" },
    cancelled: { zh: "注销", en: "cancelled" }, issued: { zh: "已发放", en: "issued" }, produced: { zh: "已制卡", en: "produced" },
    applied: { zh: "已申请", en: "applied" }, unknown: { zh: "未知", en: "unknown" },
    batch_h: { zh: "制卡批次", en: "Personalization batch" }, hopper_label: { zh: "制卡机读卡器", en: "Hopper reader" },
    psam_label: { zh: "PSAM 读卡器", en: "PSAM reader" }, batch_btn: { zh: "开始制卡", en: "Start batch" },
    batch_running: { zh: "制卡中：{done} / {total}", en: "Personalizing: {done} / {total}" },
    batch_done: { zh: "完成：制卡 {issued} 张，失败 {failed}，等待 {waiting}", en: "Done: {issued} cards, {failed} failed, {waiting} waiting" },
    batch_failed: { zh: "制卡中断：{e}", en: "Batch stopped: {e}" },
  });
  const KEY = "sscard.counter.key";
  let card = null;
  const key = () => sessionStorage.getItem(KEY);
  const auth = () => ({ "X-Terminal-Key": key() });

  async function signin(k) {
    const r = await api("GET", "/pages/api/terminal", undefined, { "X-Terminal-Key": k });
    sessionStorage.setItem(KEY, k);
    document.getElementById("who").textContent = r.terminal_id;
    show("desk");
    const sel = document.getElementById("reader");
    sel.innerHTML = "";
    const first = new Option(t("first_reader"), ""); sel.add(first);
    const hopper = document.getElementById("hopper"), psam = document.getElementById("psam");
    hopper.innerHTML = ""; psam.innerHTML = "";
    try {
      for (const r2 of await api("GET", "/pages/api/readers", undefined, auth())) {
        const label = r2.reader + (r2.card ? " ●" : "");
        sel.add(new Option(label, r2.reader)); hopper.add(new Option(label, r2.reader)); psam.add(new Option(label, r2.reader));
      }
    } catch (e) { /* none */ }
    document.getElementById("batch").hidden = false;
    api("GET", "/pages/api/counter/batches/current", undefined, auth()).then(showBatch).catch(() => {});
  }
  let batchTimer = null;
  function showBatch(b) {
    const bar = document.getElementById("batch-progress");
    bar.max = Math.max(1, b.total); bar.value = b.done;
    const el = document.getElementById("batch-state");
    el.dataset.state = b.state;
    el.textContent = b.state === "running" ? t("batch_running", b)
      : b.state === "done" ? t("batch_done", { issued: b.issued, failed: b.failed, waiting: b.holders_waiting })
      : t("batch_failed", { e: b.error });
    clearTimeout(batchTimer);
    if (b.state === "running") batchTimer = setTimeout(() => api("GET", "/pages/api/counter/batches/current", undefined, auth()).then(showBatch).catch(() => {}), 500);
  }
  function showCard(c) {
    card = c;
    const dl = document.getElementById("card-dl");
    dl.innerHTML = "";
    const rows = [["name", c.name], ["id_number", c.id_number_masked], ["card_no", c.card_no_masked], ["card_status", t(c.card_status)]];
    for (const [k, v] of rows) { if (v === undefined) continue; const dt = document.createElement("dt"); dt.textContent = t(k); const dd = document.createElement("dd"); dd.textContent = v; dd.id = "v-" + k; dl.append(dt, dd); }
    const tb = document.getElementById("checks");
    tb.innerHTML = "";
    for (const ch of c.checks || []) { const tr = tb.insertRow(); tr.insertCell().textContent = t(ch.check === "card_status" ? "card_status_check" : ch.check); tr.insertCell().textContent = t(ch.ok ? "yes" : "no") + (pages.lang === "en" ? ` (${ch.why})` : ""); }
    const next = document.getElementById("next");
    next.innerHTML = "";
    for (const s of c.next_status || []) next.add(new Option(t(s), s));
    document.getElementById("activation").textContent = "";
    document.getElementById("card").hidden = false;
  }
  document.getElementById("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try { await signin(document.getElementById("key").value.trim()); status(""); } catch (e) { status(e.message, "bad"); }
    document.getElementById("key").value = "";
  });
  document.getElementById("read").addEventListener("click", async () => {
    status(t("reading"));
    const pinEl = document.getElementById("pin"), pin = pinEl.value;
    pinEl.value = "";
    try {
      const c = await api("POST", "/pages/api/counter/read", { reader: document.getElementById("reader").value || null, pin: pin || null }, auth());
      showCard(c); status("");
    } catch (e) { status(e.message, "bad"); }
  });
  document.getElementById("manual").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const no = document.getElementById("card-no").value.trim();
    showCard({ card_no: no, card_no_masked: no, card_status: "unknown", checks: [], next_status: ["active", "lost", "replaced", "cancelled"] });
  });
  document.getElementById("issue").addEventListener("click", async () => {
    try {
      const r = await api("POST", "/v1/activation-codes", { card_no: card.card_no }, auth());
      document.getElementById("activation").textContent = r.code;
      status(t("code_valid") + r.code, "ok");
    } catch (e) { status(e.message, "bad"); }
  });
  async function move(s) {
    try {
      const r = await api("POST", "/pages/api/counter/card-status", { card_no: card.card_no, status: s }, auth());
      card.card_status = r.card_status; card.next_status = r.next_status; card.checks = [];  // read before the change
      showCard(card);
      status(s === "lost" ? t("lost_done", { n: (r.revoked_indices || []).length }) : t("moved", { s: t(r.card_status) }), "ok");
    } catch (e) { status(e.message, "bad"); }
  }
  document.getElementById("loss").addEventListener("click", () => move("lost"));
  document.getElementById("move").addEventListener("click", () => move(document.getElementById("next").value));
  document.getElementById("batch-start").addEventListener("click", async () => {
    try {
      showBatch(await api("POST", "/pages/api/counter/batches", { reader: document.getElementById("hopper").value, psam_reader: document.getElementById("psam").value }, auth()));
    } catch (e) { status(e.message, "bad"); }
  });
  document.addEventListener("langchange", () => {
    if (!card) return;
    const code = document.getElementById("activation").textContent;
    showCard(card);
    document.getElementById("activation").textContent = code;
  });
  if (key()) signin(key()).catch(() => show("signin")); else show("signin");
})();
