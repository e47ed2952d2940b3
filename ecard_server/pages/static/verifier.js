// The verifier (shop, hospital desk, gate): camera frames decoded with jsQR, every check done here with the cached
// JWKS and status list (sscard.verify, the same as `sscard qr verify`), so it decides with no network too.
"use strict";
(function () {
  const { t, status } = pages;
  const REASON = {
    ok: ["有效电子社保卡", "Valid e-card"], malformed: ["不是电子社保卡二维码", "Not an e-card code"],
    oversized: ["二维码过长", "Code too long"], unsupported_alg: ["不支持的算法", "Unsupported algorithm"],
    unknown_key: ["签发密钥未知", "Unknown issuer key"], alg_mismatch: ["算法不符", "Algorithm mismatch"],
    bad_signature: ["签名无效（伪造）", "Bad signature (forged)"], not_yet_valid: ["时间未到（对方时钟有误）", "Not yet valid (clock)"],
    expired: ["二维码已过期，请刷新", "Code expired; refresh it"], revoked: ["卡已挂失或停用", "Card lost or deactivated"],
    status_unknown: ["吊销列表未覆盖此卡，请更新", "Not in the status list; refresh"],
    status_list_expired: ["吊销列表已过期，请联网更新", "Status list expired; go online"],
    replayed: ["二维码已使用过", "Code already used"], no_trust: ["尚无密钥，请联网一次", "No keys yet: go online once"],
  };
  const strings = {
    verifier_title: { zh: "电子社保卡核验", en: "E-card verifier" },
    scan_h: { zh: "请出示电子社保卡二维码", en: "Show your e-card QR code" },
    waiting: { zh: "等待扫码", en: "Waiting for a code" },
    camera_btn: { zh: "打开摄像头", en: "Start camera" },
    refresh_trust: { zh: "更新密钥和吊销列表", en: "Refresh keys and status list" },
    manual_h: { zh: "手动输入码", en: "Type a code" },
    token_label: { zh: "二维码内容", en: "Code text" },
    verify_btn: { zh: "核验", en: "Verify" },
    admit: { zh: "通过", en: "ADMIT" }, refuse: { zh: "拒绝", en: "REFUSE" },
    trust_age: { zh: "密钥和吊销列表更新于 {age} 前{off}", en: "Keys and status list from {age} ago{off}" },
    offline_note: { zh: "（离线）", en: " (offline)" },
    min: { zh: "{n} 分钟", en: "{n} min" }, sec: { zh: "{n} 秒", en: "{n} s" }, hour: { zh: "{n} 小时", en: "{n} h" },
    latency: { zh: "解码后 {ms} 毫秒判定", en: "Decided {ms} ms after decoding" },
    no_camera: { zh: "无法打开摄像头：{e}", en: "Camera unavailable: {e}" },
    replay_torn: { zh: "已用码记录损坏，已从空记录开始", en: "The used-code record was unreadable; starting from empty" },
    replay_garbled: { zh: "已用码记录中有 {n} 条损坏，已跳过", en: "{n} garbled used-code entries skipped" },
    replay_unsaved: { zh: "已用码无法保存，关闭页面后将忘记", en: "Used codes cannot be saved; they are forgotten when this page closes" },
  };
  for (const [k, [zh, en]] of Object.entries(REASON)) strings["reason_" + k] = { zh, en };
  pages.init(strings);

  const TRUST = "sscard.verifier.trust";
  let keys = null, statusList = null, fetchedAt = 0, offline = false, last = null;

  // The replay cache (ecard.replay's rule, sscard.ReplayCache) kept in IndexedDB as ecard.replay.ReplayFile keeps it
  // on disk: a snapshot ({key hex: exp} as JSON text) and a journal of the codes admitted since, one record each,
  // written before the decision shows; a torn snapshot is read as empty and a garbled record skipped, each with a
  // warning on screen, never an exception. The journal is folded into the snapshot once it outgrows the cache.
  // Smaller bounds for a small device: ?replay_max=N&replay_per_holder=N.
  const DB = "sscard-verifier", SNAP = "snapshot", ENTRY = /^(?:[0-9a-f]{2})+ \d{1,15}$/;
  const bound = (name, dflt) => { const n = Number(new URLSearchParams(location.search).get(name)); return Number.isSafeInteger(n) && n > 0 ? n : dflt; };
  const maxEntries = bound("replay_max", sscard.REPLAY_MAX_ENTRIES), perOwner = bound("replay_per_holder", sscard.REPLAY_PER_OWNER);
  const replayWarnings = [];
  const done = (req) => new Promise((res, rej) => { req.onsuccess = () => res(req.result); req.onerror = () => rej(req.error); });
  const finished = (tx) => new Promise((res, rej) => { tx.oncomplete = res; tx.onerror = tx.onabort = () => rej(tx.error); });
  function openDb() {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => { req.result.createObjectStore("replay"); req.result.createObjectStore("journal", { autoIncrement: true }); };
    return done(req);
  }
  // Snapshot text and journal records into entries, as ReplayFile._load reads its files.
  function readStored(snapshot, records) {
    let entries = [], torn = false, bad = 0;
    try {
      const data = JSON.parse(snapshot === undefined ? "{}" : snapshot);
      if (!data || typeof data !== "object" || Array.isArray(data)) throw new Error("not an object");
      for (const [k, e] of Object.entries(data)) {
        if (!/^(?:[0-9a-f]{2})+$/.test(k) || !Number.isSafeInteger(e)) throw new Error("bad entry");
        entries.push([k, e]);
      }
    } catch (e) { torn = true; entries = []; }
    for (const r of records) {
      if (typeof r === "string" && ENTRY.test(r)) { const [k, e] = r.split(" "); entries.push([k, Number(e)]); } else bad += 1;
    }
    return { entries, torn, bad };
  }
  function cacheOf(entries, now) {
    const cache = new sscard.ReplayCache(maxEntries, perOwner);
    for (const [k, e] of entries) if (e > now) cache.seen(k, e, now);
    return cache;
  }
  const replay = {
    cache: new sscard.ReplayCache(maxEntries, perOwner), db: null, journal: 0, degraded: false,
    warn(key, vars) { replayWarnings.push({ key, vars }); showReplayWarnings(); },
    async load() {
      const now = Date.now() / 1000;
      try {
        this.db = await openDb();
        const tx = this.db.transaction(["replay", "journal"]);
        const [snapshot, records] = await Promise.all([done(tx.objectStore("replay").get(SNAP)), done(tx.objectStore("journal").getAll())]);
        const { entries, torn, bad } = readStored(snapshot, records);
        if (torn) this.warn("replay_torn");
        if (bad) this.warn("replay_garbled", { n: bad });
        this.cache = cacheOf(entries, now);
        this.journal = records.length;
      } catch (e) { this.db = null; this.fail(); }
      localStorage.removeItem("sscard.verifier.replay");  // the old page's global cache: its keys name no holder
    },
    fail() { if (!this.degraded) this.warn("replay_unsaved"); this.degraded = true; },
    // As ReplayFile.seen: a newly recorded code is stored before this answers.
    async seen(key, exp, now) {
      if (this.cache.seen(key, exp, now)) return true;
      if (channel) channel.postMessage([key, exp]);
      if (!this.db) { this.fail(); return false; }
      try {
        const tx = this.db.transaction("journal", "readwrite");
        tx.objectStore("journal").add(`${key} ${exp}`);
        await finished(tx);
        this.journal += 1;
        if (this.journal > Math.max(1024, this.cache.size)) await this.compact(now);
      } catch (e) { this.fail(); }
      return false;
    },
    // One transaction reads what is stored (other tabs' codes too), writes it back as the snapshot, empties the journal.
    async compact(now) {
      const tx = this.db.transaction(["replay", "journal"], "readwrite");
      const store = tx.objectStore("replay"), journal = tx.objectStore("journal");
      const snapshot = await done(store.get(SNAP)), records = await done(journal.getAll());
      const { entries } = readStored(snapshot, records);
      store.put(JSON.stringify(cacheOf(entries, now).snapshot()), SNAP);
      journal.clear();
      await finished(tx);
      this.journal = 0;
    },
  };
  // Another tab of this verifier admitted a code: this one refuses it too.
  const channel = "BroadcastChannel" in window ? new BroadcastChannel(DB) : null;
  if (channel) channel.onmessage = (ev) => {
    if (Array.isArray(ev.data) && typeof ev.data[0] === "string" && Number.isSafeInteger(ev.data[1])) replay.cache.seen(ev.data[0], ev.data[1], Date.now() / 1000);
  };
  function showReplayWarnings() {
    const el = document.getElementById("replay-warning");
    el.hidden = !replayWarnings.length;
    el.textContent = replayWarnings.map((w) => t(w.key, w.vars)).join(" · ");
  }
  window.verifierReplay = () => ({ size: replay.cache.size, maxEntries, perOwner, degraded: replay.degraded,
    warnings: replayWarnings.map((w) => w.key), owners: Object.fromEntries([...replay.cache.owners].map(([o, m]) => [o, m.size])) });

  async function useTrust(saved) {
    keys = await sscard.loadJwks(JSON.parse(saved.jwks));
    statusList = await sscard.loadStatusList(saved.status, keys, Date.now() / 1000, true);
    fetchedAt = saved.at;
  }
  async function refreshTrust() {
    try {
      const [j, s] = await Promise.all([fetch("/.well-known/jwks.json", { cache: "no-store" }), fetch("/status-list", { cache: "no-store" })]);
      if (!j.ok || !s.ok) throw new Error("HTTP");
      const saved = { jwks: await j.text(), status: await s.text(), at: Date.now() };
      await useTrust(saved);
      localStorage.setItem(TRUST, JSON.stringify(saved));
      offline = false;
    } catch (e) {
      offline = true;
      const saved = localStorage.getItem(TRUST);
      if (saved && !keys) { try { await useTrust(JSON.parse(saved)); } catch (e2) { /* unusable cache */ } }
    }
    showTrust();
  }
  function age(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    return s < 120 ? t("sec", { n: s }) : s < 7200 ? t("min", { n: Math.round(s / 60) }) : t("hour", { n: Math.round(s / 3600) });
  }
  function showTrust() {
    const el = document.getElementById("trust");
    el.textContent = keys ? t("trust_age", { age: age(Date.now() - fetchedAt), off: offline ? t("offline_note") : "" }) : t("reason_no_trust");
    el.dataset.ageSeconds = keys ? String(Math.round((Date.now() - fetchedAt) / 1000)) : "";
  }

  async function decide(text, decodeMs) {
    await replay.ready;
    const t0 = performance.now();
    let r;
    if (!keys) r = { valid: false, reason: "no_trust", detail: "" };
    else r = await sscard.verify(text, keys, statusList, Date.now() / 1000, replay);
    const ms = performance.now() - t0;
    last = { ...r, latency_ms: ms, decode_ms: decodeMs, at: Date.now() };
    window.lastDecision = last;
    console.log(`sscard verifier: ${r.reason} decided in ${ms.toFixed(2)} ms after decoding (decode ${decodeMs.toFixed(1)} ms)`);
    render();
    return last;
  }
  function render() {
    if (!last) return;
    const d = document.getElementById("decision");
    d.className = "decision " + (last.valid ? "admit" : "refuse");
    d.textContent = t(last.valid ? "admit" : "refuse");
    const small = document.createElement("small");
    small.textContent = last.valid ? "ADMIT" : "REFUSE";
    if (pages.lang === "zh") d.appendChild(small);
    d.dataset.reason = last.reason;
    document.getElementById("reason").textContent = t("reason_" + last.reason);
    document.getElementById("latency").textContent = t("latency", { ms: last.latency_ms.toFixed(1) });
  }
  document.addEventListener("langchange", () => { render(); showTrust(); showReplayWarnings(); });

  // Camera: one frame at a time; the same code seen again within HOLD ms is the same showing, not a new scan.
  const HOLD = 3000;
  let seen = { text: "", at: 0 }, busy = false;
  async function startCamera() {
    const video = document.getElementById("video");
    try {
      video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment", width: { ideal: 1280 } }, audio: false });
      await video.play();
    } catch (e) { status(t("no_camera", { e: e.name || e }), "bad"); return; }
    document.getElementById("camera").hidden = true;
    const canvas = document.getElementById("frame"), ctx = canvas.getContext("2d", { willReadFrequently: true });
    const loop = async () => {
      if (!busy && video.readyState >= 2 && video.videoWidth) {
        busy = true;
        const scale = Math.min(1, 800 / video.videoWidth);
        canvas.width = Math.round(video.videoWidth * scale); canvas.height = Math.round(video.videoHeight * scale);
        ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
        const t0 = performance.now();
        const img = ctx.getImageData(0, 0, canvas.width, canvas.height);
        const code = jsQR(img.data, img.width, img.height, { inversionAttempts: "dontInvert" });
        const decodeMs = performance.now() - t0;
        if (code && code.data) {
          const now = Date.now();
          if (code.data !== seen.text || now - seen.at > HOLD) await decide(code.data, decodeMs);
          seen = { text: code.data, at: now };
        }
        busy = false;
      }
      setTimeout(loop, 60);
    };
    loop();
  }
  document.getElementById("camera").addEventListener("click", startCamera);
  document.getElementById("refresh-trust").addEventListener("click", refreshTrust);
  document.getElementById("manual").addEventListener("submit", (ev) => { ev.preventDefault(); decide(document.getElementById("token").value.trim(), 0); });
  window.addEventListener("online", refreshTrust);
  setInterval(showTrust, 10000);
  setInterval(refreshTrust, 60000);  // navigator.onLine is no guide (a gate on a LAN only reads as offline)

  if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js").catch(() => {});
  replay.ready = replay.load();
  window.verifierReady = Promise.all([refreshTrust(), replay.ready]).then(() => { if (new URLSearchParams(location.search).get("camera") !== "0") startCamera(); });
  window.verifierDecide = decide;
})();
