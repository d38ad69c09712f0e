"""The sleep log as a parent reads it: a real daemon, its night's hours around now and one-second
"minutes", hearing a simulated cry and then seeing a moving picture; `/api/sleep` and the CSV
export, who may read them, the log across a clean restart, and a damaged `sleep.json`."""

import csv
import io
import json
import time

import httpx

from conftest import ADMIN, VIEWER, Daemon


def night_hours() -> str:
    """Night hours from an hour ago to an hour from now, local time (as the camera's)."""
    now = time.time()
    clock = lambda t: time.strftime("%H:%M", time.localtime(t))  # noqa: E731
    return f'[sleep]\nminute_s = 1\nfrom = "{clock(now - 3600)}"\nto = "{clock(now + 3600)}"\n'


STILL = night_hours() + """
[sound]
enabled = true
hold_s = 1.0
[motion]
enabled = true
hold_s = 1.0
"""
MOVING = STILL + """
[video]
source = "raw"
pipeline = "videotestsrc is-live=true pattern=ball motion=wavy"
"""


def get(d, path, creds=VIEWER, **kw):
    auth = httpx.DigestAuth(*creds) if creds else None
    return httpx.get(f"{d.https_base}{path}", auth=auth, timeout=10, **kw)


def tonight(d):
    r = get(d, "/api/sleep")
    assert r.status_code == 200, r.text
    nights = r.json()["nights"]
    # Right after the start, before the log's first look, not even tonight is there.
    return nights[0] if nights else {"intervals": []}


def states(night):
    """The night's intervals' states, in order."""
    return [i["state"] for i in night["intervals"]]


def seconds(night, state):
    return sum(i["end"] - i["start"] for i in night["intervals"] if i["state"] == state)


def test_a_night_of_settled_crying_and_moving_minutes_is_logged_kept_and_exported(tmp_path):
    d = Daemon(tmp_path, STILL).start()
    try:
        d.wait_for(lambda: seconds(tonight(d), "settled") >= 3, "3 settled minutes")
        status = get(d, "/api/status").json()["sleep"]
        assert status["enabled"] is True and status["state"] == "settled", status
        r = httpx.put(f"{d.https_base}/api/simulate/sound", json={"cry_s": 6}, auth=httpx.DigestAuth(*ADMIN), timeout=10)
        assert r.status_code == 200, r.text
        d.wait_for(lambda: "crying" in states(tonight(d)), "a crying minute", timeout=20)
        d.wait_for(lambda: states(tonight(d))[-1] == "settled", "settled again after the cry", timeout=20)
    finally:
        d.stop()
    saved = json.loads((tmp_path / "data" / "sleep.json").read_text())
    assert saved["version"] == 1 and len(saved["nights"]) == 1, saved
    assert all(state in ("s", "m", "c") for _, _, state in saved["nights"][0]["intervals"]), saved

    # After a clean stop the night is still there; now the picture moves.
    d = Daemon(tmp_path, MOVING).start()
    try:
        before = saved["nights"][0]
        d.wait_for(lambda: seconds(tonight(d), "moving") >= 3, "3 moving minutes", timeout=30)
        night = tonight(d)
        assert night["night"] == before["night"] and night["from"] == before["start"], (night, before)
        kept = [[i["start"] - night["from"], i["end"] - night["from"], i["state"][0]] for i in night["intervals"]]
        saved_intervals = before["intervals"]
        n = len(saved_intervals)
        assert kept[: n - 1] == saved_intervals[: n - 1], (kept, before)
        # The last one grows when the first minute after the restart has the same state.
        last, again = saved_intervals[-1], kept[n - 1]
        assert again[0] == last[0] and again[2] == last[2] and again[1] >= last[1], (kept, before)

        # In order: settled, then crying, settled again, and moving after the restart.
        order = [s for i, s in enumerate(states(night)) if i == 0 or states(night)[i - 1] != s]
        assert order[:4] == ["settled", "crying", "settled", "moving"], states(night)
        starts = [i["start"] for i in night["intervals"]]
        ends = [i["end"] for i in night["intervals"]]
        assert all(a < b for a, b in zip(starts, ends)) and all(e <= s for e, s in zip(ends, starts[1:])), night
        t = night["totals"]
        assert (t["settled_s"], t["moving_s"], t["crying_s"]) == tuple(
            seconds(night, s) for s in ("settled", "moving", "crying")), night
        assert t["settled_s"] + t["moving_s"] + t["crying_s"] <= night["until"] - night["from"], night
        assert night["from"] <= night["until"] <= time.time() + 1 and night["to"] - night["from"] == 7200, night
        # The cry lasted more than 3 "minutes" after settling: a wake-up; so did the moving.
        assert night["wake_ups"] >= 1, night
        assert night["longest_settled_s"] == max(i["end"] - i["start"] for i in night["intervals"] if i["state"] == "settled")
        assert get(d, "/api/status").json()["sleep"]["state"] == "moving"

        # The CSV: a download, a row per interval, local ISO 8601 times.
        r = get(d, "/api/sleep.csv")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/csv"), r.headers
        assert r.headers["content-disposition"] == 'attachment; filename="sleep-log.csv"', r.headers
        rows = list(csv.reader(io.StringIO(r.text)))
        assert rows[0] == ["night", "start", "end", "state", "minutes"], rows[:2]
        assert len(rows) - 1 >= len(night["intervals"]), (rows, night)
        first = rows[1]
        assert first[0] == night["night"] and first[3] == "settled", first
        local = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(night["intervals"][0]["start"]))
        assert first[1].startswith(local) and len(first[1]) == len("2026-12-02T19:00:00+00:00"), first
        assert abs(float(first[4]) - (night["intervals"][0]["end"] - night["intervals"][0]["start"]) / 60) < 0.01, first

        # Any account may read it; nobody else.
        assert get(d, "/api/sleep", creds=ADMIN).status_code == 200
        for path in ("/api/sleep", "/api/sleep.csv"):
            assert get(d, path, creds=None).status_code == 401, path
        for bad in ("nights=0", "nights=367", "nights=two", "nights=-1", "night=3"):
            r = get(d, f"/api/sleep?{bad}")
            assert r.status_code == 400, (bad, r.text)
            assert "nights must be a whole number from 1 to 366" in r.json()["error"], r.text
        assert len(get(d, "/api/sleep?nights=1").json()["nights"]) == 1
    finally:
        d.stop()


def test_a_damaged_sleep_log_is_moved_aside_and_the_camera_starts_afresh(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "sleep.json").write_text('{"version":1,"nights":[{"night":')
    d = Daemon(tmp_path, STILL).start()
    try:
        assert (data / "sleep.json.damaged").read_text() == '{"version":1,"nights":[{"night":'
        assert "sleep log is damaged" in d.read_log()
        d.wait_for(lambda: seconds(tonight(d), "settled") >= 1, "a settled minute in a fresh log")
    finally:
        d.stop()
    saved = json.loads((data / "sleep.json").read_text())
    assert saved["version"] == 1 and saved["nights"][0]["intervals"], saved
