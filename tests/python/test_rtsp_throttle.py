"""RTSP logins count in the throttle HTTP Digest and ONVIF use, by the real client's address:
on the RTSP port, through the HTTP tunnel and over RTSPS. A guesser is held back wherever it
tries next; another address (loopback is all of 127/8) still logs in."""

import base64
import socket
import ssl
import uuid

import pytest
import requests
from requests.auth import HTTPDigestAuth

from conftest import ADMIN, running
from test_talkback_hostile import RawRtsp

WRONG = (ADMIN[0], "not the password")
# [http] failed_logins_per_minute is 10.
GUESSES = 12


@pytest.fixture
def camera(tmp_path):
    yield from running(tmp_path)


def tcp(port, source):
    return socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))


class Tunnel:
    """RTSP in HTTP: the GET half brings the answers, the POST half carries the requests in
    base64, as QuickTime-style clients do."""

    def __init__(self, port, path, source):
        cookie = uuid.uuid4().hex
        self.get = tcp(port, source)
        self.get.sendall(f"GET {path} HTTP/1.0\r\nx-sessioncookie: {cookie}\r\n"
                         "Accept: application/x-rtsp-tunnelled\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            data = self.get.recv(4096)
            assert data, head
            head += data
        assert head.split(b"\r\n")[0].split()[1] == b"200", head
        self.rest = head.split(b"\r\n\r\n", 1)[1]
        self.post = tcp(port, source)
        self.post.sendall(f"POST {path} HTTP/1.0\r\nx-sessioncookie: {cookie}\r\n"
                          "Content-Type: application/x-rtsp-tunnelled\r\nContent-Length: 32767\r\n\r\n"
                          .encode())

    def sendall(self, data):
        self.post.sendall(base64.b64encode(data))

    def recv(self, n):
        if self.rest:
            data, self.rest = self.rest, b""
            return data
        return self.get.recv(n)


def connect(daemon, via, creds, source="127.0.0.1"):
    """An RTSP client from `source` and the URL it asks for."""
    if via == "rtsp":
        return RawRtsp(0, creds, tcp(daemon.rtsp_port, source)), f"rtsp://127.0.0.1:{daemon.rtsp_port}/sub"
    if via == "tunnel":
        return (RawRtsp(0, creds, Tunnel(daemon.http_port, "/sub", source)),
                f"rtsp://127.0.0.1:{daemon.http_port}/sub")
    tls = ssl.create_default_context()
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE
    sock = tls.wrap_socket(tcp(daemon.rtsps_port, source))
    return RawRtsp(0, creds, sock), f"rtsps://127.0.0.1:{daemon.rtsps_port}/sub"


def describe(daemon, via, creds, source="127.0.0.1"):
    client, url = connect(daemon, via, creds, source)
    return client.request("DESCRIBE", url, [("Accept", "application/sdp")])[0]


def guess(daemon, via):
    client, url = connect(daemon, via, WRONG)
    statuses = [client.request("DESCRIBE", url, [("Accept", "application/sdp")])[0]
                for _ in range(GUESSES)]
    assert statuses == [401] * GUESSES, statuses


def http_status(daemon, creds):
    return requests.get(f"http://127.0.0.1:{daemon.http_port}/metrics",
                        auth=HTTPDigestAuth(*creds), timeout=10).status_code


@pytest.mark.parametrize("via", ["rtsp", "tunnel", "rtsps"])
def test_guessing_rtsp_passwords_is_throttled_for_that_client_only(camera, via):
    assert describe(camera, via, ADMIN) == 200
    guess(camera, via)
    # The right password now gets nowhere from that address, whichever way it comes in:
    # RTSP, the tunnel, RTSPS, or HTTP Digest.
    for again in ["rtsp", "tunnel", "rtsps"]:
        assert describe(camera, again, ADMIN) == 401, again
    assert http_status(camera, ADMIN) == 429
    # Another client, direct or through the tunnel or RTSPS, is not held back.
    for other in ["rtsp", "tunnel", "rtsps"]:
        assert describe(camera, other, ADMIN, source="127.0.0.2") == 200, other
