"""Pan and tilt the way Frigate (and Home Assistant) drive them, with onvif-zeep-async."""

import asyncio
import time

import pytest
from onvif import ONVIFCamera
from zeep.exceptions import Fault

from conftest import ADMIN

FOV = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/TranslationSpaceFov"
# The default [ptz] settings: pan limits -80..80 degrees, tilt -30..60, lens 62.2 x 48.8 degrees.
PAN_SPAN, TILT_SPAN, FOV_H = 160.0, 90.0, 62.2


def find_by_key(obj, key):
    """Frigate's way of reading attributes zeep's older WSDL does not know (they land in _attr_1)."""
    values = getattr(obj, "__values__", obj) if not isinstance(obj, dict) else obj
    if isinstance(values, dict):
        for k, v in values.items():
            if k == key:
                return v
            found = find_by_key(v, key)
            if found is not None:
                return found
    return None


async def connect(daemon):
    cam = ONVIFCamera("127.0.0.1", daemon.http_port, *ADMIN)
    await cam.update_xaddrs()
    media = await cam.create_media_service()
    ptz = await cam.create_ptz_service()
    profile = (await media.GetProfiles())[0]
    return cam, ptz, profile


async def wait_idle(ptz, token, timeout=15.0):
    """Polls GetStatus like Frigate does (both axes IDLE); returns the pan/tilt statuses seen."""
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = await ptz.GetStatus({"ProfileToken": token})
        seen.append(status.MoveStatus.PanTilt)
        if status.MoveStatus.PanTilt == "IDLE" and status.MoveStatus.Zoom in (None, "IDLE"):
            return status, seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"never IDLE: {seen[-5:]}")


async def test_frigate_finds_ptz_and_moves_by_the_field_of_view(daemon):
    cam, ptz, profile = await connect(daemon)
    try:
        # What Frigate checks before it enables autotracking.
        assert profile.PTZConfiguration is not None
        assert profile.PTZConfiguration.DefaultContinuousPanTiltVelocitySpace
        caps = await ptz.GetServiceCapabilities()
        assert str(find_by_key(caps, "MoveStatus")).lower() == "true"
        assert str(find_by_key(caps, "StatusPosition")).lower() == "true"
        options = await ptz.GetConfigurationOptions({"ConfigurationToken": profile.PTZConfiguration.token})
        assert FOV in [s.URI for s in options.Spaces.RelativePanTiltTranslationSpace]

        start, _ = await wait_idle(ptz, profile.token)
        x0 = start.Position.PanTilt.x
        req = ptz.create_type("RelativeMove")
        req.ProfileToken = profile.token
        req.Translation = {"PanTilt": {"x": 0.25, "y": 0, "space": FOV}}
        req.Speed = {"PanTilt": {"x": 1, "y": 1}}
        await ptz.RelativeMove(req)
        end, seen = await wait_idle(ptz, profile.token)
        assert "MOVING" in seen, seen
        expected = 0.25 * FOV_H / (PAN_SPAN / 2)
        assert end.Position.PanTilt.x - x0 == pytest.approx(expected, abs=0.01)

        # An autotracking calibration: several moves, each polled until IDLE.
        for step in (0.1, -0.1, 0.05, -0.05, 0.2, -0.2):
            req.Translation = {"PanTilt": {"x": step, "y": step / 2, "space": FOV}}
            await ptz.RelativeMove(req)
            await wait_idle(ptz, profile.token)
        final, _ = await wait_idle(ptz, profile.token)
        assert final.Position.PanTilt.x == pytest.approx(end.Position.PanTilt.x, abs=0.01)
    finally:
        await cam.close()


async def test_continuous_moves_stop_on_stop_and_by_timeout_and_limits_clamp(daemon):
    cam, ptz, profile = await connect(daemon)
    try:
        await ptz.ContinuousMove({"ProfileToken": profile.token, "Velocity": {"PanTilt": {"x": 0.5, "y": 0}}})
        deadline = time.time() + 5
        moving = await ptz.GetStatus({"ProfileToken": profile.token})
        while moving.MoveStatus.PanTilt != "MOVING" and time.time() < deadline:
            await asyncio.sleep(0.05)
            moving = await ptz.GetStatus({"ProfileToken": profile.token})
        assert moving.MoveStatus.PanTilt == "MOVING"
        await ptz.Stop({"ProfileToken": profile.token, "PanTilt": True})
        stopped, _ = await wait_idle(ptz, profile.token, timeout=1)

        await ptz.ContinuousMove({"ProfileToken": profile.token, "Velocity": {"PanTilt": {"x": -0.5, "y": 0}}, "Timeout": "PT0.4S"})
        after, seen = await wait_idle(ptz, profile.token, timeout=5)
        assert "MOVING" in seen and after.Position.PanTilt.x < stopped.Position.PanTilt.x

        await ptz.AbsoluteMove({"ProfileToken": profile.token, "Position": {"PanTilt": {"x": 3.0, "y": -7.0}}})
        clamped, _ = await wait_idle(ptz, profile.token)
        assert (clamped.Position.PanTilt.x, clamped.Position.PanTilt.y) == (pytest.approx(1.0), pytest.approx(-1.0))

        with pytest.raises(Fault):
            await ptz.AbsoluteMove({"ProfileToken": "nope", "Position": {"PanTilt": {"x": 0, "y": 0}}})
    finally:
        await cam.close()


async def test_presets_and_home_survive_a_restart(daemon):
    cam, ptz, profile = await connect(daemon)
    try:
        await ptz.AbsoluteMove({"ProfileToken": profile.token, "Position": {"PanTilt": {"x": 0.5, "y": 0.25}}})
        await wait_idle(ptz, profile.token)
        cot = await ptz.SetPreset({"ProfileToken": profile.token, "PresetName": "cot"})
        await ptz.AbsoluteMove({"ProfileToken": profile.token, "Position": {"PanTilt": {"x": -0.5, "y": -0.5}}})
        await wait_idle(ptz, profile.token)
        door = await ptz.SetPreset({"ProfileToken": profile.token, "PresetName": "door"})
        await ptz.SetHomePosition({"ProfileToken": profile.token})
        assert cot != door
    finally:
        await cam.close()

    daemon.stop()
    daemon.start()
    cam, ptz, profile = await connect(daemon)
    try:
        # It starts where it was left.
        here, _ = await wait_idle(ptz, profile.token)
        assert here.Position.PanTilt.x == pytest.approx(-0.5, abs=0.01)
        presets = {p.Name: p.token for p in await ptz.GetPresets({"ProfileToken": profile.token})}
        assert set(presets) == {"cot", "door"}
        await ptz.GotoPreset({"ProfileToken": profile.token, "PresetToken": presets["cot"]})
        at, _ = await wait_idle(ptz, profile.token)
        assert (at.Position.PanTilt.x, at.Position.PanTilt.y) == (pytest.approx(0.5, abs=0.01), pytest.approx(0.25, abs=0.01))
        await ptz.GotoHomePosition({"ProfileToken": profile.token})
        home, _ = await wait_idle(ptz, profile.token)
        assert home.Position.PanTilt.x == pytest.approx(-0.5, abs=0.01)
        await ptz.RemovePreset({"ProfileToken": profile.token, "PresetToken": presets["door"]})
        assert [p.Name for p in await ptz.GetPresets({"ProfileToken": profile.token})] == ["cot"]
        with pytest.raises(Fault):
            await ptz.GotoPreset({"ProfileToken": profile.token, "PresetToken": presets["door"]})
    finally:
        await cam.close()


def snapshot_rgb(daemon) -> bytes:
    import subprocess

    import httpx

    jpeg = httpx.get(f"http://127.0.0.1:{daemon.http_port}/snapshot.jpg?width=160", auth=httpx.DigestAuth(*ADMIN), timeout=20)
    assert jpeg.status_code == 200
    return subprocess.run(["ffmpeg", "-v", "error", "-i", "-", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                          input=jpeg.content, capture_output=True, check=True).stdout


async def test_digital_zoom_changes_the_picture_not_the_stream_size(tmp_path):
    from conftest import Daemon, ffprobe

    # A plain pattern (no state overlay), so only the zoom can change the picture.
    daemon = Daemon(tmp_path, '[video]\nsource = "raw"\npipeline = "videotestsrc is-live=true pattern=smpte"\n').start()
    try:
        cam, ptz, profile = await connect(daemon)
        try:
            before = snapshot_rgb(daemon)
            await ptz.AbsoluteMove({"ProfileToken": profile.token, "Position": {"Zoom": {"x": 1 / 3}}})
            status, seen = await wait_idle(ptz, profile.token)
            assert status.Position.Zoom.x == pytest.approx(1 / 3, abs=0.01)
            # 2x: the middle half of the picture fills the frame (once the next frame shows it).
            def difference_to(picture):
                return sum(abs(a - b) for a, b in zip(before, picture)) / len(before)

            deadline = time.time() + 10
            after = snapshot_rgb(daemon)
            while difference_to(after) <= 20 and time.time() < deadline:
                after = snapshot_rgb(daemon)
            difference = difference_to(after)
            assert difference > 20, f"the zoomed picture looks the same ({difference:.1f})"
            assert "h264,640,360" in ffprobe(daemon.rtsp_with_creds(f"rtsp://127.0.0.1:{daemon.rtsp_port}/stream"))
            await ptz.AbsoluteMove({"ProfileToken": profile.token, "Position": {"Zoom": {"x": 0}}})
            await wait_idle(ptz, profile.token)
            deadline = time.time() + 10
            back = snapshot_rgb(daemon)
            while difference_to(back) >= 5 and time.time() < deadline:
                back = snapshot_rgb(daemon)
            assert difference_to(back) < 5, "zooming out did not restore the picture"
        finally:
            await cam.close()
    finally:
        daemon.stop()
