"""The verifier page: the same test vectors give the same reasons in the browser (sscard.js, WebCrypto) as in
terminal/qr_verify.py; a QR shown to the camera (Chromium's fake capture device playing a real video) is decided;
with the network gone it still decides from its cached trust and says how old that is."""
from __future__ import annotations

import json
import time

import pytest

from ecard import replay, status_list
from ecard.device import Device
from ecard.keys import Jwks
from ecard.replay import ReplayCache
from ecard.verify import verify
from tests.ecard.test_server import activate

from . import vectors
from .camera import camera_args, qr_video
from .conftest import CHROMIUM, CHROMIUM_ARGS, axe_check, screenshot

JS_RUN = """async (v) => {
  const keys = await sscard.loadJwks(v.jwks);
  const sl = await sscard.loadStatusList(v.status_list, keys, v.now);
  const cache = new sscard.ReplayCache();
  const out = [];
  for (const [name, tok] of v.cases) out.push([name, (await sscard.verify(tok, keys, sl, v.now, cache)).reason]);
  const stale = await sscard.loadStatusList(v.stale_status_list, keys, v.now, true);
  out.push(["stale status list", (await sscard.verify(v.valid_for_stale, keys, stale, v.now, null)).reason]);
  out.push(["sm2", (await sscard.verify(v.sm2, keys, sl, v.now, null)).reason]);
  let refused = "";
  try { await sscard.loadStatusList(v.stale_status_list, keys, v.now); } catch (e) { refused = e.reason; }
  out.push(["stale list refused on load", refused]);
  const older = await sscard.loadStatusList(v.eddsa_status_list, keys, v.now);
  out.push(["status list under the older alg name EdDSA", (await sscard.verify(v.cases[0][1], keys, older, v.now, null)).reason]);
  return out;
}"""


JS_REPLAY = """async (v) => {
  const keys = [];
  for (const [tok] of v.replay_keys) keys.push(await sscard.codeKey(sscard.parse(tok)));
  const r = v.replay, cache = new sscard.ReplayCache(r.max_entries, r.per_owner), seen = [];
  for (const [key, exp, now] of r.ops) seen.push(cache.seen(key, exp, now));
  return { keys, seen, final: cache.snapshot(), defaults: [sscard.REPLAY_MAX_ENTRIES, sscard.REPLAY_PER_OWNER] };
}"""


def python_reasons(v: dict) -> list[list[str]]:
    jwks = Jwks.from_json(v["jwks"])
    sl = status_list.load(v["status_list"], jwks, now=v["now"])
    cache = ReplayCache()
    out = [[name, verify(tok, jwks, sl, v["now"], cache).reason] for name, tok in v["cases"]]
    stale = status_list.load(v["stale_status_list"], jwks, now=v["now"] - 3700)  # loaded while fresh, used after its exp
    out.append(["stale status list", verify(v["valid_for_stale"], jwks, stale, v["now"], None).reason])
    return out


def test_same_vectors_same_reasons_in_both_verifiers(browser, server):
    v = vectors.build()
    page = browser.new_page()
    page.goto(server.url + "/pages/verifier.html?camera=0")
    js = page.evaluate(JS_RUN, json.loads(vectors.as_json(v)))
    py = python_reasons(v)
    assert js[: len(py)] == py
    reasons = {r for _, r in py}
    assert {"ok", "malformed", "oversized", "unsupported_alg", "unknown_key", "alg_mismatch", "bad_signature",
            "not_yet_valid", "expired", "revoked", "status_unknown", "status_list_expired", "replayed"} <= reasons
    # SM2 is not in WebCrypto: the page says so rather than guess (the CLI verifies SM2 codes)
    assert js[len(py)] == ["sm2", "unsupported_alg"]
    jwks = Jwks.from_json(v["jwks"])
    assert verify(v["sm2"], jwks, status_list.load(v["status_list"], jwks, now=v["now"]), v["now"], None).valid
    assert js[len(py) + 1] == ["stale list refused on load", "status_list_expired"]
    # signing says Ed25519 (RFC 9864); a list signed under the older name EdDSA is still accepted, in both
    assert json.loads(vectors.b64u_decode(v["status_list"].split(".")[0]))["alg"] == "Ed25519"
    assert js[len(py) + 2] == ["status list under the older alg name EdDSA", "ok"]
    assert status_list.load(v["eddsa_status_list"], jwks, now=v["now"]) is not None


def test_replay_rule_is_the_same_in_both_verifiers(browser, server):
    """The browser's cache keys a code by who holds it as ecard.replay.code_key does (online and offline, Ed25519
    and ES256 devices), and answers a trace of `seen` calls on small bounds (a flood, repeats, expiry, the cache
    full) as ecard.replay.ReplayCache does, down to which entries are left; its defaults are the CLI gate's."""
    v = json.loads(vectors.as_json(vectors.build()))
    page = browser.new_page()
    page.goto(server.url + "/pages/verifier.html?camera=0")
    js = page.evaluate(JS_REPLAY, v)
    assert js["keys"] == [key for _, key in v["replay_keys"]]
    owners = [k[:32] for k in js["keys"]]  # online, offline, offline (ES256 device), offline (first device, ES256 issuer)
    assert len(set(owners[:3])) == 3 and owners[3] == owners[1]  # an offline code is its device key's
    assert js["seen"] == [op[3] for op in v["replay"]["ops"]]
    assert any(js["seen"]) and not all(js["seen"])
    assert js["final"] == v["replay"]["final"] and len(js["final"]) <= v["replay"]["max_entries"]
    assert js["defaults"] == v["replay"]["defaults"] == [100_000, 100]


def holder_code(server) -> str:
    import httpx

    h = server.fresh_holder()
    with server.client() as c:
        r = c.post("/v1/activation-codes", json={"card_no": h.card_no}, headers={"X-Terminal-Key": server.terminal_key})
        dev = Device()
        act = c.post("/v1/activate", json={"code": r.json()["code"], "device_jwk": dev.jwk()})
        assert act.status_code == 201
        dev.device_id = act.json()["device_id"]  # the server names the device
        tok = dev.request(c, "POST", "/v1/token", {"ttl": 120})
        assert tok.status_code == 200, tok.text
        return tok.json()["token"]
    raise AssertionError(httpx)


def scan(playwright, server, video, *, offline_after_load: bool = False, lang: str = "zh", elder: bool = False):
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + camera_args(video))
    context = browser.new_context(viewport={"width": 800, "height": 1000})
    context.grant_permissions(["camera"])
    page = context.new_page()
    logs: list[str] = []
    page.on("console", lambda m: logs.append(m.text))
    return browser, context, page, logs


def test_camera_scan_admits_then_replay_and_offline(playwright, server, tmp_path):
    token = holder_code(server)
    video = qr_video(token, tmp_path / "qr.y4m")
    browser, context, page, logs = scan(playwright, server, video)
    try:
        page.goto(server.url + "/pages/verifier.html")
        page.wait_for_selector("#decision[data-reason]", timeout=30000)
        decision = page.evaluate("() => window.lastDecision")
        assert decision["reason"] == "ok" and decision["valid"], decision
        assert page.locator("#decision").inner_text().startswith("通过")
        line = next(m for m in logs if m.startswith("sscard verifier:"))
        print(f"\nverifier decision latency after decoding: {decision['latency_ms']:.2f} ms "
              f"(jsQR decode {decision['decode_ms']:.1f} ms) -- {line}")
        assert axe_check(page) == []
        screenshot(page, "verifier-admit-standard-zh")

        # the same code scanned again (a new page, same gate: the replay cache is kept) is refused as replayed
        context.set_offline(True)
        again = context.new_page()
        again.goto(server.url + "/pages/verifier.html")  # the service worker serves the page with no network
        again.wait_for_selector("#decision[data-reason]", timeout=30000)
        assert again.evaluate("() => window.lastDecision.reason") == "replayed"
        trust = again.locator("#trust")
        assert "（离线）" in trust.inner_text() and trust.get_attribute("data-age-seconds") != ""
        again.click("#elder")
        assert axe_check(again) == []
        screenshot(again, "verifier-refuse-elder-zh")
        again.click("#lang")
        screenshot(again, "verifier-refuse-elder-en")
        assert again.locator("#decision").inner_text() == "REFUSE"
    finally:
        context.close()
        browser.close()


def offline_phone(server) -> Device:
    """An activated device holding its offline credential: it makes as many valid codes as it likes, no network."""
    with server.client() as c:
        dev = activate(server, c, server.fresh_holder())
        dev.fetch_offline_credential(c)
    return dev


def decide(page, token: str) -> str:
    return page.evaluate("async (t) => (await window.verifierDecide(t, 0)).reason", token)


SMALL = "?camera=0&replay_max=20&replay_per_holder=5"


def test_one_holders_flood_keeps_another_holders_code_refused_across_a_reload(browser, server):
    victim = holder_code(server)
    attacker = offline_phone(server)
    context = browser.new_context()
    page = context.new_page()
    page.goto(server.url + "/pages/verifier.html" + SMALL)
    page.evaluate("window.verifierReady")
    assert page.evaluate("window.verifierReplay()")["maxEntries"] == 20
    assert decide(page, victim) == "ok"
    flood = [attacker.offline_code(ttl=300) for _ in range(60)]  # three times the whole cache
    assert [decide(page, code) for code in flood] == ["ok"] * len(flood)  # each really admitted
    state = page.evaluate("window.verifierReplay()")
    assert sorted(state["owners"].values()) == [1, 5] and state["size"] == 6  # the flood pushed out its own only
    assert decide(page, victim) == "replayed"
    assert decide(page, flood[-1]) == "replayed" and decide(page, flood[0]) == "ok"  # the oldest was let go

    page.reload()  # kept in IndexedDB: the reloaded page still refuses what was admitted
    page.evaluate("window.verifierReady")
    assert page.evaluate("window.verifierReplay()")["warnings"] == []
    assert decide(page, victim) == "replayed"
    assert decide(page, flood[-1]) == "replayed"
    assert not page.locator("#replay-warning").is_visible()

    fresh = context.new_page()  # the defaults are the CLI gate's (ecard.replay.MAX_ENTRIES, PER_OWNER)
    fresh.goto(server.url + "/pages/verifier.html?camera=0")
    fresh.evaluate("window.verifierReady")
    state = fresh.evaluate("window.verifierReplay()")
    assert [state["maxEntries"], state["perOwner"]] == [replay.MAX_ENTRIES, replay.PER_OWNER]
    assert decide(fresh, victim) == "replayed"
    context.close()


GARBLE = """(snapshot) => new Promise((res, rej) => { const r = indexedDB.open('sscard-verifier');
  r.onsuccess = () => { const tx = r.result.transaction(['replay', 'journal'], 'readwrite');
    tx.objectStore('replay').put(snapshot, 'snapshot');
    for (const junk of ['zz 12', 12, {a: 1}, 'abcd notanumber', '']) tx.objectStore('journal').add(junk);
    tx.oncomplete = () => { r.result.close(); res(true); }; tx.onerror = () => rej(tx.error); }; })"""


@pytest.mark.parametrize("snapshot", ['{"00ff', "[1, 2]", '{"00ff": "soon"}', '{"XYZ": 1}'])
def test_a_torn_stored_cache_is_read_as_empty_with_a_warning(browser, server, snapshot):
    victim = holder_code(server)
    context = browser.new_context()
    page = context.new_page()
    page.goto(server.url + "/pages/verifier.html" + SMALL)
    page.evaluate("window.verifierReady")
    assert decide(page, victim) == "ok"
    page.evaluate(GARBLE, snapshot)
    page.reload()
    page.evaluate("window.verifierReady")
    state = page.evaluate("window.verifierReplay()")
    assert state["warnings"] == ["replay_torn", "replay_garbled"] and not state["degraded"], state
    warning = page.locator("#replay-warning")
    assert warning.is_visible() and "5" in warning.inner_text() and "损坏" in warning.inner_text()
    assert decide(page, victim) == "replayed"  # its journal record was sound: kept
    code = holder_code(server)
    assert decide(page, code) == "ok" and decide(page, code) == "replayed"  # still deciding, still recording
    assert axe_check(page) == []
    page.click("#lang")
    assert "garbled" in warning.inner_text()
    context.close()
