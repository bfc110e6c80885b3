#!/usr/bin/env python3
"""The lookup page (/lookup) facing unusual and doctored answers, in headless Chromium.

  1. A real `greffe serve` records an edit.requested naming a generated
     picture; its genuine /v1/lookup answers (by SHA-256 and by PDQ, with a
     genuine certificate) are kept, and the server is stopped.
  2. A fake ledger (a small Python HTTP server, the only address Chromium
     may reach) serves web/lookup.html with the CSP of
     WebPages.lookupPolicy (read from WebPages.swift), its assets from web/,
     and answers /v1/lookup as each case says. The page is loaded afresh for
     each case and the picture chosen; what a person reads is checked.
  3. Cases: the genuine answer (its downloaded certificate passes
     `greffe verify`); a match without a certificate (entry layout 1, and
     "recorded after the latest signed checkpoint"), in the server's own
     words (read from LookupAPI.swift); a truncated answer; unreadable
     matches beside a good one; 200 answers that are not JSON or whose
     matches is not an array; one half of the search garbled; a hostile
     ledger (HTML and script in every text, javascript:/data:/http: help
     links, kinds and roles named after Object.prototype's members); huge
     numbers; a 429 with an absurd Retry-After; a refusal whose message is
     HTML; a certificate whose outcome was doctored (offered for download as
     received; `greffe verify` refuses it offline).
  4. For every case: nothing ran (a window.__pwned canary the injected
     handlers would set), no element beyond the page's own kinds of node in
     the answer, no javascript:/data: link anywhere, no uncaught error, no
     console error besides the deliberate refusals. The hostile case runs
     again on a copy of the page served without CSP, so that the script
     alone, not the browser's policy, is what keeps the texts inert, and in
     the one-file verify.html (written from the same web/ files, opened
     from a file, asking the fake ledger), which carries the same script.

Usage: ops/tests/lookup_answers.py [--web DIR]   (DIR: the page's files, default web/)
Env: GREFFE (binary, default .build/debug/greffe), CHROMIUM, CHROMEDRIVER, KEEP=1.
"""
import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lookup_page as lp  # noqa: E402 — Browser, choose, technical, make_pictures, start_server, check, log
from lookup_page import Browser, check, choose, log, technical  # noqa: E402

ROOT = lp.ROOT
GREFFE = lp.GREFFE
CANARY = "window.__pwned"
# Elements the page itself builds in an answer; anything else came from a text that was parsed as HTML.
PAGE_TAGS = {"DIV", "P", "H3", "ARTICLE", "A", "DETAILS", "SUMMARY", "DL", "DT", "DD", "SECTION", "UL", "OL", "LI", "SPAN", "BUTTON", "PRE"}
PAGE_CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


def swift_string(source, pattern):
    """The value of the Swift string expression (literals joined by +) that follows `pattern` in `source`."""
    found = re.search(pattern + r'((?:\s*\+?\s*"(?:[^"\\]|\\.)*")+)', source)
    if not found:
        sys.exit("not found in the Swift source: " + pattern)
    return "".join(json.loads('"%s"' % literal) for literal in re.findall(r'"((?:[^"\\]|\\.)*)"', found.group(1)))


def read_source(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as f:
        return f.read()


class FakeLedger:
    """Serves the lookup page from `web` and answers /v1/lookup with `respond(parameter, value) -> (status, headers, body)`."""

    def __init__(self, web, policy):
        self.respond = lambda parameter, value: (404, {}, b"")
        self.asked = []
        ledger = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                parsed = urllib.parse.urlsplit(self.path)
                if parsed.path == "/v1/lookup":
                    query = urllib.parse.parse_qsl(parsed.query)
                    ledger.asked.append(query)
                    status, headers, body = ledger.respond(*(query[0] if len(query) == 1 else ("", "")))
                    # Readable cross-origin, as greffe serve's: verify.html opened from a file asks it too.
                    headers = {"Content-Type": "application/json", "Cache-Control": "no-store", "Access-Control-Allow-Origin": "*", **headers}
                    return self.answer(status, headers, body)
                # /lookup as greffe serves it; /lookup-bare the same page with no CSP to catch what the script lets through.
                name = {"/lookup": "lookup.html", "/lookup-bare": "lookup.html"}.get(parsed.path)
                if name is None and parsed.path.startswith("/assets/") and "/" not in parsed.path[len("/assets/"):]:
                    name = parsed.path[len("/assets/"):]
                path = os.path.join(web, name) if name else None
                if not path or os.path.splitext(name)[1] not in PAGE_CONTENT_TYPES or not os.path.isfile(path):
                    return self.answer(404, {"Content-Type": "text/plain"}, b"not found")
                with open(path, "rb") as f:
                    body = f.read()
                headers = {"Content-Type": PAGE_CONTENT_TYPES[os.path.splitext(name)[1]], "Cache-Control": "no-store"}
                if parsed.path != "/lookup-bare":
                    headers["Content-Security-Policy"] = policy
                self.answer(200, headers, body)

            def answer(self, status, headers, body):
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def as_json(value):
    return (200, {}, json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def answer_of(matches, template, **members):
    """A lookup answer like the genuine `template` with these matches (and members replaced)."""
    answer = copy.deepcopy(template)
    answer["matches"] = matches
    answer.update(members)
    return answer


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--web", default=os.path.join(ROOT, "web"), help="the page's files (default web/)")
    parser.add_argument("--screenshots", help="(browser.sh's option: nothing to do here)")
    parser.add_argument("--v3-only", action="store_true", help="(browser.sh's option for browser.py: nothing to do here)")
    args = parser.parse_args()
    if args.v3_only:
        log("skip the lookup answers (--v3-only)")
        return 0
    if not os.access(GREFFE, os.X_OK):
        sys.exit("greffe binary not found at %s (swift build, or set GREFFE)" % GREFFE)
    policy = swift_string(read_source("Sources", "GreffeServer", "Web", "WebPages.swift"), r"static let lookupPolicy\s*=")
    lookup_api = read_source("Sources", "GreffeServer", "LookupAPI.swift")
    reasons = [swift_string(lookup_api[m.start():], r'match\["no_certificate"\] = \.string\(')
               for m in re.finditer(r'match\["no_certificate"\]', lookup_api)]
    if len(reasons) != 2 or "default-src 'none'" not in policy:
        sys.exit("could not read the lookup's CSP and its two no_certificate texts from the sources: %r %r" % (policy, reasons))
    too_recent = next(r for r in reasons if "ask again" in r)
    layout_one = next(r for r in reasons if r != too_recent)

    work = tempfile.mkdtemp(prefix="greffe-lookup-answers.")
    downloads, files, data = (os.path.join(work, name) for name in ("downloads", "files", "data"))
    for directory in (downloads, files):
        os.makedirs(directory)
    server, browser, fake = None, None, None
    try:
        # --- a genuine answer from a real ledger ---------------------------------------
        vkey = lp.run(GREFFE, "init", "--data", data, "--origin", "answers.greffe.test/log")
        vkey_file = os.path.join(data, "verifier.vkey")
        token = lp.run(GREFFE, "token", "create", "--data", data, "--role", "append", "--platform", "example-ai", "--name", "platform")
        pictures = lp.make_pictures(files)
        picture = pictures["original.png"]
        hashes = json.loads(lp.run(GREFFE, "image", "hash", picture))
        port = lp.free_port()
        server = lp.start_server(data, port)
        image = {"sha256": hashes["sha256"], "pdq": hashes["pdq"], "pdq_quality": hashes["pdq_quality"]}
        status, body = lp.http("http://127.0.0.1:%d/v1/events?wait=checkpoint" % port, "POST", token, {"events": [lp.edit_request("edit-victim", image)]})
        assert status == 201, (status, body)
        index = json.loads(body)["results"][0]["index"]
        genuine = {key: json.loads(lp.http("http://127.0.0.1:%d/v1/lookup?%s=%s" % (port, key, hashes[key]))[1]) for key in ("sha256", "pdq")}
        lp.stop(server)
        server = None
        good = genuine["sha256"]["matches"][0]
        check(good["index"] == index and isinstance(good["certificate"], dict) and genuine["pdq"]["matches"][0]["index"] == index,
              "the real ledger answers entry %d with a certificate, by SHA-256 and by PDQ (then it is stopped)" % index)
        empty = answer_of([], genuine["sha256"])

        fake = FakeLedger(os.path.abspath(args.web), policy)
        browser = Browser(downloads, ["127.0.0.1:%d" % fake.port])
        driver = browser.driver

        def look(responses, page="/lookup", chosen=picture):
            """Loads the page afresh, chooses the picture; what the person sees and what went wrong under the hood."""
            fake.respond = responses if callable(responses) else (lambda parameter, value: responses.get(parameter, as_json(empty)))
            del fake.asked[:]
            browser.drain_logs()
            problems_from = len(browser.problems)
            driver.get(page if page.startswith("file://") else fake.url + page)
            browser.wait(lambda d: d.execute_script("return typeof GreffePDQ === 'object' && document.readyState === 'complete'"))
            driver.execute_script("""
                window.__uncaught = [];
                addEventListener('error', (e) => __uncaught.push(String(e.message)));
                addEventListener('unhandledrejection', (e) => __uncaught.push(String(e.reason)));""")
            try:
                outcome, text = choose(browser, chosen)
            except TimeoutException:
                outcome, text = None, driver.execute_script("return document.body.innerText")
            browser.drain_logs()
            seen = driver.execute_script("""
                const answer = document.getElementById('answer');
                return {
                  pwned: typeof window.__pwned === 'undefined' ? null : String(window.__pwned),
                  uncaught: window.__uncaught,
                  tags: [...new Set([...answer.querySelectorAll('*')].map((e) => e.tagName))],
                  hrefs: [...document.querySelectorAll('[href], [src], [action], [formaction]')]
                    .map((e) => e.getAttribute('href') || e.getAttribute('src') || e.getAttribute('action') || e.getAttribute('formaction')),
                  downloads: [...answer.querySelectorAll('a[download]')].map((a) => [a.getAttribute('download'), a.dataset.index, a.href]),
                  help: [...answer.querySelectorAll('#help-lines a')].map((a) => [a.textContent, a.getAttribute('href')]),
                  why: [...answer.querySelectorAll('dt')].filter((dt) => dt.textContent === 'Why no proof file').map((dt) => dt.nextElementSibling.textContent),
                  headings: [...answer.querySelectorAll('article h3')].map((h) => h.textContent),
                };""")
            seen.update(outcome=outcome, text=text, problems=browser.problems[problems_from:], asked=list(fake.asked))
            return seen

        def inert(seen, name, deliberate=()):
            """Nothing the ledger sent ran or became markup; no crash; console errors only the deliberate ones."""
            check(seen["outcome"] is not None, name + ": the page answered (data-outcome set)", seen["text"][:200])
            stray_tags = sorted(set(seen["tags"]) - PAGE_TAGS)
            check(seen["pwned"] is None and not stray_tags, name + ": nothing ran and no markup came from the ledger's texts",
                  "canary %r, elements %r" % (seen["pwned"], stray_tags))
            bad_links = [h for h in seen["hrefs"] if re.match(r"\s*(javascript|data|vbscript):", h or "", re.I)]
            check(not bad_links, name + ": no javascript:/data: link or source anywhere in the page", repr(bad_links))
            unexpected = [p for p in seen["problems"] if not any(d in p for d in deliberate)]
            check(not seen["uncaught"] and not unexpected, name + ": no uncaught error, no console error besides the deliberate ones",
                  repr(seen["uncaught"][:3] + unexpected[:3]))

        def download(name):
            """Clicks the answer's certificate link; the downloaded file's path (None if nothing came)."""
            target = os.path.join(downloads, name)
            os.makedirs(target)
            driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": target})
            driver.find_element(By.CSS_SELECTOR, "#answer a[download]").click()
            for _ in range(100):
                done = [f for f in os.listdir(target) if f.endswith(".json")]
                if done and not any(f.endswith(".crdownload") for f in os.listdir(target)):
                    return os.path.join(target, done[0])
                time.sleep(0.1)
            return None

        def greffe_verify(path):
            return subprocess.run([GREFFE, "verify", path, "--vkey", vkey_file], capture_output=True, text=True)

        # --- the genuine answer, relayed ------------------------------------------------
        seen = look({"sha256": as_json(genuine["sha256"]), "pdq": as_json(genuine["pdq"])})
        asked = sorted(tuple(q) for q in seen["asked"])
        check(asked == [(("pdq", hashes["pdq"]),), (("sha256", hashes["sha256"]),)],
              "the page asks the fake ledger by the picture's SHA-256 and PDQ, as greffe image hash computes them", repr(asked))
        check(seen["outcome"] == "found" and "This exact picture (the very same file)" in seen["text"] and "the platform blocked it" in seen["text"]
              and len(seen["downloads"]) == 1 and seen["downloads"][0][:2] == ["%d.greffe-certificate.json" % index, str(index)],
              "the genuine answer: found, blocked, one certificate link for entry %d" % index, "%s %r" % (seen["outcome"], seen["downloads"]))
        check("More records name this picture" not in seen["text"] and technical(browser, "Matches this page could not read") is None,
              "an answer not truncated, all matches readable: neither note is shown")
        inert(seen, "the genuine answer")
        genuine_file = download("genuine")
        result = greffe_verify(genuine_file) if genuine_file else None
        check(result is not None and result.returncode == 0, "its downloaded certificate passes greffe verify (the real ledger is stopped)",
              (result.stdout + result.stderr)[-300:] if result else "no download")

        # --- matches without a certificate ---------------------------------------------
        for name, reason, expected, absent in [
                ("an entry of layout 1 (no certificate)", layout_one, "cannot give a proof file for this record on its own", "proof is not ready yet"),
                ("an entry after the latest signed checkpoint", too_recent, "This record is very recent: its proof is not ready yet. Search again in a minute",
                 "cannot give a proof file")]:
            match = {k: v for k, v in good.items() if k not in ("certificate", "outcome")}
            match.update(certificate=None, no_certificate=reason)
            seen = look({"sha256": as_json(answer_of([match], genuine["sha256"]))})
            check(seen["outcome"] == "found" and expected in seen["text"] and absent not in seen["text"] and not seen["downloads"],
                  name + ": found, said in words, and no download link", "%s %r: %s" % (seen["outcome"], seen["downloads"], seen["text"][:400]))
            check(seen["why"] == [reason] and ("record number %d" % index in seen["text"] or reason == too_recent),
                  name + ": the ledger's own reason under 'Why no proof file'" + ("" if reason == too_recent else ", and the record number to quote"),
                  repr(seen["why"]))
            check("does not say what the platform decided" in seen["text"], name + ": with no outcome, the page does not invent a decision")
            inert(seen, name)

        # --- truncated ------------------------------------------------------------------
        seen = look({"sha256": as_json(answer_of([good], genuine["sha256"], truncated=True))})
        check(seen["outcome"] == "found" and "More records name this picture than are shown here" in seen["text"] and len(seen["downloads"]) == 1,
              "a truncated answer: the record is shown, and the page says more records exist", seen["text"][:300])
        inert(seen, "a truncated answer")

        # --- unreadable matches beside a good one ----------------------------------------
        unreadable = []
        for change in [{"index": None}, {"index": -1}, {"index": 1.5}, {"index": "7"}, {"kind": 7}, {"kind": None},
                       {"recorded_at": "not a time"}, {"recorded_at": 1773522847}, {"roles": "input"}, {"distance": -3}, {"distance": 32}, {"distance": 257}]:
            match = copy.deepcopy(good)
            match["index"] = index + 1 + len(unreadable)
            for key, value in change.items():
                if value is None:
                    match.pop(key)
                else:
                    match[key] = value
            unreadable.append(match)
        unreadable += [None, "a match", 42, []]
        # A certificate that is not an object is no certificate: no link to a file that is not one.
        odd = [dict(good, index=index + 100, certificate=c, no_certificate=layout_one) for c in ("forged", ["forged"], 1)]
        seen = look({"sha256": as_json(answer_of(unreadable + [good] + odd, genuine["sha256"]))})
        check(seen["outcome"] == "found" and "this ledger has 2 records about this picture" in seen["text"]
              and technical(browser, "Records listed") == "2",
              "unreadable matches beside good ones: the two readable records are listed", "%s: %s" % (seen["outcome"], seen["text"][:200]))
        check(technical(browser, "Matches this page could not read") == str(len(unreadable)),
              "the %d unreadable matches (missing/negative/fractional/text index, bad kind, recorded_at, roles, distance; not objects) are counted"
              % len(unreadable), repr(technical(browser, "Matches this page could not read")))
        check([d[1] for d in seen["downloads"]] == [str(index)],
              "only the match with an object certificate gets a download link (not a string, array or number)", repr(seen["downloads"]))
        inert(seen, "unreadable matches")

        # --- 200s that are not answers -----------------------------------------------------
        for name, response in [("a 200 whose body is not JSON", (200, {"Content-Type": "text/html"}, b"<html><img src=x onerror=window.__pwned=1>oops")),
                               ("a 200 whose matches is an object", as_json(answer_of({"0": good}, genuine["sha256"]))),
                               ("a 200 whose body is JSON null", as_json(None)),
                               ("a 200 with an empty body", (200, {}, b""))]:
            seen = look(lambda parameter, value, response=response: response)
            check(seen["outcome"] == "error-garbled" and "The ledger gave an answer this page does not understand" in seen["text"]
                  and "answered 200" in seen["text"] and not seen["downloads"] and technical(browser, "HTTP status") == "200",
                  name + ": 'an answer this page does not understand' (status 200 in the details), no link", "%s: %s" % (seen["outcome"], seen["text"][:200]))
            inert(seen, name)
        seen = look({"sha256": (200, {}, b"{\"matches\": ["), "pdq": as_json(genuine["pdq"])})
        check(seen["outcome"] == "found" and "Part of the search could not be done" in seen["text"]
              and "exact copies of this file were not searched for" in seen["text"] and len(seen["downloads"]) == 1,
              "the exact search garbled, the look-alike one fine: found by looks, and the page says what was not searched", seen["text"][:300])
        inert(seen, "half the search garbled")

        # --- a hostile ledger ------------------------------------------------------------------
        payload = '<img src=x onerror="window.__pwned=\'%s\'">'
        hostile_kind = payload % "kind" + "<script>window.__pwned='script'</script>"
        hostile_reason = payload % "no_certificate" + " ask again"
        hostile_help = [
            {"title": payload % "title" + "Report it", "url": "https://example-ai.test/report", "description": payload % "description"},
            {"title": "Click me (javascript)", "url": "javascript:window.__pwned='href'"},
            {"title": "Click me (spaced javascript)", "url": " javascript:window.__pwned='href'"},
            {"title": "Click me (JAVASCRIPT)", "url": "JAVASCRIPT:window.__pwned='href'"},
            {"title": "Click me (data)", "url": "data:text/html,<script>window.__pwned='data'</script>"},
            {"title": "Click me (http)", "url": "http://example-ai.test/plain"},
            {"title": 7, "url": "https://example-ai.test/numeric-title"},
            "not an object",
        ]
        hostile = [
            dict({k: v for k, v in good.items() if k != "certificate"}, index=index, kind=hostile_kind, certificate=None, no_certificate=hostile_reason,
                 outcome=payload % "outcome", roles=["input", "<svg onload=\"window.__pwned='role'\">", "constructor"]),
            dict(good, index=index + 1, kind="constructor", roles=["constructor", "__proto__", "toString"]),
            dict(good, index=index + 2, kind="__proto__", roles=["hasOwnProperty"]),
            dict(good, index=index + 3, kind="toString", roles=["output"], outcome="allowed"),
        ]
        hostile_answer = answer_of(hostile, genuine["sha256"], help=hostile_help, checkpoint=payload % "checkpoint")
        # The one-file verifier, opened from a file and made to ask this ledger, runs the same script under its own CSP.
        generator = lp.pages.load_gen_web_assets()
        generator.WEB = os.path.abspath(args.web)
        verifier = os.path.join(work, "verify.html")
        with open(verifier, "w", encoding="utf-8") as f:
            f.write(generator.verifier_page(vkey, lookup=fake.url))
        for page, name in [("/lookup", "a hostile ledger"), ("/lookup-bare", "a hostile ledger, the page served without CSP"),
                           ("file://" + verifier, "a hostile ledger asked by verify.html (file://)")]:
            seen = look({"sha256": as_json(hostile_answer)}, page)
            check(seen["outcome"] == "found" and seen["headings"][:1] == ["Record 1: a record of type “%s”, %s"
                                                                        % (hostile_kind, seen["headings"][0].rsplit(", ", 1)[-1])],
                  name + ": the kind's HTML is shown as the text it is", repr(seen["headings"][:1]))
            check(seen["why"] == [hostile_reason] and ("the platform's recorded decision was “%s”" % (payload % "outcome")) in seen["text"]
                  and technical(browser, "Ledger checkpoint") == payload % "checkpoint",
                  name + ": the reason, the outcome and the checkpoint are shown as text", repr(seen["why"]))
            check(seen["help"] == [[payload % "title" + "Report it", "https://example-ai.test/report"]] and (payload % "description") in seen["text"]
                  and "Click me" not in seen["text"],
                  name + ": of the help lines only the https one is a link (its HTML title as text); javascript:, data:, http: and malformed ones are dropped",
                  repr(seen["help"]))
            check(seen["headings"][1:] == ["Record %d: a record of type “%s”, %s" % (i + 2, kind, seen["headings"][i + 1].rsplit(", ", 1)[-1])
                                           for i, kind in enumerate(["constructor", "__proto__", "toString"])]
                  and "native code" not in seen["text"] and "undefined" not in seen["text"] and "[object" not in seen["text"],
                  name + ": kinds and roles named after Object.prototype's members read as unknown types, not as JavaScript's",
                  repr(seen["headings"][1:]))
            check("the platform allowed it" in seen["text"] and "the platform blocked it" in seen["text"]
                  and "deliver" not in seen["text"],
                  name + ": those unknown kinds' outcomes read as a request's (allowed, blocked), not as a finished job's")
            inert(seen, name)
        seen = look(lambda parameter, value: (500, {}, json.dumps({"error": payload % "error"}).encode()))
        check(seen["outcome"] == "error-server" and technical(browser, "Ledger message") == payload % "error" and technical(browser, "HTTP status") == "500",
              "a 500 whose error message is HTML: the page does not understand it, and shows the message as text", seen["text"][:200])
        inert(seen, "a 500 with an HTML message", deliberate=("status of 500",))

        # --- huge numbers ------------------------------------------------------------------------
        largest = 2 ** 53 - 1
        huge = [dict(good, index=largest, certificate=None, no_certificate=layout_one),
                dict(good, index=index + 1, recorded_at="+275760-09-13T00:00:00.000Z", distance=31, certificate=None, no_certificate=layout_one)]
        bad = ['{"index":9007199254740993,"kind":"edit.requested","recorded_at":"2026-03-14T21:14:07Z","roles":["input"]}',
               '{"index":1e400,"kind":"edit.requested","recorded_at":"2026-03-14T21:14:07Z","roles":["input"]}',
               '{"index":3,"kind":"edit.requested","recorded_at":"2026-03-14T21:14:07Z","roles":["input"],"distance":1e300}',
               '{"index":4,"kind":"edit.requested","recorded_at":"+275761-01-01T00:00:00Z","roles":["input"]}']
        body = json.dumps(answer_of(huge, genuine["sha256"]))
        body = body.replace('"matches": [', '"matches": [' + ",".join(bad) + ",", 1).encode()
        seen = look({"pdq": (200, {}, body)})
        check(seen["outcome"] == "found" and "this ledger has 2 records" in seen["text"] and "Record number%d" % largest in seen["text"]
              and "275760" in seen["text"] and technical(browser, "Matches this page could not read") == str(len(bad)),
              "huge numbers: the largest exact index and the last representable date are shown; an index past 2^53, 1e400, "
              "a distance of 1e300 and a date past year 275760 are counted as unreadable", "%s %r: %s"
              % (seen["outcome"], technical(browser, "Matches this page could not read"), seen["text"][:300]))
        check(not re.search(r"e\+\d|Infinity|NaN|undefined|Invalid Date", seen["text"]), "huge numbers: no e+, Infinity, NaN or undefined is shown",
              re.search(r".{40}(e\+\d|Infinity|NaN|undefined|Invalid Date).{40}", seen["text"]).group(0)
              if re.search(r".{40}(e\+\d|Infinity|NaN|undefined|Invalid Date).{40}", seen["text"]) else "")
        inert(seen, "huge numbers")
        seen = look(lambda parameter, value: (429, {"Retry-After": "1" + "0" * 30}, b'{"error":"slow down"}'))
        said = seen["text"].split("Technical details")[0]
        check(seen["outcome"] == "error-busy" and "Please try again later." in said and not re.search(r"\d{4,}|e\+\d", said),
              "a 429 whose Retry-After is 10^30 seconds: 'try again later', no absurd number", said[:300])
        inert(seen, "a 429 with a huge Retry-After", deliberate=("status of 429",))

        # --- a doctored certificate ------------------------------------------------------------
        doctored = copy.deepcopy(good)
        doctored["outcome"] = "allowed"
        next(f for f in doctored["certificate"]["fields"] if f["path"][-1] == "outcome")["value"] = "allowed"
        seen = look({"sha256": as_json(answer_of([doctored], genuine["sha256"]))})
        check(seen["outcome"] == "found" and "the platform allowed it" in seen["text"] and len(seen["downloads"]) == 1,
              "a certificate whose outcome was changed to allowed: the page repeats the ledger's words and offers the file (it cannot prove it)")
        inert(seen, "a doctored certificate")
        doctored_file = download("doctored")
        served = json.dumps(doctored["certificate"], separators=(",", ":"), ensure_ascii=False)
        with open(doctored_file or os.devnull, encoding="utf-8") as f:
            check(doctored_file is not None and f.read() == served, "the downloaded file is the doctored certificate exactly as the ledger sent it")
        result = greffe_verify(doctored_file) if doctored_file else None
        check(result is not None and result.returncode == 1, "greffe verify refuses the doctored certificate offline",
              (result.stdout + result.stderr)[-300:] if result else "no download")
    finally:
        if browser:
            browser.driver.quit()
        if fake:
            fake.close()
        lp.stop(server)
        if os.environ.get("KEEP") == "1" or lp.FAILED:
            log("work directory kept: " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    log("lookup answers: %d passed, %d failed" % (lp.PASSED, lp.FAILED))
    return 0 if lp.FAILED == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
