"""Starts the real babymonitor daemon for the Python tests (ONVIF clients as NVRs use them)."""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ADMIN = ("admin", "admin pass 1")
VIEWER = ("viewer", "viewer-pass-2")


def binary() -> str:
    return os.environ.get("BABYMONITOR_BIN", str(ROOT / "target" / "debug" / "babymonitor"))


def _test_certificate() -> Path:
    """One certificate for every daemon of this run, trusted by the Python clients (httpx,
    requests, aiohttp read SSL_CERT_FILE / REQUESTS_CA_BUNDLE): each daemon is given it as its
    own before its first start, so HTTPS is verified for real, names included."""
    import tempfile

    tls = Path(tempfile.mkdtemp(prefix="babymonitor-tls-"))
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(tls / "device.key"), "-out", str(tls / "device.crt"), "-days", "30",
         "-subj", "/CN=babymonitor tests", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return tls


TEST_TLS = _test_certificate()
os.environ["SSL_CERT_FILE"] = str(TEST_TLS / "device.crt")
os.environ["REQUESTS_CA_BUNDLE"] = str(TEST_TLS / "device.crt")


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """n different free ports: each is held until all are found (a port let go at once may be
    handed out again by the next bind)."""
    held = [socket.socket() for _ in range(n)]
    try:
        for s in held:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


class Daemon:
    def __init__(self, tmp: Path, extra: str = ""):
        self.tmp = tmp
        self.extra = extra
        self.proc = None
        self.rtsp_port, self.http_port, self.rtsps_port, self.https_port = free_ports(4)

    def detectors(self) -> str:
        """The detectors keep the camera and microphone running: off unless a test wants them."""
        return "".join(
            f"[{name}]\nenabled = false\n"
            for name in ("sound", "motion")
            if f"[{name}]" not in self.extra
        )

    def config(self) -> str:
        return f"""
[rtsp]
port = {self.rtsp_port}
tls_port = {self.rtsps_port}
[http]
port = {self.http_port}
tls_port = {self.https_port}
[storage]
data_dir = "{self.tmp / 'data'}"
[onvif]
discovery = false
[video.main]
width = 640
height = 360
[video.sub]
width = 320
height = 180
{self.detectors()}
{self.extra}
[[users]]
name = "{ADMIN[0]}"
password = "{ADMIN[1]}"
role = "admin"
[[users]]
name = "{VIEWER[0]}"
password = "{VIEWER[1]}"
role = "user"
"""

    @property
    def https_base(self) -> str:
        """The page and its JSON API are served over HTTPS only."""
        return f"https://127.0.0.1:{self.https_port}"

    def start(self):
        tls = self.tmp / "data" / "tls"
        if not (tls / "device.crt").exists():
            tls.mkdir(parents=True, exist_ok=True)
            for name in ("device.crt", "device.key"):
                (tls / name).write_bytes((TEST_TLS / name).read_bytes())
                (tls / name).chmod(0o600)
        path = self.tmp / "config.toml"
        path.write_text(self.config())
        self.log = open(self.tmp / "daemon.log", "ab")
        self.proc = subprocess.Popen(
            [binary(), "--simulate", "--config", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            env={**os.environ, "RUST_LOG": "babymonitor=debug,info"},
        )
        deadline = time.time() + 20
        while time.time() < deadline:
            assert self.proc.poll() is None, self.read_log()
            try:
                socket.create_connection(("127.0.0.1", self.http_port), timeout=0.2).close()
                socket.create_connection(("127.0.0.1", self.rtsp_port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("daemon did not start:\n" + self.read_log())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=8)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def metric(self, name: str) -> float:
        """One value of /metrics (`name` with its labels), as the admin."""
        import httpx

        text = httpx.get(f"http://127.0.0.1:{self.http_port}/metrics", auth=httpx.DigestAuth(*ADMIN), timeout=10).text
        for line in text.splitlines():
            key, _, value = line.rpartition(" ")
            if key == name:
                return float(value)
        raise KeyError(name)

    def wait_for(self, check, what: str, timeout: float = 20):
        """Polls `check()` until it is true; fails with `what` and the log after `timeout`."""
        deadline = time.time() + timeout
        while not check():
            assert time.time() < deadline, f"{what} after {timeout} s\n{self.read_log()}"
            time.sleep(0.1)

    def read_log(self) -> str:
        return (self.tmp / "daemon.log").read_text(errors="replace")

    def rtsp_with_creds(self, uri: str, creds=ADMIN) -> str:
        from urllib.parse import quote

        user, password = creds
        return uri.replace("rtsp://", f"rtsp://{quote(user, safe='')}:{quote(password, safe='')}@", 1)


def running(tmp: Path, extra: str = ""):
    """A started daemon for a fixture, stopped afterwards: `yield from running(tmp_path, ...)`."""
    d = Daemon(tmp, extra).start()
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture
def daemon(tmp_path):
    yield from running(tmp_path)


def ffprobe(url: str, transport: str = "tcp") -> str:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-rw_timeout", "15000000", "-rtsp_transport", transport,
         "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", url],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def onvif_call(daemon, service: str, ns: str, op: str, inner: str = ""):
    """POSTs `<op xmlns=ns>inner</op>` as SOAP 1.2 to /onvif/<service>, as the admin (Digest),
    over HTTPS."""
    import httpx

    body = (
        '<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
        f'<{op} xmlns="{ns}">{inner}</{op}></s:Body></s:Envelope>'
    )
    # Over HTTPS: CreateUsers and SetUser carry passwords, which plain HTTP refuses.
    return httpx.post(
        f"{daemon.https_base}/onvif/{service}",
        content=body,
        headers={"Content-Type": "application/soap+xml; charset=utf-8"},
        auth=httpx.DigestAuth(*ADMIN),
        timeout=10,
    )
