#!/usr/bin/env python3
"""Network fuzz campaign against a simulated babymonitor daemon, on loopback only.

Run through bench/fuzz-net.sh (it builds the daemon and, as root, makes a network namespace with
only `lo` so WS-Discovery stays inside it). Standard library only, so Debian's python3 runs it.

The fuzzer starts its own daemon (`--simulate`, a config and data_dir in a temporary directory,
free ports, known passwords), sends mutated inputs to every network surface, checks health every
few hundred inputs, and restarts the daemon after a crash or a hang so that one run can find more
than one bug. Each crash or hang is saved under the results directory with the daemon's stderr
tail and the last inputs sent; `--replay DIR` sends a saved case again to a fresh daemon.
"""

import argparse
import base64
import collections
import hashlib
import json
import os
import random
import re
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
# Health checks come from another loopback address: the daemon throttles failed logins per
# address, and the fuzz traffic fails a lot of them.
HEALTH_SRC = "127.0.0.2"
USERS = {
    "admin": ("admin", "fuzz admin pass 1"),
    "operator": ("operator", "fuzz-operator-2"),
    "user": ("viewer", "fuzz viewer 3"),
    # Only the health checks log in as this one, so no fuzz input can lock it out or change it.
    "health": ("health", "fuzz health 4"),
}
ROLES = {"admin": "admin", "operator": "operator", "user": "user", "health": "admin"}
TARGETS = ["soap", "rtsp", "rtp", "api", "whep", "clips", "discovery", "slow"]
HEALTH_DEADLINE = 5.0
SLOW = 1.0
LAST_INPUTS = 30
FLOOD_SECONDS = 10
KEEP_PER_SIGNATURE = 3
# Targets whose answers are timed (the others hold sessions or connections open on purpose).
SLOW_COUNTED = ("soap", "api", "whep", "clips")


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def b64(data):
    return base64.b64encode(data).decode()


# ----------------------------------------------------------------------------------------------
# The daemon


class Daemon:
    def __init__(self, binary, work, discovery, fd_limit):
        self.binary = binary
        self.work = work
        self.discovery = discovery
        self.fd_limit = fd_limit
        self.proc = None
        self.instance = 0

    def start(self):
        self.instance += 1
        self.dir = self.work / f"daemon-{self.instance}"
        # A fresh data_dir each time: a clip that crashes the daemon must not crash it again at boot.
        self.dir.mkdir(parents=True)
        for attempt in range(3):
            self.http_port, self.rtsp_port = free_port(), free_port()
            users = "".join(
                f'[[users]]\nname = "{n}"\npassword = "{p}"\nrole = "{ROLES[k]}"\n\n'
                for k, (n, p) in USERS.items()
            )
            (self.dir / "config.toml").write_text(
                f"""[rtsp]
port = {self.rtsp_port}
[http]
port = {self.http_port}
failed_logins_per_minute = 10000
[storage]
data_dir = "{self.dir / 'data'}"
[onvif]
discovery = {'true' if self.discovery else 'false'}
[video.main]
width = 320
height = 240
[video.sub]
width = 160
height = 120
[sound]
enabled = false
[motion]
enabled = false
[web]
connect_timeout_s = 5
{users}"""
            )
            self.stderr_path = self.dir / "daemon.log"
            log = open(self.stderr_path, "ab")
            limit = self.fd_limit

            def preexec():
                # The SD-card image runs the daemon under systemd, whose services get 1024 files.
                soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
                resource.setrlimit(resource.RLIMIT_NOFILE, (min(limit, hard), hard))

            self.proc = subprocess.Popen(
                [self.binary, "--simulate", "--config", str(self.dir / "config.toml")],
                stdout=subprocess.DEVNULL,
                stderr=log,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "RUST_LOG": os.environ.get("FUZZ_RUST_LOG", "warn")},
                preexec_fn=preexec,
            )
            log.close()
            deadline = time.time() + 30
            while time.time() < deadline and self.proc.poll() is None:
                try:
                    socket.create_connection((HOST, self.http_port), timeout=0.2).close()
                    socket.create_connection((HOST, self.rtsp_port), timeout=0.2).close()
                    time.sleep(0.3)
                    self.start_stats = self.stats()
                    return
                except OSError:
                    time.sleep(0.05)
            log_text = self.stderr_tail()
            self.kill()
            if "cannot listen" not in log_text:
                raise RuntimeError("daemon did not start:\n" + log_text)
        raise RuntimeError("no free ports after 3 attempts")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stats(self):
        """(RSS in KiB, open file descriptors)."""
        pid = self.proc.pid
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
            fds = len(os.listdir(f"/proc/{pid}/fd"))
            return rss, fds
        except (OSError, AttributeError):
            return None, None

    def stderr_tail(self, lines=60):
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def kill(self, sig=signal.SIGKILL):
        if self.alive():
            self.proc.send_signal(sig)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stop(self):
        """SIGTERM, a clean stop, then the directory goes (unless it is needed for a report)."""
        self.kill(signal.SIGTERM)

    def port(self, name):
        return {"http": self.http_port, "rtsp": self.rtsp_port, "wsd": 3702}[name]


# ----------------------------------------------------------------------------------------------
# Authentication


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def parse_challenge(value):
    return dict(re.findall(r'(\w+)="?([^",]*)"?', value))


class HttpDigest:
    """Answers the HTTP Digest challenge like curl does; the server's nonces live 5 minutes."""

    def __init__(self):
        self.challenge = None
        self.fetched = 0.0
        self.nc = 0

    def refresh(self, daemon, src=HOST):
        req = b"GET /api/session HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        status, headers, _, _ = http_exchange(daemon.http_port, req, 3.0, src=src)
        for k, v in headers:
            if k == "www-authenticate" and "MD5" in v:
                self.challenge = parse_challenge(v[len("Digest ") :])
                self.fetched = time.time()
                return
        raise RuntimeError(f"no Digest challenge (status {status})")

    def header(self, daemon, method, uri, who, src=HOST):
        if self.challenge is None or time.time() - self.fetched > 120:
            self.refresh(daemon, src)
        user, password = USERS[who]
        c = self.challenge
        self.nc += 1
        nc = f"{self.nc:08x}"
        cnonce = os.urandom(8).hex()
        ha1 = md5(f"{user}:{c['realm']}:{password}")
        ha2 = md5(f"{method}:{uri}")
        resp = md5(f"{ha1}:{c['nonce']}:{nc}:{cnonce}:auth:{ha2}")
        return (
            f'Digest username="{user}", realm="{c["realm"]}", nonce="{c["nonce"]}", uri="{uri}", '
            f'algorithm=MD5, qop=auth, nc={nc}, cnonce="{cnonce}", response="{resp}", '
            f'opaque="{c.get("opaque", "")}"'
        )


def mutate_digest(valid, r):
    """A valid Authorization value with one field made wrong in a way a client could get wrong."""
    fields = dict(re.findall(r'(\w+)=("[^"]*"|[^,\s]*)', valid))
    choice = r.choice(
        ["nc", "qop", "nonce", "uri", "algorithm", "response", "username", "realm", "drop",
         "dup", "quotes", "long", "scheme", "bytes", "cnonce", "empty"]
    )
    if choice == "nc":
        fields["nc"] = r.choice(["00000000", "ffffffff", "zz", "", "0" * 400, "-1", "1" * 9])
    elif choice == "qop":
        fields["qop"] = r.choice(["auth-int", '"auth"', "", "auth,auth-int", "x" * 300, '"'])
    elif choice == "nonce":
        n = fields.get("nonce", '""').strip('"')
        fields["nonce"] = '"' + r.choice(
            [n[::-1], n + "0", n.split("-")[0], "-" + n, "0-" + n.split("-")[-1],
             "ffffffffffffffff-" + n.split("-")[-1], "", "A" * 5000, n.replace("-", ""),
             "1-2-3", "\u00e9-x"]
        ) + '"'
    elif choice == "uri":
        fields["uri"] = '"' + r.choice(
            ["/", "/other", "", "http://127.0.0.1/onvif/device_service", "*", "/%00", "a" * 3000,
             "rtsp://127.0.0.1/stream", "//", "/onvif/device_service?x=1"]
        ) + '"'
    elif choice == "algorithm":
        fields["algorithm"] = r.choice(["SHA-256", "MD5-sess", "SHA-512-256", "", "md5", "X" * 200])
    elif choice == "response":
        fields["response"] = '"' + r.choice(["", "0" * 32, "g" * 32, "0" * 64, "A" * 4000]) + '"'
    elif choice == "username":
        fields["username"] = '"' + r.choice(
            ["", "admin\\", 'ad"min', "nobody", "A" * 5000, "admin\x00", "h\u00e9"]
        ) + '"'
    elif choice == "realm":
        fields["realm"] = '"' + r.choice(["", "other", "x" * 3000]) + '"'
    elif choice == "drop":
        if fields:
            del fields[r.choice(list(fields))]
    elif choice == "dup":
        k = r.choice(list(fields)) if fields else "nonce"
        return valid + f", {k}={fields.get(k, '1')}"
    elif choice == "quotes":
        return valid.replace('"', "", r.randint(1, 3))
    elif choice == "long":
        return valid + ", " + ", ".join(f"x{i}=\"{i}\"" for i in range(r.choice([100, 2000])))
    elif choice == "scheme":
        return r.choice(["Basic ", "digest ", "Digest", "Bearer ", "DIGEST  "]) + valid[7:]
    elif choice == "bytes":
        return mutate_bytes(valid.encode(), r).decode("latin-1")
    elif choice == "cnonce":
        fields["cnonce"] = r.choice(['""', '"' + "c" * 3000 + '"', "unquoted"])
    elif choice == "empty":
        return r.choice(["", "Digest ", "Digest ,,,,", "Digest =", "Digest a"])
    return "Digest " + ", ".join(f"{k}={v}" for k, v in fields.items())


WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DIGEST_TYPE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
TEXT_TYPE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"


def wsse_token(who, mutation, r):
    """A WS-Security UsernameToken (PasswordDigest, what ONVIF clients send), maybe made wrong."""
    user, password = USERS[who]
    nonce = os.urandom(16)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    ptype = DIGEST_TYPE
    pw = b64(hashlib.sha1(nonce + created.encode() + password.encode()).digest())
    nonce_text = b64(nonce)
    if mutation == "created":
        created = r.choice(
            ["1970-01-01T00:00:00Z", "2999-12-31T23:59:59Z", "garbage", "", "2026-13-45T99:99:99Z",
             "9" * 200, created.replace("Z", "+14:00"), created + "\x00"]
        )
    elif mutation == "nonce":
        nonce_text = r.choice(["", "!!!notbase64", "A" * 100000, "====", b64(b"")])
    elif mutation == "password":
        pw = r.choice(["", "A" * 50000, b64(os.urandom(20)), password])
    elif mutation == "type":
        ptype = r.choice([TEXT_TYPE, "", "urn:x#PasswordDigest", "#Password" + "x" * 500])
        if ptype == TEXT_TYPE:
            pw = r.choice([password, password + "x", ""])
    elif mutation == "user":
        user = r.choice(["", "nobody", "A" * 10000, "<x/>", "ad&amp;min"])
    token = (
        f'<wsse:Security xmlns:wsse="{WSSE_NS}"><wsse:UsernameToken>'
        f"<wsse:Username>{user}</wsse:Username>"
        f'<wsse:Password Type="{ptype}">{pw}</wsse:Password>'
        f"<wsse:Nonce>{nonce_text}</wsse:Nonce>"
        f'<wsu:Created xmlns:wsu="{WSU_NS}">{created}</wsu:Created>'
        "</wsse:UsernameToken></wsse:Security>"
    )
    if mutation == "missing":
        token = re.sub(r"<wsse:(Nonce|Created|Password|Username)[^<]*</wsse:\w+>", "", token, count=1)
        token = token.replace(f'<wsu:Created xmlns:wsu="{WSU_NS}">{created}</wsu:Created>', "")
    elif mutation == "twice":
        token = token + token
    elif mutation == "bytes":
        token = mutate_bytes(token.encode(), r).decode("utf-8", "replace")
    return token


# ----------------------------------------------------------------------------------------------
# Mutations


INTERESTING = [
    b"", b"\x00", b"\xff", b"-1", b"0", b"-0", b"4294967295", b"4294967296",
    b"18446744073709551616", b"1e309", b"NaN", b"inf", b"%s%n%x", b"%00", b"%", b"\r\n",
    b"\r\n\r\n", b"\n", b'"', b"'", b"<", b">", b"&", b"]]>", b"\xc3\x28", b"\xef\xbb\xbf",
    b"\xed\xa0\x80", b"\xf4\x90\x80\x80", "\u00e9\u202e".encode(), b"A" * 1024, b"../" * 20,
    b"\\", b";", b",", b"=", b"\t", b" " * 100, b"9" * 40, b"0x7fffffff", b"-2147483649",
]


def mutate_bytes(data, r, max_len=300_000):
    """Byte-level mutations (AFL's havoc, in small): flips, interesting values, cuts, copies."""
    data = bytearray(data)
    for _ in range(r.choice([1, 1, 2, 3, 4, 8])):
        op = r.randrange(10)
        n = len(data)
        if n == 0:
            data += r.choice(INTERESTING)
            continue
        i = r.randrange(n)
        if op == 0:
            data[i] ^= 1 << r.randrange(8)
        elif op == 1:
            data[i] = r.choice([0, 0xFF, 0x7F, 0x80, 0x20, r.randrange(256)])
        elif op == 2:
            data[i:i] = r.choice(INTERESTING)
        elif op == 3:
            del data[i : i + r.randint(1, min(64, n - i))]
        elif op == 4:
            j = r.randrange(n)
            data[i:i] = data[j : j + r.randint(1, 64)]
        elif op == 5:
            del data[i:]
        elif op == 6:
            chunk = data[i : i + r.randint(1, 16)]
            data[i:i] = chunk * r.choice([2, 16, 256, 4096])
        elif op == 7 and n >= 4:
            struct.pack_into(">I" if r.random() < 0.5 else "<I", data, r.randrange(n - 3),
                             r.choice([0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, r.getrandbits(32)]))
        elif op == 8:
            data[i : i + 1] = bytes([r.randrange(256)]) * r.randint(1, 8)
        else:
            j = r.randrange(n)
            a, b = sorted((i, j))
            data[a:b] = data[a:b][::-1]
        if len(data) > max_len:
            del data[max_len:]
    return bytes(data)


NAMESPACES = [
    "http://www.w3.org/2003/05/soap-envelope", "http://schemas.xmlsoap.org/soap/envelope/",
    "http://www.onvif.org/ver10/media/wsdl", "http://www.onvif.org/ver20/media/wsdl",
    "http://www.onvif.org/ver10/device/wsdl", "http://www.onvif.org/ver20/ptz/wsdl",
    "http://www.onvif.org/ver10/schema", "", "urn:nope", "x" * 2000,
]


def mutate_xml(text, r):
    """Structure-aware mutations of an XML document (as text)."""
    op = r.choice(
        ["huge_text", "deep", "attrs", "xmlns", "laughs", "xxe", "xxe_param", "wrong_ns", "encoding",
         "cdata", "pi", "values", "dup_body", "unclosed", "prefix", "bytes", "bytes", "truncate",
         "comment", "doctype_only", "nul", "entity_chars"]
    )
    body_at = text.find("Body>")
    if op == "huge_text":
        i = text.rfind("</")
        return text[:i] + "A" * r.choice([1000, 70000, 300000]) + text[i:]
    if op == "deep":
        d = r.choice([64, 500, 5000, 40000])
        i = body_at + 5 if body_at >= 0 else len(text) // 2
        return text[:i] + "<a>" * d + "</a>" * (d if r.random() < 0.8 else d // 2) + text[i:]
    if op == "attrs":
        i = text.find(">", body_at + 5) if body_at >= 0 else text.find(">")
        attrs = " ".join(f'a{k}="{k}"' for k in range(r.choice([100, 5000, 20000])))
        if r.random() < 0.3:
            attrs += ' a1="dup"'
        return text[:i] + " " + attrs + text[i:]
    if op == "xmlns":
        i = text.find(">")
        decls = " ".join(f'xmlns:n{k}="urn:{k}"' for k in range(r.choice([100, 10000])))
        return text[:i] + " " + decls + text[i:]
    prolog_end = text.find("?>") + 2 if text.startswith("<?xml") else 0
    if op == "laughs":
        dtd = '<!DOCTYPE s [<!ENTITY l0 "lol">' + "".join(
            f'<!ENTITY l{k} "{("&l%d;" % (k - 1)) * 10}">' for k in range(1, 10)
        ) + "]>"
        doc = text[:prolog_end] + dtd + text[prolog_end:]
        i = doc.rfind("</")
        return doc[:i] + "&l9;" + doc[i:]
    if op == "xxe":
        target = r.choice(["file:///etc/passwd", "file:///dev/zero", "http://127.0.0.1:1/x", "/proc/self/environ"])
        doc = text[:prolog_end] + f'<!DOCTYPE s [<!ENTITY e SYSTEM "{target}">]>' + text[prolog_end:]
        i = doc.rfind("</")
        return doc[:i] + "&e;" + doc[i:]
    if op == "xxe_param":
        return text[:prolog_end] + '<!DOCTYPE s [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>' + text[prolog_end:]
    if op == "wrong_ns":
        uris = re.findall(r'xmlns(?::\w+)?="([^"]*)"', text)
        if uris:
            return text.replace(r.choice(uris), r.choice(NAMESPACES), 1)
        return text
    if op == "encoding":
        enc = r.choice(["UTF-16", "EBCDIC-US", "ISO-8859-1", "x" * 100, "UTF-32", "UTF-8"])
        bare = text[prolog_end:]
        doc = f'<?xml version="1.0" encoding="{enc}"?>' + bare
        if enc in ("UTF-16", "UTF-32") and r.random() < 0.5:
            return doc.encode(enc.lower())
        return doc
    if op == "cdata":
        i = text.rfind("</")
        return text[:i] + "<![CDATA[" + r.choice(["]]>", "x" * 10000, "<a>", ""]) + "]]>" + text[i:]
    if op == "pi":
        return text[:prolog_end] + "<?" + r.choice(["xml version='2.0'", "x " * 1000, "xml-stylesheet href='file:///etc/passwd'"]) + "?>" + text[prolog_end:]
    if op == "values":
        parts = re.split(r"(>[^<]+<)", text)
        idx = [k for k, p in enumerate(parts) if p.startswith(">")]
        if idx:
            k = r.choice(idx)
            parts[k] = ">" + r.choice(INTERESTING).decode("latin-1") + "<"
        return "".join(parts)
    if op == "dup_body":
        m = re.search(r"<(\w+:)?Body[\s\S]*</(\w+:)?Body>", text)
        if m:
            return text[: m.end()] + m.group(0) * r.choice([2, 50]) + text[m.end() :]
        return text
    if op == "unclosed":
        return text[: text.rfind("</")]
    if op == "prefix":
        return re.sub(r"<(\w+):", lambda m: "<" + r.choice(["zz:", "", "a:b:", m.group(1) + ":"]), text, count=r.randint(1, 3))
    if op == "truncate":
        return text[: r.randrange(max(1, len(text)))]
    if op == "comment":
        return text[:prolog_end] + "<!--" + "-" * r.choice([1, 3, 1000]) + "-->" + text[prolog_end:]
    if op == "doctype_only":
        return '<!DOCTYPE x SYSTEM "http://127.0.0.1:1/x.dtd">' + text[prolog_end:]
    if op == "nul":
        i = r.randrange(max(1, len(text)))
        return text[:i] + "\x00" + text[i:]
    if op == "entity_chars":
        i = text.rfind("</")
        return text[:i] + r.choice(["&#0;", "&#x110000;", "&#xD800;", "&#99999999999;", "&undefined;", "&amp", "&#x;"]) + text[i:]
    return mutate_bytes(text.encode(), r).decode("latin-1")


# ----------------------------------------------------------------------------------------------
# Wire helpers


def connect(port, timeout, src=HOST):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if src != HOST:
        s.bind((src, 0))
    s.connect((HOST, port))
    return s


def read_http(sock, deadline, stream_ok=False, buf=b""):
    """Reads one HTTP (or RTSP) response: (status, headers, body). Stops at its end, or at the
    deadline (`socket.timeout` unless `stream_ok`, for streaming answers such as SSE)."""
    while b"\r\n\r\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("no response head")
        sock.settimeout(left)
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
        # Interleaved RTP in front of an RTSP answer.
        while buf.startswith(b"$") and len(buf) >= 4:
            n = struct.unpack(">H", buf[2:4])[0]
            if len(buf) < 4 + n:
                break
            buf = buf[4 + n :]
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return None, [], buf
    headers = [(k.strip().lower(), v.strip()) for k, _, v in (l.partition(":") for l in lines[1:])]
    h = dict(headers)
    if "content-length" in h:
        try:
            want = int(h["content-length"])
        except ValueError:
            want = 0
        while len(rest) < want:
            left = deadline - time.monotonic()
            if left <= 0:
                if stream_ok:
                    break
                raise socket.timeout("body")
            sock.settimeout(left)
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return status, headers, rest[:want]
    if h.get("transfer-encoding", "").lower() == "chunked" or (status and not lines[0].startswith("RTSP")):
        while not rest.endswith(b"0\r\n\r\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                if stream_ok:
                    break
                raise socket.timeout("body")
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                if stream_ok:
                    break
                raise
            if not chunk:
                break
            rest += chunk
    return status, headers, rest


def http_exchange(port, raw, timeout, src=HOST, stream_ok=False):
    """Sends `raw` on a fresh connection; (status, headers, body, seconds)."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    with connect(port, timeout, src) as s:
        early = send_until_answered(s, raw, deadline)
        status, headers, body = read_http(s, deadline, stream_ok, early)
    return status, headers, body, time.monotonic() - t0


def send_until_answered(sock, data, deadline):
    """Sends `data`, but stops as soon as the server answers: a server may refuse a request
    (too large, unauthorised) without reading all of it. Returns what it answered so far."""
    got = b""
    sock.setblocking(False)
    try:
        while data and time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock], [], max(0.0, deadline - time.monotonic()))
            if readable:
                try:
                    chunk = sock.recv(65536)
                except BlockingIOError:
                    chunk = None
                if chunk == b"":
                    break
                if chunk:
                    got += chunk
                    break
            if writable:
                try:
                    data = data[sock.send(data[:262144]):]
                except BlockingIOError:
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    break  # its answer (if any) is still there to read
    finally:
        sock.setblocking(True)
    return got


def http_request(method, target, headers, body=b""):
    out = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode("utf-8", "surrogateescape")
    for k, v in headers:
        out += f"{k}: {v}\r\n".encode("utf-8", "replace")
    if body is not None and not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in headers):
        out += f"Content-Length: {len(body)}\r\n".encode()
    out += b"\r\n" + (body or b"")
    return out


# ----------------------------------------------------------------------------------------------
# Seeds


SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"


def envelope(body):
    return (f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{SOAP_ENV}">'
            f"<s:Header><!--WSSE--></s:Header><s:Body>{body}</s:Body></s:Envelope>")


TT = 'xmlns:tt="http://www.onvif.org/ver10/schema"'
EXTRA_SOAP = [
    ("ptz", f'<ContinuousMove xmlns="http://www.onvif.org/ver20/ptz/wsdl" {TT}><ProfileToken>main</ProfileToken><Velocity><tt:PanTilt x="0.5" y="-0.2"/><tt:Zoom x="0.1"/></Velocity><Timeout>PT1S</Timeout></ContinuousMove>'),
    ("ptz", f'<AbsoluteMove xmlns="http://www.onvif.org/ver20/ptz/wsdl" {TT}><ProfileToken>main</ProfileToken><Position><tt:PanTilt x="0.1" y="0.1"/><tt:Zoom x="0.5"/></Position><Speed><tt:PanTilt x="1" y="1"/></Speed></AbsoluteMove>'),
    ("ptz", f'<RelativeMove xmlns="http://www.onvif.org/ver20/ptz/wsdl" {TT}><ProfileToken>main</ProfileToken><Translation><tt:PanTilt x="0.5" y="0" space="http://www.onvif.org/ver10/tptz/PanTiltSpaces/TranslationSpaceFov"/></Translation></RelativeMove>'),
    ("ptz", '<Stop xmlns="http://www.onvif.org/ver20/ptz/wsdl"><ProfileToken>main</ProfileToken><PanTilt>true</PanTilt><Zoom>true</Zoom></Stop>'),
    ("ptz", '<SetPreset xmlns="http://www.onvif.org/ver20/ptz/wsdl"><ProfileToken>main</ProfileToken><PresetName>fuzz</PresetName></SetPreset>'),
    ("ptz", '<GotoPreset xmlns="http://www.onvif.org/ver20/ptz/wsdl"><ProfileToken>main</ProfileToken><PresetToken>1</PresetToken></GotoPreset>'),
    ("ptz", '<GetPresets xmlns="http://www.onvif.org/ver20/ptz/wsdl"><ProfileToken>main</ProfileToken></GetPresets>'),
    ("ptz", '<GetNodes xmlns="http://www.onvif.org/ver20/ptz/wsdl"/>'),
    ("events", '<CreatePullPointSubscription xmlns="http://www.onvif.org/ver10/events/wsdl"><InitialTerminationTime>PT60S</InitialTerminationTime></CreatePullPointSubscription>'),
    ("events", '<GetEventProperties xmlns="http://www.onvif.org/ver10/events/wsdl"/>'),
    ("events", '<PullMessages xmlns="http://www.onvif.org/ver10/events/wsdl"><Timeout>PT1S</Timeout><MessageLimit>10</MessageLimit></PullMessages>'),
    ("events", '<Renew xmlns="http://docs.oasis-open.org/wsn/b-2"><TerminationTime>PT120S</TerminationTime></Renew>'),
    ("imaging", '<GetImagingSettings xmlns="http://www.onvif.org/ver20/imaging/wsdl"><VideoSourceToken>video</VideoSourceToken></GetImagingSettings>'),
    ("imaging", f'<SetImagingSettings xmlns="http://www.onvif.org/ver20/imaging/wsdl" {TT}><VideoSourceToken>video</VideoSourceToken><ImagingSettings><tt:Brightness>60</tt:Brightness><tt:IrCutFilter>AUTO</tt:IrCutFilter></ImagingSettings></SetImagingSettings>'),
    ("imaging", '<GetOptions xmlns="http://www.onvif.org/ver20/imaging/wsdl"><VideoSourceToken>video</VideoSourceToken></GetOptions>'),
    ("deviceio", '<GetRelayOutputs xmlns="http://www.onvif.org/ver10/deviceIO/wsdl"/>'),
    ("deviceio", '<SetRelayOutputState xmlns="http://www.onvif.org/ver10/device/wsdl"><RelayOutputToken>ir</RelayOutputToken><LogicalState>active</LogicalState></SetRelayOutputState>'),
    ("deviceio", '<GetAudioOutputs xmlns="http://www.onvif.org/ver10/deviceIO/wsdl"/>'),
    ("media2", '<GetProfiles xmlns="http://www.onvif.org/ver20/media/wsdl"><Type>All</Type></GetProfiles>'),
    ("media2", '<GetStreamUri xmlns="http://www.onvif.org/ver20/media/wsdl"><Protocol>RTSP</Protocol><ProfileToken>main</ProfileToken></GetStreamUri>'),
    ("media2", '<GetAudioOutputConfigurations xmlns="http://www.onvif.org/ver20/media/wsdl"/>'),
    ("media", f'<SetVideoEncoderConfiguration xmlns="http://www.onvif.org/ver10/media/wsdl" {TT}><Configuration token="main"><tt:Name>main</tt:Name><tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>320</tt:Width><tt:Height>240</tt:Height></tt:Resolution><tt:RateControl><tt:FrameRateLimit>15</tt:FrameRateLimit><tt:BitrateLimit>500</tt:BitrateLimit></tt:RateControl></Configuration><ForcePersistence>false</ForcePersistence></SetVideoEncoderConfiguration>'),
    ("media", '<GetAudioClips xmlns="http://www.onvif.org/ver10/media/wsdl"/>'),
    ("device", '<GetCapabilities xmlns="http://www.onvif.org/ver10/device/wsdl"><Category>All</Category></GetCapabilities>'),
    ("device", '<GetScopes xmlns="http://www.onvif.org/ver10/device/wsdl"/>'),
    ("device", '<SetDiscoveryMode xmlns="http://www.onvif.org/ver10/device/wsdl"><DiscoveryMode>Discoverable</DiscoveryMode></SetDiscoveryMode>'),
    ("device", '<GetUsers xmlns="http://www.onvif.org/ver10/device/wsdl"/>'),
    ("device", '<SystemReboot xmlns="http://www.onvif.org/ver10/device/wsdl"/>'),
]
SERVICE_PATH = {
    "device": "/onvif/device_service", "media": "/onvif/media_service", "media2": "/onvif/media2_service",
    "ptz": "/onvif/ptz_service", "imaging": "/onvif/imaging_service", "deviceio": "/onvif/deviceio_service",
    "events": "/onvif/events_service",
}
NS_SERVICE = [
    ("ver20/media", "media2"), ("ver10/media", "media"), ("ver20/ptz", "ptz"), ("ver20/imaging", "imaging"),
    ("deviceIO", "deviceio"), ("events", "events"), ("device/wsdl", "device"),
]
# Accounts must survive the run: a fuzzed request that could change users goes without admin rights.
ACCOUNT_CHANGE = re.compile(rb"(?i)(set|create|delete)users?\b|setsystemfactorydefault")


def soap_seeds():
    seeds = []
    for f in sorted((ROOT / "onvif" / "testdata" / "requests").glob("*/*.xml")):
        text = f.read_text()
        # Real clients' requests, with their (long expired) token replaced by a fresh one.
        text = re.sub(r"<([\w-]+:)?Security[\s\S]*?</([\w-]+:)?Security>", "<!--WSSE-->", text)
        body_ns = re.search(r"Body[^>]*>\s*<[^>]*xmlns(?::\w+)?=\"([^\"]+)\"", text)
        service = "device"
        if body_ns:
            service = next((s for key, s in NS_SERVICE if key in body_ns.group(1)), "device")
        seeds.append((service, text, f.parent.name + "/" + f.name))
    for service, body in EXTRA_SOAP:
        seeds.append((service, envelope(body), "handwritten"))
    return seeds


WHEP_OFFER = (
    "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "a=group:BUNDLE 0 1\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96 102 106 112\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:fUzZ\r\na=ice-pwd:0123456789abcdefghijklmn\r\na=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 8A:1C:2B:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9\r\n"
    "a=setup:actpass\r\na=mid:0\r\na=recvonly\r\na=rtcp-mux\r\na=rtcp-rsize\r\n"
    "a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\n"
    "a=rtpmap:102 H264/90000\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n"
    "a=rtpmap:106 H264/90000\r\na=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n"
    "a=rtpmap:112 H264/90000\r\na=fmtp:112 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f\r\n"
    "a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host generation 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:fUzZ\r\na=ice-pwd:0123456789abcdefghijklmn\r\n"
    "a=fingerprint:sha-256 8A:1C:2B:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9\r\n"
    "a=setup:actpass\r\na=mid:1\r\na=recvonly\r\na=rtcp-mux\r\n"
    "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\na=rtpmap:0 PCMU/8000\r\n"
)
TALK_OFFER = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:tAlK\r\na=ice-pwd:0123456789abcdefghijklmn\r\n"
    "a=fingerprint:sha-256 8A:1C:2B:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9\r\n"
    "a=setup:actpass\r\na=mid:0\r\na=sendonly\r\na=rtcp-mux\r\na=msid:- mic\r\n"
    "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "a=candidate:1 1 udp 2122260223 127.0.0.1 50001 typ host\r\n"
)


def mutate_sdp(text, r):
    lines = text.split("\r\n")
    op = r.choice(["drop", "dup", "value", "bytes", "bytes", "media", "many", "newline", "huge", "pt"])
    if op == "drop" and len(lines) > 2:
        del lines[r.randrange(1, len(lines))]
    elif op == "dup":
        k = r.randrange(len(lines))
        lines[k:k] = [lines[k]] * r.choice([2, 100, 3000])
    elif op == "value":
        k = r.randrange(len(lines))
        key, _, val = lines[k].partition("=")
        parts = val.split(" ")
        parts[r.randrange(len(parts))] = r.choice(INTERESTING).decode("latin-1")
        lines[k] = key + "=" + " ".join(parts)
    elif op == "media":
        lines.append(r.choice(["m=video 9 UDP/TLS/RTP/SAVPF 300", "m=audio 0 RTP/AVP", "m=", "m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "m=video 65536 X 1 2 3"]))
    elif op == "many":
        lines += ["m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=rtpmap:111 opus/48000/2", "a=sendrecv"] * r.choice([10, 200])
    elif op == "newline":
        return text.replace("\r\n", r.choice(["\n", "\r", "\r\n\r\n", "\x00"]))
    elif op == "huge":
        lines.insert(r.randrange(len(lines)), "a=x-" + "A" * r.choice([1000, 70000]))
    elif op == "pt":
        return re.sub(r"rtpmap:\d+", lambda m: "rtpmap:" + r.choice(["-1", "256", "0", "127", "99999999999", ""]), text, count=1)
    else:
        return mutate_bytes(text.encode(), r).decode("latin-1")
    return "\r\n".join(lines)


def make_clip_seeds(out):
    """Short valid files of every upload format, made with ffmpeg (or GStreamer)."""
    out.mkdir(parents=True, exist_ok=True)
    formats = [
        ("wav16k.wav", ["-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le"]),
        ("wav48k-stereo.wav", ["-ar", "48000", "-ac", "2", "-c:a", "pcm_s16le"]),
        ("wav8k-u8.wav", ["-ar", "8000", "-ac", "1", "-c:a", "pcm_u8"]),
        ("float.wav", ["-ar", "22050", "-ac", "1", "-c:a", "pcm_f32le"]),
        ("clip.mp3", ["-ar", "44100", "-ac", "1", "-c:a", "libmp3lame", "-b:a", "64k"]),
        ("vorbis.ogg", ["-ar", "44100", "-ac", "1", "-c:a", "libvorbis"]),
        ("opus.ogg", ["-ar", "48000", "-ac", "1", "-c:a", "libopus"]),
        ("clip.flac", ["-ar", "32000", "-ac", "1", "-c:a", "flac"]),
    ]
    seeds = []
    for name, args in formats:
        path = out / name
        if not path.exists():
            cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                   "sine=frequency=440:duration=0.4"] + args + [str(path)]
            try:
                subprocess.run(cmd, check=True, timeout=30, capture_output=True)
            except (OSError, subprocess.SubprocessError):
                continue
        seeds.append((name, path.read_bytes()))
    if not any(n.endswith(".wav") for n, _ in seeds):
        # Without ffmpeg: a WAV written by hand, so the most common format is still covered.
        pcm = b"".join(struct.pack("<h", int(8000 * ((i // 20) % 2 * 2 - 1))) for i in range(8000))
        hdr = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16)
        seeds.append(("handmade.wav", hdr + b"data" + struct.pack("<I", len(pcm)) + pcm))
    return seeds


def mutate_clip(name, data, r):
    """Mutations in the header, where a demuxer decides what the file is."""
    data = bytearray(data)
    if name.endswith(".wav") and data[:4] == b"RIFF" and r.random() < 0.6:
        fmt = data.find(b"fmt ")
        if fmt >= 0 and r.random() < 0.25:
            # One huge sample rate and nothing else wrong, so the file gets past the first checks.
            struct.pack_into("<I", data, fmt + 12, r.choice([0x7FFFFFFF, 0xFFFFFFFF, 0x40000000, 0x10000000, 0x0FFFFFFF]))
            return bytes(data), "wav-rate"
        if fmt >= 0:
            # fmt chunk: size, format, channels, sample rate, byte rate, block align, bits.
            # The sample rate (fmt + 12) decides buffer sizes downstream: picked most often.
            fields = [(fmt + 4, "<I"), (fmt + 8, "<H"), (fmt + 10, "<H"), (fmt + 12, "<I"), (fmt + 12, "<I"),
                      (fmt + 12, "<I"), (fmt + 16, "<I"), (fmt + 20, "<H"), (fmt + 22, "<H")]
            for _ in range(r.choice([1, 1, 2, 3])):
                at, kind = r.choice(fields)
                big = 0xFFFF if kind == "<H" else 0xFFFFFFFF
                struct.pack_into(kind, data, at, r.choice([0, 1, 2, 3, 7, 255, 256, 65535, 96000, 192000, 1 << 20,
                                                           big, big // 2, big // 2 + 1, r.randrange(big + 1)]) & big)
            if r.random() < 0.3:
                d = data.find(b"data")
                if d >= 0:
                    struct.pack_into("<I", data, d + 4, r.choice([0, 1, 0xFFFFFFFF, 0x7FFFFFFF]))
            return bytes(data), "wav-field"
    head = r.choice([16, 64, 256, 1024])
    mutated = mutate_bytes(bytes(data[:head]), r, max_len=head * 4)
    rest = bytes(data[head:])
    if r.random() < 0.2:
        rest = rest[: r.randrange(len(rest) + 1)]
    return mutated + rest, "header-bytes"


def discovery_seeds():
    seeds = [p.read_text() for p in sorted((ROOT / "onvif" / "testdata" / "discovery").glob("*.xml"))]
    seeds.append(
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><s:Header><a:MessageID>uuid:fuzz-resolve</a:MessageID>'
        "<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To><a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Resolve</a:Action>"
        "</s:Header><s:Body><d:Resolve><a:EndpointReference><a:Address>urn:uuid:00000000-0000-0000-0000-000000000000</a:Address>"
        "</a:EndpointReference></d:Resolve></s:Body></s:Envelope>"
    )
    return seeds


# ----------------------------------------------------------------------------------------------
# Inputs: each is a JSON-able dict (saved as a reproducer) and `execute` performs it; what
# depends on the moment (nonces, session ids, the daemon's ports) is made again at replay.


def enc(b):
    return b64(b if isinstance(b, bytes) else b.encode("utf-8", "surrogateescape"))


def dec(s):
    return base64.b64decode(s)


class Fuzzer:
    def __init__(self, args, daemon, results):
        self.args = args
        self.daemon = daemon
        self.results = results
        self.r = random.Random(args.seed)
        self.digest = HttpDigest()
        self.health_digest = HttpDigest()
        self.cookies = {}
        self.soap = soap_seeds()
        self.clips = make_clip_seeds(results / "seeds")
        self.wsd = discovery_seeds()
        self.last = collections.deque(maxlen=LAST_INPUTS)
        self.counts = collections.Counter()
        self.findings = []  # dicts: kind, target, signature, dir
        self.crashes = collections.Counter()
        self.hangs = collections.Counter()
        self.slow_health = collections.Counter()
        self.slow_inputs = collections.Counter()
        self.unanswered = collections.Counter()  # complete requests with no answer in 10 s
        self.health_checks = 0
        self.log = open(results / "inputs.log", "a", buffering=1)
        self.restarts = 0

    # -- authentication at execution time --------------------------------------------------

    def authorization(self, auth, method, uri):
        if not auth:
            return []
        mode = auth["mode"]
        if mode == "digest":
            return [("Authorization", self.digest.header(self.daemon, method, uri, auth["user"]))]
        if mode == "digest-mutated":
            valid = self.digest.header(self.daemon, method, uri, auth["user"])
            return [("Authorization", mutate_digest(valid, random.Random(auth["seed"])))]
        if mode == "raw":
            return [("Authorization", auth["header"])]
        if mode == "cookie":
            return [("Cookie", f"bm_session={self.cookie(auth['user'])}")]
        if mode == "cookie-mutated":
            return [("Cookie", auth["header"])]
        return []

    def cookie(self, who):
        if who not in self.cookies:
            user, password = USERS[who]
            body = json.dumps({"user": user, "password": password}).encode()
            raw = http_request("POST", "/api/login", [("Content-Type", "application/json"), ("Connection", "close")], body)
            status, headers, _, _ = http_exchange(self.daemon.http_port, raw, 5)
            for k, v in headers:
                if k == "set-cookie" and "=" in v:
                    self.cookies[who] = v.split(";")[0].split("=", 1)[1]
            if who not in self.cookies:
                raise RuntimeError(f"login as {who} answered {status}")
        return self.cookies[who]

    # -- generators ------------------------------------------------------------------------

    def pick_auth(self, allow_cookie=False, who=None):
        r = self.r
        who = who or r.choice(["admin", "operator", "operator", "user"])
        modes = ["digest", "digest", "digest-mutated", "none"]
        if allow_cookie:
            modes += ["cookie", "cookie", "cookie-mutated"]
        mode = r.choice(modes)
        if mode == "none":
            return None
        if mode == "digest-mutated":
            return {"mode": mode, "user": who, "seed": r.getrandbits(32)}
        if mode == "cookie-mutated":
            return {"mode": mode, "header": r.choice([
                "bm_session=", "bm_session=" + "A" * 5000, "bm_session=\x00", "bm_session=../../x",
                "; ; ;=;", "bm_session=a; bm_session=b", "bm_session=" + os.urandom(16).hex()])}
        return {"mode": mode, "user": who}

    def gen_soap(self):
        r = self.r
        service, text, origin = r.choice(self.soap)
        path = SERVICE_PATH[service]
        if r.random() < 0.1:
            path = r.choice(list(SERVICE_PATH.values()) + ["/onvif/", "/onvif/events_service/sub/1", "/onvif/device_service/" + "a" * 2000, "/onvif/%2e%2e/x"])
        who = r.choice(["admin", "operator", "user"])
        auth_kind = r.choice(["wsse", "wsse", "wsse-mutated", "digest", "digest-mutated", "none", "both"])
        wsse = None
        http_auth = None
        if auth_kind in ("wsse", "both"):
            wsse = {"user": who, "mutation": None}
        if auth_kind == "wsse-mutated":
            wsse = {"user": who, "mutation": r.choice(["created", "nonce", "password", "type", "user", "missing", "twice", "bytes"]), "seed": r.getrandbits(32)}
        if auth_kind in ("digest", "both"):
            http_auth = {"mode": "digest", "user": who}
        if auth_kind == "digest-mutated":
            http_auth = {"mode": "digest-mutated", "user": who, "seed": r.getrandbits(32)}
        body = text
        mutation = "none"
        if r.random() < 0.85:
            if r.random() < 0.7:
                mutation = "xml"
                body = mutate_xml(text, r)
            else:
                mutation = "bytes"
                body = mutate_bytes(text.encode(), r).decode("latin-1")
        body_bytes = body if isinstance(body, bytes) else body.encode("utf-8", "surrogateescape")
        if ACCOUNT_CHANGE.search(body_bytes) and who == "admin":
            who = "operator"
            if wsse:
                wsse["user"] = who
            if http_auth:
                http_auth["user"] = who
        ctype = "application/soap+xml; charset=utf-8"
        if r.random() < 0.1:
            ctype = r.choice(["text/xml", "", "application/soap+xml; charset=utf-16", "multipart/related; boundary=x", "a" * 3000])
        return {"target": "soap", "kind": "http", "method": "POST", "path": path,
                "headers": [["Content-Type", ctype], ["Connection", "close"]],
                "body": enc(body_bytes), "auth": http_auth, "wsse": wsse,
                "raw_seed": r.getrandbits(32) if r.random() < 0.1 else None,
                "note": f"{origin} {mutation} auth={auth_kind}"}

    def gen_api(self):
        r = self.r
        json_bodies = {
            "/api/login": [{"user": "operator", "password": USERS["operator"][1]}, {"user": "x", "password": "y"}],
            "/api/ptz/move": [{"pan": 0.5, "tilt": -0.5, "zoom": 0.1, "timeout_ms": 300}],
            "/api/ptz/presets": [{"name": "fuzz"}],
            "/api/night": [{"mode": "auto"}, {"mode": "night"}],
            "/api/simulate/climate": [{"temperature_c": 21.5, "humidity_pct": 45}, {"failing": True}, {"drift": True}],
        }
        routes = [
            ("GET", "/api/session"), ("GET", "/api/status"), ("GET", "/api/events"), ("GET", "/api/history?since=0"),
            ("GET", "/snapshot.jpg?width=160"), ("HEAD", "/snapshot.jpg"), ("GET", "/metrics"), ("GET", "/info"),
            ("GET", "/api/ptz"), ("POST", "/api/ptz/move"), ("POST", "/api/ptz/stop"), ("POST", "/api/ptz/home"),
            ("GET", "/api/ptz/presets"), ("POST", "/api/ptz/presets"), ("POST", "/api/ptz/presets/1/goto"),
            ("DELETE", "/api/ptz/presets/1"), ("GET", "/api/night"), ("POST", "/api/night"),
            ("GET", "/api/audio"), ("POST", "/api/audio/volume?master=50&talk=60&music=40"), ("POST", "/api/audio/stop"),
            ("POST", "/api/audio/timer?seconds=30"), ("GET", "/api/clips"), ("GET", "/api/clips/lullaby"),
            ("POST", "/api/clips/lullaby/play?repeat=1&loop=false&volume=50&timer=5"), ("POST", "/api/clips/x/rename?name=n"),
            ("DELETE", "/api/clips/nothing"), ("POST", "/api/login"), ("POST", "/api/logout"), ("PUT", "/api/simulate/climate"),
            ("GET", "/api/live.ws"), ("DELETE", "/api/whep/nothing"), ("PATCH", "/api/whep/x"), ("GET", "/"), ("GET", "/app.js"),
            ("GET", "/healthz"),
        ]
        method, target = r.choice(routes)
        path = target.split("?")[0]
        body = b""
        if path in json_bodies:
            body = json.dumps(r.choice(json_bodies[path])).encode()
        what = []
        if r.random() < 0.6 and body:
            body = self.mutate_json(body)
            what.append("json")
        if r.random() < 0.4:
            target = self.mutate_query(target)
            what.append("query")
        if r.random() < 0.05:
            method = r.choice(["GET", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "CONNECT", "G\x00T", "A" * 1000, "post"])
            what.append("method")
        headers = [["Content-Type", "application/json"], ["Connection", "close"]]
        if path == "/api/live.ws" and r.random() < 0.7:
            headers += [["Upgrade", "websocket"], ["Connection", "Upgrade"], ["Sec-WebSocket-Version", r.choice(["13", "8", ""])],
                        ["Sec-WebSocket-Key", r.choice(["dGhlIHNhbXBsZSBub25jZQ==", "", "A" * 300])]]
        if r.random() < 0.1:
            headers.append(["X-Babymonitor-Page", "1"])
        if path == "/api/login" and r.random() < 0.7:
            auth = None
        else:
            auth = self.pick_auth(allow_cookie=True)
        if auth and auth.get("user") == "admin" and path == "/api/logout":
            auth["user"] = "user"
        return {"target": "api", "kind": "http", "method": method, "path": target, "headers": headers,
                "body": enc(body), "auth": auth, "raw_seed": r.getrandbits(32) if r.random() < 0.15 else None,
                "stream": path in ("/api/events", "/api/live.ws"), "note": ",".join(what) or "valid"}

    def mutate_json(self, body):
        r = self.r
        op = r.random()
        if op < 0.4:
            try:
                value = json.loads(body)
                key = r.choice(list(value)) if value else "x"
                value[key] = r.choice([None, -1, 1e308, -1e308, 2**64, "x" * 100000, [], {}, True, "NaN", 0.000001, [1] * 10000,
                                       {"a": {"b": {"c": 1}}}, "\u0000", -0.0])
                if r.random() < 0.2:
                    value["unknown_field"] = 1
                return json.dumps(value).encode()
            except (ValueError, AttributeError):
                pass
        if op < 0.5:
            return b"[" * r.choice([100, 10000, 100000]) + b"]" * r.choice([0, 100])
        if op < 0.55:
            return r.choice([b"", b"null", b"{", b'{"a":', b'"str"', b"1e99999", b"\xff\xfe{}", b'{"user":"a","user":"b","password":"c"}'])
        return mutate_bytes(body, r)

    def mutate_query(self, target):
        r = self.r
        path, _, query = target.partition("?")
        pairs = [p.partition("=") for p in query.split("&")] if query else []
        op = r.randrange(6)
        if op == 0 and pairs:
            k = r.randrange(len(pairs))
            pairs[k] = (pairs[k][0], "=", r.choice(["-1", "101", "4294967296", "1e3", "%", "%zz", "%00", "%ff%fe", "+", "", "a" * 5000, "NaN", "0x10", "1.5"]))
        elif op == 1:
            pairs += [("k%d" % i, "=", "v") for i in range(r.choice([10, 2000]))]
        elif op == 2:
            pairs += [(r.choice(["name", "width", "since", "seconds", "master", "repeat", "loop", "timer", "volume"]), "=",
                       r.choice(["", "%", "-5", "999999999999", "\u00e9".encode().hex(), "a" * 300]))]
        elif op == 3 and pairs:
            pairs.append(pairs[0])
        elif op == 4:
            return path + "?" + mutate_bytes(query.encode(), r).decode("latin-1").replace(" ", "%20").replace("\r", "").replace("\n", "")
        else:
            return path + r.choice(["?", "??", "?&&&", "?=", "#frag", "/../../metrics", "%2F..", "/" * 100])
        return path + "?" + "&".join(k + e + v for k, e, v in pairs)

    def gen_whep(self):
        r = self.r
        talk = r.random() < 0.4
        text = TALK_OFFER if talk else WHEP_OFFER
        note = "valid"
        if r.random() < 0.85:
            text = mutate_sdp(text, r)
            note = "sdp"
        ctype = "application/sdp" if r.random() < 0.9 else r.choice(["text/plain", "", "application/sdp; charset=x", "application/json"])
        return {"target": "whep", "kind": "http", "method": "POST", "path": "/api/talk" if talk else "/api/whep",
                "headers": [["Content-Type", ctype], ["Connection", "close"]], "body": enc(text),
                "auth": self.pick_auth(allow_cookie=True, who=r.choice(["admin", "operator", "user"])),
                "raw_seed": None, "cleanup": True, "note": ("talk " if talk else "whep ") + note}

    def gen_clip(self):
        r = self.r
        name, data = r.choice(self.clips)
        mutated, how = mutate_clip(name, data, r)
        if r.random() < 0.1:
            mutated, how = data, "valid"
        clip_name = "fuzz" if r.random() < 0.8 else r.choice(["a" * 300, "../x", "%00", "\u00e9t\u00e9", ""])
        return {"target": "clips", "kind": "clip", "body": enc(mutated), "name": clip_name,
                "ctype": r.choice(["application/octet-stream", "audio/wav", "audio/mpeg", "audio/ogg", "audio/flac", ""]),
                "play": r.random() < 0.8, "who": r.choice(["admin", "operator"]), "note": f"{name} {how}"}

    def gen_discovery(self):
        r = self.r
        text = r.choice(self.wsd)
        data = mutate_xml(text, r) if r.random() < 0.6 else mutate_bytes(text.encode(), r, max_len=65000)
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        return {"target": "discovery", "kind": "udp", "data": enc(data[:65000]), "note": "probe/resolve"}

    def gen_rtsp(self):
        r = self.r
        path = r.choice(["/stream", "/sub", "/stream/", "/stream?x=1", "/nothing"])
        steps = []
        for method in r.sample(["OPTIONS", "DESCRIBE", "GET_PARAMETER", "SETUP", "PLAY", "SET_PARAMETER", "TEARDOWN", "PAUSE", "ANNOUNCE", "RECORD"], r.randint(1, 3)):
            headers = [["User-Agent", "fuzz"]]
            if method == "DESCRIBE":
                headers.append(["Accept", "application/sdp"])
            if r.random() < 0.5:
                headers.append(["Require", r.choice(["www.onvif.org/ver20/backchannel", "www.onvif.org/ver20/backchannel, x", "", "a" * 3000])])
            if method == "SETUP":
                headers.append(["Transport", r.choice(["RTP/AVP/TCP;unicast;interleaved=0-1", "RTP/AVP;unicast;client_port=0-1",
                                                        "RTP/AVP;multicast", "RTP/AVP/TCP;unicast;interleaved=255-256", "RTP/AVP;unicast;client_port=65535-65536",
                                                        "", "RTP/AVP/TCP;interleaved=4-5,RTP/AVP;unicast;client_port=1-2", "x;" * 500])])
                path_s = r.choice([path + "/stream=0", path + "/stream=1", path + "/stream=2", path + "/stream=99", path])
            else:
                path_s = path
            if method in ("GET_PARAMETER", "SET_PARAMETER", "ANNOUNCE"):
                body = r.choice(["", "packets_received\r\njitter\r\n", "a: b\r\n" * 100])
            else:
                body = ""
            if r.random() < 0.3:
                headers.append(["Session", r.choice(["12345678", "", "A" * 1000, "x;timeout=-1"])])
            if r.random() < 0.2:
                headers.append(["Range", r.choice(["npt=0-", "npt=-1-", "clock=x", "smpte=99:99:99"])])
            steps.append({"method": method, "uri": path_s, "headers": headers, "body": body,
                          "auth": r.choice(["digest", "digest", "mutated", "none"]), "auth_seed": r.getrandbits(32),
                          "who": r.choice(["admin", "operator", "user"]),
                          "raw_seed": r.getrandbits(32) if r.random() < 0.5 else None})
        return {"target": "rtsp", "kind": "rtsp", "steps": steps, "note": " ".join(s["method"] for s in steps)}

    def gen_rtp(self):
        r = self.r
        frames = []
        ssrc = r.getrandbits(32)
        seq = r.getrandbits(16)
        ts = r.getrandbits(32)
        # "talk": well-formed talk-back on the backchannel (channel 4) whose sender misbehaves
        # (new SSRCs, jumps, odd payload types); "mixed": every channel and broken framing, which
        # makes the server drop the connection early, as it should.
        style = r.choice(["talk", "talk", "mixed"])
        odd = 0.01 if style == "talk" else 0.1
        for _ in range(r.choice([20, 60, 200])):
            if style == "talk":
                channel = 4 if r.random() < 0.9 else r.choice([0, 1, 2, 3, 5])
            else:
                channel = r.choice([0, 1, 2, 3, 4, 4, 4, 5, 5, r.randrange(256)])
            if r.random() < 0.15:
                ssrc = r.getrandbits(32)  # a sender that changes its SSRC mid-stream
            seq = (seq + r.choice([1, 1, 1, 0, 2, 1000, 65535])) & 0xFFFF
            ts = (ts + r.choice([160, 960, 0, 2**31])) & 0xFFFFFFFF
            pt = "offered" if r.random() > odd * 3 else r.randrange(128)
            payload = os.urandom(r.choice([0, 1, 20, 160, 960, 1400]))
            if channel % 2 == 1 and r.random() < 0.7:
                pkt = self.rtcp(r, ssrc)
            else:
                pkt = {"v": 0x80 | (r.random() < odd) << 5 | (r.random() < odd) << 4 | (r.randrange(16) if r.random() < odd else 0),
                       "pt": pt, "marker": r.random() < 0.1, "seq": seq, "ts": ts, "ssrc": ssrc, "payload": enc(payload)}
                if r.random() < odd * 3:
                    pkt["mutate"] = r.getrandbits(32)
            lie = None if r.random() > odd else r.choice([0, 1, 65535])
            frames.append({"channel": channel, "packet": pkt, "length_lie": lie})
        return {"target": "rtp", "kind": "rtp", "path": r.choice(["/stream", "/sub"]), "frames": frames,
                "who": r.choice(["admin", "operator"]), "after": r.choice(["teardown", "close", "get_parameter"]),
                "pace": style == "talk", "note": f"{style} {len(frames)} frames"}

    def rtcp(self, r, ssrc):
        kind = r.choice(["rr", "sr", "bye", "app", "junk"])
        if kind == "rr":
            data = struct.pack(">BBHI", 0x81, 201, 7, ssrc) + struct.pack(">IIIIII", r.getrandbits(32), 0, 0, 0, 0, 0)
        elif kind == "sr":
            data = struct.pack(">BBHIIIIII", 0x80, 200, 6, ssrc, 0, 0, 0, 0, 0)
        elif kind == "bye":
            data = struct.pack(">BBHI", 0x81, 203, r.choice([1, 0, 200]), ssrc)
        elif kind == "app":
            data = struct.pack(">BBHI4s", 0x80, 204, r.choice([2, 65535]), ssrc, b"fuzz")
        else:
            data = os.urandom(r.choice([0, 4, 8, 64]))
        return {"raw": enc(mutate_bytes(data, r) if r.random() < 0.4 else data)}

    def gen_slow(self):
        r = self.r
        mode = r.choice(["one_byte", "one_byte", "slowloris", "partial_body", "half_head", "reset"])
        port = r.choice(["http", "rtsp"])
        if mode == "one_byte":
            return {"target": "slow", "kind": "flood", "port": port, "count": r.choice([300, 1200, 2000]),
                    # The first bytes of a request, which a server waits to see more of, and others.
                    "data": enc(bytes([r.choice([ord("G"), ord("G"), ord("P"), ord("O"), ord("D"), ord("$"), 0, r.randrange(256)])])),
                    "rst": r.random() < 0.3, "note": f"{mode} {port}"}
        if mode == "reset":
            return {"target": "slow", "kind": "flood", "port": port, "count": r.choice([100, 500]),
                    "data": enc(b"GET / HTTP/1.1\r\nHost: x\r\n" if port == "http" else b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n"),
                    "rst": True, "note": f"{mode} {port}"}
        return {"target": "slow", "kind": "slow", "port": port, "mode": mode, "conns": r.choice([20, 60, 200]),
                "seconds": r.choice([2, 4]), "note": f"{mode} {port}"}

    # -- execution -------------------------------------------------------------------------

    def execute(self, inp):
        kind = inp["kind"]
        if kind == "http":
            return self.exec_http(inp)
        if kind == "clip":
            return self.exec_clip(inp)
        if kind == "udp":
            return self.exec_udp(inp)
        if kind == "rtsp":
            return self.exec_rtsp(inp)
        if kind == "rtp":
            return self.exec_rtp(inp)
        if kind == "flood":
            return self.exec_flood(inp)
        if kind == "slow":
            return self.exec_slow(inp)
        raise ValueError(kind)

    def exec_http(self, inp):
        body = dec(inp["body"])
        wsse = inp.get("wsse")
        if wsse is not None and b"<!--WSSE-->" in body:
            token = wsse_token(wsse["user"], wsse.get("mutation"), random.Random(wsse.get("seed", 0)))
            body = body.replace(b"<!--WSSE-->", token.encode("utf-8", "surrogateescape"), 1)
        headers = [tuple(h) for h in inp["headers"]]
        headers += self.authorization(inp.get("auth"), inp["method"], inp["path"])
        raw = http_request(inp["method"], inp["path"], headers, body)
        if inp.get("raw_seed") is not None:
            raw = mutate_bytes(raw, random.Random(inp["raw_seed"]), max_len=400_000)
        # A byte-mutated request may be incomplete: the server then waits for the rest, as it should.
        timeout = 1.0 if inp.get("stream") or inp.get("raw_seed") is not None else 10.0
        status, rheaders, _, secs = http_exchange(self.daemon.http_port, raw, timeout, stream_ok=bool(inp.get("stream")))
        if inp.get("cleanup") and status == 201:
            loc = dict(rheaders).get("location")
            if loc:
                path = loc.split("127.0.0.1", 1)[-1] if loc.startswith("http") else loc
                hdrs = [("Connection", "close")] + self.authorization({"mode": "digest", "user": "admin"}, "DELETE", path)
                http_exchange(self.daemon.http_port, http_request("DELETE", path, hdrs, b""), 5.0)
        return status, secs

    def exec_clip(self, inp):
        from urllib.parse import quote
        body = dec(inp["body"])
        target = "/api/clips?name=" + quote(inp["name"])
        headers = [("Content-Type", inp["ctype"]), ("Connection", "close")]
        headers += self.authorization({"mode": "digest", "user": inp["who"]}, "POST", target)
        status, _, rbody, secs = http_exchange(self.daemon.http_port, http_request("POST", target, headers, body), 10.0)
        token = None
        try:
            token = json.loads(rbody).get("token")
        except (ValueError, AttributeError):
            pass
        if token:
            for method, path in ([("POST", f"/api/clips/{token}/play?volume=1")] if inp["play"] else []) + [("DELETE", f"/api/clips/{token}")]:
                if method == "DELETE" and inp["play"]:
                    time.sleep(0.3)  # let the decoder read into the file
                hdrs = [("Connection", "close")] + self.authorization({"mode": "digest", "user": inp["who"]}, method, path)
                http_exchange(self.daemon.http_port, http_request(method, path, hdrs, b""), 10.0)
        return status, secs

    def exec_udp(self, inp):
        t0 = time.monotonic()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.05)
            s.sendto(dec(inp["data"]), (HOST, 3702))
            try:
                s.recv(65536)
                status = "reply"
            except OSError:
                status = "none"
        return status, time.monotonic() - t0

    def rtsp_auth(self, step, challenge, uri):
        if step["auth"] == "none" or challenge is None:
            return None
        user, password = USERS[step["who"]]
        c = challenge
        ha1 = md5(f"{user}:{c.get('realm', '')}:{password}")
        ha2 = md5(f"{step['method']}:{uri}")
        realm, nonce = c.get("realm", ""), c.get("nonce", "")
        response = md5(f"{ha1}:{nonce}:{ha2}")
        valid = f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", response="{response}"'
        if step["auth"] == "mutated":
            return mutate_digest(valid, random.Random(step["auth_seed"]))
        return valid

    def rtsp_request(self, sock, cseq, step, challenge, base, session=None, extra=()):
        uri = base + step["uri"]
        lines = [f"{step['method']} {uri} RTSP/1.0", f"CSeq: {cseq}"]
        lines += [f"{k}: {v}" for k, v in step["headers"]] + [f"{k}: {v}" for k, v in extra]
        if session:
            lines.append(f"Session: {session}")
        auth = self.rtsp_auth(step, challenge, uri)
        if auth:
            lines.append(f"Authorization: {auth}")
        body = step.get("body", "").encode()
        if body:
            lines.append(f"Content-Length: {len(body)}")
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "replace") + body
        if step.get("raw_seed") is not None:
            raw = mutate_bytes(raw, random.Random(step["raw_seed"]))
        deadline = time.monotonic() + (1 if step.get("raw_seed") is not None else 10)
        return read_http(sock, deadline, buf=send_until_answered(sock, raw, deadline))

    def rtsp_challenge(self, sock, base, path):
        """The per-connection Digest challenge (the RTSP server keeps its nonces per client)."""
        sock.sendall(f"DESCRIBE {base}{path} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n".encode())
        status, headers, _ = read_http(sock, time.monotonic() + 10)
        for k, v in headers:
            if k == "www-authenticate" and v.lower().startswith("digest"):
                return parse_challenge(v[7:])
        return None

    def exec_rtsp(self, inp):
        t0 = time.monotonic()
        base = f"rtsp://127.0.0.1:{self.daemon.rtsp_port}"
        status = None
        with connect(self.daemon.rtsp_port, 10) as s:
            challenge = self.rtsp_challenge(s, base, "/stream")
            for i, step in enumerate(inp["steps"]):
                try:
                    status, _, _ = self.rtsp_request(s, i + 2, step, challenge, base)
                except (ConnectionError, socket.timeout, OSError) as e:
                    status = type(e).__name__
                    break
        return status, time.monotonic() - t0

    def exec_rtp(self, inp):
        """A real DESCRIBE (with the backchannel), SETUP of every stream over TCP, PLAY, then
        interleaved frames with mutated RTP and RTCP on every channel."""
        t0 = time.monotonic()
        base = f"rtsp://127.0.0.1:{self.daemon.rtsp_port}"
        url = base + inp["path"]
        require = ["Require", "www.onvif.org/ver20/backchannel"]
        with connect(self.daemon.rtsp_port, 10) as s:
            challenge = self.rtsp_challenge(s, base, inp["path"])
            mk = lambda method, uri, headers: {"method": method, "uri": uri, "headers": headers, "auth": "digest", "who": inp["who"]}
            status, _, sdp = self.rtsp_request(s, 2, mk("DESCRIBE", inp["path"], [["Accept", "application/sdp"], require]), challenge, base)
            if status != 200:
                return f"describe {status}", time.monotonic() - t0
            sdp = sdp.decode("latin-1")
            controls, offered = [], {}
            for k, section in enumerate(sdp.split("\nm=")[1:]):
                ctl = re.search(r"a=control:(\S+)", section)
                c = ctl.group(1) if ctl else ""
                c = c if c.startswith("rtsp://") else url + "/" + c
                if c not in controls:
                    controls.append(c)
                pts = [int(p) for p in re.findall(r"a=rtpmap:(\d+)", section)]
                offered.setdefault(controls.index(c), []).extend(pts)
            session = None
            for i, c in enumerate(controls):
                headers = [["Transport", f"RTP/AVP/TCP;unicast;interleaved={2 * i}-{2 * i + 1}"], require]
                status, h, _ = self.rtsp_request(s, 3 + i, mk("SETUP", c[len(base):], headers), challenge, base, session)
                if status != 200:
                    return f"setup {status}", time.monotonic() - t0
                session = dict(h).get("session", "").split(";")[0]
            status, _, _ = self.rtsp_request(s, 10, mk("PLAY", inp["path"], [require]), challenge, base, session)
            if status != 200:
                return f"play {status}", time.monotonic() - t0
            s.setblocking(False)
            for f in inp["frames"]:
                pkt = f["packet"]
                if "raw" in pkt:
                    data = dec(pkt["raw"])
                else:
                    pts = offered.get(f["channel"] // 2) or [0]
                    pt = pts[hash(pkt["seq"]) % len(pts)] if pkt["pt"] == "offered" else pkt["pt"]
                    data = struct.pack(">BBHII", pkt["v"], (pkt["marker"] << 7) | (pt & 0x7F), pkt["seq"], pkt["ts"], pkt["ssrc"]) + dec(pkt["payload"])
                    if pkt.get("mutate") is not None:
                        data = mutate_bytes(data, random.Random(pkt["mutate"]), max_len=65535)
                length = len(data) if f["length_lie"] is None else f["length_lie"]
                frame = b"$" + bytes([f["channel"] & 0xFF]) + struct.pack(">H", min(length, 65535)) + data[:65535]
                self.send_draining(s, frame)
                if inp.get("pace"):
                    time.sleep(0.005)
            self.send_draining(s, b"", linger=0.3)
            s.setblocking(True)
            s.settimeout(5)
            if inp["after"] == "teardown":
                s.sendall(f"TEARDOWN {url} RTSP/1.0\r\nCSeq: 20\r\nSession: {session}\r\n"
                          f"Authorization: {self.rtsp_auth(mk('TEARDOWN', inp['path'], []), challenge, url)}\r\n\r\n".encode())
            elif inp["after"] == "get_parameter":
                s.sendall(f"GET_PARAMETER {url} RTSP/1.0\r\nCSeq: 20\r\nSession: {session}\r\n"
                          f"Authorization: {self.rtsp_auth(mk('GET_PARAMETER', inp['path'], []), challenge, url)}\r\n\r\n".encode())
        return "played", time.monotonic() - t0

    @staticmethod
    def send_draining(sock, data, linger=0.0):
        """Writes while reading what the server streams, so neither side's buffers fill."""
        deadline = time.monotonic() + max(linger, 5.0 if data else linger)
        while True:
            try:
                while True:
                    if not sock.recv(262144):
                        raise ConnectionResetError("server closed")
            except BlockingIOError:
                pass
            if not data:
                if time.monotonic() >= deadline or linger == 0:
                    return
                time.sleep(0.02)
                continue
            try:
                n = sock.send(data)
                data = data[n:]
            except BlockingIOError:
                select.select([sock], [sock], [], 0.05)
            if time.monotonic() > deadline:
                raise socket.timeout("server stopped reading")

    def exec_flood(self, inp):
        """`count` connections, one after the other, each sending `data` then closing (or
        resetting): what a port scanner or a broken client does."""
        t0 = time.monotonic()
        data = dec(inp["data"])
        port = self.daemon.port(inp["port"])
        failed = done = 0
        # Bounded in time too: a server that accepts slowly makes each connect wait for a retry.
        end = t0 + FLOOD_SECONDS
        while done < inp["count"] and time.monotonic() < end:
            done += 1
            try:
                s = socket.socket()
                s.settimeout(1)
                s.connect((HOST, port))
                s.send(data)
                if inp["rst"]:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
            except OSError:
                failed += 1
                s.close()
        secs = time.monotonic() - t0
        return f"{done} in {secs:.1f} s ({done / secs:.0f}/s), {failed} failed", secs

    def exec_slow(self, inp):
        """Many connections that trickle a request (slowloris) or never finish their body."""
        t0 = time.monotonic()
        port = self.daemon.port(inp["port"])
        r = random.Random(inp["conns"] * 7919 + inp["seconds"])
        socks = []
        for _ in range(inp["conns"]):
            if time.monotonic() - t0 > 5:
                break  # a server that accepts slowly: enough connections open
            try:
                socks.append(connect(port, 1))
            except OSError:
                break
        if inp["port"] == "http":
            head = b"POST /onvif/device_service HTTP/1.1\r\nHost: x\r\nContent-Type: application/soap+xml\r\nContent-Length: 100000\r\n"
        else:
            head = b"DESCRIBE rtsp://127.0.0.1/stream RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 100000\r\n"
        if inp["mode"] == "partial_body":
            head += b"\r\n<s:Envelope"
        elif inp["mode"] == "half_head":
            head = head[: len(head) // 2]
        sent = [0] * len(socks)
        end = time.monotonic() + inp["seconds"]
        while time.monotonic() < end:
            for i, s in enumerate(socks):
                if s is None:
                    continue
                try:
                    if inp["mode"] == "slowloris":
                        chunk = head[sent[i] : sent[i] + 1] or f"X-{r.randrange(10**6)}: {'a' * 10}\r\n".encode()
                    else:
                        chunk = head[sent[i] :] or b"x"
                    s.send(chunk)
                    sent[i] += len(chunk)
                except OSError:
                    s.close()
                    socks[i] = None
            time.sleep(0.25)
        alive = sum(1 for s in socks if s is not None)
        for s in socks:
            if s is not None:
                s.close()
        return f"{alive}/{len(socks)} still open", time.monotonic() - t0

    # -- health ---------------------------------------------------------------------------

    def health(self):
        """(problem or None, {probe: seconds}). Each probe has its own deadline."""
        self.health_checks += 1
        times = {}
        d = self.daemon
        probes = [("healthz", self.probe_healthz), ("GetProfiles", self.probe_onvif), ("DESCRIBE", self.probe_rtsp)]
        for name, probe in probes:
            t0 = time.monotonic()
            try:
                ok, detail = probe()
            except socket.timeout:
                return ("hang", f"{name} did not answer within {HEALTH_DEADLINE:.0f} s"), times
            except OSError as e:
                ok, detail = False, f"{type(e).__name__}: {e}"
            times[name] = time.monotonic() - t0
            if times[name] > SLOW:
                self.slow_health[name] += 1
            if not d.alive():
                return ("crash", None), times
            if not ok:
                return ("unhealthy", f"{name}: {detail}"), times
        return None, times

    def probe_healthz(self):
        status, _, body, _ = http_exchange(self.daemon.http_port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                           HEALTH_DEADLINE, src=HEALTH_SRC)
        return status == 200, f"status {status}"

    def probe_onvif(self):
        body = envelope('<GetProfiles xmlns="http://www.onvif.org/ver10/media/wsdl"/>').replace("<!--WSSE-->", "").encode()
        path = "/onvif/media_service"
        deadline = time.monotonic() + HEALTH_DEADLINE
        self.health_digest.challenge = None  # a fresh nonce: the probe must not depend on state
        self.health_digest.refresh(self.daemon, src=HEALTH_SRC)
        auth = self.health_digest.header(self.daemon, "POST", path, "health", src=HEALTH_SRC)
        raw = http_request("POST", path, [("Content-Type", "application/soap+xml"), ("Authorization", auth), ("Connection", "close")], body)
        status, _, rbody, _ = http_exchange(self.daemon.http_port, raw, max(0.1, deadline - time.monotonic()), src=HEALTH_SRC)
        return status == 200 and b"Profiles" in rbody, f"status {status}"

    def probe_rtsp(self):
        base = f"rtsp://127.0.0.1:{self.daemon.rtsp_port}"
        with connect(self.daemon.rtsp_port, HEALTH_DEADLINE, src=HEALTH_SRC) as s:
            challenge = self.rtsp_challenge(s, base, "/stream")
            if challenge is None:
                return False, "no challenge"
            step = {"method": "DESCRIBE", "uri": "/stream", "headers": [["Accept", "application/sdp"]], "auth": "digest", "who": "health"}
            status, _, body = self.rtsp_request(s, 2, step, challenge, base)
        return status == 200 and b"m=video" in body, f"status {status}"

    # -- findings --------------------------------------------------------------------------

    def record(self, kind, detail):
        """Saves a crash or hang: stderr tail, last inputs, and what happened."""
        n = len(self.findings) + 1
        last = list(self.last)
        target = last[-1]["target"] if last else "-"
        tail = self.daemon.stderr_tail(80)
        sig = signature(kind, self.daemon.proc.returncode if kind == "crash" else None, tail, detail)
        (self.crashes if kind == "crash" else self.hangs)[target] += 1
        seen = sum(1 for x in self.findings if x["signature"] == sig)
        if seen >= KEEP_PER_SIGNATURE:
            self.findings.append({"kind": kind, "target": target, "signature": sig, "dir": "(not kept: seen before)", "detail": detail})
            print(f"fuzz: {kind} #{n} after a {target} input: {sig} (seen {seen + 1} times)", flush=True)
            return
        out = self.results / f"{n:02d}-{kind}-{target}"
        out.mkdir(parents=True, exist_ok=True)
        if kind == "hang":
            rss, fds = self.daemon.stats()
            detail = f"{detail} (daemon alive, RSS {rss} KiB, {fds} fds)"
        (out / "stderr-tail.txt").write_text(tail + "\n")
        (out / "inputs.json").write_text(json.dumps(last, indent=1))
        for k, inp in enumerate(last):
            blob = inp.get("body") or inp.get("data")
            if blob:
                (out / f"input-{k:02d}-{inp['target']}.bin").write_bytes(dec(blob))
        (out / "README.txt").write_text(
            f"{kind}: {detail or ''}\nexit: {self.daemon.proc.returncode}\nsignature: {sig}\n"
            f"last input: {last[-1]['target'] if last else '-'} {last[-1].get('note', '') if last else ''}\n"
            f"replay: bench/fuzz-net.sh --replay {out}\n"
        )
        self.findings.append({"kind": kind, "target": target, "signature": sig, "dir": str(out), "detail": detail})
        print(f"fuzz: {kind} #{n} after a {target} input: {sig}\n      saved in {out}", flush=True)

    def restart(self):
        self.end_stats_of_instance = self.daemon.stats() if self.daemon.alive() else (None, None)
        self.daemon.kill()
        self.restarts += 1
        self.cookies.clear()
        self.digest.challenge = None
        self.last.clear()  # a case holds what one daemon was sent, from its start
        self.daemon.start()

    # -- the campaign ----------------------------------------------------------------------

    def run(self, minutes, targets, health_every):
        gens = {"soap": self.gen_soap, "rtsp": self.gen_rtsp, "rtp": self.gen_rtp, "api": self.gen_api,
                "whep": self.gen_whep, "clips": self.gen_clip, "discovery": self.gen_discovery, "slow": self.gen_slow}
        # Weights: cheap inputs more often; the heavy ones (sessions, floods) less.
        weight = {"soap": 30, "api": 25, "rtsp": 12, "rtp": 3, "whep": 2, "clips": 6, "discovery": 12, "slow": 1}
        pool = [t for t in targets for _ in range(weight[t])]
        end = time.monotonic() + minutes * 60
        since_health = 0
        last_health = time.monotonic()
        last_report = time.monotonic()
        while time.monotonic() < end:
            target = self.r.choice(pool)
            inp = gens[target]()
            self.last.append(inp)
            self.counts[target] += 1
            since_health += 1
            t0 = time.monotonic()
            try:
                status, secs = self.execute(inp)
                # An answer that came, late (no answer to an incomplete request is no bug).
                if secs > SLOW and isinstance(status, int) and target in SLOW_COUNTED:
                    self.slow_inputs[target] += 1
            except (OSError, socket.timeout, ValueError, RuntimeError) as e:
                status = inp["error"] = f"{type(e).__name__}: {e}"
                if isinstance(e, socket.timeout) and target in SLOW_COUNTED and inp.get("raw_seed") is None \
                        and not inp.get("stream"):
                    self.unanswered[target] += 1
            self.log.write(f"{time.monotonic() - t0:6.2f}s {target:<9} {str(status)[:40]:<40} {inp.get('note', '')[:80]}\n")
            if not self.daemon.alive():
                self.record("crash", None)
                self.restart()
                since_health = 0
                continue
            heavy = target in ("slow", "rtp")
            if since_health >= health_every or heavy or time.monotonic() - last_health > 20:
                since_health = 0
                last_health = time.monotonic()
                self.check_health()
            if time.monotonic() - last_report > 30:
                last_report = time.monotonic()
                print(f"fuzz: {sum(self.counts.values())} inputs, {len(self.findings)} findings, "
                      f"{int(end - time.monotonic())} s left", flush=True)
        self.check_health()

    def check_health(self):
        problem, _ = self.health()
        if problem and problem[0] == "unhealthy":
            # One more chance: a burst of refused logins or a restart of the pipelines is not a bug.
            time.sleep(2)
            problem, _ = self.health()
            if problem and problem[0] == "unhealthy":
                problem = ("hang", "not serving: " + problem[1])
        if problem is None:
            return
        kind, detail = problem
        if kind == "crash" or not self.daemon.alive():
            self.record("crash", detail)
        else:
            self.record("hang", detail)
        self.restart()

    def replay(self, case):
        inputs = json.loads((case / "inputs.json").read_text())
        print(f"replay: {len(inputs)} inputs from {case}", flush=True)
        for k, inp in enumerate(inputs):
            try:
                status, secs = self.execute(inp)
                print(f"  {k:02d} {inp['target']:<9} {inp.get('note', '')[:60]:<60} -> {status} ({secs:.2f} s)", flush=True)
            except (OSError, socket.timeout, ValueError, RuntimeError) as e:
                print(f"  {k:02d} {inp['target']:<9} {inp.get('note', '')[:60]:<60} -> {type(e).__name__}: {e}", flush=True)
            if not self.daemon.alive():
                print(f"replay: the daemon died (exit {self.daemon.proc.returncode}) after input {k}\n"
                      f"{self.daemon.stderr_tail(30)}", flush=True)
                return 1
        time.sleep(1)
        problem, times = self.health()
        if problem or not self.daemon.alive():
            print(f"replay: unhealthy afterwards: {problem}\n{self.daemon.stderr_tail(30)}", flush=True)
            return 1
        print("replay: the daemon survived and answers its health checks", flush=True)
        return 0


def signature(kind, returncode, tail, detail):
    """A short line that tells one bug from another: the signal and the first telling log line."""
    patterns = [r"ERROR:[^\n]+", r"panicked at [^\n]+", r"\*\*[^\n]*(ERROR|CRITICAL)[^\n]+", r"GLib[^\n]*(ERROR|CRITICAL)[^\n]+",
                r"(?i)too many open files[^\n]*", r"(?i)assertion[^\n]+", r"(?i)abort[^\n]*", r"(?i)segmentation[^\n]*",
                r"ERROR[^\n]+"]
    clue = ""
    for p in patterns:
        m = re.search(p, tail)
        if m:
            clue = re.sub(r"\d+:\d+:\d+\.\d+: ", "", m.group(0))  # GLib's time stamp
            clue = re.sub(r"0x[0-9a-f]+|\d{2,}", "N", clue)[:140]
            break
    if kind == "crash":
        how = f"signal {-returncode}" if returncode is not None and returncode < 0 else f"exit {returncode}"
        return f"{how}: {clue or 'no message'}"
    return f"{detail}" + (f" ({clue})" if clue else "")


def summary(f, started, ended, targets, discovery, fd_limit, minutes, seed):
    lines = []
    lines.append(f"Network fuzz campaign: {minutes:g} min, seed {seed}, targets {','.join(targets)}, "
                 f"discovery {'on (network namespace)' if discovery else 'off'}, daemon fd limit {fd_limit}, "
                 f"{f.health_checks} health checks, {f.restarts} restarts.")
    lines.append("")
    lines.append("| target | inputs | crashes | hangs | slow answers (> 1 s) | no answer (10 s) |")
    lines.append("|---|---:|---:|---:|---:|---:|")
    timed = lambda c, t: c[t] if t in SLOW_COUNTED else "-"
    for t in targets:
        lines.append(f"| {t} | {f.counts[t]} | {f.crashes[t]} | {f.hangs[t]} | {timed(f.slow_inputs, t)} | {timed(f.unanswered, t)} |")
    lines.append(f"| **all** | {sum(f.counts.values())} | {sum(f.crashes.values())} | {sum(f.hangs.values())} | "
                 f"{sum(f.slow_inputs.values())} | {sum(f.unanswered.values())} |")
    lines.append("")
    lines.append("| health probe | slow answers (> 1 s) |")
    lines.append("|---|---:|")
    for p in ("healthz", "GetProfiles", "DESCRIBE"):
        lines.append(f"| {p} | {f.slow_health[p]} |")
    lines.append("")
    fmt = lambda s: f"{s[0] / 1024:.0f} MiB, {s[1]} fds" if s and s[0] is not None else "n/a"
    lines.append("| daemon | RSS, open fds |")
    lines.append("|---|---|")
    lines.append(f"| at start | {fmt(started)} |")
    lines.append(f"| at end | {fmt(ended)} |")
    if f.findings:
        lines.append("")
        lines.append("| # | kind | after a ... input | signature | reproducer |")
        lines.append("|---|---|---|---|---|")
        for k, x in enumerate(f.findings, 1):
            lines.append(f"| {k} | {x['kind']} | {x['target']} | {x['signature'].replace('|', '/')} | `{x['dir']}` |")
        distinct = collections.Counter((x["kind"], x["signature"]) for x in f.findings)
        lines.append("")
        lines.append(f"{len(distinct)} distinct finding(s):")
        for (kind, sig), n in distinct.most_common():
            lines.append(f"- {kind} x{n}: {sig}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--target", default=",".join(TARGETS), help="comma-separated: " + ",".join(TARGETS))
    ap.add_argument("--results", required=True)
    ap.add_argument("--discovery", action="store_true", help="WS-Discovery on (only inside a network namespace)")
    ap.add_argument("--health-every", type=int, default=300)
    ap.add_argument("--fd-limit", type=int, default=1024)
    ap.add_argument("--replay", default=None, help="a saved case directory: send its inputs again")
    args = ap.parse_args()
    if args.seed is None:
        args.seed = random.randrange(2**31)
    targets = [t.strip() for t in args.target.split(",") if t.strip()]
    unknown = set(targets) - set(TARGETS)
    if unknown:
        ap.error(f"unknown targets: {', '.join(sorted(unknown))}")
    if "discovery" in targets and not args.discovery:
        print("fuzz: discovery is off (not in a network namespace): the discovery target still sends "
              "unicast datagrams to 127.0.0.1:3702, nobody listens", flush=True)
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bmfuzz-"))
    daemon = Daemon(args.bin, work, args.discovery, args.fd_limit)
    def interrupted(*_):
        raise KeyboardInterrupt

    # SIGTERM (fuzz-net.sh's cleanup, `timeout`) ends the run early, with its summary.
    signal.signal(signal.SIGTERM, interrupted)
    try:
        daemon.start()
        fuzzer = Fuzzer(args, daemon, results)
        if args.replay:
            return fuzzer.replay(Path(args.replay))
        started = daemon.start_stats
        print(f"fuzz: seed {args.seed}, {args.minutes:g} min, targets {','.join(targets)}, results in {results}", flush=True)
        try:
            fuzzer.run(args.minutes, targets, args.health_every)
        except KeyboardInterrupt:
            print("fuzz: interrupted", flush=True)
        ended = daemon.stats() if daemon.alive() else (None, None)
        text = summary(fuzzer, started, ended, targets, args.discovery, args.fd_limit, args.minutes, args.seed)
        (results / "summary.md").write_text(text + "\n")
        print("\n" + text, flush=True)
        return 1 if fuzzer.findings else 0
    finally:
        daemon.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
