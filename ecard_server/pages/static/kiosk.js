// The self-service kiosk: wait for a card in the server's reader, PIN on the on-screen pad (sent once, to the
// card), the holder's benefits and medical account, a receipt with the identity masked. When the card is pulled
// or nobody touches the screen for a while, everything shown is wiped and it waits for the next card. Nothing of
// the holder is ever written to the browser's storage (the terminal key lives in this tab's sessionStorage).
"use strict";
(function () {
  const { t, status, show, api } = pages;
  const params = new URLSearchParams(location.search);
  const IDLE = 1000 * Number(params.get("idle") || 60), POLL = 700;
  pages.init({
    kiosk_title: { zh: "社保自助服务", en: "Social security self-service" },
    setup_h: { zh: "终端设置（工作人员）", en: "Kiosk set-up (staff)" }, key_label: { zh: "终端密钥", en: "Terminal key" },
    start_btn: { zh: "启动自助服务", en: "Start" }, insert_h: { zh: "请插入社会保障卡", en: "Please insert your card" },
    insert_help: { zh: "芯片朝上，插入下方读卡口", en: "Chip up, into the slot below" },
    pin_h: { zh: "请输入卡密码", en: "Enter your card PIN" }, pad_label: { zh: "密码键盘", en: "PIN pad" },
    clear_btn: { zh: "清除", en: "Clear" }, ok_btn: { zh: "确定", en: "OK" },
    account_h: { zh: "我的社保", en: "My social security" }, medical_h: { zh: "医保个人账户", en: "Medical account" },
    benefits_h: { zh: "待遇发放", en: "Benefits" }, col_benefit: { zh: "项目", en: "Benefit" },
    col_period: { zh: "期间", en: "Period" }, col_amount: { zh: "金额（元）", en: "Amount (yuan)" },
    col_status: { zh: "状态", en: "Status" }, print_btn: { zh: "打印凭条", en: "Print receipt" },
    done_btn: { zh: "完成，退卡", en: "Done, take your card" }, receipt_h: { zh: "凭条", en: "Receipt" },
    name: { zh: "姓名", en: "Name" }, id_number: { zh: "社会保障号码", en: "ID number" }, card_no: { zh: "卡号", en: "Card no." },
    reading: { zh: "正在读卡，请稍候…", en: "Reading the card…" }, none: { zh: "（无记录）", en: "(none)" },
    paid: { zh: "已发放", en: "paid" }, due: { zh: "待发放", en: "due" }, held: { zh: "暂停", en: "held" },
    cancelled: { zh: "已取消", en: "cancelled" }, take_card: { zh: "请取走您的卡", en: "Please take your card" },
    receipt_title: { zh: "社会保障自助服务凭条", en: "Social security self-service receipt" },
    pension: { zh: "养老金", en: "pension" },
    certify_btn: { zh: "年度资格认证", en: "Certify for this year" },
    certify_pin_h: { zh: "资格认证：请再次输入卡密码", en: "Certification: enter your card PIN again" },
    certified_h: { zh: "资格认证", en: "Certification" },
    certifying: { zh: "正在核验卡片并认证…", en: "Checking the card and certifying…" },
    certified_new: { zh: "{year} 年度资格认证成功", en: "Certified for {year}" },
    certified_before: { zh: "{year} 年度已认证，无需再次认证", en: "Already certified for {year}; nothing more to do" },
    certified_detail: { zh: "社会保障号码 {id} · 认证时间 {at} · 终端 {terminal}", en: "ID number {id} · certified {at} · kiosk {terminal}" },
  }, { persist: false });
  const KEY = "sscard.kiosk.key";
  const auth = () => ({ "X-Terminal-Key": sessionStorage.getItem(KEY) });
  let pin = "", visit = null, present = false, idleTimer = null, polling = null, pinFor = "visit", cert = null;

  // Everything the holder saw goes: the DOM, the PIN in memory, the visit.
  function reset() {
    pin = ""; visit = null; cert = null; pinFor = "visit"; pinHeading();
    for (const id of ["who", "benefits", "receipt-text", "dots", "balance", "certified-text", "certified-detail"]) document.getElementById(id).textContent = "";
    status("");
    show("insert");
    document.body.dataset.state = "idle";
  }
  function touch() {
    clearTimeout(idleTimer);
    if (document.body.dataset.state !== "idle") idleTimer = setTimeout(reset, IDLE);
  }
  const yuan = (fen) => (fen / 100).toFixed(2);

  async function poll() {
    try {
      const r = await api("GET", "/pages/api/kiosk/card", undefined, auth());
      if (r.present && !present) { present = true; document.body.dataset.state = "pin"; pin = ""; dots(); show("pin"); touch(); }
      else if (!r.present && present) { present = false; reset(); }
    } catch (e) { if (e.status === 401) { sessionStorage.removeItem(KEY); clearInterval(polling); show("setup"); } }
  }
  function dots() { document.getElementById("dots").textContent = "●".repeat(pin.length); }

  function renderVisit() {
    const who = document.getElementById("who");
    who.textContent = "";
    for (const [k, v] of [["name", visit.name_masked], ["id_number", visit.id_number_masked], ["card_no", visit.card_no_masked]]) {
      const dt = document.createElement("dt"); dt.textContent = t(k); const dd = document.createElement("dd"); dd.textContent = v; who.append(dt, dd);
    }
    document.getElementById("balance").textContent = visit.medical_balance === null ? "—" : "¥" + yuan(visit.medical_balance);
    const tb = document.getElementById("benefits");
    tb.textContent = "";
    for (const b of visit.benefits) { const tr = tb.insertRow(); for (const v of [t(b.benefit), b.period, yuan(b.amount), t(b.status)]) tr.insertCell().textContent = v; }
    if (!visit.benefits.length) tb.insertRow().insertCell().textContent = t("none");
  }
  document.addEventListener("langchange", () => {
    renderCert();
    if (!visit) return;
    renderVisit();
    if (!document.getElementById("receipt").hidden) receipt();
  });
  function pinHeading() {
    const h = document.getElementById("pin-h");
    h.dataset.t = pinFor === "certify" ? "certify_pin_h" : "pin_h";
    h.textContent = t(h.dataset.t);
  }
  // Self-certification (POST /pages/api/kiosk/certify): the PIN is asked again, as the visit's went to the card only.
  function renderCert() {
    if (!cert) return;
    document.getElementById("certified-text").textContent = t(cert.created ? "certified_new" : "certified_before", { year: cert.year });
    document.getElementById("certified-detail").textContent = t("certified_detail",
      { id: cert.id_number_masked, at: (cert.certified_at || "").slice(0, 16).replace("T", " "), terminal: cert.terminal });
  }
  async function submitCertify(p) {
    status(t("certifying"));
    try {
      cert = await api("POST", "/pages/api/kiosk/certify", { pin: p }, auth());
      pinFor = "visit"; pinHeading();
      renderCert();
      status("");
      document.body.dataset.state = "certified";
      show("certified");
    } catch (e) { status(e.message, "bad"); }  // still the certification's PIN pad: try again, or pull the card
    touch();
  }
  async function submitPin() {
    const p = pin;
    pin = ""; dots();
    if (pinFor === "certify") return submitCertify(p);
    status(t("reading"));
    try {
      visit = await api("POST", "/pages/api/kiosk/visit", { pin: p }, auth());
      renderVisit();
      status("");
      document.body.dataset.state = "account";
      show("account");
    } catch (e) { status(e.message, "bad"); }
    touch();
  }
  function receipt() {
    const lines = [t("receipt_title"), "----------------------------", `${t("name")}: ${visit.name_masked}`,
      `${t("id_number")}: ${visit.id_number_masked}`, `${t("card_no")}: ${visit.card_no_masked}`,
      `${t("medical_h")}: ${visit.medical_balance === null ? "—" : yuan(visit.medical_balance)}`];
    for (const b of visit.benefits) lines.push(`${t(b.benefit)} ${b.period} ${yuan(b.amount)} ${t(b.status)}`);
    lines.push("----------------------------", `${visit.terminal}  ${visit.printed_at}`);
    document.getElementById("receipt-text").textContent = lines.join("\n");
    show("receipt");
  }
  document.querySelector(".pad").addEventListener("click", (ev) => {
    const k = ev.target.dataset && ev.target.dataset.k;
    if (!k) return;
    touch();
    if (k === "clear") pin = "";
    else if (k === "ok") { if (pin.length >= 4) submitPin(); return; }
    else if (pin.length < 12) pin += k;
    dots();
  });
  document.getElementById("print").addEventListener("click", () => { touch(); receipt(); });
  document.getElementById("certify").addEventListener("click", () => {
    touch(); pinFor = "certify"; pinHeading(); pin = ""; dots(); document.body.dataset.state = "pin"; show("pin");
  });
  document.getElementById("certified-done").addEventListener("click", () => { reset(); status(t("take_card")); });
  const done = () => { reset(); status(t("take_card")); };
  document.getElementById("done").addEventListener("click", done);
  document.getElementById("receipt-done").addEventListener("click", done);
  document.addEventListener("pointerdown", touch);
  document.getElementById("setup-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const k = document.getElementById("key").value.trim();
    document.getElementById("key").value = "";
    try { await api("GET", "/pages/api/terminal", undefined, { "X-Terminal-Key": k }); sessionStorage.setItem(KEY, k); start(); }
    catch (e) { status(e.message, "bad"); }
  });
  function start() { reset(); polling = setInterval(poll, POLL); poll(); }
  if (sessionStorage.getItem(KEY)) start(); else show("setup");
})();
