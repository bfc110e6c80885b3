"""The retry policy against a scripted HTTP server: 429/503 with Retry-After, backoff, and what is never retried."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from greffe_client import ApiError, GreffeClient, TransportError


class Scripted:
    """Answers each POST with the next (status, headers, body) of its script and records what it received."""

    def __init__(self, script):
        self.script, self.received = list(script), []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.received.append((self.path, self.headers.get("Authorization"), json.loads(body)))
                status, headers, answer = outer.script.pop(0)
                payload = json.dumps(answer).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/prefix" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


OK = (201, {}, {"index": 4, "event_id": "e1", "leaf_hash": "A" * 43 + "="})


@pytest.fixture
def sleeps():
    return []


def test_429_and_503_are_retried_honouring_retry_after(sleeps):
    server = Scripted([(429, {"Retry-After": "3"}, {"error": "slow down"}), (503, {"Retry-After": "0"}, {"error": "stopping"}),
                       (503, {}, {"error": "busy"}), OK])
    try:
        c = GreffeClient(server.url, "secret-token", sleep=sleeps.append)
        result = c.append({"event_id": "e1", "kind": "x"})
        assert result.index == 4 and result.new
        assert sleeps[:2] == [3.0, 0.0] and 0 <= sleeps[2] <= 0.2 * 4
        # Every attempt is the same request: same path (under the base URL's prefix), same token, same event.
        assert {(p, a, json.dumps(b)) for p, a, b in server.received} == {("/prefix/v1/events", "Bearer secret-token", '{"event_id": "e1", "kind": "x"}')}
        assert "secret-token" not in repr(c)
    finally:
        server.close()


def test_gives_up_after_max_attempts_with_the_last_answer(sleeps):
    server = Scripted([(503, {}, {"error": "storage unavailable"})] * 3)
    try:
        with pytest.raises(ApiError) as caught:
            GreffeClient(server.url, "t", max_attempts=3, sleep=sleeps.append).append({"event_id": "e1", "kind": "x"})
        assert caught.value.status == 503 and caught.value.message == "storage unavailable" and len(sleeps) == 2
    finally:
        server.close()


@pytest.mark.parametrize("status", [400, 401, 403, 409, 413, 422])
def test_client_errors_are_not_retried(sleeps, status):
    server = Scripted([(status, {"Retry-After": "1"}, {"error": "the reason %d" % status}), OK])
    try:
        with pytest.raises(ApiError) as caught:
            GreffeClient(server.url, "t", sleep=sleeps.append).append({"event_id": "e1", "kind": "x"})
        assert (caught.value.status, caught.value.message) == (status, "the reason %d" % status)
        assert len(server.received) == 1 and sleeps == []
    finally:
        server.close()


def test_connection_refused_is_retried_then_reported(sleeps):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransportError):
        GreffeClient("http://127.0.0.1:%d" % port, "t", max_attempts=4, sleep=sleeps.append).append({"event_id": "e1", "kind": "x"})
    assert len(sleeps) == 3
    assert all(0 <= s <= 0.2 * 2 ** i for i, s in enumerate(sleeps))


def test_answer_for_another_event_is_refused(sleeps):
    server = Scripted([(201, {}, {"index": 4, "event_id": "someone-else", "leaf_hash": "A" * 43 + "="})])
    try:
        from greffe_client import GreffeError
        with pytest.raises(GreffeError):
            GreffeClient(server.url, "t", sleep=sleeps.append).append({"event_id": "e1", "kind": "x"})
    finally:
        server.close()


def test_redirects_are_refused_and_the_token_stays_here(sleeps):
    server = Scripted([(307, {"Location": "http://127.0.0.1:9/elsewhere"}, {"error": "moved"})])
    try:
        with pytest.raises(ApiError) as caught:
            GreffeClient(server.url, "t", sleep=sleeps.append).append({"event_id": "e1", "kind": "x"})
        assert caught.value.status == 307 and len(server.received) == 1 and sleeps == []
    finally:
        server.close()
