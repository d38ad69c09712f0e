"""A real MQTT broker for the tests (Debian's mosquitto, started with a config of our own on a
free loopback port, never the packaged service's 1883), Home Assistant's side of it (a paho-mqtt
client that records everything) and two bad peers: a subscriber that never acknowledges QoS 1
and a broker that never acknowledges the camera's QoS 1 publishes."""

import getpass
import os
import signal
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from conftest import free_port

MOSQUITTO = os.environ.get("MOSQUITTO", "/usr/sbin/mosquitto")
CAMERA = ("camera", "camera mqtt pass 1")
HA = ("homeassistant", "ha-mqtt-pass-2")


class Broker:
    """One mosquitto of a test's own: password file, no anonymous clients, nothing persisted
    (a restart forgets retained messages, so what is retained after one was published again),
    its log in the test's directory."""

    def __init__(self, tmp: Path, port: int | None = None, users=(CAMERA, HA), extra: str = ""):
        self.dir = tmp / f"mosquitto-{id(self):x}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.users = dict(users)
        self.extra = extra
        self.proc: subprocess.Popen | None = None
        self.log_path = self.dir / "mosquitto.log"
        self._write_config()

    def _write_config(self):
        passwd = self.dir / "passwd"
        for i, (user, password) in enumerate(self.users.items()):
            subprocess.run(["mosquitto_passwd", "-b", *(["-c"] if i == 0 else []), str(passwd), user, password],
                           check=True, capture_output=True, timeout=10)
        passwd.chmod(0o600)
        # Run as root, mosquitto changes to the `mosquitto` user, who cannot read a test's
        # directory; it keeps the user it is started as when told so.
        (self.dir / "mosquitto.conf").write_text(f"""
user {getpass.getuser()}
per_listener_settings false
allow_anonymous false
password_file {passwd}
persistence false
log_dest file {self.log_path}
log_type all
connection_messages true
log_timestamp true
listener {self.port} 127.0.0.1
{self.extra}
""")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 10):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.dir / "mosquitto.conf")],
                                     stdout=subprocess.DEVNULL, stderr=open(self.dir / "stderr.log", "ab"))
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, f"mosquitto exited {self.proc.returncode}:\n{self.read_log()}"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"mosquitto did not listen on {self.port}:\n{self.read_log()}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def restart(self):
        """Stopped and started again on the same port (retained messages are gone)."""
        self.stop()
        return self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def read_log(self) -> str:
        text = ""
        for name in ("stderr.log", "mosquitto.log"):
            p = self.dir / name
            if p.exists():
                text += p.read_text(errors="replace")
        return text[-20000:]


def brokers(tmp: Path, **kw):
    """A started broker for a fixture, always stopped afterwards."""
    b = Broker(tmp, **kw)
    try:
        yield b.start()
    finally:
        b.kill()


@pytest.fixture
def broker(tmp_path):
    yield from brokers(tmp_path)


@dataclass
class Message:
    topic: str
    payload: bytes
    retain: bool
    qos: int
    time: float = field(default_factory=time.monotonic)

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8", errors="replace")


class Watcher:
    """Home Assistant's side: a paho-mqtt client subscribed to `#` (QoS 1) that keeps every
    message with its retain flag, in order."""

    def __init__(self, broker: Broker, creds=HA, topics=("#",), client_id: str | None = None):
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._connected = threading.Event()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"watcher-{os.getpid()}-{id(self):x}",
                                  protocol=paho.MQTTv311)
        self.client.username_pw_set(*creds)
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.topics = topics
        self.client.connect("127.0.0.1", broker.port, keepalive=30)
        self.client.loop_start()
        if not (self._connected.wait(10) and self._subscribed.wait(10)):
            self.close()
            raise AssertionError(f"the watcher did not connect and subscribe:\n{broker.read_log()}")

    def _on_connect(self, client, userdata, flags, reason, properties):
        if not reason.is_failure:
            client.subscribe([(t, 1) for t in self.topics])
            self._connected.set()

    def _on_message(self, client, userdata, m):
        with self._lock:
            self.messages.append(Message(m.topic, bytes(m.payload), bool(m.retain), m.qos))

    def mark(self) -> int:
        """Where "from now on" starts, for `wait_for(since=...)`."""
        with self._lock:
            return len(self.messages)

    def of(self, topic: str, since: int = 0) -> list[Message]:
        with self._lock:
            return [m for m in self.messages[since:] if m.topic == topic]

    def since(self, mark: int = 0) -> list[Message]:
        with self._lock:
            return list(self.messages[mark:])

    def latest(self, topic: str) -> Message | None:
        got = self.of(topic)
        return got[-1] if got else None

    def topics_seen(self, since: int = 0) -> set[str]:
        with self._lock:
            return {m.topic for m in self.messages[since:]}

    def wait_for(self, topic: str, predicate=lambda m: True, timeout: float = 15, since: int = 0) -> Message:
        """The first message on `topic` (after `since`) that `predicate` takes; fails after
        `timeout` with what did come on that topic."""
        deadline = time.monotonic() + timeout
        while True:
            for m in self.of(topic, since):
                if predicate(m):
                    return m
            if time.monotonic() > deadline:
                seen = [(m.text[:80], m.retain) for m in self.of(topic, since)][-10:]
                raise AssertionError(f"nothing on {topic} as wanted within {timeout} s; came: {seen}")
            time.sleep(0.05)

    def wait_until(self, check, what: str, timeout: float = 15):
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, f"{what} after {timeout} s"
            time.sleep(0.05)

    def publish(self, topic: str, payload, qos: int = 1, retain: bool = False):
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(10)
        assert info.is_published(), f"publishing on {topic} did not complete"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()


# The few MQTT 3.1.1 / 5 packets the bad peers below speak, by hand (a library would ack).

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _utf8(s: str) -> bytes:
    b = s.encode()
    return struct.pack("!H", len(b)) + b


def _packet(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + _varint(len(body)) + body


def _read_packet(sock: socket.socket) -> tuple[int, bytes] | None:
    """(first byte, body) of the next packet, or None when the peer closed."""
    first = _read_exact(sock, 1)
    if first is None:
        return None
    length, shift = 0, 0
    while True:
        b = _read_exact(sock, 1)
        if b is None:
            return None
        length += (b[0] & 0x7F) << shift
        shift += 7
        if not b[0] & 0x80:
            break
        if shift > 21:
            raise ValueError("bad remaining length")
    body = _read_exact(sock, length) if length else b""
    if body is None:
        return None
    return first[0], body


def _read_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


class SlowSubscriber:
    """A client of the real broker that subscribes to `#` with QoS 1 and never sends a PUBACK
    (nor reads fast): the broker's in-flight window for it fills and stays full. What the camera
    publishes must not wait for it."""

    def __init__(self, broker: Broker, creds=HA):
        self.received = 0
        self.sock = socket.create_connection(("127.0.0.1", broker.port), timeout=10)
        body = _utf8("MQTT") + bytes([4, 0xC2]) + struct.pack("!H", 0) + _utf8(f"slow-{id(self):x}")
        body += _utf8(creds[0]) + _utf8(creds[1])
        self.sock.sendall(_packet(0x10, body))
        kind, ack = _read_packet(self.sock)
        assert kind == 0x20 and ack[1] == 0, f"the broker refused the slow subscriber: {ack!r}"
        self.sock.sendall(_packet(0x82, struct.pack("!H", 1) + _utf8("#") + bytes([1])))
        kind, _ = _read_packet(self.sock)
        assert kind == 0x90, "no SUBACK"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self):
        self.sock.settimeout(0.5)
        while not self._stop.is_set():
            try:
                p = _read_packet(self.sock)
            except (socket.timeout, OSError, ValueError):
                continue
            if p is None:
                return
            if p[0] >> 4 == 3:
                self.received += 1
            # Slow: a reader that takes its time.
            time.sleep(0.2)

    def close(self):
        self._stop.set()
        self.sock.close()
        self._thread.join(2)


@dataclass
class Publish:
    topic: str
    qos: int
    retain: bool
    size: int


class StallingBroker:
    """A broker that takes the camera's connection and subscriptions and answers its pings but
    never acknowledges a QoS 1 PUBLISH: the camera's in-flight window fills and its queue backs
    up, as with a broker that is overloaded. Speaks just enough MQTT 3.1.1 and 5."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.publishes: list[Publish] = []
        self.connects = 0
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", self.port))
        self.server.listen(8)
        self.server.settimeout(0.2)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except (socket.timeout, OSError):
                continue
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket):
        v5 = False
        conn.settimeout(0.5)
        try:
            while not self._stop.is_set():
                try:
                    p = _read_packet(conn)
                except socket.timeout:
                    continue
                if p is None:
                    return
                first, body = p
                kind = first >> 4
                if kind == 1:  # CONNECT
                    v5 = body[6] == 5
                    with self._lock:
                        self.connects += 1
                    conn.sendall(_packet(0x20, b"\x00\x00\x00" if v5 else b"\x00\x00"))
                elif kind == 8:  # SUBSCRIBE: grant what was asked
                    pid = body[:2]
                    rest = body[2:]
                    if v5:
                        plen, used = _decode_varint(rest)
                        rest = rest[used + plen:]
                    granted = bytearray()
                    while rest:
                        (n,) = struct.unpack("!H", rest[:2])
                        granted.append(rest[2 + n] & 0x03)
                        rest = rest[3 + n:]
                    conn.sendall(_packet(0x90, pid + (b"\x00" if v5 else b"") + bytes(granted)))
                elif kind == 12:  # PINGREQ
                    conn.sendall(_packet(0xD0, b""))
                elif kind == 3:  # PUBLISH: recorded, never acknowledged
                    (n,) = struct.unpack("!H", body[:2])
                    topic = body[2:2 + n].decode(errors="replace")
                    with self._lock:
                        self.publishes.append(Publish(topic, (first >> 1) & 3, bool(first & 1), len(body)))
                elif kind == 14:  # DISCONNECT
                    return
        except OSError:
            return
        finally:
            conn.close()

    def inject(self, topic: str, payload: bytes):
        """A QoS 0 PUBLISH to every connected client (what the camera subscribed to)."""
        packet = _packet(0x30, _utf8(topic) + payload)
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.sendall(packet)
            except OSError:
                pass

    def count(self) -> int:
        with self._lock:
            return len(self.publishes)

    def close(self):
        """Stops listening and drops every connection (the port is free for a real broker)."""
        self._stop.set()
        self.server.close()
        with self._lock:
            for c in self._conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
        self._thread.join(2)


def _decode_varint(b: bytes) -> tuple[int, int]:
    n, shift = 0, 0
    for i, byte in enumerate(b):
        n += (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return n, i + 1
    raise ValueError("bad varint")
