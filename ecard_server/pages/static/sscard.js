// The e-card protocol in the browser: the same token format (ecard_server/tokens.py), the same checks, order,
// reasons and replay rule as terminal/qr_verify.py, device-signed requests (ecard_server/device.py) and offline
// presentations. Signatures go through WebCrypto only (Ed25519, ECDSA P-256); SM2 is not in WebCrypto, so SM2
// codes get `unsupported_alg` here (the CLI verifies them).
"use strict";
(function (global) {
  const PREFIX = "SSC1:", DOMAIN = new TextEncoder().encode("SSC1"), MAX_CHARS = 500, MAX_TTL = 300;
  const LEEWAY = 10, KID_BYTES = 6, SIG_BYTES = 64, SUB_BYTES = 10, REQUEST_TYP = "sscard-req+jwt";
  const ALG_BY_ID = { 1: "EdDSA", 2: "ES256", 3: "SM2" };
  // JOSE alg names a key's JWS may carry: RFC 9864's "Ed25519", and the older "EdDSA" (ecard.keys.JOSE_ACCEPTS)
  const JOSE_ACCEPTS = { EdDSA: ["Ed25519", "EdDSA"], ES256: ["ES256"], SM2: ["SM2"] };
  const REASONS = ["ok", "malformed", "oversized", "unsupported_alg", "unknown_key", "alg_mismatch",
    "bad_signature", "not_yet_valid", "expired", "revoked", "status_unknown", "status_list_expired", "replayed"];

  const enc = (s) => new TextEncoder().encode(s);
  const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.length; }
    return out;
  };
  function b64u(bytes) {
    let s = "";
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  // Strict unpadded base64url, like keys.b64u_decode: no padding, no other characters, canonical.
  function b64uDecode(text) {
    if (typeof text !== "string" || text.includes("=") || text.length % 4 === 1 || !/^[A-Za-z0-9_-]*$/.test(text))
      throw new Error("not unpadded base64url");
    const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4));
    const out = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    if (b64u(out) !== text) throw new Error("not canonical base64url");
    return out;
  }
  const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  const u32 = (b, o) => ((b[o] << 24) >>> 0) + (b[o + 1] << 16) + (b[o + 2] << 8) + b[o + 3];
  const u16 = (b, o) => (b[o] << 8) + b[o + 1];
  const putU32 = (v) => new Uint8Array([(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]);
  const putU16 = (v) => new Uint8Array([(v >>> 8) & 255, v & 255]);

  class TokenError extends Error { constructor(reason, detail) { super(reason + ": " + detail); this.reason = reason; this.detail = detail; } }

  function algOf(id) {
    const alg = ALG_BY_ID[id];
    if (!alg) throw new TokenError("unsupported_alg", `algorithm id ${id} is not supported`);
    return alg;
  }

  // tokens.parse
  function parse(token) {
    if (typeof token !== "string") throw new TokenError("malformed", "token must be text");
    if (token.length > MAX_CHARS) throw new TokenError("oversized", `token is ${token.length} characters, at most ${MAX_CHARS} allowed`);
    if (!token.startsWith(PREFIX)) throw new TokenError("malformed", `token does not start with ${PREFIX}`);
    let body;
    try { body = b64uDecode(token.slice(PREFIX.length)); } catch (e) { throw new TokenError("malformed", "token body is not base64url"); }
    if (body.length < 8) throw new TokenError("malformed", "token is too short");
    const kind = body[0], kid = b64u(body.subarray(2, 8));
    if (kind === 0x11) {
      const alg = algOf(body[1]);
      if (body.length !== 36 + SIG_BYTES) throw new TokenError("malformed", `online token must be ${36 + SIG_BYTES} bytes`);
      const iat = u32(body, 8), ttl = u16(body, 12);
      if (ttl < 1 || ttl > MAX_TTL) throw new TokenError("malformed", `ttl ${ttl} outside 1..${MAX_TTL}`);
      return { kind: "online", alg, kid, iat, exp: iat + ttl, jti: body.slice(14, 22), sub: body.slice(22, 32),
        status_idx: u32(body, 32), issuer_signed: body.slice(0, 36), issuer_sig: body.slice(36) };
    }
    if (kind === 0x12) {
      const alg = algOf(body[1]);
      if (body.length < 31) throw new TokenError("malformed", "offline token is too short");
      const devAlg = algOf(body[30]);
      const n = devAlg === "EdDSA" ? 32 : 33, isigAt = 31 + n, presAt = isigAt + SIG_BYTES, dsigAt = presAt + 14;
      if (body.length !== dsigAt + SIG_BYTES) throw new TokenError("malformed", `offline token must be ${dsigAt + SIG_BYTES} bytes`);
      const iat = u32(body, presAt), ttl = u16(body, presAt + 4);
      if (ttl < 1 || ttl > MAX_TTL) throw new TokenError("malformed", `ttl ${ttl} outside 1..${MAX_TTL}`);
      return { kind: "offline", alg, kid, iat, exp: iat + ttl, jti: body.slice(presAt + 6, presAt + 14),
        sub: body.slice(16, 26), status_idx: u32(body, 26), issuer_signed: body.slice(0, isigAt),
        issuer_sig: body.slice(isigAt, presAt), device_alg: devAlg, device_key: body.slice(31, isigAt),
        cred_iat: u32(body, 8), cred_exp: u32(body, 12), device_signed: body.slice(0, dsigAt), device_sig: body.slice(dsigAt) };
    }
    throw new TokenError("malformed", `unknown token type 0x${kind.toString(16).padStart(2, "0")}`);
  }

  // ---- keys (WebCrypto) ----------------------------------------------------------------------------------
  const P256 = {
    p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
    b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
  };
  function modpow(b, e, m) { let r = 1n; b %= m; while (e > 0n) { if (e & 1n) r = (r * b) % m; b = (b * b) % m; e >>= 1n; } return r; }
  const big = (bytes) => BigInt("0x" + (hex(bytes) || "0"));
  const bytes32 = (n) => Uint8Array.from(n.toString(16).padStart(64, "0").match(/../g), (h) => parseInt(h, 16));
  // A compressed P-256 point (as it travels in a QR) to the uncompressed form WebCrypto imports: point decoding,
  // not a signature primitive; the key itself is checked by importKey.
  function decompressP256(data) {
    const { p, b } = P256, x = big(data.subarray(1));
    if (x >= p) throw new Error("x out of range");
    const rhs = (((x * x % p) * x - 3n * x + b) % p + p) % p;
    let y = modpow(rhs, (p + 1n) / 4n, p);
    if ((y * y) % p !== rhs) throw new Error("not on the curve");
    if (Number(y & 1n) !== (data[0] & 1)) y = p - y;
    return concat(new Uint8Array([4]), bytes32(x), bytes32(y));
  }
  async function importCompact(alg, data) {
    if (alg === "EdDSA") {
      if (data.length !== 32) throw new Error("length");
      return crypto.subtle.importKey("raw", data, { name: "Ed25519" }, false, ["verify"]);
    }
    if (alg === "ES256") {
      if (data.length !== 33 || (data[0] !== 2 && data[0] !== 3)) throw new Error("length");
      return crypto.subtle.importKey("raw", decompressP256(data), { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
    }
    throw new Error("unsupported");
  }
  async function importJwk(jwk) {
    if (jwk.kty === "OKP" && jwk.crv === "Ed25519")
      return { alg: "EdDSA", key: await crypto.subtle.importKey("jwk", { kty: "OKP", crv: "Ed25519", x: jwk.x }, { name: "Ed25519" }, false, ["verify"]) };
    if (jwk.kty === "EC" && jwk.crv === "P-256")
      return { alg: "ES256", key: await crypto.subtle.importKey("jwk", { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y }, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]) };
    if (jwk.kty === "EC" && jwk.crv === "SM2") return { alg: "SM2", key: null };
    throw new Error(`unsupported JWK kty/crv ${jwk.kty}/${jwk.crv}`);
  }
  async function verifySig(alg, key, sig, data) {
    if (sig.length !== SIG_BYTES || !key) return false;
    try {
      const params = alg === "EdDSA" ? { name: "Ed25519" } : { name: "ECDSA", hash: "SHA-256" };
      return await crypto.subtle.verify(params, key, sig, data);
    } catch (e) { return false; }
  }

  // The JWKS parsed once: {kid: {alg, key}}.
  async function loadJwks(jwks) {
    if (!jwks || !Array.isArray(jwks.keys)) throw new Error("JWKS must be an object with a 'keys' list");
    const out = {};
    for (const jwk of jwks.keys) {
      if (jwk && (jwk.use || "sig") !== "sig") continue;
      const k = await importJwk(jwk);
      out[jwk.kid] = k;
    }
    return out;
  }

  // ---- compact JWS (status list) -------------------------------------------------------------------------
  async function verifyJws(token, keys, typ) {
    const parts = typeof token === "string" ? token.trim().split(".") : [];
    if (parts.length !== 3) throw new TokenError("malformed", "not a compact JWS");
    let hdr, payload;
    try { hdr = JSON.parse(new TextDecoder().decode(b64uDecode(parts[0]))); } catch (e) { throw new TokenError("malformed", "JWS header unreadable"); }
    const k = keys[hdr.kid];
    if (!k) throw new TokenError("unknown_key", "JWS kid is not in the JWKS");
    if (!(JOSE_ACCEPTS[k.alg] || []).includes(hdr.alg)) throw new TokenError(["Ed25519", "EdDSA", "ES256", "SM2"].includes(hdr.alg) ? "alg_mismatch" : "unsupported_alg", "JWS alg is not the key's");
    if (typ && hdr.typ !== typ) throw new TokenError("malformed", `JWS typ must be ${typ}`);
    if (k.alg === "SM2") throw new TokenError("unsupported_alg", "SM2 is not available in this browser");
    let sig;
    try { sig = b64uDecode(parts[2]); } catch (e) { throw new TokenError("malformed", "JWS unreadable"); }
    if (!(await verifySig(k.alg, k.key, sig, enc(parts[0] + "." + parts[1])))) throw new TokenError("bad_signature", "JWS signature does not verify");
    try { payload = JSON.parse(new TextDecoder().decode(b64uDecode(parts[1]))); } catch (e) { throw new TokenError("malformed", "JWS payload is not JSON"); }
    if (!payload || typeof payload !== "object" || Array.isArray(payload)) throw new TokenError("malformed", "JWS payload is not an object");
    return payload;
  }

  async function inflate(bytes) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    const buf = new Uint8Array(await new Response(stream).arrayBuffer());
    if (buf.length > (1 << 23)) throw new Error("status list too large");
    return buf;
  }

  // status_list.load: signature, typ, exp, bits.
  // `allowExpired` keeps a list past its exp so that verify() answers status_list_expired (a gate that is offline
  // too long refuses with that reason rather than not at all).
  async function loadStatusList(token, keys, now, allowExpired = false) {
    const payload = await verifyJws(token, keys, "statuslist+jwt");
    const sl = payload.status_list;
    if (!(sl && sl.bits === 1 && typeof sl.lst === "string" && Number.isInteger(payload.exp) && Number.isInteger(payload.iat)))
      throw new TokenError("malformed", "status list JWT lacks status_list/bits=1/lst, iat or exp");
    if (payload.exp <= now && !allowExpired) throw new TokenError("status_list_expired", "status list has expired; fetch a fresh one");
    let bits;
    try { bits = await inflate(b64uDecode(sl.lst)); } catch (e) { throw new TokenError("malformed", "status list bits are not base64url zlib data"); }
    return { bits, uri: String(payload.sub || ""), iat: payload.iat, exp: payload.exp,
      status(idx) { return idx >= 0 && idx < bits.length * 8 ? (bits[idx >> 3] >> (idx % 8)) & 1 : null; } };
  }

  // ecard.replay.ReplayCache, rule for rule: keys are hex, OWNER_BYTES of SHA-256 over who holds the code, then its
  // nonce (codeKey); at most `perOwner` entries per holder (that holder's entry closest to expiry goes first) and
  // `maxEntries` in all (then from the holder with the most), so one holder's flood pushes out only their own.
  const OWNER_BYTES = 16, REPLAY_PER_OWNER = 100, REPLAY_MAX_ENTRIES = 100000;
  const heapLess = (a, b) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);  // (exp, key) as heapq orders them
  class ReplayCache {
    constructor(maxEntries = REPLAY_MAX_ENTRIES, perOwner = REPLAY_PER_OWNER) {
      this.maxEntries = maxEntries;
      this.perOwner = Math.max(1, Math.min(perOwner, maxEntries));
      this.owners = new Map();   // owner hex -> Map(key hex -> exp)
      this.byCount = new Map();  // n -> Map(owner hex -> null), owners holding n entries, in the order they came
      this.top = 0; this.n = 0; this.heap = [];
    }
    get size() { return this.n; }
    static ownerOf(key) { return key.length > 2 * OWNER_BYTES ? key.slice(0, 2 * OWNER_BYTES) : ""; }
    recount(owner, old, now) {
      if (old) { const b = this.byCount.get(old); b.delete(owner); if (!b.size) this.byCount.delete(old); }
      if (now) {
        if (!this.byCount.has(now)) this.byCount.set(now, new Map());
        this.byCount.get(now).set(owner, null);
        this.top = Math.max(this.top, now);
      }
    }
    drop(owner, key) {
      const entries = this.owners.get(owner);
      entries.delete(key); this.n -= 1;
      this.recount(owner, entries.size + 1, entries.size);
      if (!entries.size) this.owners.delete(owner);
    }
    evictOne(owner, keep) {
      let victim = null, best = Infinity;
      for (const [k, e] of this.owners.get(owner)) if (k !== keep && e < best) { victim = k; best = e; }
      if (victim !== null) this.drop(owner, victim);
    }
    push(item) {
      const h = this.heap; h.push(item);
      for (let i = h.length - 1; i > 0;) {
        const p = (i - 1) >> 1;
        if (!heapLess(h[i], h[p])) break;
        [h[i], h[p]] = [h[p], h[i]]; i = p;
      }
    }
    pop() {
      const h = this.heap, top = h[0], last = h.pop();
      if (h.length) {
        h[0] = last;
        for (let i = 0; ;) {
          const l = 2 * i + 1, r = l + 1;
          let m = i;
          if (l < h.length && heapLess(h[l], h[m])) m = l;
          if (r < h.length && heapLess(h[r], h[m])) m = r;
          if (m === i) break;
          [h[i], h[m]] = [h[m], h[i]]; i = m;
        }
      }
      return top;
    }
    purge(now) {
      while (this.heap.length && this.heap[0][0] <= now) {
        const [when, key] = this.pop(), owner = ReplayCache.ownerOf(key), entries = this.owners.get(owner);
        if (entries && entries.get(key) === when) this.drop(owner, key);
      }
      if (this.heap.length > 2 * this.n + 1024) {  // evicted entries leave stale items behind
        this.heap = [];
        for (const entries of this.owners.values()) for (const [k, e] of entries) this.push([e, k]);
      }
    }
    seen(key, exp, now) {
      const owner = ReplayCache.ownerOf(key);
      this.purge(now);
      if (!this.owners.has(owner)) this.owners.set(owner, new Map());
      const entries = this.owners.get(owner);
      if (entries.has(key)) return true;
      entries.set(key, exp); this.n += 1;
      this.recount(owner, entries.size - 1, entries.size);
      this.push([exp, key]);
      if (entries.size > this.perOwner) this.evictOne(owner, key);
      if (this.n > this.maxEntries) this.evictFromLargest(owner, key);
      return false;
    }
    evictFromLargest(owner, keep) {
      while (!this.byCount.get(this.top)) this.top -= 1;
      for (let count = this.top; count > 0; count--) {
        for (const candidate of (this.byCount.get(count) || new Map()).keys()) {
          if (candidate !== owner || count > 1) { this.evictOne(candidate, keep); return; }
        }
      }
    }
    snapshot() {
      const out = {};
      for (const entries of this.owners.values()) for (const [k, e] of entries) out[k] = e;
      return out;
    }
  }
  // ecard.replay.code_key over ecard.verify._holder: the device key that signed an offline code, else the holder handle.
  async function codeKey(tok) {
    const owner = tok.kind === "offline" ? concat(enc("offline:" + tok.device_alg + ":"), tok.device_key) : concat(enc("online:"), tok.sub);
    return hex((await sha256(owner)).subarray(0, OWNER_BYTES)) + hex(tok.jti);
  }

  // terminal.qr_verify.verify: same order of checks, same reasons; never throws.
  async function verify(token, keys, statusList, now, replayCache, leeway = LEEWAY) {
    const fail = (reason, detail, f = {}) => ({ valid: false, reason, detail, ...f });
    let tok;
    try { tok = parse(token); } catch (e) { return fail(e.reason || "malformed", e.detail || String(e)); }
    const f = { kind: tok.kind, kid: tok.kid, alg: tok.alg, sub: hex(tok.sub), status_idx: tok.status_idx, iat: tok.iat, exp: tok.exp };
    const key = keys[tok.kid];
    if (!key) return fail("unknown_key", `issuer key ${tok.kid} is not in the JWKS`, f);
    if (key.alg !== tok.alg) return fail("alg_mismatch", `code says ${tok.alg} but key ${tok.kid} is ${key.alg}`, f);
    if (key.alg === "SM2") return fail("unsupported_alg", "SM2 signatures are not available in this browser; use sscard qr verify", f);
    if (!(await verifySig(key.alg, key.key, tok.issuer_sig, concat(DOMAIN, tok.issuer_signed))))
      return fail("bad_signature", "issuer signature does not verify", f);
    if (tok.kind === "offline") {
      if (tok.device_alg === "SM2") return fail("unsupported_alg", "SM2 device keys are not available in this browser", f);
      let device;
      try { device = await importCompact(tok.device_alg, tok.device_key); } catch (e) { return fail("malformed", "bound device key is not a valid public key", f); }
      if (!(await verifySig(tok.device_alg, device, tok.device_sig, concat(DOMAIN, tok.device_signed))))
        return fail("bad_signature", "device signature does not verify", f);
      if (tok.cred_iat > now + leeway) return fail("not_yet_valid", "credential is not valid yet", f);
      if (tok.cred_exp <= now) return fail("expired", "credential has expired; the phone must go online to renew it", f);
    }
    if (tok.iat > now + leeway) return fail("not_yet_valid", `code is dated ${tok.iat - Math.trunc(now)} s in the future`, f);
    if (tok.exp <= now - leeway) return fail("expired", `code expired ${Math.trunc(now) - tok.exp} s ago`, f);
    let checked = false;
    if (statusList) {
      if (statusList.exp <= now) return fail("status_list_expired", "cached status list has expired; refresh it", f);
      const bit = statusList.status(tok.status_idx);
      if (bit === null) return fail("status_unknown", "status index is outside the status list", f);
      if (bit) return fail("revoked", "card is revoked (reported lost or deactivated)", f);
      checked = true;
    }
    if (replayCache && await replayCache.seen(await codeKey(tok), tok.exp + leeway, now))
      return fail("replayed", "code was already used", f);
    return { valid: true, reason: "ok", detail: `valid ${tok.kind} code`, status_checked: checked, ...f };
  }

  // ---- the holder's device ------------------------------------------------------------------------------
  async function signJws(payload, privateKey, kid, typ) {
    const h = b64u(enc(JSON.stringify({ alg: "Ed25519", typ, kid })));
    const p = b64u(enc(JSON.stringify(payload)));
    const sig = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, privateKey, enc(h + "." + p)));
    return h + "." + p + "." + b64u(sig);
  }
  // device.sign_request: method, path, time, a fresh jti and the body's hash, signed by the device key.
  async function signRequest(privateKey, kid, method, path, body) {
    const claims = { htm: method.toUpperCase(), htu: path, iat: Math.floor(Date.now() / 1000),
      jti: b64u(crypto.getRandomValues(new Uint8Array(12))), bh: b64u(await sha256(body)) };
    return signJws(claims, privateKey, kid, REQUEST_TYP);
  }
  // tokens.present: a short-lived presentation under the issuer credential, signed with no network.
  async function present(credential, privateKey, now, ttl = 60) {
    if (!(ttl >= 1 && ttl <= MAX_TTL)) throw new Error(`ttl must be 1..${MAX_TTL} seconds`);
    const body = concat(credential, putU32(Math.floor(now)), putU16(ttl), crypto.getRandomValues(new Uint8Array(8)));
    const sig = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, privateKey, concat(DOMAIN, body)));
    return PREFIX + b64u(concat(body, sig));
  }

  // A QR as an SVG element string (qrcode-generator, vendored), byte mode, error correction M.
  function qrSvg(text, label) {
    const qr = global.qrcode(0, "M");
    qr.addData(text, "Byte");
    qr.make();
    const n = qr.getModuleCount(), m = 4;
    let d = "";
    for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) if (qr.isDark(r, c)) d += `M${c + m} ${r + m}h1v1h-1z`;
    return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${n + 2 * m} ${n + 2 * m}" shape-rendering="crispEdges" role="img" aria-label="${label || "QR"}"><rect width="100%" height="100%" fill="#fff"/><path d="${d}" fill="#000"/></svg>`;
  }

  global.sscard = { PREFIX, REASONS, LEEWAY, b64u, b64uDecode, hex, parse, loadJwks, loadStatusList, verify,
    ReplayCache, REPLAY_MAX_ENTRIES, REPLAY_PER_OWNER, codeKey, signRequest, present, qrSvg, TokenError };
})(typeof window !== "undefined" ? window : self);
