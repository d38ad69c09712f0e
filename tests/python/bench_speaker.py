"""What the speaker costs: the daemon's CPU while idle, playing each kind of sound, and while
someone talks back. Run with the release build (see docs/BENCHMARKS.md):

    BABYMONITOR_BIN=target/release/babymonitor .venv/bin/python tests/python/bench_speaker.py
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
import speaker  # noqa: E402
from conftest import ADMIN, Daemon  # noqa: E402

WINDOW = 10.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(pid: int) -> float:
    start = cpu_seconds(pid)
    time.sleep(WINDOW)
    return 100 * (cpu_seconds(pid) - start) / WINDOW


def main():
    d = Daemon(Path(tempfile.mkdtemp())).start()
    os.environ.setdefault("RUST_LOG", "warn")
    base, auth = d.https_base, httpx.DigestAuth(*ADMIN)
    pid = d.proc.pid
    try:
        time.sleep(3)
        rows = [("idle (nothing plays, nobody watches)", measure(pid))]
        clip = httpx.post(f"{base}/api/clips?name=tone", content=speaker.tone_wav(440, 5.0),
                          auth=auth, timeout=30).json()["token"]
        for token, what in [("white-noise", "white noise"), ("pink-noise", "pink noise"),
                            ("lullaby-brahms", "Brahms' lullaby"), (clip, "a WAV clip, looped")]:
            httpx.post(f"{base}/api/clips/{token}/play?loop=true", auth=auth)
            time.sleep(1)
            rows.append((what, measure(pid)))
        httpx.post(f"{base}/api/audio/stop", auth=auth)
        time.sleep(3)
        url = d.rtsp_with_creds(f"rtsp://127.0.0.1:{d.rtsp_port}/sub")
        client_py = str(Path(__file__).with_name("talkback_client.py"))
        for seconds, linger, what in [
            (0, WINDOW + 4, "one /sub viewer with a backchannel, silent (for comparison)"),
            (WINDOW + 4, 1, "the same viewer talking back (PCMU 440 Hz)"),
        ]:
            client = subprocess.Popen(
                ["/usr/bin/python3", client_py, url, "440", str(seconds), "1", str(linger)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(3)
            rows.append((what, measure(pid)))
            client.wait(timeout=60)
            time.sleep(2)
        for what, pct in rows:
            print(f"| {what} | {pct:.1f} % |")
    finally:
        d.stop()


if __name__ == "__main__":
    main()
