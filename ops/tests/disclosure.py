#!/usr/bin/env python3
"""Disclosure certificates (greffe-disclosure/v1), three verifiers, one verdict.

  disclosure.py verify CERT --vkey VKEYFILE
      An auditor's verifier written from Schemas/disclosure.md and
      Schemas/entry.md alone (Python's hashlib, hmac and pyca/cryptography;
      no Greffe code): exit 0 and what the certificate proves, or exit 1 and
      why not.
  disclosure.py scenario [--greffe BIN]
      Starts a ledger, appends edit requests and completions naming images,
      asks the public lookup by SHA-256, PDQ and C2PA manifest hash, and checks
      every certificate with `greffe verify`, with the browser verifier's code
      (web/verify-core.js under node) and with the verifier above: all three
      accept the genuine ones and refuse every doctored copy (a changed value,
      field name, array position, salt, position, count, proof hash; a removed,
      added or duplicated field or member; another entry; a changed entry byte;
      an inclusion hash; another signing key), and no certificate carries any
      other value of the event's body.
"""
import argparse
import base64
import copy
import hashlib
import hmac
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bundlev3 import Problem, decode_entry, field_problems, leaf_hash, open_checkpoint, unb64, verify_inclusion  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MEMBERS = {"format", "verifier_key", "checkpoint", "entry", "inclusion_proof", "fields", "created_at"}


def strict(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise Problem("duplicate member %s" % k)
        out[k] = v
    return out


def verify_certificate(cert, vkey):
    """Schemas/disclosure.md, "Verifying a certificate", steps 1 to 5; returns what it proves."""
    if not isinstance(cert, dict) or set(cert) != MEMBERS:
        raise Problem("the certificate's members are not exactly %s" % sorted(MEMBERS))
    if cert["format"] != "greffe-disclosure/v1":
        raise Problem("not greffe-disclosure/v1")
    for name in ("verifier_key", "checkpoint", "created_at", "entry"):
        if not isinstance(cert[name], str):
            raise Problem("%s is not a string" % name)
    fields = cert["fields"]
    if not isinstance(fields, list) or not 1 <= len(fields) <= 64:
        raise Problem("fields is not an array of 1 to 64 items")
    size, root = open_checkpoint(cert["checkpoint"], vkey)
    entry_bytes = unb64(cert["entry"], "entry")
    entry = decode_entry(entry_bytes)
    if entry["layout"] != 2:
        raise Problem("the entry is not of layout 2")
    if entry["index"] >= size:
        raise Problem("the entry is beyond the checkpoint")
    proof = [unb64(h, "inclusion_proof") for h in cert["inclusion_proof"]]
    if not isinstance(cert["inclusion_proof"], list) or not verify_inclusion(entry["index"], size, leaf_hash(entry_bytes), proof, root):
        raise Problem("the entry's inclusion proof does not lead to the checkpoint's root")
    problems = field_problems(fields, entry["commitment"])
    if problems:
        raise Problem("fields/" + problems[0])
    return entry, size, [(f["path"], f["value"]) for f in fields]


def http(url, data=None, headers=None):
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scenario(greffe):
    work = tempfile.mkdtemp(prefix="greffe-disclosure-")
    passed, failed = 0, 0

    def check(ok, what):
        nonlocal passed, failed
        print(("ok   " if ok else "FAIL ") + what)
        if ok:
            passed += 1
        else:
            failed += 1

    data = os.path.join(work, "data")
    subprocess.run([greffe, "init", "--data", data, "--origin", "disclosure.test/log"], check=True, capture_output=True)
    token = subprocess.run([greffe, "token", "create", "--data", data, "--role", "append", "--platform", "pixelforge.example", "--name", "p"],
                           check=True, capture_output=True, text=True).stdout.strip().split("\n")[-1]
    vkey_file = os.path.join(data, "verifier.vkey")
    vkey = open(vkey_file).read().strip()
    port = free_port()
    server = subprocess.Popen([greffe, "serve", "--data", data, "--listen", "127.0.0.1:%d" % port, "--checkpoint-interval", "0.2"],
                              stdout=open(os.path.join(work, "serve.log"), "w"), stderr=subprocess.STDOUT)
    base = "http://127.0.0.1:%d" % port
    try:
        for _ in range(100):
            try:
                if http(base + "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        image, output, pdq, manifest = ("%064x" % (0x1a1a << 200)), "2b" * 32, "3c" * 32, "4d" * 32
        secrets = ["hmac-sha256:" + "7" * 64, "remove her clothes", "req-disclosure-1", "pf-inpaint", "0.93"]
        request = json.load(open(os.path.join(ROOT, "Schemas/events/examples/edit.requested/valid-undress-real-person-blocked.json")))
        request.update({"event_id": "req-disclosure-1", "account": secrets[0], "input_images": [{"sha256": image}]})
        completed = json.load(open(os.path.join(ROOT, "Schemas/events/examples/edit.completed/valid-modified-output.json")))
        completed.update({"event_id": "done-disclosure-1", "request_event_id": "req-disclosure-1", "account": secrets[0],
                          "input_images": [{"sha256": image}],
                          "output_images": [{"sha256": output, "pdq": pdq, "pdq_quality": 90, "c2pa_manifest_sha256": manifest}]})
        status, body = http(base + "/v1/events?wait=checkpoint", json.dumps({"events": [request, completed]}).encode(),
                            {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
        check(status == 201, "two events appended (%d)" % status)
        certificates = []
        for by, value, expect in (("sha256", image, 2), ("sha256", output, 1), ("pdq", pdq, 1), ("c2pa_manifest_sha256", manifest, 1)):
            status, body = http(base + "/v1/lookup?%s=%s" % (by, value))
            answer = json.loads(body)
            check(status == 200 and len(answer["matches"]) == expect, "lookup by %s finds %d entr%s" % (by, expect, "y" if expect == 1 else "ies"))
            for match in answer["matches"]:
                certificates.append((by, match["certificate"]))
        status, body = http(base + "/v1/lookup?sha256=" + "0" * 64)
        check(status == 200 and json.loads(body)["matches"] == [], "an unrelated hash finds nothing")
        # The command line: the same answers, each certificate verified locally and saved.
        saved = os.path.join(work, "saved")
        cli = subprocess.run([greffe, "lookup", "--url", base, "--sha256", image, "--vkey", vkey_file, "--out", saved], capture_output=True, text=True)
        files = sorted(os.listdir(saved)) if os.path.isdir(saved) else []
        check(cli.returncode == 0 and cli.stdout.count("certificate VERIFIED") == 2 and files == ["0.greffe-certificate.json", "1.greffe-certificate.json"],
              "greffe lookup --sha256 verifies and saves both certificates (%s)" % cli.stdout.strip().replace("\n", " | ")[:200])
        for name in files:
            again = subprocess.run([greffe, "verify", os.path.join(saved, name), "--vkey", vkey_file], capture_output=True, text=True)
            check(again.returncode == 0, "greffe verify %s: %s" % (name, again.stdout.strip().split("\n")[-1][:80]))
        # An investigator's bundle cut down to the case's fields ("disclose"), checked by three verifiers.
        investigator = subprocess.run([greffe, "token", "create", "--data", data, "--role", "investigate", "--name", "i"],
                                      check=True, capture_output=True, text=True).stdout.strip().split("\n")[-1]
        query = {"index_range": {"from": 0, "to": 2}, "disclose": [["decision", "outcome"], ["input_images"], ["event_id"]]}
        status, disclosed_bundle = http(base + "/v1/bundles", json.dumps(query).encode(),
                                        {"Authorization": "Bearer " + investigator, "Content-Type": "application/json"})
        check(status == 200 and not any(s.encode() in disclosed_bundle for s in secrets[:2]),
              "a bundle with disclose holds the fields asked for and not the account or prompt (%d)" % status)
        bundles = [("genuine", disclosed_bundle, True)]
        doctored = json.loads(disclosed_bundle)
        for f in doctored["events"][0]["disclosed"]:
            if f["path"] == ["decision", "outcome"]:
                f["value"] = "allowed"
        bundles.append(("its outcome changed", json.dumps(doctored).encode(), False))
        doctored = json.loads(disclosed_bundle)
        doctored["events"][1]["disclosed"].pop()
        doctored["events"][1]["disclosed"].append(copy.deepcopy(doctored["events"][0]["disclosed"][0]))
        bundles.append(("a field moved from another event", json.dumps(doctored).encode(), False))
        for name, content, expected in bundles:
            path = os.path.join(work, "bundle.json")
            with open(path, "wb") as f:
                f.write(content)
            cli = subprocess.run([greffe, "verify", path, "--vkey", vkey_file, "--quiet"], capture_output=True, text=True).returncode == 0
            third = subprocess.run([sys.executable, os.path.join(ROOT, "ops/tests/bundlev3.py"), "verify", path, "--vkey", vkey_file],
                                   capture_output=True, text=True).returncode == 0
            page = None
            if shutil.which("node"):
                script = ("const V=require(%s);const fs=require('fs');V.check(new Uint8Array(fs.readFileSync(%s)),fs.readFileSync(%s,'utf8'),'b')"
                          ".then(o=>{console.log(o.status);});") % (json.dumps(os.path.join(ROOT, "web/verify-core.js")), json.dumps(path), json.dumps(vkey_file))
                page = subprocess.run(["node", "-e", script], capture_output=True, text=True).stdout.strip() == "verified"
            check(cli == expected and third == expected and page in (None, expected),
                  "disclosed bundle, %s: greffe verify %s, bundlev3.py %s, verify-core.js %s" % (name, cli, third, page))
        none = subprocess.run([greffe, "lookup", "--url", base, "--pdq", "f" * 64], capture_output=True, text=True)
        check(none.returncode == 0 and "nothing recorded" in none.stdout, "greffe lookup --pdq of an unrelated hash: nothing recorded")
    finally:
        server.terminate()
        server.wait()
    log = open(os.path.join(work, "serve.log")).read()
    check(image not in log and output not in log and pdq not in log and manifest not in log, "the server's log names none of the hashes asked for")

    # Anonymous lookups are rate-limited per client: each costs 10 of the anonymous budget.
    server = subprocess.Popen([greffe, "serve", "--data", data, "--listen", "127.0.0.1:%d" % port, "--anonymous-rate", "0.1", "--anonymous-burst", "25"],
                              stdout=open(os.path.join(work, "serve2.log"), "w"), stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                if http(base + "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        statuses = [http(base + "/v1/lookup?sha256=" + "0" * 64)[0] for _ in range(3)]
        check(statuses == [200, 200, 429], "with a burst of 25, two lookups pass and the third is 429 (%s)" % statuses)
    finally:
        server.terminate()
        server.wait()

    node = shutil.which("node")

    def verdicts(cert, name):
        path = os.path.join(work, name)
        with open(path, "w") as f:
            json.dump(cert, f)
        cli = subprocess.run([greffe, "verify", path, "--vkey", vkey_file], capture_output=True, text=True)
        page = None
        if node:
            script = ("const V=require(%s);const fs=require('fs');V.check(new Uint8Array(fs.readFileSync(%s)),fs.readFileSync(%s,'utf8'),'c')"
                      ".then(o=>{console.log(o.status);});") % (json.dumps(os.path.join(ROOT, "web/verify-core.js")), json.dumps(path), json.dumps(vkey_file))
            page = subprocess.run([node, "-e", script], capture_output=True, text=True).stdout.strip() == "verified"
        try:
            verify_certificate(json.loads(open(path).read(), object_pairs_hook=strict), vkey)
            auditor = True
        except Exception as error:  # Problem, malformed JSON, pyca's InvalidSignature
            auditor = False
            if os.environ.get("VERBOSE"):
                print("auditor: %r" % error)
        return cli.returncode == 0, page, auditor, cli.stdout.strip().split("\n")[-1]

    import jsonschema
    schema = json.load(open(os.path.join(ROOT, "Schemas/disclosure.schema.json")))
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    for n, (by, cert) in enumerate(certificates):
        errors = [e.message for e in validator.iter_errors(cert)]
        check(not errors, "certificate %d (%s) is what Schemas/disclosure.schema.json says (python-jsonschema) %s" % (n, by, errors[:2]))
        text = json.dumps(cert)
        check(not any(s in text for s in secrets), "certificate %d (%s) holds nothing else of the body" % (n, by))
        cli, page, auditor, line = verdicts(cert, "genuine-%d.json" % n)
        check(cli and page is not False and auditor, "certificate %d (%s): greffe verify, verify-core.js and the auditor accept it (%s, %s, %s)" % (n, by, cli, page, auditor))

    cert = certificates[0][1]
    other = certificates[-1][1]

    def field(c, edit, i=0):
        edit(c["fields"][i])

    def flip_b64(text, byte):
        raw = bytearray(base64.b64decode(text))
        raw[byte] ^= 1
        return base64.b64encode(bytes(raw)).decode()

    mutations = [
        ("the disclosed value changed", lambda c: field(c, lambda f: f.__setitem__("value", "allowed" if f["value"] != "allowed" else "blocked"))),
        ("the field name changed", lambda c: field(c, lambda f: f["path"].__setitem__(-1, f["path"][-1] + "x"))),
        ("an array position changed", lambda c: field(c, lambda f: f.__setitem__("path", [1 if isinstance(s, int) else s for s in f["path"]]), -1)),
        ("the field's salt changed", lambda c: field(c, lambda f: f.__setitem__("salt", flip_b64(f["salt"], 3)))),
        ("the position changed", lambda c: field(c, lambda f: f.__setitem__("position", f["position"] + 1))),
        ("the count changed", lambda c: field(c, lambda f: f.__setitem__("count", f["count"] + 1))),
        ("a proof hash changed", lambda c: field(c, lambda f: f["proof"].__setitem__(0, flip_b64(f["proof"][0], 0)))),
        ("a proof hash removed", lambda c: field(c, lambda f: f["proof"].pop())),
        ("a proof hash added", lambda c: field(c, lambda f: f["proof"].append(f["proof"][0]))),
        ("a field member removed", lambda c: field(c, lambda f: f.pop("salt"))),
        ("a field member added", lambda c: field(c, lambda f: f.__setitem__("note", "genuine"))),
        ("a field disclosed twice", lambda c: c["fields"].append(copy.deepcopy(c["fields"][0]))),
        ("no field", lambda c: c.__setitem__("fields", [])),
        ("a member removed", lambda c: c.pop("inclusion_proof")),
        ("a member added", lambda c: c.__setitem__("body", {"account": "x"})),
        ("an entry byte changed (commitment)", lambda c: c.__setitem__("entry", flip_b64(c["entry"], 60))),
        ("an entry byte changed (time)", lambda c: c.__setitem__("entry", flip_b64(c["entry"], 15))),
        ("another entry, its own proof", lambda c: (c.__setitem__("entry", other["entry"]), c.__setitem__("inclusion_proof", other["inclusion_proof"]))),
        ("an inclusion hash changed", lambda c: c["inclusion_proof"].__setitem__(0, flip_b64(c["inclusion_proof"][0], 5)) if c["inclusion_proof"] else c["inclusion_proof"].append(c["fields"][0]["proof"][0])),
        ("the checkpoint's root changed", lambda c: c.__setitem__("checkpoint", c["checkpoint"].replace(c["checkpoint"].split("\n")[2], flip_b64(c["checkpoint"].split("\n")[2], 0)))),
        ("a field of another certificate", lambda c: c["fields"].__setitem__(0, copy.deepcopy(other["fields"][0]))),
    ]
    for name, mutate in mutations:
        doctored = copy.deepcopy(cert)
        mutate(doctored)
        cli, page, auditor, line = verdicts(doctored, "doctored.json")
        check(not cli and page is not True and not auditor,
              "%s: refused by greffe verify, verify-core.js and the auditor (%s)" % (name, line[:150]))
    if not node:
        print("note: node not found; verify-core.js not run")
    shutil.rmtree(work, ignore_errors=True)
    print("disclosure: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify")
    v.add_argument("certificate")
    v.add_argument("--vkey", required=True)
    s = sub.add_parser("scenario")
    s.add_argument("--greffe", default=os.environ.get("GREFFE", os.path.join(ROOT, ".build/debug/greffe")))
    args = parser.parse_args()
    if args.command == "scenario":
        sys.exit(scenario(args.greffe))
    try:
        with open(args.certificate, encoding="utf-8") as f:
            cert = json.loads(f.read(), object_pairs_hook=strict)
        entry, size, shown = verify_certificate(cert, open(args.vkey).read().strip())
    except Exception as error:
        print("NOT VERIFIED: %s" % error)
        sys.exit(1)
    print("VERIFIED: entry %d (%s, recorded %d ms) in a checkpoint of size %d holds %s" % (
        entry["index"], entry["kind"], entry["sequenced_at"], size, "; ".join("%s = %s" % (json.dumps(p), json.dumps(v)) for p, v in shown)))


if __name__ == "__main__":
    main()
