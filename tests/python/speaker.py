"""Reading what the simulated speaker played (a mono 16-bit WAV that grows while it plays)."""

import hashlib
import io
import math
import os
import re
import struct
import wave
from pathlib import Path

import numpy as np


def read(path: Path):
    """(rate, samples in -1..1)."""
    with wave.open(str(path), "rb") as w:
        rate = w.getframerate()
        data = w.readframes(w.getnframes())
    return rate, np.frombuffer(data, dtype="<i2").astype(np.float64) / 32768.0


def windows(path: Path, length: float = 0.1):
    """(start time, dominant frequency, rms) per window; frequency 0 for silence."""
    rate, x = read(path)
    n = int(rate * length)
    out = []
    for i in range(0, len(x) - n + 1, n):
        w = x[i:i + n]
        rms = float(np.sqrt(np.mean(w * w)))
        if rms < 0.005:
            out.append((i / rate, 0.0, rms))
            continue
        # Hann window, zero-padded to 1 s: 1 Hz bins.
        spectrum = np.abs(np.fft.rfft(w * np.hanning(n), n=rate))
        out.append((i / rate, float(np.argmax(spectrum[20:]) + 20), rms))
    return out


def near(f: float, target: float, cents: float = 30) -> bool:
    return f > 0 and abs(1200 * math.log2(f / target)) < cents


def tone_wav(freq: float, seconds: float, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(
            struct.pack("<h", int(12000 * math.sin(2 * math.pi * freq * i / rate)))
            for i in range(int(rate * seconds))))
    return buf.getvalue()


def digest(method: str, uri: str, challenge: str, user: str, password: str) -> str:
    """An HTTP Digest (qop=auth, the challenge's algorithm) Authorization header for one request."""
    field = lambda name: re.search(name + r'="([^"]*)"', challenge).group(1)  # noqa: E731
    realm, nonce, opaque = field("realm"), field("nonce"), field("opaque")
    algorithm = re.search(r'algorithm="?([\w-]+)', challenge).group(1)
    hash_of = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}[algorithm]
    h = lambda s: hash_of(s.encode()).hexdigest()  # noqa: E731
    cnonce, nc = os.urandom(8).hex(), "00000001"
    response = h(f"{h(f'{user}:{realm}:{password}')}:{nonce}:{nc}:{cnonce}:auth:{h(f'{method}:{uri}')}")
    return (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'response="{response}", qop=auth, nc={nc}, cnonce="{cnonce}", opaque="{opaque}", algorithm={algorithm}')
