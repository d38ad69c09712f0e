"""Alerts as ntfy push notifications: a real local HTTP server speaking ntfy's publish API gets
the followed user's alerts from a real daemon, one request each, with the snapshot, the headers
and the token; the user's rules and `kinds` decide what goes, `max_per_hour` caps it; a failing
server is retried, then given up, and never holds up the camera; a reload (SIGHUP) applies."""

import json
import signal
import socket
import ssl
import subprocess
import threading
import time
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from conftest import ADMIN, TEST_TLS, VIEWER, Daemon

TOKEN = "tk_5ecret-t0ken-for-the-test"
TOPIC = "nursery-q8z1x"


class NtfyServer:
    """ntfy's publish API on a free loopback port: PUT or POST /<topic>; answers as ntfy does
    (the message as JSON), or with `status` and ntfy's error JSON; `delay` s before answering.
    With `token` set, anything else is 401 as on a server with access control. With `tls` (a
    certificate and its key), over HTTPS."""

    def __init__(self, token=None, tls=None):
        self.requests = []
        self.status = 200
        self.delay = 0.0
        self.token = token
        self.connections = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.scheme = "http"
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, topic=TOPIC):
        return f"{self.scheme}://127.0.0.1:{self.port}/{topic}"

    def close(self):
        """Stops answering and closes the port, and the connections kept alive: connections are
        refused from now on."""
        self.httpd.shutdown()
        self.httpd.server_close()
        for c in self.connections:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _handler(server):  # noqa: N805 (the server, for the handler class)
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                server.connections.append(self.connection)

            def do_PUT(self):
                self._publish()

            def do_POST(self):
                self._publish()

            def _publish(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                topic = self.path.strip("/")
                headers = {k.lower(): v for k, v in self.headers.items()}
                server.requests.append({"time": time.monotonic(), "method": self.command, "topic": topic,
                                        "headers": headers, "body": body})
                if server.delay:
                    time.sleep(server.delay)
                if server.token is not None and headers.get("authorization") != f"Bearer {server.token}":
                    status, out = 401, {"code": 40101, "http": 401, "error": "unauthorized"}
                elif server.status != 200:
                    status = server.status
                    out = {"code": status * 100 + 1, "http": status, "error": "internal server error"}
                else:
                    status = 200
                    out = {"id": f"m{len(server.requests)}", "time": int(time.time()), "expires": int(time.time()) + 43200,
                           "event": "message", "topic": topic, "title": text(headers.get("title", "")),
                           "message": text(headers.get("message", "")) or body.decode(errors="replace")}
                data = json.dumps(out).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


def text(value):
    """A header value as ntfy reads it: RFC 2047 encoded words decoded."""
    return str(make_header(decode_header(value)))


def ntfy_config(url, **options):
    lines = ["[sensor]", "interval_s = 1", "[ntfy]", "enabled = true", f'url = "{url}"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in options.items()]
    return "\n".join(lines) + "\n"


def api(d, method, path, creds=ADMIN, **kw):
    r = httpx.request(method, f"{d.https_base}{path}", auth=httpx.DigestAuth(*creds), timeout=10, **kw)
    assert r.status_code == 200, (path, r.status_code, r.text)
    return r.json()


def room(d, temperature_c, humidity_pct=50.0):
    api(d, "PUT", "/api/simulate/climate", json={"temperature_c": temperature_c, "humidity_pct": humidity_pct})


def alerts(d, kind):
    """Alerts of `kind` sent so far, to every user."""
    return d.metric(f'babymonitor_alerts_total{{kind="{kind}"}}')


def wait(check, what, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} after {timeout} s"
        time.sleep(0.1)


def none_more(server, count, what, settle=1.5):
    """Nothing else arrives at `server` for `settle` s (the alert that would have gone is out)."""
    time.sleep(settle)
    assert len(server.requests) == count, (what, [(r["method"], r["headers"].get("title")) for r in server.requests])


@pytest.fixture
def server():
    s = NtfyServer(token=TOKEN)
    yield s
    s.close()


def test_each_alert_is_one_push_with_the_snapshot_and_the_users_rules_decide(tmp_path, server):
    d = Daemon(tmp_path, '[device]\nname = "Zoë\'s room"\n' + ntfy_config(
        server.url(), token=TOKEN, kinds=["too_hot", "too_cold"], retries=1))
    d.start()
    try:
        room(d, 20.0)
        room(d, 25.0)
        wait(lambda: server.requests, "a push for too hot")
        push = server.requests[0]
        h = push["headers"]
        assert push["method"] == "PUT" and push["topic"] == TOPIC
        assert push["body"][:2] == b"\xff\xd8" and push["body"][-2:] == b"\xff\xd9", push["body"][:16]
        assert h["content-type"] == "image/jpeg" and h["filename"] == "snapshot.jpg"
        assert text(h["title"]) == "Too hot"
        # The room's name and the degree sign arrive whole (RFC 2047, as ntfy decodes them).
        message = text(h["message"])
        assert message.startswith("Zoë's room is too hot (25") and message.endswith(" °C)."), message
        assert h["message"].startswith("=?UTF-8?B?"), h["message"]
        assert h["priority"] == "default" and h["tags"] == "hot_face,too_hot"
        assert h["authorization"] == f"Bearer {TOKEN}"
        wait(lambda: api(d, "GET", "/api/status")["ntfy"]["sent"] == 1, "sent counted")
        status = api(d, "GET", "/api/status", VIEWER)["ntfy"]
        assert status == {"enabled": True, "sent": 1, "failed": 0, "last_error": None}, status
        assert d.metric("babymonitor_ntfy_sent_total") == 1
        # The viewer had the same alert: still one push, the admin's.
        assert alerts(d, "too_hot") == 2
        none_more(server, 1, "one push per alert", settle=0.5)

        # Too cold is pushed; too humid is not among `kinds`.
        room(d, 14.0, 70.0)
        wait(lambda: len(server.requests) == 2 and alerts(d, "too_humid") == 2, "too cold pushed, too humid sent")
        none_more(server, 2, "too humid is not in kinds")
        assert text(server.requests[1]["headers"]["title"]) == "Too cold"

        # The admin's notify switch off for the climate: their alert comes, no push.
        api(d, "PUT", "/api/alerts", json={"climate": {"notify": False}})
        room(d, 25.0)
        wait(lambda: alerts(d, "too_hot") == 4, "the second too hot alerts")
        none_more(server, 2, "notify is off")
        # Climate alerts off for the admin: only the viewer is told, and nothing is pushed.
        api(d, "PUT", "/api/alerts", json={"climate": {"enabled": False, "notify": True}})
        room(d, 14.0)
        wait(lambda: alerts(d, "too_cold") == 3, "the viewer's too cold")
        none_more(server, 2, "the admin's climate alerts are off")
        # Back on: pushed again (the silence was the rules, not a broken channel).
        api(d, "PUT", "/api/alerts", json={"climate": {"enabled": True}})
        room(d, 25.0)
        wait(lambda: len(server.requests) == 3, "too hot pushed again")
        assert text(server.requests[2]["headers"]["title"]) == "Too hot"

        metrics = httpx.get(f"http://127.0.0.1:{d.http_port}/metrics", auth=httpx.DigestAuth(*ADMIN), timeout=10).text
        for name in ("sent", "failed", "dropped"):
            assert f"# TYPE babymonitor_ntfy_{name}_total counter" in metrics
        log = d.read_log()
        assert TOKEN not in log and TOPIC not in log
        assert "ntfy: pushed" in log
    finally:
        d.stop()


def server_certificate(tmp):
    """A CA and a certificate for 127.0.0.1 that it signed (webpki, as the daemon verifies, takes
    no self-signed CA as a server's certificate); the CA goes in `tmp/roots.pem` after the tests'
    own, for SSL_CERT_FILE."""
    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp)

    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=ntfy test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    openssl("req", *key, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (tmp / "server.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                                    "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.crt", "-days", "2", "-extfile", "server.ext")
    (tmp / "roots.pem").write_bytes((TEST_TLS / "device.crt").read_bytes() + (tmp / "ca.crt").read_bytes())
    return tmp / "server.crt", tmp / "server.key"


def test_the_followed_users_alerts_as_text_over_https_within_the_hourly_limit(tmp_path, monkeypatch):
    server = NtfyServer(tls=server_certificate(tmp_path))
    # The daemon trusts the test CA as one in the system's bundle (it is started with this).
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "roots.pem"))
    d = Daemon(tmp_path, ntfy_config(server.url(), user="viewer", snapshot=False, max_per_hour=2))
    d.start()
    try:
        # The admin wants no climate alerts: the viewer's rules are the ones that count.
        api(d, "PUT", "/api/alerts", json={"climate": {"enabled": False}})
        room(d, 20.0)
        for i, t in enumerate([25.0, 14.0, 25.0]):
            room(d, t)
            wait(lambda i=i: alerts(d, "too_hot") + alerts(d, "too_cold") == i + 1, f"alert {i + 1}")
        wait(lambda: d.metric("babymonitor_ntfy_dropped_total") == 1, "the third dropped")
        none_more(server, 2, "two an hour")
        assert [r["method"] for r in server.requests] == ["POST", "POST"]
        first, second = server.requests
        assert first["body"].decode().startswith("Nursery is too hot"), first["body"]
        assert second["body"].decode().startswith("Nursery is too cold"), second["body"]
        assert first["headers"]["content-type"] == "text/plain; charset=utf-8"
        assert "filename" not in first["headers"] and "authorization" not in first["headers"]
        assert text(second["headers"]["title"]) == "Too cold" and second["headers"]["tags"] == "cold_face,too_cold"
        assert d.metric("babymonitor_ntfy_sent_total") == 2
    finally:
        d.stop()
        server.close()


def rtsp_answers(d) -> float:
    """Seconds the RTSP server takes to answer OPTIONS."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", d.rtsp_port), timeout=3) as s:
        s.sendall(f"OPTIONS rtsp://127.0.0.1:{d.rtsp_port}/stream RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
        assert s.recv(1024).startswith(b"RTSP/1.0 ")
    return time.monotonic() - start


def test_a_failing_server_is_retried_then_given_up_without_holding_anything_up(tmp_path):
    server = NtfyServer()
    server.status, server.delay = 500, 1.0
    d = Daemon(tmp_path, ntfy_config(server.url(), token=TOKEN, retries=2, snapshot=False))
    d.start()
    try:
        room(d, 20.0)
        room(d, 25.0)
        wait(lambda: server.requests, "the first attempt")
        # While ntfy waits for a slow failing server, the camera answers at once.
        while len(server.requests) < 3:
            start = time.monotonic()
            api(d, "GET", "/api/status")
            assert time.monotonic() - start < 1.0
            assert rtsp_answers(d) < 1.0
            time.sleep(0.2)
        wait(lambda: d.metric("babymonitor_ntfy_failed_total") == 1, "given up", timeout=10)
        none_more(server, 3, "retries = 2: three attempts", settle=1.0)
        starts = [r["time"] for r in server.requests]
        # The answer takes 1 s, then 1 s and 2 s of back-off.
        assert 1.8 < starts[1] - starts[0] < 3.0 and 2.8 < starts[2] - starts[1] < 4.0, starts
        status = api(d, "GET", "/api/status")["ntfy"]
        assert status["failed"] == 1 and status["sent"] == 0
        assert "500" in status["last_error"] and "internal server error" in status["last_error"], status
        assert TOKEN not in json.dumps(status) and TOPIC not in json.dumps(status)

        # The server gone: refused connections, retried, given up.
        server.close()
        room(d, 14.0)
        wait(lambda: d.metric("babymonitor_ntfy_failed_total") == 2, "given up on a closed port", timeout=15)
        assert "reach" in api(d, "GET", "/api/status")["ntfy"]["last_error"]
        assert rtsp_answers(d) < 1.0
        log = d.read_log()
        assert log.count("ntfy: push given up") == 2, log
        assert TOKEN not in log and TOPIC not in log

        # A new server, named in the file and read again with SIGHUP: the next alert goes there.
        fresh = NtfyServer()
        try:
            d.extra = ntfy_config(fresh.url("other-topic"), retries=2, snapshot=False)
            (tmp_path / "config.toml").write_text(d.config())
            d.proc.send_signal(signal.SIGHUP)
            wait(lambda: d.read_log().count("configuration reloaded") == 1, "the reload")
            room(d, 25.0)
            wait(lambda: fresh.requests, "a push to the new server")
            assert fresh.requests[0]["topic"] == "other-topic"
            assert "authorization" not in fresh.requests[0]["headers"]
            wait(lambda: api(d, "GET", "/api/status")["ntfy"]["last_error"] is None, "the error cleared")
        finally:
            fresh.close()
    finally:
        d.stop()
