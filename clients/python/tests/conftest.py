"""Shared fixtures: the repository's vectors, and a live `greffe serve` for the integration tests."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from typing import Iterator

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _vectors_directory() -> str:
    """shared/testvectors: $GREFFE_TESTVECTORS, else beside the repository, else /work/shared/testvectors (the Swift tests' rule)."""
    if os.environ.get("GREFFE_TESTVECTORS"):
        return os.environ["GREFFE_TESTVECTORS"]
    beside = os.path.join(os.path.dirname(ROOT), "shared", "testvectors")
    return beside if os.path.isdir(beside) else "/work/shared/testvectors"


VECTORS = _vectors_directory()


def vector_file(*parts: str) -> str:
    path = os.path.join(VECTORS, *parts)
    if not os.path.exists(path):
        pytest.skip("test vectors not found at %s (set GREFFE_TESTVECTORS)" % path)
    return path


@pytest.fixture(scope="session")
def rfc9162() -> dict:
    with open(vector_file("rfc9162-seed1.json")) as f:
        return json.load(f)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Ledger:
    base_url: str
    data: str
    vkey: str
    append_token: str
    investigate_token: str
    greffe: str

    def tree_size(self) -> int:
        with urllib.request.urlopen(self.base_url + "/healthz", timeout=10) as r:
            return json.load(r)["tree_size"]


def _greffe_binary() -> str:
    binary = os.environ.get("GREFFE", os.path.join(ROOT, ".build", "debug", "greffe"))
    if not os.path.isabs(binary):
        binary = os.path.join(ROOT, binary)
    if not os.access(binary, os.X_OK):
        pytest.skip("no greffe binary at %s (set GREFFE)" % binary)
    return binary


def _wait_until_healthy(process: "subprocess.Popen[bytes]", base: str, log_path: str, name: str) -> None:
    """Until `base`/healthz answers 200; raises with the log's tail if the process exits or 30 s pass."""
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError("%s exited: %s" % (name, open(log_path).read()[-2000:]))
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("%s did not answer within 30 s" % name)


def _stop(process: "subprocess.Popen[bytes]") -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def ledger() -> Iterator[Ledger]:
    """A ledger on a temporary data directory and a free port, checkpointing every 0.1 s."""
    greffe = _greffe_binary()
    work = tempfile.mkdtemp(prefix="greffe-pyclient-")
    data = os.path.join(work, "data")
    subprocess.run([greffe, "init", "--data", data, "--origin", "pyclient.test/log"], check=True, capture_output=True)

    def token(*args: str) -> str:
        out = subprocess.run([greffe, "token", "create", "--data", data, *args], check=True, capture_output=True, text=True)
        return out.stdout.strip().split("\n")[-1]
    append_token = token("--role", "append", "--platform", "pixelforge.example", "--name", "pyclient")
    investigate_token = token("--role", "investigate", "--name", "pyclient-investigator")
    with open(os.path.join(data, "verifier.vkey")) as f:
        vkey = f.read().strip()
    port = _free_port()
    log = open(os.path.join(work, "serve.log"), "w")
    server = subprocess.Popen([greffe, "serve", "--data", data, "--listen", "127.0.0.1:%d" % port, "--checkpoint-interval", "0.1"],
                              stdout=log, stderr=subprocess.STDOUT)
    base = "http://127.0.0.1:%d" % port
    try:
        _wait_until_healthy(server, base, os.path.join(work, "serve.log"), "greffe serve")
        yield Ledger(base, data, vkey, append_token, investigate_token, greffe)
    finally:
        _stop(server)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


@dataclass
class Relay:
    base_url: str
    data: str


@pytest.fixture(scope="session")
def relay(ledger: Ledger) -> Iterator[Relay]:
    """A `greffe relay` in front of the ledger fixture, forwarding for its append token's platform."""
    work = tempfile.mkdtemp(prefix="greffe-pyclient-relay-")
    token_file = os.path.join(work, "token")
    with open(token_file, "w") as f:
        f.write(ledger.append_token)
    vkey_file = os.path.join(ledger.data, "verifier.vkey")
    port = _free_port()
    log = open(os.path.join(work, "relay.log"), "w")
    process = subprocess.Popen([ledger.greffe, "relay", "--data", os.path.join(work, "relay"), "--ledger", ledger.base_url,
                                "--token-file", token_file, "--vkey", vkey_file, "--platform", "pixelforge.example",
                                "--listen", "127.0.0.1:%d" % port], stdout=log, stderr=subprocess.STDOUT)
    base = "http://127.0.0.1:%d" % port
    try:
        _wait_until_healthy(process, base, os.path.join(work, "relay.log"), "greffe relay")
        yield Relay(base, work)
    finally:
        _stop(process)
        log.close()
        shutil.rmtree(work, ignore_errors=True)
