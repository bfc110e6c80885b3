#!/usr/bin/env python3
"""The public lookup page (/lookup) in headless Chromium, the network limited to the ledger.

  1. A photo-like picture (gradients, large soft shapes: not noise) made
     with Pillow; `greffe image hash` gives its SHA-256 and PDQ, and an
     edit.requested naming it as its input (blocked) is appended.
  2. Chromium may reach the ledger's origin and nothing else (every other
     address goes to a proxy that refuses, checked on a canary server), and
     the performance log shows every request the pages made: only the page,
     its assets and GET /v1/lookup?sha256=|pdq= with 64 hex digits, no body.
     Under the page's CSP a fetch or an image to another origin is blocked.
  3. Keyboard only: Tab reaches the file input, the copy re-encoded as JPEG
     at quality 70 with 5% of its area cropped (centred) is chosen, focus
     lands on the answer, Tab reaches the certificate link, Enter downloads
     `<index>.greffe-certificate.json`. The answer names the edit request,
     the outcome and how alike the pictures are; the operator's help lines
     are shown. The page's PDQ equals `greffe image hash`'s on the same file.
  4. The original file is found as "this exact picture"; a flat picture (PDQ
     quality under 50) is looked up by its exact bytes only; a copy whose EXIF
     orientation says "rotate 90°" hashes as stored (as the reference does)
     and is found; an unrelated picture, dropped on the drop zone, is not
     ("Nothing found"); a text file is "not a picture"; with the network
     down, "could not be reached"; a ledger with the lookup switched off
     says so, and past its rate limit says when to try again.
  5. At 360×740 nothing overflows sideways and the text is legible.
  5b. The one-file verifier's lookup form: `greffe verifier-page
     --lookup-url` refuses anything but a plain origin; the page it writes,
     opened from a file, may reach that ledger only, finds the copy there
     (the lookup's answers are readable cross-origin), downloads the
     certificate and verifies it in its own checker. A page written without
     --lookup-url sends nothing: it shows the fingerprints and the
     `greffe lookup` command to run. The ledger's own /verify.html asks it.
  6. The server stopped: the downloaded certificate verifies with
     `greffe verify` and in verify.html (file://); copies with a changed
     value, path, proof hash or entry byte are refused by both.
  Screenshot: docs/lookup.png with --screenshots docs.

Usage: ops/tests/lookup_page.py [--screenshots DIR]
Env: GREFFE (binary, default .build/debug/greffe), CHROMIUM, CHROMEDRIVER, KEEP=1.
"""
import argparse
import base64
import copy
import datetime
import io
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image, ImageDraw, ImageFilter
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import browser as pages  # noqa: E402 — verify.html's checker and helpers, beside this file

GREFFE = os.path.abspath(os.environ.get("GREFFE", os.path.join(ROOT, ".build", "debug", "greffe")))
PASSED = 0
FAILED = 0
ASSETS = {"/lookup", "/assets/greffe.css", "/assets/pdq.js", "/assets/lookup.js", "/favicon.ico", "/verify.html"}
HELP = [
    {"title": "Report it to Example AI", "url": "https://example-ai.test/report", "description": "The platform's form for images made without consent."},
    {"title": "Victims' help line", "url": "tel:+33100000000", "description": "Free, confidential, every day."},
    {"title": "The regulator", "url": "mailto:complaints@regulator.test"},
]


def log(text):
    print(text, flush=True)


def check(condition, text, detail=""):
    global PASSED, FAILED
    if condition:
        PASSED += 1
        log("ok   " + text)
    else:
        FAILED += 1
        log("FAIL " + text + (": " + detail if detail else ""))
    return condition


# The same helpers as the bundle-page test beside this file.
run, free_port, http = pages.run, pages.free_port, pages.http


# --- pictures -----------------------------------------------------------------
def photo(seed, width=640, height=480):
    """Photo-like: a sky-to-ground gradient, a soft horizontal wave, large shapes, blurred (PDQ's good case)."""
    rnd = random.Random(seed)
    top = [rnd.randint(40, 200) for _ in range(3)]
    bottom = [rnd.randint(40, 200) for _ in range(3)]
    phase = rnd.random() * 6
    image = Image.new("RGB", (width, height))
    pixels = image.load()
    for y in range(height):
        t = y / (height - 1)
        for x in range(width):
            wave = 30 * math.sin(3 * x / (width - 1) + phase)
            pixels[x, y] = tuple(max(0, min(255, int(top[c] * (1 - t) + bottom[c] * t + wave))) for c in range(3))
    draw = ImageDraw.Draw(image)
    for _ in range(7):
        cx, cy, r = rnd.randint(0, width), rnd.randint(0, height), rnd.randint(40, 180)
        colour = tuple(rnd.randint(0, 255) for _ in range(3))
        if rnd.random() < 0.5:
            draw.ellipse([cx - r, cy - r * 0.8, cx + r, cy + r * 0.8], fill=colour)
        else:
            draw.rectangle([cx - r, cy - r // 2, cx + r, cy + r // 2], fill=colour)
    return image.filter(ImageFilter.GaussianBlur(6))


def area_crop(image, fraction):
    """The centred crop keeping 1 - fraction of the area (each side scaled by √(1 - fraction))."""
    width, height = image.size
    scale = math.sqrt(1 - fraction)
    w, h = round(width * scale), round(height * scale)
    left, top = (width - w) // 2, (height - h) // 2
    return image.crop((left, top, left + w, top + h))


def make_pictures(directory):
    original = photo(11)
    paths = {name: os.path.join(directory, name) for name in ["original.png", "copy.jpg", "other.jpg", "rotated.jpg", "flat.png", "notes.txt",
                                                                   "camera.jpg"]}
    original.save(paths["original.png"])
    area_crop(original, 0.05).save(paths["copy.jpg"], "JPEG", quality=70)
    photo(103).save(paths["other.jpg"], "JPEG", quality=90)
    # The same pixels with an EXIF orientation asking viewers to turn it 90°: hashed as stored, it still matches.
    exif = Image.Exif()
    exif[0x0112] = 6
    original.save(paths["rotated.jpg"], "JPEG", quality=95, exif=exif)
    # A phone camera's size (12 megapixels), for the time the page takes.
    original.resize((4000, 3000), Image.BICUBIC).save(paths["camera.jpg"], "JPEG", quality=90)
    # Almost one colour: PDQ quality under 50, where look-alike matches are unreliable.
    Image.new("RGB", (300, 200), (120, 130, 140)).save(paths["flat.png"])
    with open(paths["notes.txt"], "w") as f:
        f.write("Not a picture: a note somebody might pick by mistake.\n")
    return paths


def hamming(a, b):
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def reference_pdq(path):
    """Meta's reference (pdqhash) on PIL's pixels, or None when it is not installed."""
    try:
        import numpy
        import pdqhash
    except ImportError:
        return None
    bits, quality = pdqhash.compute(numpy.ascontiguousarray(numpy.asarray(Image.open(path).convert("RGB")), dtype=numpy.uint8))
    # Most significant bit first, as ops/tests/pdq_agreement.py reads it.
    return numpy.packbits(bits.astype(numpy.uint8)).tobytes().hex(), int(quality)


# --- a server that must never be reached -----------------------------------------
class Canary:
    """An HTTP server on another local port: a page that could reach it could send anything anywhere."""

    def __init__(self):
        hits = self.hits = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append(self.path)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"reached")

            do_POST = do_GET

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


class Browser:
    """Chromium that reaches only `allowed` (host:port list); everything else goes to a proxy that is not there."""

    def __init__(self, downloads, allowed):
        dead = free_port()  # nothing listens: every proxied request fails at once
        options = Options()
        options.binary_location = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
        for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1100",
                         "--lang=en-US", "--no-first-run", "--proxy-server=http://127.0.0.1:%d" % dead,
                         # <-loopback> takes away Chromium's implicit "never proxy localhost"; only the ledgers go direct.
                         "--proxy-bypass-list=<-loopback>;" + ";".join(allowed)]:
            options.add_argument(argument)
        options.add_experimental_option("prefs", {"download.default_directory": downloads, "download.prompt_for_download": False})
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        service = Service(os.environ.get("CHROMEDRIVER", shutil.which("chromedriver") or "/usr/bin/chromedriver"))
        self.driver = webdriver.Chrome(service=service, options=options)
        self.driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})
        self.requests = []
        self.problems = []

    def wait(self, condition, timeout=30):
        return WebDriverWait(self.driver, timeout).until(lambda d: condition(d))

    def by_id(self, element_id):
        return self.driver.find_element(By.ID, element_id)

    def drain_logs(self):
        """Every request the pages sent so far (from the performance log), and console errors."""
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                request = message["params"]["request"]
                self.requests.append((request["method"], request["url"], request.get("hasPostData", False)))
        self.problems += [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE" and "favicon" not in e["message"]]

    def screenshot(self, path):
        self.driver.execute_script("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(1280, min(max(height + 40, 700), 4000))
        self.driver.save_screenshot(path)
        self.driver.set_window_size(1280, 1100)


def start_server(data, port, *extra):
    server_log = open(os.path.join(data, "..", "serve-%d.log" % port), "w")
    server = subprocess.Popen([GREFFE, "serve", "--data", data, "--listen", "127.0.0.1:%d" % port, "--checkpoint-interval", "0.2",
                               "--log-level", "warning", *extra], stdout=server_log, stderr=subprocess.STDOUT)
    for _ in range(300):
        try:
            if http("http://127.0.0.1:%d/healthz" % port)[0] == 200:
                return server
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    server.kill()
    sys.exit("greffe serve did not start on port %d" % port)


def stop(server):
    if server and server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def edit_request(event_id, image, outcome="blocked"):
    return {
        "event_id": event_id, "kind": "edit.requested", "occurred_at": "2026-03-14T21:14:07Z", "platform": "example-ai",
        "schema_version": 1, "account": "hmac-sha256:" + "7" * 64, "subscription_tier": "premium",
        "model": {"name": "imagine", "version": "3.1"}, "prompt": {"sha256": "ab" * 32},
        "input_images": [image], "flags": {"real_person_detected": True, "minor_suspected": False},
        "decision": {"outcome": outcome, "classifiers": [{"label": "nudity", "score": 0.97}]},
    }


def choose(browser, path, via=None):
    """Chooses a file in the page (send_keys to the file input, or `via`); returns the answer's outcome and text."""
    driver = browser.driver
    before = driver.execute_script("return document.getElementById('results').dataset.run || ''")
    # The same file twice fires no change event: clear the input first.
    driver.execute_script("document.getElementById('image').value = ''")
    (via or browser.by_id("image")).send_keys(path)
    browser.wait(lambda d: d.execute_script(
        "const r = document.getElementById('results'); return !r.hidden && (r.dataset.run || '') !== arguments[0]", before), 60)
    return (driver.execute_script("return document.getElementById('results').dataset.outcome"),
            driver.execute_script("return document.getElementById('answer').textContent"))


def technical(browser, name):
    """A value of the 'Technical details' list."""
    return browser.driver.execute_script("""
        for (const dt of document.querySelectorAll('#technical dt')) if (dt.textContent === arguments[0]) return dt.nextElementSibling.textContent;
        return null;""", name)


def tab_until(browser, predicate, limit=25):
    """Presses Tab until the focused element satisfies predicate (a JS expression on `e`); returns the ids passed."""
    driver = browser.driver
    passed = []
    for _ in range(limit):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        element = driver.switch_to.active_element
        passed.append(element.get_attribute("id") or element.tag_name + ":" + (element.text or "")[:30])
        if driver.execute_script("const e = arguments[0]; return " + predicate, element):
            return passed, element
    return passed, None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--screenshots", help="directory for lookup.png (e.g. docs)")
    parser.add_argument("--v3-only", action="store_true", help="(browser.sh's option for browser.py: nothing to do here)")
    args = parser.parse_args()
    if args.v3_only:
        log("skip the lookup page (--v3-only)")
        return 0
    if not os.access(GREFFE, os.X_OK):
        sys.exit("greffe binary not found at %s (swift build, or set GREFFE)" % GREFFE)
    work = tempfile.mkdtemp(prefix="greffe-lookup-page.")
    downloads, files = os.path.join(work, "downloads"), os.path.join(work, "files")
    shots = os.path.abspath(args.screenshots) if args.screenshots else os.path.join(work, "shots")
    for directory in (downloads, files, shots):
        os.makedirs(directory, exist_ok=True)
    data, off_data = os.path.join(work, "data"), os.path.join(work, "off")
    servers, browser, canary = [], None, Canary()
    try:
        vkey = run(GREFFE, "init", "--data", data, "--origin", "lookup.greffe.test/log")
        vkey_file = os.path.join(data, "verifier.vkey")
        token = run(GREFFE, "token", "create", "--data", data, "--role", "append", "--platform", "example-ai", "--name", "platform")
        run(GREFFE, "init", "--data", off_data, "--origin", "off.greffe.test/log")
        help_file = os.path.join(work, "help.json")
        with open(help_file, "w") as f:
            json.dump(HELP, f)

        pictures = make_pictures(files)
        hashes = {os.path.basename(line["file"]): line for line in map(json.loads, run(
            GREFFE, "image", "hash", *(pictures[n] for n in ("original.png", "copy.jpg", "other.jpg", "rotated.jpg", "camera.jpg"))).splitlines())}
        original, copied, other = hashes["original.png"], hashes["copy.jpg"], hashes["other.jpg"]
        distance = hamming(original["pdq"], copied["pdq"])
        log("the picture: PDQ quality %d; its q70 copy with 5%% of the area cropped is at distance %d, the unrelated picture at %d"
            % (original["pdq_quality"], distance, hamming(original["pdq"], other["pdq"])))
        check(distance <= 31 and hamming(original["pdq"], other["pdq"]) > 31 and original["pdq_quality"] >= 50,
              "greffe image hash: the q70 + 5%% crop copy is within 31 of the original (%d), the unrelated picture is not" % distance)
        reference = [reference_pdq(pictures[name]) for name in ("original.png", "copy.jpg")]
        if reference[0]:
            check(reference[0][0] == original["pdq"] and hamming(reference[0][0], reference[1][0]) <= 31,
                  "Meta's reference (pdqhash) agrees: same hash of the original, copy within 31 (%d)" % hamming(reference[0][0], reference[1][0]))

        port, off_port = free_port(), free_port()
        url, off_url = "http://127.0.0.1:%d" % port, "http://127.0.0.1:%d" % off_port
        servers.append(start_server(data, port, "--lookup-help", help_file))
        # The lookup switched off, and a small budget: 429 soon after (each lookup costs 10).
        servers.append(start_server(off_data, off_port, "--no-public-lookup", "--anonymous-burst", "40", "--anonymous-rate", "0.01"))
        image = {"sha256": original["sha256"], "pdq": original["pdq"], "pdq_quality": original["pdq_quality"]}
        events = [edit_request("edit-victim", image)] + [
            edit_request("edit-other-%d" % i, {"sha256": "%064x" % (7000 + i), "pdq": "%064x" % random.Random(i).getrandbits(256)}, "allowed")
            for i in range(5)]
        status, body = http(url + "/v1/events?wait=checkpoint", "POST", token, {"events": events})
        assert status == 201, (status, body)
        recorded_index = json.loads(body)["results"][0]["index"]
        log("appended %d events; the picture's edit request is entry %d" % (len(events), recorded_index))
        # The time the ledger recorded it, as the page must word it (UTC).
        recorded_at = next(m["recorded_at"] for m in json.loads(http(url + "/v1/lookup?sha256=" + original["sha256"])[1])["matches"])
        moment = datetime.datetime.fromisoformat(recorded_at.replace("Z", "+00:00"))
        recorded_words = "%d %s %d at %02d:%02d UTC" % (moment.day, moment.strftime("%B"), moment.year, moment.hour, moment.minute)

        browser = Browser(downloads, ["127.0.0.1:%d" % port, "127.0.0.1:%d" % off_port])
        driver = browser.driver

        # --- the network is the ledger only ------------------------------------------
        try:
            driver.get("http://127.0.0.1:%d/canary" % canary.port)
            refused = driver.execute_script("return document.body.innerText").strip()[:80]
        except WebDriverException as error:
            refused = error.msg.split("\n")[0]
        check(not canary.hits and "reached" not in refused, "Chromium cannot reach another address, even on this machine (%s)" % refused)
        driver.get(url + "/lookup")
        browser.wait(lambda d: d.execute_script("return typeof GreffePDQ === 'object' && document.readyState === 'complete'"))
        check("never uploaded" in browser.by_id("privacy-heading").find_element(By.XPATH, "..").text
              and "never uploaded" in browser.by_id("choose-heading").find_element(By.XPATH, "..").text,
              "the page says plainly, beside the file input too, that the picture is never uploaded")
        first_screen = driver.execute_script("return document.querySelector('main').innerText")
        jargon = [w for w in ("SHA", "PDQ", "hash", "Merkle", "checkpoint", "JSON") if w in first_screen]
        check(not jargon, "the first screen has no jargon", repr(jargon))
        blocked = driver.execute_async_script("""
            const done = arguments[arguments.length - 1], seen = [];
            document.addEventListener('securitypolicyviolation', (e) => seen.push(e.violatedDirective));
            const target = 'http://127.0.0.1:' + arguments[0] + '/leak';
            let fetched = 'sent';
            fetch(target, { method: 'POST', body: 'picture bytes', mode: 'no-cors' }).catch(() => { fetched = 'refused'; }).finally(() => {
              const img = new Image(); img.src = target + '.png';
              setTimeout(() => done([fetched, seen]), 500);
            });""", canary.port)
        check(blocked[0] == "refused" and "connect-src" in blocked[1] and "img-src" in blocked[1] and not canary.hits,
              "the page's CSP refuses a fetch and an image to another origin (connect-src, img-src)", repr(blocked))

        # --- keyboard only: found by looks after q70 + 5% crop --------------------------
        driver.get(url + "/lookup")
        browser.wait(lambda d: d.execute_script("return document.readyState === 'complete'"))
        driver.execute_script("document.activeElement && document.activeElement.blur()")
        passed, field = tab_until(browser, "e.id === 'image'")
        check(field is not None, "keyboard: Tab reaches the file input (%d presses)" % len(passed), repr(passed))
        outcome, text = choose(browser, pictures["copy.jpg"], via=field)
        check(outcome == "found", "the JPEG q70 copy with 5% of its area cropped is found", "%s: %s" % (outcome, text[:300]))
        check("image-editing request" in text and "the platform blocked it" in text and recorded_words in text,
              "the answer names the edit request, its time and the outcome in words", text[:400])
        check("looks very much like yours" in text or "looks almost exactly like yours" in text or "looks much like yours" in text,
              "the answer says the match is by looks, and how close (distance %d in words)" % distance, text[:400])
        check("%d of the 256 points" % distance in text and "not that they are the same file" in text,
              "the answer gives the distance and says a look-alike is not the same file")
        for words in ("What this proves", "What this does not prove", "Who made the request", "What you can do next", "Report the picture to the platform"):
            check(words in text, "the answer explains: %s" % words)
        check(technical(browser, "PDQ (how it looks)") == copied["pdq"],
              "the page's PDQ of the JPEG equals greffe image hash's (Chromium's decoder and web/pdq.js agree)",
              "%s vs %s" % (technical(browser, "PDQ (how it looks)"), copied["pdq"]))
        check(technical(browser, "SHA-256 (exact file)") == copied["sha256"], "the page's SHA-256 equals greffe image hash's")
        check(driver.execute_script("return document.activeElement.id") == "results-heading", "focus moves to the answer's heading")
        passed, link = tab_until(browser, "e.tagName === 'A' && e.hasAttribute('download')", 10)
        check(link is not None, "keyboard: Tab from the answer reaches the certificate link (%d presses)" % len(passed), repr(passed))
        certificate_path = None
        if link is not None:
            name = link.get_attribute("download")
            check(name == "%d.greffe-certificate.json" % recorded_index, "the certificate is named <index>.greffe-certificate.json", name)
            ActionChains(driver).send_keys(Keys.ENTER).perform()
            for _ in range(100):
                done = [f for f in os.listdir(downloads) if f.endswith(".greffe-certificate.json")]
                if done and not any(f.endswith(".crdownload") for f in os.listdir(downloads)):
                    certificate_path = os.path.join(downloads, done[0])
                    break
                time.sleep(0.1)
            check(certificate_path is not None, "Enter on the link downloads the certificate into Chromium's download directory", repr(os.listdir(downloads)))

        # --- help lines ------------------------------------------------------------
        shown = driver.execute_script("return [...document.querySelectorAll('#help-lines a')].map(a => [a.textContent, a.getAttribute('href')])")
        check(shown == [[h["title"], h["url"]] for h in HELP], "the operator's help lines are shown, each a link", repr(shown))
        check(all(h.get("description", "") in text for h in HELP), "with their descriptions")
        browser.screenshot(os.path.join(shots, "lookup.png"))

        # --- a phone's width ----------------------------------------------------------
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 360, "height": 740, "deviceScaleFactor": 2, "mobile": True})
        time.sleep(0.3)
        driver.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")
        measured = driver.execute_script("""
            const overflowing = [...document.querySelectorAll('body *')].filter(e => {
              const r = e.getBoundingClientRect(); return r.width > 0 && r.right > window.innerWidth + 0.5; }).map(e => e.tagName + '#' + e.id + '.' + e.className);
            let smallest = 99;
            for (const e of document.querySelectorAll('main *')) {
              const own = [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
              if (own && e.getClientRects().length) smallest = Math.min(smallest, parseFloat(getComputedStyle(e).fontSize));
            }
            return [document.scrollingElement.scrollWidth, window.innerWidth, overflowing, smallest,
                    parseFloat(getComputedStyle(document.querySelector('.finding')).fontSize)];""")
        driver.save_screenshot(os.path.join(work, "lookup-phone.png"))
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        driver.execute_script("document.querySelectorAll('details').forEach(d => d.open = false)")
        check(measured[1] == 360 and measured[0] <= measured[1] and not measured[2],
              "at 360×740 nothing overflows sideways, the hashes in the details included", repr(measured[:3]))
        check(measured[3] >= 12 and measured[4] >= 16, "at 360×740 the text is legible (explanations at %.1f px, nothing under %.1f px)"
              % (measured[4], measured[3]), repr(measured[3:]))

        # --- the exact file, the EXIF-rotated copy, an unrelated picture ------------------
        outcome, text = choose(browser, pictures["original.png"])
        check(outcome == "found" and "This exact picture (the very same file)" in text, "the original file is found as this exact picture", text[:300])
        outcome, text = choose(browser, pictures["rotated.jpg"])
        check(technical(browser, "PDQ (how it looks)") == hashes["rotated.jpg"]["pdq"] and outcome == "found",
              "a JPEG whose EXIF says 'turn 90°' is hashed as stored, as greffe image hash and the reference do, and found",
              "%s %s vs %s" % (outcome, technical(browser, "PDQ (how it looks)"), hashes["rotated.jpg"]["pdq"]))
        with open(pictures["other.jpg"], "rb") as f:
            other_b64 = base64.b64encode(f.read()).decode()
        before = driver.execute_script("return document.getElementById('results').dataset.run || ''")
        driver.execute_script("""
            const bytes = Uint8Array.from(atob(arguments[0]), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], 'other.jpg', { type: 'image/jpeg' }));
            document.getElementById('dropzone').dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));""",
                              other_b64)
        browser.wait(lambda d: d.execute_script("const r = document.getElementById('results'); return !r.hidden && r.dataset.run !== arguments[0]", before), 60)
        outcome, text = driver.execute_script("return [document.getElementById('results').dataset.outcome, document.getElementById('answer').textContent]")
        check(outcome == "nothing" and "Nothing found" in text and "does not mean that nothing happened" in text,
              "an unrelated picture dropped on the drop zone: nothing found, and what that does and does not mean", "%s: %s" % (outcome, text[:300]))
        check(all(h["title"] in text for h in HELP), "nothing found: the help lines are still shown")

        started = time.monotonic()
        outcome, text = choose(browser, pictures["camera.jpg"])
        seconds = time.monotonic() - started
        check(outcome == "found" and technical(browser, "PDQ (how it looks)") == hashes["camera.jpg"]["pdq"],
              "a 12-megapixel camera-sized JPEG: the page's PDQ equals greffe image hash's, found; %.1f s from choosing to the answer (load %s)"
              % (seconds, os.getloadavg()[0]), "%s %s" % (outcome, technical(browser, "PDQ (how it looks)")))
        outcome, text = choose(browser, pictures["flat.png"])
        check(outcome == "nothing" and "very little detail, so only exact copies" in text and "too low to search by looks" in (technical(browser, "PDQ quality") or ""),
              "a picture with almost no detail (PDQ quality under 50) is looked up as the exact file only, and the page says so", text[-300:])

        # --- errors in words ------------------------------------------------------------
        outcome, text = choose(browser, pictures["notes.txt"])
        check(outcome == "error-not-image" and "not a picture" in text and "Nothing was searched" in text, "a text file: not a picture, nothing searched", text[:200])
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        outcome, text = choose(browser, pictures["copy.jpg"])
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        check(outcome == "error-network" and "could not be reached" in text and "Your picture was not sent anywhere" in text
              and driver.execute_script("return !!document.getElementById('try-again')"),
              "network down: the ledger could not be reached, with a Try again button", text[:200])
        driver.get(off_url + "/lookup")
        browser.wait(lambda d: d.execute_script("return document.readyState === 'complete'"))
        outcome, text = choose(browser, pictures["copy.jpg"])
        check(outcome == "error-off" and "switched off" in text, "a ledger with the lookup switched off: the page says so", text[:200])
        for _ in range(6):
            outcome, text = choose(browser, pictures["copy.jpg"])
            if outcome != "error-off":
                break
        check(outcome == "error-busy" and "Too many searches" in text and "try again in about" in text,
              "past the rate limit (429): the page says when to try again, from Retry-After", "%s: %s" % (outcome, text[:200]))

        # --- the one-file verifier's lookup form --------------------------------------------
        # Made by `greffe verifier-page --lookup-url`: opened from a file, it may reach that ledger and nothing else.
        linked_page, offline_page = os.path.join(work, "verify-linked.html"), os.path.join(work, "verify-offline.html")
        refused = subprocess.run([GREFFE, "verifier-page", "--out", linked_page, "--lookup-url", url + "/;script-src *"], capture_output=True, text=True)
        check(refused.returncode != 0 and "--lookup-url" in refused.stderr and not os.path.exists(linked_page),
              "greffe verifier-page refuses a --lookup-url that is not a plain origin, and writes nothing", refused.stderr[-200:])
        run(GREFFE, "verifier-page", "--out", linked_page, "--vkey", vkey_file, "--lookup-url", url + "/")
        run(GREFFE, "verifier-page", "--out", offline_page, "--vkey", vkey_file)
        driver.get("file://" + linked_page)
        browser.wait(lambda d: d.execute_script("return document.readyState === 'complete'"))
        where = browser.by_id("lookup-where").text
        check("never uploaded" in where and url in where, "verify.html made for a ledger names the one ledger it asks, and says the picture stays here", where)
        blocked = driver.execute_async_script("""
            const done = arguments[arguments.length - 1];
            fetch('http://127.0.0.1:' + arguments[0] + '/leak', { method: 'POST', body: 'picture bytes', mode: 'no-cors' })
              .then(() => done('sent'), () => done('refused'));""", canary.port)
        check(blocked == "refused" and not canary.hits, "its CSP refuses a fetch to any other address", blocked)
        outcome, text = choose(browser, pictures["copy.jpg"])
        check(outcome == "found" and "image-editing request" in text and "the platform blocked it" in text
              and technical(browser, "PDQ (how it looks)") == copied["pdq"],
              "verify.html (file://) finds the q70 + 5% crop copy at its ledger (the answer is readable cross-origin)", "%s: %s" % (outcome, text[:300]))
        check(driver.execute_script("return [...document.querySelectorAll('#answer a')].some(a => a.getAttribute('href') === '#form')"),
              "its answer sends the reader to the checker on the same page")
        # Chromium overwrites a download of the same name: the first certificate moves aside.
        if certificate_path:
            moved = os.path.join(work, "first-" + os.path.basename(certificate_path))
            os.replace(certificate_path, moved)
            certificate_path = moved
        already = set(os.listdir(downloads))
        driver.find_element(By.CSS_SELECTOR, "#answer a[download]").click()
        fresh = None
        for _ in range(100):
            new_files = [f for f in set(os.listdir(downloads)) - already if f.endswith(".json")]
            if new_files and not any(f.endswith(".crdownload") for f in os.listdir(downloads)):
                fresh = os.path.join(downloads, new_files[0])
                break
            time.sleep(0.1)
        check(fresh is not None, "verify.html's certificate link downloads the certificate", repr(sorted(set(os.listdir(downloads)) - already)))
        if fresh:
            linked_check, _, _ = pages.checkers(browser, files, linked_page)
            with open(fresh, "rb") as f:
                _, status, _, _, heading, details = linked_check(f.read(), vkey)
            check(status == "verified" and heading.startswith("VERIFIED") and "blocked" in details,
                  "the same page then checks that certificate: verified", "%s %r" % (status, heading))
        # A copy made to work offline: fingerprints and where to take them, no connection at all.
        browser.drain_logs()
        offline_requests_from = len(browser.requests)
        driver.get("file://" + offline_page)
        browser.wait(lambda d: d.execute_script("return document.readyState === 'complete'"))
        check("works offline" in browser.by_id("lookup-where").text, "the offline verify.html says it works offline", browser.by_id("lookup-where").text)
        outcome, text = choose(browser, pictures["copy.jpg"])
        command = driver.execute_script("const c = document.getElementById('lookup-command'); return c ? c.textContent : ''")
        check(outcome == "offline" and "cannot ask a ledger" in text and copied["sha256"] in command and copied["pdq"] in command,
              "the offline verify.html works out the fingerprints and shows the greffe lookup command with them", "%s: %s" % (outcome, command))
        browser.drain_logs()
        sent = [a for _, a, _ in browser.requests[offline_requests_from:] if urllib.parse.urlsplit(a).scheme not in ("file", "blob", "data")]
        check(not sent, "the offline verify.html sent no request at all", repr(sent[:3]))
        # As the ledger serves it: it asks that same ledger.
        driver.get(url + "/verify.html")
        browser.wait(lambda d: d.execute_script("return document.readyState === 'complete'"))
        outcome, text = choose(browser, pictures["original.png"])
        check(outcome == "found" and "This exact picture (the very same file)" in text, "the ledger's own /verify.html finds the original file", text[:300])

        # --- only the ledger was asked, only hashes were sent -------------------------------
        browser.drain_logs()
        allowed_origins = {url, off_url}
        strays, lookups = [], []
        for method, address, has_body in browser.requests:
            parsed = urllib.parse.urlsplit(address)
            if parsed.scheme in ("blob", "data", "file") or address.startswith("http://127.0.0.1:%d/" % canary.port):
                continue  # local objects; the canary attempts above were refused (no hits)
            origin = "%s://%s" % (parsed.scheme, parsed.netloc)
            query = urllib.parse.parse_qs(parsed.query)
            if origin in allowed_origins and parsed.path == "/v1/lookup" and method == "GET" and not has_body and len(query) == 1 \
                    and list(query)[0] in ("sha256", "pdq") and all(len(v) == 64 and all(c in "0123456789abcdef" for c in v) for v in query[list(query)[0]]):
                lookups.append(list(query)[0])
            elif not (origin in allowed_origins and parsed.path in ASSETS and method == "GET" and not has_body):
                strays.append((method, address[:120], has_body))
        check(not strays and "sha256" in lookups and "pdq" in lookups,
              "the pages sent only GET /v1/lookup?sha256=|pdq=<64 hex> (%d lookups) and fetched their own assets: no other request, no body" % len(lookups),
              repr(strays[:5]))
        check(not canary.hits, "nothing ever reached the canary")
        # Deliberate: the refused requests to the canary, and the lookups answered offline, 404 (off) and 429.
        expected = ("/leak", "ERR_INTERNET_DISCONNECTED", "status of 404", "status of 429")
        unexpected = [p for p in browser.problems if not ("/leak" in p or ("/v1/lookup?" in p and any(e in p for e in expected)))]
        check(not unexpected, "no console error or CSP violation besides the deliberate ones", repr(unexpected[:3]))

        offline_from = len(browser.requests)

        # --- the certificate, offline ------------------------------------------------------
        # What the API answers now, for comparison (created_at differs from one answer to the next).
        api_text = http(url + "/v1/lookup?pdq=" + copied["pdq"])[1].decode()
        api = json.loads(api_text)
        for server in servers:
            stop(server)
        servers = []
        if certificate_path:
            with open(certificate_path) as f:
                certificate = json.load(f)
            expected = next(m["certificate"] for m in api["matches"] if m["index"] == recorded_index)
            strip = lambda c: {k: v for k, v in c.items() if k != "created_at"}  # noqa: E731
            with open(certificate_path, encoding="utf-8") as f:
                downloaded_text = f.read()
            check(strip(certificate) == strip(expected) and set(certificate) == set(expected)
                  and downloaded_text in api_text.replace(expected["created_at"], certificate["created_at"]),
                  "the downloaded file is the certificate byte for byte as the ledger sends it (but its created_at), nothing added")
            disclosed = sorted("/".join(map(str, f["path"])) for f in certificate["fields"])
            check(disclosed == ["decision/outcome", "input_images/0/pdq"], "it discloses the image's PDQ and the outcome only", repr(disclosed))
            result = subprocess.run([GREFFE, "verify", certificate_path, "--vkey", vkey_file], capture_output=True, text=True)
            check(result.returncode == 0, "greffe verify accepts the downloaded certificate", result.stdout[-300:] + result.stderr[-300:])
            page = os.path.join(work, "verify.html")
            with open(page, "w", encoding="utf-8") as f:
                f.write(pages.load_gen_web_assets().verifier_page(vkey))
            page_check, _, _ = pages.checkers(browser, files, page)
            with open(certificate_path, "rb") as f:
                _, status, report, _, heading, details = page_check(f.read(), vkey)
            check(status == "verified" and heading.startswith("VERIFIED") and "blocked" in details,
                  "verify.html (file://, server stopped) verifies the downloaded certificate and shows what it proves", "%s %r %r" % (status, heading, details[:300]))

            def field(c, name):
                return next(f for f in c["fields"] if f["path"][-1] == name)

            def edit_value(c):
                field(c, "outcome")["value"] = "allowed"

            def edit_path(c):
                field(c, "pdq")["path"][-1] = "sha256"

            def edit_proof(c):
                f = field(c, "pdq")
                f["proof"][0] = pages.flip_b64(f["proof"][0], 0)

            def edit_entry(c):
                raw = bytearray(base64.b64decode(c["entry"]))
                raw[60] ^= 0x10
                c["entry"] = base64.b64encode(bytes(raw)).decode()

            for name, tamper in [("a changed value (blocked to allowed)", edit_value), ("a changed path (pdq to sha256)", edit_path),
                                 ("a changed proof hash", edit_proof), ("a changed entry byte", edit_entry)]:
                forged = copy.deepcopy(certificate)
                tamper(forged)
                path, status, report, _, heading, _ = page_check(json.dumps(forged).encode(), vkey)
                result = subprocess.run([GREFFE, "verify", path, "--vkey", vkey_file], capture_output=True, text=True)
                check(status == "failed" and "NOT VERIFIED" in heading and result.returncode == 1,
                      "%s: refused by verify.html and greffe verify" % name, "page %s %r, cli exit %d" % (status, heading, result.returncode))
        browser.drain_logs()
        network = [a for _, a, _ in browser.requests[offline_from:] if urllib.parse.urlsplit(a).scheme not in ("file", "blob", "data")]
        check(not network, "verify.html checked the certificates with no network request (%d requests, all file:, blob: or data:)"
              % len(browser.requests[offline_from:]), repr(network[:3]))
    finally:
        if browser:
            browser.driver.quit()
        for server in servers:
            stop(server)
        canary.close()
        if os.environ.get("KEEP") == "1" or FAILED:
            log("work directory kept: " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.screenshots:
        log("screenshot written to " + os.path.join(shots, "lookup.png"))
    log("lookup page: %d passed, %d failed" % (PASSED, FAILED))
    return 0 if FAILED == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
