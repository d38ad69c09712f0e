# Event clips' cost: CPU, RSS and bytes written by the daemon with [recordings] off, on and idle,
# and during a recording (docs/BENCHMARKS.md). Run from tests/python: ../../.venv/bin/python ../../bench/recordings_bench.py
import os, sys, time, pathlib, tempfile
sys.path.insert(0, '.')
from conftest import Daemon
from test_events import quiet, write_wav
from test_alerts import cry
HZ = os.sysconf('SC_CLK_TCK')
def sample(pid):
    st = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()
    cpu = (int(st[11]) + int(st[12])) / HZ
    rss = int(open(f'/proc/{pid}/statm').read().split()[1]) * 4096
    io = dict(l.split(': ') for l in open(f'/proc/{pid}/io').read().splitlines())
    return cpu, rss, int(io['write_bytes'])
def measure(d, secs):
    c0, _, w0 = sample(d.proc.pid); time.sleep(secs); c1, rss, w1 = sample(d.proc.pid)
    return (c1 - c0) / secs * 100, rss / 2**20, (w1 - w0) / secs
for enabled in (False, True):
    tmp = pathlib.Path(tempfile.mkdtemp())
    wav = tmp / 'n.wav'
    write_wav(wav, [(35, quiet), (25, cry), (60, quiet)])
    d = Daemon(tmp, f'[audio]\nsource = "file"\npath = "{wav}"\n[sound]\nenabled = true\nmin_duration_s = 1.0\nhold_s = 1.0\n[recordings]\nenabled = {str(enabled).lower()}\n')
    d.start()
    try:
        time.sleep(10)
        print('enabled' if enabled else 'disabled', 'idle: cpu %.1f%% rss %.0f MiB write %.0f B/s' % measure(d, 20))
        if enabled:
            time.sleep(9)
            print('during a recording: cpu %.1f%% rss %.0f MiB write %.0f B/s' % measure(d, 15))
    finally:
        d.stop()
