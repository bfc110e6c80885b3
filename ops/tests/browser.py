#!/usr/bin/env python3
"""The web pages in a real browser: headless Chromium driven by Selenium.

  1. `greffe serve` on a fresh ledger; six edit requests and two later
     events appended over HTTP, each answered once a checkpoint covers it.
  2. Status page (/): renders the current size; no CSP violation.
  3. Console (/console): the token typed once is in no storage, cookie or
     address; a search by image hash finds exactly the event with that image;
     opening it shows its body; the bundle download lands in Chromium's
     download directory; the server logged search, read and bundle as
     access.granted under the investigator's token.
  4. The server is stopped. verify.html, written by `greffe verifier-page`,
     opened from file:// says VERIFIED for the downloaded bundle, and for
     each tampered copy (the mutations of BundleTests.mutations) says NOT
     VERIFIED naming the failing part; malformed files get a clear message.
     A genuinely erased event's bundle verifies, naming its legal reference;
     withheld content passed off as an erasure (issue 16) says "body
     withheld"; downgraded to greffe-bundle/v1 the erasure is unproven.
     `greffe verify` runs on every same file: verdicts and report text agree.
     The server writes greffe-bundle/v3; the v2 checks run on the same
     bundles turned into v2 (ops/tests/bundlev3.py to-v2).
  5. greffe-bundle/v3 (Schemas/bundle.md): forgeries of a bundle made by
     ops/tests/bundlev3.py (a member removed or added, events reordered, a
     gap of the wrong length, a changed tail…) all fail, as in greffe
     verify; a 100,000-event bundle verifies in a Web Worker with the
     network off within 60 s, and a copy with one byte changed does not.
  6. Screenshots of the three pages (into --screenshots DIR, e.g. docs/).

The page under test is built from web/* (ops/gen-web-assets.py --page),
not taken from greffe's embedded copy, which is only as new as the binary.

Usage: ops/tests/browser.py [--screenshots DIR] [--v3-only]
Env: GREFFE (binary, default .build/debug/greffe), CHROMIUM, CHROMEDRIVER, KEEP=1,
     BIG_EVENTS (default 100000), BIG_CLI=0 (skip greffe verify on the large bundle: a debug build takes ~45 s).
"""
import argparse
import base64
import copy
import importlib.util
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bundlev3  # noqa: E402 — the independent v3 generator and verifier beside this file


def load_gen_web_assets():
    spec = importlib.util.spec_from_file_location("gen_web_assets", os.path.join(ROOT, "ops", "gen-web-assets.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
GREFFE = os.path.abspath(os.environ.get("GREFFE", os.path.join(ROOT, ".build", "debug", "greffe")))
PASSED = 0
FAILED = 0


def log(text):
    print(text, flush=True)


def ok(text):
    global PASSED
    PASSED += 1
    log("ok   " + text)


def bad(text):
    global FAILED
    FAILED += 1
    log("FAIL " + text)


def check(condition, text, detail=""):
    if condition:
        ok(text)
    else:
        bad(text + (": " + detail if detail else ""))
    return condition


def run(*args):
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True).stdout.strip()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http(url, method="GET", token=None, body=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, response.read()


def edit_request(i):
    """The edit requests of Tests/GreffeServerTests/BundleTests.swift."""
    return {
        "event_id": "edit-%d" % i, "kind": "edit.requested", "occurred_at": "2026-11-25T10:00:%02dZ" % i, "platform": "example-ai",
        "schema_version": 1, "account": "hmac-sha256:%064x" % (i % 2), "subscription_tier": "premium",
        "model": {"name": "imagine", "version": "3.1"}, "prompt": {"sha256": "ab" * 32},
        "input_images": [{"sha256": "%064x" % (100 + i)}], "flags": {"real_person_detected": True, "minor_suspected": False},
        "decision": {"outcome": "blocked", "classifiers": [{"label": "nudity", "score": 0.97}]},
    }


def legal_request(event_id):
    return {"event_id": event_id, "kind": "legal.request", "occurred_at": "2026-11-25T10:00:00Z", "platform": "example-ai",
            "schema_version": 1, "authority": "Parquet de Paris", "reference": "REF-1", "direction": "received",
            "request_type": "preservation"}


# --- bundle mutations (BundleTests.mutations, on the JSON file) --------------
def flip_b64(text, bit):
    raw = bytearray(base64.b64decode(text))
    raw[bit // 8] ^= 1 << (bit % 8)
    return base64.b64encode(bytes(raw)).decode()


def flip_entry_byte(event, offset, mask):
    raw = bytearray(base64.b64decode(event["entry"]))
    raw[offset] ^= mask
    event["entry"] = base64.b64encode(bytes(raw)).decode()


def resign_checkpoint(bundle, change_text=None, change_signature=None):
    text, _, signatures = bundle["checkpoint"].rpartition("\n\n")
    lines = signatures.rstrip("\n").split("\n")
    if change_signature:
        prefix, _, blob = lines[0].rpartition(" ")
        raw = bytearray(base64.b64decode(blob))
        change_signature(raw)
        lines[0] = prefix + " " + base64.b64encode(bytes(raw)).decode()
    if change_text:
        text = change_text(text)
    bundle["checkpoint"] = text + "\n\n" + "\n".join(lines) + "\n"


def grow_size(text):
    parts = text.split("\n")
    parts[1] = str(int(parts[1]) + 1)
    return "\n".join(parts)


def mutations(bundle):
    """(name, expected failure code, mutate) — every one must be caught and named."""
    def set_tier(b):
        b["events"][2]["body"]["subscription_tier"] = "free"

    def swap(b):
        e = b["events"]
        e[1]["inclusion_proof"], e[4]["inclusion_proof"] = e[4]["inclusion_proof"], e[1]["inclusion_proof"]

    cases = [
        ("bit 0 of proof element 0 of event 0", "inclusionProof",
         lambda b: b["events"][0]["inclusion_proof"].__setitem__(0, flip_b64(b["events"][0]["inclusion_proof"][0], 0))),
        ("bit 255 of the last proof element of event 5", "inclusionProof",
         lambda b: b["events"][5]["inclusion_proof"].__setitem__(-1, flip_b64(b["events"][5]["inclusion_proof"][-1], 255))),
        ("an extra proof element", "inclusionProof", lambda b: b["events"][1]["inclusion_proof"].append(base64.b64encode(bytes(32)).decode())),
        ("a missing proof element", "inclusionProof", lambda b: b["events"][1]["inclusion_proof"].pop()),
        ("the stated leaf hash of event 3", "leafHash", lambda b: b["events"][3].__setitem__("leaf_hash", flip_b64(b["events"][3]["leaf_hash"], 3))),
        ("a bit of the salt of event 0", "commitment", lambda b: b["events"][0].__setitem__("salt", flip_b64(b["events"][0]["salt"], 0))),
        ("a body value (tier premium to free) of event 2", "commitment", set_tier),
        ("a bit of the entry's commitment of event 4", "commitment", lambda b: flip_entry_byte(b["events"][4], 60, 0x10)),
        ("the index of event 1", "entryIndex", lambda b: b["events"][1].__setitem__("index", b["events"][1]["index"] + 1)),
        ("a body removed with no erasure recorded", "bodyWithheld", lambda b: b["events"][5].__setitem__("body", None)),
        ("the proofs of two events swapped", "inclusionProof", swap),
        ("an entry's prev link", "prevLink", lambda b: flip_entry_byte(b["events"][3], 20, 1)),
        ("a bit of the checkpoint signature", "signature", lambda b: resign_checkpoint(b, change_signature=lambda raw: raw.__setitem__(14, raw[14] ^ 4))),
        ("the checkpoint's size", "signature", lambda b: resign_checkpoint(b, change_text=grow_size)),
        ("the earlier checkpoint's consistency proof", "consistencyProof",
         lambda b: b["earlier_checkpoints"][0]["consistency_proof"].__setitem__(0, flip_b64(b["earlier_checkpoints"][0]["consistency_proof"][0], 9))),
    ]
    out = []
    for name, code, mutate in cases:
        b = copy.deepcopy(bundle)
        mutate(b)
        out.append((name, code, json.dumps(b).encode()))
    return out


def erasure_forgeries(bundle):
    """(name, expected failure code, words, bytes): event 1 of `bundle` is genuinely erased; each case
    passes withheld content off as an erasure (issue 16) and must be refused, naming the event."""
    def null(e):
        e["body"] = e["salt"] = None

    def no_record(b):
        null(b["events"][2])
        b["events"][2]["erased"] = {"erased_at": "2026-11-26T09:00:00.000Z", "legal_reference": "TJ Nowhere 1/1",
                                    "erasure_entry_index": b["events"][1]["erased"]["erasure_entry_index"]}

    def other_record(b):
        null(b["events"][2])
        b["events"][2]["erased"] = copy.deepcopy(b["events"][1]["erased"])

    def reference(b):
        b["events"][1]["erased"]["legal_reference"] = "TJ Paris 26/999"

    def record_body(b):
        b["events"][1]["erased"]["record"]["body"]["reason"] = "none"

    cases = [
        ("a kept event's body and salt nulled, an erasure claimed", "bodyWithheld", "body withheld", no_record),
        ("a kept event nulled, with the genuine record of another event's erasure", "bodyWithheld", "not this one (2)", other_record),
        ("the genuine erasure's legal reference changed", "bodyWithheld", "not \"TJ Paris 26/999\" as the claim states", reference),
        ("the genuine erasure record's body changed", "bodyWithheld", "do not match its entry's commitment", record_body),
        ("a kept body shown with an erasure claim", "erasureClaim", "the body is shown", lambda b: b["events"][2].__setitem__("erased", copy.deepcopy(b["events"][1]["erased"]))),
    ]
    out = []
    for name, code, words, mutate in cases:
        b = copy.deepcopy(bundle)
        mutate(b)
        out.append((name, code, words, json.dumps(b).encode()))
    return out


def downgraded(bundle):
    """The bundle as greffe-bundle/v1, its erasure records dropped: verifies, the erasure reported unproven."""
    b = copy.deepcopy(bundle)
    b["format"] = "greffe-bundle/v1"
    for e in b["events"]:
        e.get("erased", {}).pop("record", None)
    return json.dumps(b).encode()


def random_mutations(bundle, seed, count):
    """Seeded random edits anywhere in the file: a character changed, a member
    removed, a value replaced, a number moved by one, an element repeated.
    Yields (description, touches occurred_at, bytes)."""
    rng = random.Random(seed)

    def paths(value, path=()):
        yield path
        children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
        for key, child in children:
            yield from paths(child, path + (key,))

    def parent_of(value, path):
        for key in path[:-1]:
            value = value[key]
        return value

    for _ in range(count):
        b = copy.deepcopy(bundle)
        edits = []
        for _ in range(rng.choice([1, 1, 2])):
            path = rng.choice([p for p in paths(b) if p])
            parent, key = parent_of(b, path), path[-1]
            value, r = parent[key], rng.random()
            if isinstance(value, str) and value and r < 0.5:
                i = rng.randrange(len(value))
                parent[key] = value[:i] + rng.choice("ABab01+/=\n \u2014xz.") + value[i + 1:]
                edits.append("a character of %s" % "/".join(map(str, path)))
            elif r < 0.6:
                del parent[key]
                edits.append("%s removed" % "/".join(map(str, path)))
            elif r < 0.8:
                parent[key] = rng.choice([None, 0, -1, 1.5, 2 ** 60, "", [], {}, "x", True])
                edits.append("%s replaced by %r" % ("/".join(map(str, path)), parent[key]))
            elif isinstance(value, int) and not isinstance(value, bool):
                parent[key] = value + rng.choice([-1, 1])
                edits.append("%s moved by one" % "/".join(map(str, path)))
            elif isinstance(value, list) and value:
                value.append(copy.deepcopy(value[0]))
                edits.append("%s with its first element repeated" % "/".join(map(str, path)))
            else:
                parent[key] = None
                edits.append("%s set to null" % "/".join(map(str, path)))
        yield "; ".join(edits), any("occurred_at" in e for e in edits), json.dumps(b).encode()


def malformed(bundle_bytes):
    """(name, the words both must say, bytes): files that are no bundle at all."""
    b = json.loads(bundle_bytes)
    wrong_format = dict(b, format="greffe-bundle/v0")
    no_events = dict(b, events={"0": 1})
    bad_leaf = copy.deepcopy(b)
    bad_leaf["events"][0]["leaf_hash"] = "not base64!"
    # JSON.parse would keep the last "premium" and verify; greffe verify refuses the file.
    text = json.dumps(b)
    duplicate = text.replace('"subscription_tier": "premium"', '"subscription_tier": "free", "subscription_tier": "premium"', 1)
    assert duplicate != text
    surrogate = text.replace('"platform": "example-ai"', '"platform": "example-ai\\ud800"', 1)
    assert surrogate != text
    return [
        ("a body with a member name twice", "duplicate member name", duplicate.encode()),
        ("a lone surrogate in a body", "the bundle is not valid JSON", surrogate.encode()),
        ("a number too large for a double", "the bundle is not valid JSON", text.replace('"score": 0.97', '"score": 1e400', 1).encode()),
        ("a file that is not JSON", "the bundle is not valid JSON", b"%PDF-1.7 this is not a bundle\n"),
        ("a truncated bundle", "the bundle is not valid JSON", bundle_bytes[: len(bundle_bytes) // 2]),
        ("an empty file", "the bundle is not valid JSON", b""),
        # greffe verify (reading v3 as a stream) says "expected the bundle's opening {"; the page "not a JSON object".
        ("JSON that is not an object", ("the bundle is not a JSON object", "expected the bundle's opening {"), b"[1, 2, 3]"),
        ("another format", "the bundle's format is none of greffe-bundle/v3, greffe-bundle/v2, greffe-bundle/v1", json.dumps(wrong_format).encode()),
        ("events that are not an array", "/events is missing or not an array", json.dumps(no_events).encode()),
        ("a leaf hash that is not base64", "/events/0/leaf_hash is not a base64 SHA-256 hash", json.dumps(bad_leaf).encode()),
    ]


def flip_char(text, position=None):
    """One base64 character changed (to another base64 character)."""
    i = len(text) // 2 if position is None else position
    return text[:i] + ("A" if text[i] != "A" else "B") + text[i + 1:]


def v3_forgeries(bundle):
    """(name, expected status, expected code or words, bytes): changes to a valid v3 bundle (bundlev3.py make
    --sparse --erase 1 --hold) that must never verify. Words for a refused file, a failure code otherwise."""
    with_gap = next(i for i, e in enumerate(bundle["events"]) if i > 0 and len(e.get("gap", [])) > 0)

    def edit(change):
        b = copy.deepcopy(bundle)
        change(b)
        return json.dumps(b).encode()

    def swap(b):
        e = b["events"]
        e[2], e[3] = e[3], e[2]

    def entry_commitment(b):
        flip_entry_byte(b["events"][4], 60, 0x10)

    def kept_erased(b):
        for e in b["events"]:
            if e["body"] is None:
                e["erased"]["legal_reference"] = "TJ Nowhere 1/1"

    def lifted_body(b):
        b["holds"][0]["lifted"]["body"]["reason"] = "changed"

    events_first = {"events": bundle["events"]}
    events_first.update({k: v for k, v in bundle.items() if k != "events"})
    text = json.dumps(bundle).encode()
    return [
        ("v3: an event's body member removed", "unreadable", "/events/1/body is missing", edit(lambda b: b["events"][1].pop("body"))),
        ("v3: an event's salt member removed", "unreadable", "/events/2/salt is missing", edit(lambda b: b["events"][2].pop("salt"))),
        ("v3: a v2 member (index) added to an event", "unreadable", "/events/0 has the unknown field \"index\"",
         edit(lambda b: b["events"][0].__setitem__("index", 1))),
        ("v3: a member added to the bundle", "unreadable", "the bundle has the unknown field \"proofs\"", edit(lambda b: b.__setitem__("proofs", []))),
        ("v3: a member added to a hold", "unreadable", "/holds/0 has the unknown field \"note\"", edit(lambda b: b["holds"][0].__setitem__("note", "x"))),
        ("v3: the tail removed", "unreadable", "/tail is missing", edit(lambda b: b.pop("tail"))),
        ("v3: the bundle cut in half", "unreadable", "the bundle is not valid JSON", text[: len(text) // 2]),
        ("v3: two events swapped", "failed", "duplicateEvent", edit(swap)),
        ("v3: an event removed", "failed", "inclusionProof", edit(lambda b: b["events"].pop(3))),
        ("v3: a hash added to a gap", "failed", "inclusionProof",
         edit(lambda b: b["events"][with_gap]["gap"].append(base64.b64encode(bytes(32)).decode()))),
        ("v3: a hash removed from a gap", "failed", "inclusionProof", edit(lambda b: b["events"][with_gap]["gap"].pop())),
        ("v3: a gap hash changed", "failed", "inclusionProof",
         edit(lambda b: b["events"][with_gap]["gap"].__setitem__(0, flip_b64(b["events"][with_gap]["gap"][0], 77)))),
        ("v3: the first event's gap hash changed", "failed", "inclusionProof",
         edit(lambda b: b["events"][0]["gap"].__setitem__(-1, flip_b64(b["events"][0]["gap"][-1], 0)))),
        ("v3: a tail hash changed", "failed", "inclusionProof", edit(lambda b: b["tail"].__setitem__(0, flip_b64(b["tail"][0], 200)))),
        ("v3: a tail hash removed", "failed", "inclusionProof", edit(lambda b: b["tail"].pop())),
        ("v3: a tail hash added", "failed", "inclusionProof", edit(lambda b: b["tail"].append(b["tail"][0]))),
        ("v3: a bit of an entry's commitment", "failed", "commitment", edit(entry_commitment)),
        ("v3: the erased event's legal reference", "failed", "bodyWithheld", edit(kept_erased)),
        ("v3: the lifted hold record's body", "failed", "hold", edit(lifted_body)),
        ("v3: the hold's placed record's proof", "failed", "hold",
         edit(lambda b: b["holds"][0]["placed"]["inclusion_proof"].__setitem__(0, flip_b64(b["holds"][0]["placed"]["inclusion_proof"][0], 5)))),
        # Not a forgery: member order is immaterial, events before the format included.
        ("v3: the same bundle with its events first", "verified", None, json.dumps(events_first).encode()),
    ]


class Browser:
    def __init__(self, downloads):
        options = Options()
        options.binary_location = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
        for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1100",
                         "--lang=en-US", "--no-first-run"]:
            options.add_argument(argument)
        options.add_experimental_option("prefs", {"download.default_directory": downloads, "download.prompt_for_download": False})
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(os.environ.get("CHROMEDRIVER", shutil.which("chromedriver") or "/usr/bin/chromedriver"))
        self.driver = webdriver.Chrome(service=service, options=options)
        self.driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})

    def wait(self, condition, timeout=20):
        return WebDriverWait(self.driver, timeout).until(lambda d: condition(d))

    def by_id(self, element_id):
        return self.driver.find_element(By.ID, element_id)

    def console_problems(self):
        """Browser console errors: a CSP violation or an uncaught exception shows here."""
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] in ("SEVERE",) and "favicon" not in e["message"]]

    def screenshot(self, path, full=True):
        self.driver.execute_script("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
        if full:
            height = self.driver.execute_script("return document.documentElement.scrollHeight")
            self.driver.set_window_size(1280, min(max(height + 40, 700), 4000))
        self.driver.save_screenshot(path)
        self.driver.set_window_size(1280, 1100)


def page_checks(browser, name, phone_shot=None):
    """Phone width, labels, print styles: the parts of item 4 of the issue a browser can measure."""
    driver = browser.driver
    unlabelled = driver.execute_script(
        "return [...document.querySelectorAll('input, select, textarea, button')]"
        ".filter(e => (e.labels ? e.labels.length : 0) === 0 && !e.getAttribute('aria-label') && !(e.tagName === 'BUTTON' && e.textContent.trim()))"
        ".map(e => e.id || e.outerHTML.slice(0, 60))")
    check(not unlabelled, "%s: every control has a label" % name, repr(unlabelled))
    # A phone's viewport (a window cannot be made that narrow on every platform).
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
    time.sleep(0.3)
    widths = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    if phone_shot:
        driver.save_screenshot(phone_shot)
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    check(widths[1] == 390 and widths[0] <= 391, "%s: fits a phone's width (390 px) without sideways scrolling" % name, repr(widths))
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    hidden = driver.execute_script(
        "return [...document.querySelectorAll('header.site, form')].every(e => getComputedStyle(e).display === 'none')"
        " && getComputedStyle(document.querySelector('main')).display !== 'none'")
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    check(hidden, "%s: printed, it shows the content without the header and forms" % name)


def checkers(browser, files, page):
    """page_check(content, key): the verdict of the page at `page` on content; cli(path, key): greffe verify's."""
    driver = browser.driver
    counter = [0]

    def page_check(content, key, page_path=page, timeout=20, watch=None):
        """Loads content as a new file in the page; returns (path, status, report text, failure codes, heading, details).
        With a list as `watch`, polls the page meanwhile, appending (seconds the page took to answer, progress text)."""
        counter[0] += 1
        path = os.path.join(files, "bundle-%02d.json" % counter[0])
        with open(path, "wb") as f:
            f.write(content)
        if driver.current_url != "file://" + page_path:
            driver.get("file://" + page_path)
        field = browser.by_id("vkey")
        field.clear()
        field.send_keys(key)
        before = browser.by_id("result").get_attribute("data-run") or "0"
        if watch is not None:
            # A heartbeat in the page: the longest time between two ticks is how long the page froze.
            driver.execute_script("""
                clearInterval(window.heartbeat); window.longestPause = 0; let last = performance.now();
                window.heartbeat = setInterval(() => {
                  const now = performance.now(); window.longestPause = Math.max(window.longestPause, now - last); last = now;
                }, 20);""")
        browser.by_id("bundle").send_keys(path)
        if watch is None:
            browser.wait(lambda d: (d.find_element(By.ID, "result").get_attribute("data-run") or "0") != before, timeout)
        else:
            deadline = time.monotonic() + timeout
            while True:
                asked = time.monotonic()
                now, progress = driver.execute_script(
                    "return [document.getElementById('result').dataset.run || '0', document.getElementById('progress-text').textContent]")
                watch.append((time.monotonic() - asked, progress))
                if now != before:
                    watch.append((driver.execute_script("clearInterval(window.heartbeat); return window.longestPause") / 1000, "longest pause"))
                    break
                if time.monotonic() > deadline:
                    raise TimeoutException("no verdict within %d s" % timeout)
                time.sleep(0.25)
        status = browser.by_id("result").get_attribute("data-status")
        text = driver.execute_script("return document.getElementById('report-text').textContent")
        codes = [li.get_attribute("data-code") for li in driver.find_elements(By.CSS_SELECTOR, "#details li[data-code]")]
        heading = browser.by_id("verdict").text
        details = browser.by_id("details").text
        return path, status, text, codes, heading, details

    def cli(path, key):
        result = subprocess.run([GREFFE, "verify", path, "--vkey", key], capture_output=True, text=True)
        return result.returncode, result.stdout.strip()

    def same_report(page_text, cli_text):
        # Only the first line differs: the page names the file, the command line its path.
        return page_text.split("\n")[1:] == cli_text.split("\n")[1:]

    return page_check, cli, same_report


def build_pages(work, vkey):
    """verify.html from web/* as it is now, with the key and without (the page under test)."""
    gen = load_gen_web_assets()
    page, bare_page = os.path.join(work, "verify-web.html"), os.path.join(work, "verify-web-no-key.html")
    for path, key in [(page, vkey), (bare_page, "")]:
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(gen.verifier_page(key))
    return page, bare_page


def cli_knows_v3(cli_text):
    """False when greffe verify predates greffe-bundle/v3 (then the page's verdicts stand alone)."""
    return "format is neither" not in cli_text and "format is none of" not in cli_text


def v3_checks(browser, work, page, page_check, cli, same_report):
    """greffe-bundle/v3 made by the independent generator: forgeries, then a 100,000-event bundle with the network off."""
    driver = browser.driver
    generated = os.path.join(work, "generated")
    os.makedirs(generated, exist_ok=True)
    bundle, key = bundlev3.make(8, seed=17, sparse=True, erase=1, hold=True)
    key_file = os.path.join(generated, "v3.vkey")
    with open(key_file, "w") as f:
        f.write(key + "\n")
    small = os.path.join(generated, "small-v3.json")
    bundlev3.write_bundle(bundle, small)
    problems, _ = bundlev3.verify(small, key)
    check(not problems, "bundlev3.py: its own sparse v3 bundle (an erasure, a hold) verifies by its own reading of the spec", repr(problems))
    with open(small, "rb") as f:
        small_bytes = f.read()
    path, status, text, codes, heading, details = page_check(small_bytes, key)
    code, cli_text = cli(path, key_file)
    check(status == "verified" and "Legal hold \"HOLD-2026-17\" by Parquet de Paris" in details and "its content was erased under the legal order" in text,
          "v3 from bundlev3.py (sparse, an erasure, a hold): the page says VERIFIED, naming the hold and the erasure", "%s %r\n%s" % (status, heading, text))
    if cli_knows_v3(cli_text):
        check(code == 0 and same_report(text, cli_text), "v3 from bundlev3.py: greffe verify agrees, line for line",
              "cli exit %d\n--- page\n%s\n--- cli\n%s" % (code, text, cli_text))
    else:
        log("skip greffe verify does not read greffe-bundle/v3 yet (%s): the page's v3 verdicts are not compared" % cli_text[:120])

    for name, expected, what, content in v3_forgeries(bundle):
        path, status, text, codes, heading, details = page_check(content, key)
        if expected == "unreadable":
            good = status == "unreadable" and what in details
        elif expected == "failed":
            good = status == "failed" and what in codes and "NOT VERIFIED" in heading
        else:
            good = status == "verified"
        check(good, "%s: %s in the page (%s)" % (name, expected.upper() if expected == "verified" else "NOT VERIFIED", what or "all holds"),
              "page %s %r %s %r" % (status, heading, codes, details[:300]))
        code, cli_text = cli(path, key_file)
        if not cli_knows_v3(cli_text):
            continue
        cli_verdict = {0: "verified"}.get(code, "unreadable" if cli_text.startswith("NOT VERIFIED:") else "failed")
        agree = cli_verdict == status and (status == "unreadable" or same_report(text, cli_text))
        check(agree, "%s: greffe verify reaches the same verdict and report" % name,
              "page %s, cli %s\n--- page\n%s\n--- cli\n%s" % (status, cli_verdict, text, cli_text[-2000:]))

    # A page whose policy has no worker-src (greffe's today): the same check runs in the page, without a CSP violation.
    gen = load_gen_web_assets()
    no_worker_page = os.path.join(work, "verify-no-worker.html")
    with open(no_worker_page, "w", encoding="utf-8", newline="") as f:
        f.write(gen.verifier_page("", worker=False))
    path, status, text, codes, heading, details = page_check(small_bytes, key, no_worker_page)
    engine = browser.by_id("result").get_attribute("data-engine")
    problems = browser.console_problems()
    check(status == "verified" and engine == "page" and not problems,
          "a page with WebPages' policy (no worker-src): the v3 bundle verifies in the page itself, no CSP violation",
          "%s %r engine %r; %s" % (status, heading, engine, "; ".join(problems)))

    # A large bundle, with the network off: the worker checks it within 60 s, the page never blank.
    # The synchronous SHA-256 the worker uses for leaves, nodes and commitments is WebCrypto's, at every padding edge.
    if driver.current_url != "file://" + page:
        driver.get("file://" + page)
    mismatches = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        (async () => {
          const bad = [];
          for (const n of [0, 1, 31, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 4097, 100000]) {
            const data = new Uint8Array(n).map((_, i) => (i * 131 + n) & 255);
            const want = new Uint8Array(await crypto.subtle.digest('SHA-256', data));
            const got = GreffeVerifier.sha256Sync(data.subarray(0, n >> 1), data.subarray(n >> 1));
            if (want.join() !== got.join()) bad.push(n);
          }
          return bad;
        })().then(done, (e) => done(['error ' + e]));""")
    check(mismatches == [], "the page's synchronous SHA-256 equals WebCrypto's at every padding edge (0 to 100,000 bytes)", repr(mismatches))

    count = int(os.environ.get("BIG_EVENTS", "100000"))
    big = os.path.join(generated, "big-v3.json")
    big_key_file = os.path.join(generated, "big.vkey")
    started = time.monotonic()
    run(sys.executable, os.path.join(ROOT, "ops", "tests", "bundlev3.py"), "make", "--events", count, "--out", big, "--key-out", big_key_file, "--seed", 5)
    made = time.monotonic() - started
    with open(big_key_file) as f:
        big_key = f.read().strip()
    with open(big, "rb") as f:
        big_bytes = f.read()
    body_bytes = sum(len(bundlev3.jcs(e["body"])) for e in json.loads(big_bytes)["events"] if e["body"] is not None)
    log("info %d-event v3 bundle made by bundlev3.py in %.1f s: %d bytes, %.2f times its %d bytes of canonical bodies"
        % (count, made, len(big_bytes), len(big_bytes) / body_bytes, body_bytes))
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    try:
        if driver.current_url != "file://" + page:
            driver.get("file://" + page)
        started = time.monotonic()
        watch = []
        try:
            path, status, text, codes, heading, details = page_check(big_bytes, big_key, timeout=60, watch=watch)
        except TimeoutException:
            path, status, text, heading, details = None, "timeout", "", "no verdict within 60 s", ""
        seconds = time.monotonic() - started
        slowest = max(w[0] for w in watch[:-1])
        pause = watch[-1][0]
        shown = [w[1] for w in watch if "events checked" in w[1]]
        check(slowest < 1.0 and pause < 0.5 and (shown or count < 20000),
              "while the worker checks, the page never pauses more than %.2f s, answers within %.2f s each time it is asked (%d times) "
              "and shows progress (%s)" % (pause, slowest, len(watch) - 1, shown[-1] if shown else "too quick to see"), repr(watch[-5:]))
        result = browser.by_id("result")
        engine, inside = result.get_attribute("data-engine"), result.get_attribute("data-seconds")
        shown = ("The bundle holds %s events" % format(count, ",")) if count > 1000 else "Events"
        check(status == "verified" and seconds < 60 and shown in details,
              "%d-event v3 bundle, network off: VERIFIED in %.1f s (%s s in the %s), its summary shown" % (count, seconds, inside, engine),
              "%s %r %r" % (status, heading, details[:400]))
        check(engine == "worker", "the large bundle was checked in a Web Worker, not in the page", repr(engine))
        # Without a worker (greffe's page today) the page checks it itself, pausing only briefly between chunks.
        watch = []
        started = time.monotonic()
        try:
            path, status, text, codes, heading, details = page_check(big_bytes, big_key, no_worker_page, timeout=90, watch=watch)
        except TimeoutException:
            status, heading = "timeout", "no verdict within 90 s"
        pause = watch[-1][0] if watch and watch[-1][1] == "longest pause" else None
        check(status == "verified" and pause is not None and pause < 1.0,
              "%d-event v3 bundle in a page without a worker: VERIFIED in %.1f s, the page never pausing more than %s s"
              % (count, time.monotonic() - started, "%.2f" % pause if pause is not None else "?"), "%s %r" % (status, heading))
        # One byte changed: the first event's gap hash, then an entry in the middle (its commitment).
        gap_at = big_bytes.index(b'"gap":["') + len(b'"gap":["') + 10
        entry_at = big_bytes.index(b'"entry":"', len(big_bytes) // 2) + len(b'"entry":"') + 70
        for name, at in [("a character of the first event's gap hash", gap_at), ("a character of an entry in the middle", entry_at)]:
            tampered = bytearray(big_bytes)
            tampered[at] = ord("A") if tampered[at] != ord("A") else ord("B")
            started = time.monotonic()
            try:
                path, status, text, codes, heading, details = page_check(bytes(tampered), big_key, timeout=60)
            except TimeoutException:
                status, codes, heading = "timeout", [], "no verdict within 60 s"
            check(status == "failed" and "inclusionProof" in codes and "NOT VERIFIED" in heading,
                  "%d-event v3 bundle with %s: NOT VERIFIED in %.1f s, the bundle's inclusion failing" % (count, name, time.monotonic() - started),
                  "%s %r %s" % (status, heading, codes))
    finally:
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    if os.environ.get("BIG_CLI", "1") == "1":
        started = time.monotonic()
        code, cli_text = cli(big, big_key_file)
        if cli_knows_v3(cli_text):
            path, status, text, codes, heading, details = page_check(big_bytes, big_key, timeout=60)
            check(code == 0 and same_report(text, cli_text), "%d-event v3 bundle: greffe verify agrees, summary line for line (greffe verify: %.1f s)"
                  % (count, time.monotonic() - started), "cli exit %d\n--- page\n%s\n--- cli\n%s" % (code, text, cli_text))
        else:
            log("skip greffe verify does not read greffe-bundle/v3 yet (%s): the large bundle's verdicts are not compared" % cli_text[:120])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--screenshots", help="directory for status.png, console.png, verify.png (e.g. docs)")
    parser.add_argument("--v3-only", action="store_true", help="only the greffe-bundle/v3 checks (no server)")
    args = parser.parse_args()
    if not os.access(GREFFE, os.X_OK):
        sys.exit("greffe binary not found at %s (swift build, or set GREFFE)" % GREFFE)
    if args.v3_only:
        return main_v3_only()

    work = tempfile.mkdtemp(prefix="greffe-browser.")
    downloads = os.path.join(work, "downloads")
    shots = os.path.abspath(args.screenshots) if args.screenshots else os.path.join(work, "shots")
    os.makedirs(downloads)
    os.makedirs(shots, exist_ok=True)
    data = os.path.join(work, "data")
    vkey_file = os.path.join(data, "verifier.vkey")
    server = None
    browser = None
    try:
        vkey = run(GREFFE, "init", "--data", data, "--origin", "browser.greffe.test/log")
        append_token = run(GREFFE, "token", "create", "--data", data, "--role", "append", "--platform", "example-ai", "--name", "platform")
        investigate_token = run(GREFFE, "token", "create", "--data", data, "--role", "investigate", "--name", "investigator-browser")
        other_vkey = run(GREFFE, "init", "--data", os.path.join(work, "other"), "--origin", "browser.greffe.test/log")

        port = free_port()
        url = "http://127.0.0.1:%d" % port
        server_log = open(os.path.join(work, "serve.log"), "w")
        server = subprocess.Popen([GREFFE, "serve", "--data", data, "--listen", "127.0.0.1:%d" % port, "--checkpoint-interval", "0.2",
                                   "--log-level", "warning"], stdout=server_log, stderr=subprocess.STDOUT)
        for _ in range(300):
            try:
                if http(url + "/healthz")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        else:
            sys.exit("greffe serve did not start")
        ok("greffe serve up on " + url)

        for i in range(6):
            status, _ = http(url + "/v1/events?wait=checkpoint", "POST", append_token, edit_request(i))
            assert status == 201, status
        status, _ = http(url + "/v1/events?wait=checkpoint", "POST", append_token, {"events": [legal_request("later-1"), legal_request("later-2")]})
        assert status == 201, status
        size = json.loads(http(url + "/healthz")[1])["tree_size"]
        ok("appended 8 events over HTTP (tree size %d)" % size)

        browser = Browser(downloads)
        driver = browser.driver

        # --- status page ------------------------------------------------------
        driver.get(url + "/")
        try:
            browser.wait(lambda d: d.find_element(By.ID, "tree-size").get_attribute("data-value") == str(size))
            ok("the status page shows the current size, %d" % size)
        except TimeoutException:
            bad("the status page shows %r, not the size %d" % (browser.by_id("tree-size").text, size))
        check(browser.by_id("verifier-key").text == vkey, "the status page shows the verifier key", browser.by_id("verifier-key").text)
        bars = driver.find_elements(By.CSS_SELECTOR, "#chart rect.bar")
        check(len(bars) == 180, "the appends chart has one bar per minute for three hours", "%d bars" % len(bars))
        check("8 entries appended" in browser.by_id("chart-summary").text, "the chart summary counts the 8 appends",
              browser.by_id("chart-summary").text)
        problems = browser.console_problems()
        check(not problems, "the status page runs under its CSP without errors", "; ".join(problems))
        browser.screenshot(os.path.join(shots, "status.png"))
        page_checks(browser, "status page")

        # --- console ----------------------------------------------------------
        driver.get(url + "/console")
        # Keyboard only: Enter submits the token form and the search form.
        browser.by_id("token").send_keys(investigate_token + Keys.ENTER)
        browser.wait(lambda d: "memory" in d.find_element(By.ID, "token-state").text)
        leaks = driver.execute_script(
            "return [localStorage.length, sessionStorage.length, document.cookie, location.href, document.getElementById('token').value]")
        check(leaks[0] == 0 and leaks[1] == 0 and leaks[2] == "" and investigate_token not in leaks[3] and leaks[4] == "",
              "the token is held in memory only (no storage, cookie, address or field)", repr(leaks))
        image = "%064x" % 102
        browser.by_id("search-content-hash").send_keys("sha256:" + image + Keys.ENTER)
        try:
            browser.wait(lambda d: "found" in d.find_element(By.ID, "message").text)
        except TimeoutException:
            bad("the console search did not finish: " + browser.by_id("message").text)
        rows = driver.find_elements(By.CSS_SELECTOR, "#results tbody tr")
        check(len(rows) == 1 and rows[0].get_attribute("data-index") == "2" and "edit.requested" in rows[0].text and "blocked" in rows[0].text,
              "the console finds exactly the event with image sha256:%s… (index 2, edit.requested, blocked)" % image[:12],
              "; ".join(r.text for r in rows))
        if rows:
            rows[0].find_element(By.TAG_NAME, "button").click()
            try:
                browser.wait(lambda d: image in d.find_element(By.ID, "event-body").text)
                ok("opening the event shows its body with the image hash")
            except TimeoutException:
                bad("the event view did not show the body")
        browser.screenshot(os.path.join(shots, "console.png"))
        page_checks(browser, "console")
        browser.by_id("download-bundle").click()
        downloaded = None
        for _ in range(200):
            files = [f for f in os.listdir(downloads) if f.endswith(".json")]
            if files and not any(f.endswith(".crdownload") for f in os.listdir(downloads)):
                downloaded = os.path.join(downloads, files[0])
                break
            time.sleep(0.1)
        if check(downloaded is not None, "the bundle download lands in Chromium's download directory", str(os.listdir(downloads))):
            console_bundle = json.load(open(downloaded))
            # v3: the index is the entry's (bytes 1-8, big-endian).
            indices = [e["index"] if "index" in e else int.from_bytes(base64.b64decode(e["entry"])[1:9], "big") for e in console_bundle["events"]]
            check(indices == [2], "the downloaded bundle holds the selected event (index 2)", repr(indices))
        check("Sequenced at" in browser.by_id("event-facts").text, "the event view decodes the entry's fields")

        # The tier report as a chart: one line per tier, its totals stated in words.
        browser.by_id("tier-report").click()
        try:
            browser.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#tier-chart polyline[data-tier='premium']"))
            summary = browser.by_id("tier-summary").text
            check("premium" in summary and "index_range" in summary, "the console draws the tier report, one line per tier, naming its bundle query", summary)
        except TimeoutException:
            bad("the tier chart did not appear: " + browser.by_id("message").text)
        # The chart's data from a report with a paywall: allowed requests summed per tier and week, the
        # feature change marked, refused and non-request events left out.
        figures = [
            {"period": "2026-03-09", "tier": "free", "kind": "edit.requested", "outcome": "allowed", "flags": None, "erased": False, "count": 5},
            {"period": "2026-03-09", "tier": "free", "kind": "edit.requested", "outcome": "blocked", "flags": None, "erased": False, "count": 7},
            {"period": "2026-03-16", "tier": "pro", "kind": "edit.requested", "outcome": "allowed", "flags": "real_person_detected", "erased": False, "count": 3},
            {"period": "2026-03-16", "tier": "pro", "kind": "edit.requested", "outcome": "allowed", "flags": None, "erased": False, "count": 2},
            {"period": "2026-03-16", "tier": "pro", "kind": "edit.completed", "outcome": "allowed", "flags": None, "erased": False, "count": 9},
        ]
        features = [{"period": "2026-03-09", "tier": "pro", "features": ["image.edit"]},
                    {"period": "2026-03-16", "tier": "pro", "features": ["image.edit", "image.edit.real_person"]},
                    {"period": "2026-03-16", "tier": "free", "features": []}]
        chart = driver.execute_script("return window.greffeTierChart(arguments[0])", {"figures": figures, "tier_features": features})
        check(chart["periods"] == ["2026-03-09", "2026-03-16"] and chart["series"] == {"free": {"2026-03-09": 5, "2026-03-16": 0}, "pro": {"2026-03-09": 0, "2026-03-16": 5}}
              and chart["marks"] == [{"period": "2026-03-16", "tier": "pro", "features": "image.edit, image.edit.real_person"}],
              "the tier chart sums allowed requests per tier and week and marks the week pro's features changed", repr(chart))

        # By kind, then by kind and a time range (datetime-local read as UTC).
        browser.by_id("search-content-hash").clear()
        driver.execute_script("document.getElementById('search-kind').value = 'legal.request'")
        browser.by_id("search-button").click()
        # Rows are read in one script call: the table is rebuilt while a search answers.
        rows_now = "return [...document.querySelectorAll('#results tbody tr')].map(r => r.dataset.index)"
        try:
            browser.wait(lambda d: d.execute_script(rows_now) == ["6", "7"])
            ok("the console finds the two legal requests by kind")
        except TimeoutException:
            bad("search by kind found %r" % driver.execute_script(rows_now))
        driver.execute_script("document.getElementById('search-from').value = '2000-01-01T00:00:00';"
                              "document.getElementById('search-to').value = '2000-01-02T00:00:00'")
        browser.by_id("search-button").click()
        try:
            browser.wait(lambda d: d.find_element(By.ID, "message").text.startswith("0 event"))
            ok("a time range in 2000 finds none of them")
        except TimeoutException:
            bad("time range search: " + browser.by_id("message").text)
        problems = browser.console_problems()
        check(not problems, "the console runs under its CSP without errors", "; ".join(problems))

        # Every console action went through the API and was logged as access.granted.
        _, body = http(url + "/v1/events?kind=access.granted&limit=1000", token=investigate_token)
        actions = [(e["body"]["action"], e["body"]["token_name"]) for e in json.loads(body)["events"]]
        check(("search", "investigator-browser") in actions and ("read_event", "investigator-browser") in actions
              and ("bundle", "investigator-browser") in actions,
              "search, read and bundle from the console are in the log as access.granted", repr(actions))

        # A richer bundle for the mutations: six events with links and an earlier checkpoint.
        _, six = http(url + "/v1/bundles", "POST", investigate_token, {"index_range": {"from": 0, "to": 6}})
        six_bundle = json.loads(six)
        check(len(six_bundle["events"]) == 6 and len(six_bundle["earlier_checkpoints"]) == 1,
              "a six-event bundle with an earlier checkpoint for the mutations")

        # A bundle holding an erased event (a court order, admin token) still verifies.
        admin_token = run(GREFFE, "token", "create", "--data", data, "--role", "admin", "--name", "admin-browser")
        http(url + "/v1/events/1/erasure", "POST", admin_token, {"legal_reference": "TJ Paris 26/123", "reason": "data-protection order"})
        _, erased = http(url + "/v1/bundles", "POST", investigate_token, {"index_range": {"from": 0, "to": 6}})
        erased_bundle = json.loads(erased)
        check(erased_bundle["events"][1]["body"] is None and "record" in erased_bundle["events"][1].get("erased", {}),
              "a bundle with event 1 erased, carrying its erasure.executed record")

        # --- the verifier page, from file://, with no server ------------------
        server.terminate()
        server.wait(timeout=30)
        server = None
        try:
            http(url + "/healthz")
            bad("the server still answers")
        except (urllib.error.URLError, ConnectionError):
            ok("the server is stopped: the verifier page has nothing to talk to")

        greffe_page = os.path.join(work, "verify.html")
        out = run(GREFFE, "verifier-page", "--out", greffe_page, "--vkey", vkey_file)
        check(vkey in out, "greffe verifier-page writes verify.html with the key embedded", out)
        page, bare_page = build_pages(work, vkey)
        gen = load_gen_web_assets()
        with open(greffe_page, encoding="utf-8") as f:
            embedded_now = gen.verifier_page(vkey).split("<script>")[1] in f.read()
        if not embedded_now:
            log("note greffe's embedded verify.html is older than web/* (rebuild greffe): the checks below use the page built from web/*")
        files = os.path.join(work, "files")
        os.makedirs(files)
        page_check, cli, same_report = checkers(browser, files, page)
        # The server writes greffe-bundle/v3; the v2 checks (per-event proofs) run on the same bundles as v2.
        check(six_bundle["format"] == "greffe-bundle/v3", "the server writes greffe-bundle/v3", six_bundle["format"])
        six_v2 = bundlev3.to_v2(six_bundle)
        erased_v2 = bundlev3.to_v2(erased_bundle)
        six_v2_bytes = json.dumps(six_v2).encode()

        # The untouched bundles verify, in the page and on the command line, with the same report.
        for name, content in [("the bundle downloaded from the console", open(downloaded, "rb").read() if downloaded else b""),
                              ("the six-event bundle", six), ("the bundle with an erased event", erased),
                              ("the six-event bundle as greffe-bundle/v2", six_v2_bytes),
                              ("the bundle with an erased event as greffe-bundle/v2", json.dumps(erased_v2).encode())]:
            path, status, text, codes, heading, _ = page_check(content, vkey)
            code, cli_text = cli(path, vkey_file)
            check(status == "verified" and heading.startswith("VERIFIED") and code == 0,
                  "%s: the page says VERIFIED, as greffe verify does" % name, "page %s %r, cli exit %d" % (status, heading, code))
            check(same_report(text, cli_text), "%s: the page's report is greffe verify's, line for line" % name,
                  "\n--- page\n%s\n--- cli\n%s" % (text, cli_text))
            if name.startswith("the bundle with an erased event"):
                check('its content was erased under the legal order "TJ Paris 26/123", which the ledger recorded as entry' in text,
                      "the erased event's bundle: the page names the legal reference and the entry recording it", text)
            if name.startswith("the bundle downloaded"):
                browser.screenshot(os.path.join(shots, "verify.png"))
                page_checks(browser, "verifier page with a report", os.path.join(shots, "verify-phone.png"))
                driver.execute_script("document.body.focus(); document.activeElement.blur()")
                reached = []
                for _ in range(8):
                    # Key presses to the page, not to an element (a file input takes send_keys as a path).
                    ActionChains(driver).send_keys(Keys.TAB).perform()
                    reached.append(driver.switch_to.active_element.get_attribute("id"))
                order = [i for i in reached if i in ("vkey", "bundle", "check", "print")]
                check(order[:4] == ["vkey", "bundle", "check", "print"], "verifier page: Tab reaches the key, the file, and both buttons in order",
                      repr(reached))

        # Each mutation: NOT VERIFIED in both, naming the part; the same report.
        for name, expected, content in mutations(six_v2):
            path, status, text, codes, heading, _ = page_check(content, vkey)
            code, cli_text = cli(path, vkey_file)
            check(status == "failed" and "NOT VERIFIED" in heading and expected in codes and code == 1 and ("[%s]" % expected) in cli_text,
                  "%s: NOT VERIFIED in the page and greffe verify, naming %s" % (name, expected),
                  "page %s %r %s, cli exit %d" % (status, heading, codes, code))
            check(same_report(text, cli_text), "%s: the same report as greffe verify" % name,
                  "\n--- page\n%s\n--- cli\n%s" % (text, cli_text))
            if expected == "commitment" and "tier" in name:
                browser.screenshot(os.path.join(shots, "verify-tampered.png"))

        # Withheld content passed off as an erasure: refused in both, naming the event; the same report.
        for name, expected, words, content in erasure_forgeries(erased_v2):
            path, status, text, codes, heading, details = page_check(content, vkey)
            code, cli_text = cli(path, vkey_file)
            check(status == "failed" and expected in codes and words in details and code == 1 and ("[%s]" % expected) in cli_text and words in cli_text,
                  "%s: NOT VERIFIED in the page and greffe verify (%s: %s)" % (name, expected, words),
                  "page %s %r %s %r, cli exit %d %r" % (status, heading, codes, details[:300], code, cli_text[-300:]))
            check(same_report(text, cli_text), "%s: the same report as greffe verify" % name,
                  "\n--- page\n%s\n--- cli\n%s" % (text, cli_text))
        # Downgraded to v1: verifies in both, the erasure reported unproven and never as erased by legal order.
        path, status, text, codes, heading, details = page_check(downgraded(erased_v2), vkey)
        code, cli_text = cli(path, vkey_file)
        check(status == "verified" and code == 0 and "carries no proof of it: unproven" in text and "UNPROVEN ERASURE: 1 event(s)" in details
              and "its content was erased" not in text and same_report(text, cli_text),
              "the erased event's bundle downgraded to greffe-bundle/v1: the erasure unproven in the page and greffe verify alike",
              "page %s %r\n--- page\n%s\n--- cli\n%s" % (status, details[:300], text, cli_text))

        # Random edits anywhere: the verdicts always agree, and so do the reports,
        # a tampered occurred_at included (both read RFC 3339 by one rule,
        # GreffeCore's RFC3339Time).
        agreed, texts = 0, 0
        for name, touches_time, content in random_mutations(six_v2, seed=int(os.environ.get("SEED", "9")), count=60):
            path, status, text, codes, heading, details = page_check(content, vkey)
            code, cli_text = cli(path, vkey_file)
            page_verdict = {"verified": 0, "failed": 1, "unreadable": 1}.get(status, -1)
            if page_verdict == code and (status != "unreadable" or cli_text.startswith("NOT VERIFIED:")):
                agreed += 1
            else:
                bad("random edit (%s): page %s %r, greffe verify exit %d: %s" % (name, status, heading, code, cli_text[-300:]))
            # Likewise a tampered entry whose time is past year 275760, which
            # JavaScript's Date cannot show: the page says "N ms after 1970".
            if status in ("verified", "failed") and "ms after 1970" not in text:
                texts += 1
                if not same_report(text, cli_text):
                    bad("random edit (%s): the reports differ\n--- page\n%s\n--- cli\n%s" % (name, text, cli_text))
        check(agreed == 60, "60 seeded random edits: the page and greffe verify reach the same verdict on each (%d reports compared line for line)" % texts)

        # occurred_at rewritten to times that only a lenient reader takes, or that
        # test the shared rules (leap second, truncation, lower case, far future):
        # the same report, line for line.
        for when in ["2026-02-30T10:00:00Z", "2026-11-25T10:00:00", " 2026-11-25T10:00:00Z", "2026-11-25T10:00:00+0100",
                     "2026-11-25t10:00:00.9999z", "2026-11-25T23:59:60Z", "2026-11-25T10:00:00٣Z", "2999-01-01T00:00:00-23:59"]:
            b = copy.deepcopy(six_v2)
            b["events"][0]["body"]["occurred_at"] = when
            path, status, text, codes, heading, _ = page_check(json.dumps(b).encode(), vkey)
            code, cli_text = cli(path, vkey_file)
            check(status == "failed" and code == 1 and same_report(text, cli_text),
                  "occurred_at %r: NOT VERIFIED in both, the same report" % when,
                  "page %s %s, cli %d\n--- page\n%s\n--- cli\n%s" % (status, codes, code, text, cli_text))

        # The untouched bundle against another key of the same name.
        path, status, text, codes, heading, _ = page_check(six, other_vkey)
        code, cli_text = cli(path, other_vkey)
        check(status == "failed" and codes == ["signature"] and code == 1 and same_report(text, cli_text),
              "another key of the same name: NOT VERIFIED [signature] in both, same report", "page %s %s, cli %d" % (status, codes, code))

        # Files that are no bundle: a clear message, never a blank page; the command line agrees.
        for name, words, content in malformed(six_v2_bytes):
            path, status, text, codes, heading, details = page_check(content, vkey)
            code, cli_text = cli(path, vkey_file)
            said = lambda text: any(w in text for w in (words if isinstance(words, tuple) else (words,)))  # noqa: E731
            check(status == "unreadable" and "not a readable evidence bundle" in heading and said(details)
                  and code == 1 and cli_text.startswith("NOT VERIFIED:") and said(cli_text),
                  "%s: a clear refusal in the page (%s) and from greffe verify" % (name, words),
                  "page %s %r %r, cli %d %r" % (status, heading, details[:200], code, cli_text[:200]))

        # A key that is no key, and the page without an embedded key.
        path, status, _, _, heading, details = page_check(six, "not-a-key")
        check(status == "key" and "verifier key" in details, "a malformed verifier key gets a clear message", details)
        driver.get("file://" + bare_page)
        check(browser.by_id("vkey").get_attribute("value") == "", "a page written without --vkey embeds no key")
        path, status, _, _, _, details = page_check(six, "", bare_page)
        check(status == "key", "with no key given, the page asks for one", details)
        path, status, _, _, heading, _ = page_check(six, vkey, bare_page)
        check(status == "verified", "with the key pasted, the page without an embedded key verifies", heading)
        problems = browser.console_problems()
        check(not problems, "the verifier page runs under its CSP without errors", "; ".join(problems))

        # greffe's own page (its embedded copy of web/*) still verifies a bundle it can read.
        path, status, _, _, heading, _ = page_check(six_v2_bytes, vkey, greffe_page)
        check(status == "verified", "the page greffe verifier-page writes verifies the six-event bundle as v2", heading)
        if embedded_now:
            path, status, _, _, heading, _ = page_check(six, vkey, greffe_page)
            check(status == "verified", "the page greffe verifier-page writes verifies the server's v3 bundle", heading)

        # Seeded random edits of the server's v3 bundle: the page and greffe verify agree on each.
        agreed = 0
        for name, touches_time, content in random_mutations(six_bundle, seed=int(os.environ.get("SEED", "9")) + 1, count=30):
            path, status, text, codes, heading, details = page_check(content, vkey)
            code, cli_text = cli(path, vkey_file)
            page_verdict = {"verified": 0, "failed": 1, "unreadable": 1}.get(status, -1)
            if page_verdict == code and (status != "unreadable" or cli_text.startswith("NOT VERIFIED:")):
                agreed += 1
                if status in ("verified", "failed") and "ms after 1970" not in text and not same_report(text, cli_text):
                    bad("random v3 edit (%s): the reports differ\n--- page\n%s\n--- cli\n%s" % (name, text, cli_text))
            else:
                bad("random v3 edit (%s): page %s %r, greffe verify exit %d: %s" % (name, status, heading, code, cli_text[-300:]))
        check(agreed == 30, "30 seeded random edits of the server's v3 bundle: the page and greffe verify reach the same verdict on each")

        v3_checks(browser, work, page, page_check, cli, same_report)
        problems = browser.console_problems()
        check(not problems, "the verifier page ran the v3 checks without console errors", "; ".join(problems))
        if args.screenshots:
            log("screenshots written to " + shots)
    except Exception as error:  # noqa: BLE001 — any surprise is a failed test with its cause shown
        bad("unexpected %s: %s" % (type(error).__name__, error))
    finally:
        if browser:
            browser.driver.quit()
        if server:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        if FAILED == 0 and os.environ.get("KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)
        else:
            log("work directory kept: " + work)
    log("browser: %d passed, %d failed" % (PASSED, FAILED))
    return 0 if FAILED == 0 else 1


def main_v3_only():
    """Only the v3 checks: no server, the page built from web/*."""
    work = tempfile.mkdtemp(prefix="greffe-browser-v3.")
    browser = None
    try:
        browser = Browser(os.path.join(work, "downloads"))
        page, _ = build_pages(work, "")
        files = os.path.join(work, "files")
        os.makedirs(files)
        page_check, cli, same_report = checkers(browser, files, page)
        v3_checks(browser, work, page, page_check, cli, same_report)
        problems = browser.console_problems()
        check(not problems, "the verifier page ran the v3 checks without console errors", "; ".join(problems))
    except Exception as error:  # noqa: BLE001 — any surprise is a failed test with its cause shown
        bad("unexpected %s: %s" % (type(error).__name__, error))
    finally:
        if browser:
            browser.driver.quit()
        if FAILED == 0 and os.environ.get("KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)
        else:
            log("work directory kept: " + work)
    log("browser: %d passed, %d failed" % (PASSED, FAILED))
    return 0 if FAILED == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
