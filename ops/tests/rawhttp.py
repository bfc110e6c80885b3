"""Raw HTTP/1.1 over a socket for the probe scripts (limits.sh, adversary-availability.sh):
what a hostile client sends is exactly what it writes, and what the server does with
the connection afterwards (closes it or not) is observed."""
import json, socket, ssl

HOST = "127.0.0.1"


def say(ok, text):
    print(("ok   " if ok else "FAIL ") + text, flush=True)


def connect(port, tls=False):
    s = socket.create_connection((HOST, port), timeout=10)
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        s = ctx.wrap_socket(s)
    return s


def read_answer(s, timeout=10):
    """Everything until the server closes (or `timeout`): (status, headers, body, closed)."""
    s.settimeout(timeout)
    data, closed = b"", False
    try:
        while True:
            c = s.recv(65536)
            if not c:
                closed = True
                break
            data += c
    except (socket.timeout, ssl.SSLError):
        pass
    except OSError:
        closed = True  # reset after the answer: closed too
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ")[1]) if lines[0].startswith(b"HTTP/1.1 ") else None
    headers = {l.split(b":", 1)[0].strip().lower().decode(): l.split(b":", 1)[1].strip().decode() for l in lines[1:] if b":" in l}
    return status, headers, body, closed


def json_error(headers, body):
    """The `error` member of a JSON error body, or None."""
    if not headers.get("content-type", "").startswith("application/json"):
        return None
    try:
        e = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return None
    return e if isinstance(e, str) and e else None


def request(method, path, body=b"", token=None, extra=b"", close=True, host=b"probe"):
    h = b"%s %s HTTP/1.1\r\nHost: %s\r\n" % (method.encode(), path.encode(), host)
    if close:
        h += b"Connection: close\r\n"
    if token:
        h += b"Authorization: Bearer %s\r\n" % token.encode()
    if body or method == "POST":
        h += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    return h + extra + b"\r\n" + body


def exchange(port, raw, tls=False, timeout=10):
    s = connect(port, tls)
    try:
        s.sendall(raw)
    except OSError:
        pass  # the server may answer and stop reading before all of it is sent
    answer = read_answer(s, timeout)
    s.close()
    return answer


def read_one(s):
    """One answer on a kept-alive connection: (status, lower-cased head, body), by its Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0])
    while len(rest) < length:
        rest += s.recv(65536)
    return int(head.split(b" ")[1]), head.decode(errors="replace").lower(), rest
