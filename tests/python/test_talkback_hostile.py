"""Hostile ONVIF talk-back: a client that sets up the backchannel over TCP and then sends what
no honest client sends. The daemon must go on streaming to another viewer, and the speaker must
play only valid talk-back."""

import hashlib
import random
import re
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import speaker
from conftest import ADMIN, running

CLIENT = Path(__file__).with_name("talkback_client.py")
GST_PYTHON = "/usr/bin/python3"
REQUIRE = ("Require", "www.onvif.org/ver20/backchannel")
SSRC_A, SSRC_B = 0x0A0A0A0A, 0x0B0B0B0B


class RawRtsp:
    """RTSP over one TCP connection, written by hand, answering Digest challenges. Once playing,
    a thread drains what the server sends (interleaved video) so that it never stalls on us."""

    def __init__(self, port, creds=ADMIN, sock=None):
        self.sock = sock or socket.create_connection(("127.0.0.1", port), timeout=10)
        self.creds = creds
        self.cseq = 0
        self.challenge = None
        self.pending = b""
        self.draining = False
        # With UDP: our (RTP, RTCP) sockets and the server's ports, two per stream.
        self.udp, self.server_ports = [], []

    def _auth(self, method, uri):
        if self.challenge is None:
            return []
        field = lambda name: re.search(name + r'="([^"]*)"', self.challenge).group(1)  # noqa: E731
        realm, nonce = field("realm"), field("nonce")
        h = lambda s: hashlib.md5(s.encode()).hexdigest()  # noqa: E731
        user, password = self.creds
        response = h(f"{h(f'{user}:{realm}:{password}')}:{nonce}:{h(f'{method}:{uri}')}")
        return [("Authorization", f'Digest username="{user}", realm="{realm}", nonce="{nonce}", '
                 f'uri="{uri}", response="{response}"')]

    def _read_response(self):
        while True:
            # Skip interleaved data ($ channel length) in front of the response.
            while self.pending[:1] == b"$" and len(self.pending) >= 4:
                n = struct.unpack(">H", self.pending[2:4])[0]
                if len(self.pending) < 4 + n:
                    break
                self.pending = self.pending[4 + n:]
            end = self.pending.find(b"\r\n\r\n")
            if end >= 0 and self.pending[:1] != b"$":
                head = self.pending[:end].decode(errors="replace").split("\r\n")
                headers = dict(
                    (k.strip().lower(), v.strip()) for k, v in
                    (line.split(":", 1) for line in head[1:] if ":" in line))
                length = int(headers.get("content-length", 0))
                while len(self.pending) < end + 4 + length:
                    self.pending += self.sock.recv(65536)
                body = self.pending[end + 4:end + 4 + length].decode(errors="replace")
                self.pending = self.pending[end + 4 + length:]
                return int(head[0].split()[1]), headers, body
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the server closed the connection")
            self.pending += data

    def request(self, method, uri, headers=()):
        for _ in range(2):
            self.cseq += 1
            lines = [f"{method} {uri} RTSP/1.0", f"CSeq: {self.cseq}"]
            lines += [f"{k}: {v}" for k, v in [*headers, *self._auth(method, uri)]]
            self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            status, got, body = self._read_response()
            if status == 401 and self.challenge is None:
                self.challenge = got["www-authenticate"]
                continue
            return status, got, body
        raise AssertionError("still unauthorized")

    def talk_back(self, url, udp=False):
        """DESCRIBE asking for the backchannel, SETUP of every stream over TCP, or UDP with
        `udp` (the backchannel's sections share one control URL), PLAY. Returns the
        backchannel's RTP channel: what `send` takes, in either case."""
        status, _, sdp = self.request("DESCRIBE", url, [("Accept", "application/sdp"), REQUIRE])
        assert status == 200, sdp
        controls, backchannel = [], None
        for section in sdp.split("\nm=")[1:]:
            control = re.search(r"a=control:(\S+)", section).group(1)
            control = control if control.startswith("rtsp://") else f"{url}/{control}"
            if control not in controls:
                controls.append(control)
            if "a=sendonly" in section:
                backchannel = controls.index(control)
        assert len(controls) == 3 and backchannel == 2, sdp
        session = None
        for i, control in enumerate(controls):
            if udp:
                pair = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
                for u in pair:
                    u.bind(("127.0.0.1", 0))
                    self.udp.append(u)
                ports = "-".join(str(u.getsockname()[1]) for u in pair)
                transport = f"RTP/AVP;unicast;client_port={ports}"
            else:
                transport = f"RTP/AVP/TCP;unicast;interleaved={2 * i}-{2 * i + 1}"
            headers = [("Transport", transport), REQUIRE]
            if session:
                headers.append(("Session", session))
            status, got, body = self.request("SETUP", control, headers)
            assert status == 200, (control, status, body)
            session = got["session"].split(";")[0]
            if udp:
                server = re.search(r"server_port=(\d+)-(\d+)", got["transport"])
                self.server_ports += [int(server.group(1)), int(server.group(2))]
        status, _, body = self.request("PLAY", url, [("Session", session), REQUIRE])
        assert status == 200, body
        self.draining = True
        threading.Thread(target=self._drain, daemon=True).start()
        return 2 * backchannel

    def _drain(self):
        try:
            while self.draining and self.sock.recv(65536):
                pass
        except OSError:
            pass

    def send(self, channel, packet):
        if self.udp:
            self.udp[channel].sendto(packet, ("127.0.0.1", self.server_ports[channel]))
        else:
            self.sock.sendall(b"$" + bytes([channel]) + struct.pack(">H", len(packet)) + packet)

    def close(self):
        self.draining = False
        self.sock.close()
        for u in self.udp:
            u.close()


def rtp(pt, seq, ts, ssrc, payload, first_byte=0x80):
    return struct.pack(">BBHII", first_byte, pt & 0x7F, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


def mulaw(x):
    """G.711 mu-law bytes of samples in -1..1."""
    s = np.clip(np.asarray(x) * 32767, -32767, 32767).astype(np.int32)
    sign = np.where(s < 0, 0x80, 0)
    mag = np.minimum(np.abs(s), 32635) + 0x84
    exp = np.floor(np.log2(mag)).astype(np.int32) - 7
    mantissa = (mag >> (exp + 3)) & 0x0F
    return ((~(sign | (exp << 4) | mantissa)) & 0xFF).astype(np.uint8).tobytes()


class Talker:
    """One SSRC's RTP sequence: 20 ms of 8 kHz audio per packet."""

    def __init__(self, raw, channel, ssrc, pt=0):
        self.raw, self.channel, self.ssrc, self.pt = raw, channel, ssrc, pt
        self.seq, self.ts = random.randrange(1 << 16), random.randrange(1 << 32)

    def packet(self, payload, pt=None):
        p = rtp(self.pt if pt is None else pt, self.seq, self.ts, self.ssrc, payload)
        self.seq += 1
        self.ts += 160
        return p

    def tone(self, freq, seconds, volume=0.5):
        """Sends a PCMU sine in real time, as a talking client does."""
        start = time.monotonic()
        for i in range(int(seconds * 50)):
            t = (np.arange(160) + 160 * i) / 8000
            self.raw.send(self.channel, self.packet(mulaw(volume * np.sin(2 * np.pi * freq * t))))
            time.sleep(max(0.0, start + (i + 1) * 0.02 - time.monotonic()))


MULAW_SILENCE = b"\xff" * 160


def garbage(rng, talker):
    """Packets that must never be played: not RTP at all, RTP that lies about its lengths, and
    payload types never offered. All loud, so that any that got through would be heard."""
    loud = bytes(rng.randrange(256) for _ in range(160))
    seq, ts, ssrc = talker.seq, talker.ts, talker.ssrc
    out = [
        b"",
        b"\x80",
        bytes(11),  # shorter than an RTP header
        rtp(0, seq, ts, ssrc, loud, first_byte=0x40),  # version 1
        rtp(0, seq, ts, ssrc, loud, first_byte=0x00),  # version 0
        rtp(0, seq, ts, ssrc, loud, first_byte=0xC0),  # version 3
        rtp(0, seq, ts, ssrc, loud[:20], first_byte=0x8F),  # 15 CSRCs in 20 bytes
        # an extension header claiming 0xffff words
        rtp(0, seq, ts, ssrc, b"\xbe\xde\xff\xff" + loud[:8], first_byte=0x90),
        # an extension header cut off in the middle
        rtp(0, seq, ts, ssrc, b"\xbe\xde", first_byte=0x90),
        # padding longer than the packet
        rtp(0, seq, ts, ssrc, loud[:40] + b"\xff", first_byte=0xA0),
        # padding of zero bytes, and padding that eats the whole payload and header
        rtp(0, seq, ts, ssrc, loud[:40] + b"\x00", first_byte=0xA0),
        rtp(0, seq, ts, ssrc, loud[:3] + bytes([16]), first_byte=0xA0),
    ]
    for _ in range(41):
        noise = bytearray(rng.randrange(256) for _ in range(rng.randrange(1, 1500)))
        # Noise that happens to read as RTP version 2 is made version 1: noise that forms a
        # valid packet of an offered format would be talk-back, not garbage.
        noise[0] &= 0x7F
        out.append(bytes(noise))
    for pt in range(128):
        if pt not in (0, 8, 96):
            out.append(rtp(pt, seq + pt, ts + 160 * pt, ssrc, loud))
    rng.shuffle(out)
    return out


@pytest.fixture
def camera(tmp_path):
    yield from running(tmp_path)


def viewer(daemon, seconds):
    """A second client that only watches /stream; its result has the times video arrived."""
    url = daemon.rtsp_with_creds(f"rtsp://127.0.0.1:{daemon.rtsp_port}/stream")
    return subprocess.Popen(
        [GST_PYTHON, str(CLIENT), url, "0", "0", "0", str(seconds)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def watched(proc, daemon):
    import json
    out, _ = proc.communicate(timeout=90)
    assert daemon.proc.poll() is None, "the daemon died:\n" + daemon.read_log()[-3000:]
    log = daemon.read_log()
    assert "CRITICAL" not in log, "hostile packets flood the log:\n" + log[-3000:]
    got = json.loads(out.strip().splitlines()[-1])
    assert got["errors"] == [], got
    at = got["video_at"]
    assert at, "the viewer saw no picture"
    gaps = np.diff([0.0, *at])
    # "Throughout": 15 frames a second, never a pause of seconds (start-up aside).
    assert max(gaps[1:], default=0) < 2.0, (max(gaps[1:]), len(at))
    return got


def heard(daemon, freq):
    wav = daemon.tmp / "data" / "speaker.wav"
    if not wav.exists() or wav.stat().st_size <= 44:
        return []
    return [w for w in speaker.windows(wav) if speaker.near(w[1], freq)]


def loud_windows(daemon):
    wav = daemon.tmp / "data" / "speaker.wav"
    if not wav.exists() or wav.stat().st_size <= 44:
        return []
    return [w for w in speaker.windows(wav) if w[2] >= 0.005]


def hostile(daemon, udp=False):
    raw = RawRtsp(daemon.rtsp_port)
    channel = raw.talk_back(f"rtsp://127.0.0.1:{daemon.rtsp_port}/stream", udp)
    return raw, channel


@pytest.mark.parametrize("udp", [False, True], ids=["tcp", "udp"])
def test_the_fec_decoder_assertion_mix_breaks_nothing(camera, udp):
    # PT 0 from A, A, B, then PT 96 from A: this once hit g_assert in rtpulpfecdec and killed
    # the daemon.
    watching = viewer(camera, 8)
    time.sleep(1.5)
    raw, channel = hostile(camera, udp)
    a, b = Talker(raw, channel, SSRC_A), Talker(raw, channel, SSRC_B)
    # 160-byte packets on one sequence for both sources, as the client that found it sent
    # them: A sees a gap.
    packets = [a.packet(MULAW_SILENCE[:148]), a.packet(MULAW_SILENCE[:148])]
    b.seq, b.ts = a.seq, a.ts
    packets.append(b.packet(MULAW_SILENCE[:148]))
    a.seq, a.ts = b.seq, b.ts
    packets.append(a.packet(MULAW_SILENCE[:148], pt=96))
    for packet in packets:
        raw.send(channel, packet)
    time.sleep(1.0)
    assert camera.proc.poll() is None, "the daemon died:\n" + camera.read_log()[-3000:]
    # The session is still good for talking: A goes on with PCMU and is heard.
    a.tone(440, 2.0)
    time.sleep(1.0)
    watched(watching, camera)
    raw.close()
    assert len(heard(camera, 440)) >= 12, speaker.windows(camera.tmp / "data" / "speaker.wav")[:40]


def test_garbage_on_every_channel_is_never_played_and_the_picture_goes_on(camera):
    watching = viewer(camera, 10)
    time.sleep(1.5)
    raw, channel = hostile(camera)
    rng = random.Random(20261201)
    a = Talker(raw, channel, SSRC_A)
    # On the backchannel's own channels first, then on the video's and the sound's (RTP and
    # RTCP), and on a channel nobody set up.
    for ch in (channel, channel + 1, 0, 1, 2, 3, 9):
        for packet in garbage(rng, a):
            raw.send(ch, packet)
        time.sleep(0.3)
    time.sleep(1.5)
    assert camera.proc.poll() is None, "the daemon died:\n" + camera.read_log()[-3000:]
    assert not loud_windows(camera), ("garbage was played", loud_windows(camera)[:10])
    # A valid PCMU tone after all that is heard.
    a.tone(440, 2.0)
    time.sleep(1.0)
    watched(watching, camera)
    raw.close()
    assert len(heard(camera, 440)) >= 12, speaker.windows(camera.tmp / "data" / "speaker.wav")[:40]


def test_only_the_first_source_and_format_of_a_session_is_played(camera):
    watching = viewer(camera, 10)
    time.sleep(1.5)
    raw, channel = hostile(camera)
    a = Talker(raw, channel, SSRC_A)
    a.tone(440, 2.0)
    # Another SSRC in the same session, and the first SSRC switching to another offered
    # payload type (PCMA, sent here as mu-law bytes: any of it played would be loud): dropped.
    b = Talker(raw, channel, SSRC_B)
    b.tone(880, 1.5)
    switch = Talker(raw, channel, SSRC_A, pt=8)
    switch.seq, switch.ts = a.seq, a.ts
    switch.tone(660, 1.5)
    # Every payload type from the first source, with a loud payload: only PCMU is played.
    rng = random.Random(7)
    for pt in rng.sample(range(128), 128):
        if pt != 0:
            raw.send(channel, a.packet(bytes(rng.randrange(256) for _ in range(160)), pt=pt))
    # The first source, back in its own format, is still heard.
    a.tone(550, 1.5)
    time.sleep(1.0)
    watched(watching, camera)
    raw.close()
    assert len(heard(camera, 440)) >= 12, speaker.windows(camera.tmp / "data" / "speaker.wav")[:60]
    assert len(heard(camera, 550)) >= 8, speaker.windows(camera.tmp / "data" / "speaker.wav")[:90]
    assert not heard(camera, 880), "a second source in the session was played"
    assert not heard(camera, 660), "a switch of payload type was played"
    log = camera.read_log()
    assert "dropped" in log and "talk-back" in log, log[-3000:]
