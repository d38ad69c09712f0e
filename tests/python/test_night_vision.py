"""Night vision over ONVIF: Imaging's IR-cut filter (as Home Assistant switches it), the IR LEDs
as a DeviceIO relay, the tt:IRLamp auxiliary command, and AUTO following the scene."""

import subprocess
import time

import httpx
import pytest
from onvif import ONVIFCamera

from conftest import ADMIN, VIEWER, Daemon

SOAP = "application/soap+xml; charset=utf-8"
TT = "http://www.onvif.org/ver10/schema"


def soap(daemon, service, ns, op, inner="", who=ADMIN):
    body = (
        '<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
        f'<{op} xmlns="{ns}">{inner}</{op}></s:Body></s:Envelope>'
    )
    r = httpx.post(f"http://127.0.0.1:{daemon.http_port}/onvif/{service}", content=body,
                   headers={"Content-Type": SOAP}, auth=httpx.DigestAuth(*who), timeout=10)
    return r


def colourfulness(daemon) -> float:
    """Mean |R-G| + |G-B| of a snapshot: 0 for a grey picture."""
    jpeg = httpx.get(f"http://127.0.0.1:{daemon.http_port}/snapshot.jpg?width=160", auth=httpx.DigestAuth(*ADMIN), timeout=20)
    assert jpeg.status_code == 200, jpeg.text
    rgb = subprocess.run(["ffmpeg", "-v", "error", "-i", "-", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         input=jpeg.content, capture_output=True, check=True).stdout
    total = sum(abs(rgb[i] - rgb[i + 1]) + abs(rgb[i + 1] - rgb[i + 2]) for i in range(0, len(rgb) - 2, 3))
    return total / (len(rgb) / 3)


def metric(daemon, name_prefix: str) -> str:
    text = httpx.get(f"http://127.0.0.1:{daemon.http_port}/metrics", auth=httpx.DigestAuth(*ADMIN)).text
    return next((l for l in text.splitlines() if l.startswith(name_prefix)), "")


def wait_for(predicate, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


async def test_home_assistant_switches_the_ir_cut_filter_and_the_picture_follows(daemon):
    cam = ONVIFCamera("127.0.0.1", daemon.http_port, *ADMIN)
    await cam.update_xaddrs()
    try:
        imaging = await cam.create_imaging_service()
        media = await cam.create_media_service()
        token = (await media.GetVideoSources())[0].token
        options = await imaging.GetOptions({"VideoSourceToken": token})
        assert set(options.IrCutFilterModes) == {"ON", "OFF", "AUTO"}
        assert colourfulness(daemon) > 20, "the day picture has colour"

        # What Home Assistant's "IR lamp" switch sends: a partial ImagingSettings.
        await imaging.SetImagingSettings({"VideoSourceToken": token, "ImagingSettings": {"IrCutFilter": "OFF"}})
        assert (await imaging.GetImagingSettings({"VideoSourceToken": token})).IrCutFilter == "OFF"
        assert metric(daemon, "babymonitor_night_vision") == 'babymonitor_night_vision{mode="night"} 1'
        assert wait_for(lambda: colourfulness(daemon) < 3), "the night picture is not grey"

        await imaging.SetImagingSettings({"VideoSourceToken": token, "ImagingSettings": {"IrCutFilter": "ON"}})
        assert metric(daemon, "babymonitor_night_vision") == 'babymonitor_night_vision{mode="day"} 0'
        assert wait_for(lambda: colourfulness(daemon) > 20)
    finally:
        await cam.close()


def test_the_relay_and_the_auxiliary_command_agree_with_imaging(daemon):
    get_mode = lambda: soap(daemon, "imaging_service", "http://www.onvif.org/ver20/imaging/wsdl", "GetImagingSettings", "<VideoSourceToken>vs</VideoSourceToken>").text
    relays = soap(daemon, "deviceio_service", "http://www.onvif.org/ver10/deviceIO/wsdl", "GetRelayOutputs")
    assert 'token="ir_leds"' in relays.text, relays.text
    r = soap(daemon, "deviceio_service", "http://www.onvif.org/ver10/deviceIO/wsdl", "SetRelayOutputState",
             "<RelayOutputToken>ir_leds</RelayOutputToken><LogicalState>active</LogicalState>")
    assert r.status_code == 200, r.text
    assert "<tt:IrCutFilter>OFF</tt:IrCutFilter>" in get_mode()
    r = soap(daemon, "device_service", "http://www.onvif.org/ver10/device/wsdl", "SendAuxiliaryCommand",
             "<AuxiliaryCommand>tt:IRLamp|Auto</AuxiliaryCommand>")
    assert r.status_code == 200 and "tt:IRLamp|Auto" in r.text, r.text
    assert "<tt:IrCutFilter>AUTO</tt:IrCutFilter>" in get_mode()
    r = soap(daemon, "ptz_service", "http://www.onvif.org/ver20/ptz/wsdl", "SendAuxiliaryCommand",
             "<ProfileToken>main</ProfileToken><AuxiliaryData>tt:IRLamp|Off</AuxiliaryData>")
    assert r.status_code == 200, r.text
    assert "<tt:IrCutFilter>ON</tt:IrCutFilter>" in get_mode()
    r = soap(daemon, "deviceio_service", "http://www.onvif.org/ver10/deviceIO/wsdl", "SetRelayOutputState",
             "<RelayOutputToken>garage</RelayOutputToken><LogicalState>active</LogicalState>")
    assert r.status_code == 400 and "ter:RelayToken" in r.text
    r = soap(daemon, "imaging_service", "http://www.onvif.org/ver20/imaging/wsdl", "SetImagingSettings",
             f'<VideoSourceToken>vs</VideoSourceToken><ImagingSettings><Sharpness xmlns="{TT}">80</Sharpness></ImagingSettings>')
    assert r.status_code == 400 and "ter:SettingsInvalid" in r.text


def test_a_viewer_account_cannot_switch_night_vision_through_any_service(daemon):
    """Every door to the IR relay needs an operator: DeviceIO, PTZ and the Device service alike."""
    get_mode = lambda: soap(daemon, "imaging_service", "http://www.onvif.org/ver20/imaging/wsdl", "GetImagingSettings", "<VideoSourceToken>vs</VideoSourceToken>").text
    before = get_mode()
    attempts = [
        ("device_service", "http://www.onvif.org/ver10/device/wsdl", "SetRelayOutputState",
         "<RelayOutputToken>ir_leds</RelayOutputToken><LogicalState>active</LogicalState>"),
        ("device_service", "http://www.onvif.org/ver10/device/wsdl", "SendAuxiliaryCommand",
         "<AuxiliaryCommand>tt:IRLamp|On</AuxiliaryCommand>"),
        ("device_service", "http://www.onvif.org/ver10/device/wsdl", "SetRelayOutputSettings",
         "<RelayOutputToken>ir_leds</RelayOutputToken><Properties><Mode xmlns=\"http://www.onvif.org/ver10/schema\">Bistable</Mode>"
         "<DelayTime xmlns=\"http://www.onvif.org/ver10/schema\">PT0S</DelayTime><IdleState xmlns=\"http://www.onvif.org/ver10/schema\">open</IdleState></Properties>"),
        ("deviceio_service", "http://www.onvif.org/ver10/deviceIO/wsdl", "SetRelayOutputState",
         "<RelayOutputToken>ir_leds</RelayOutputToken><LogicalState>active</LogicalState>"),
        ("ptz_service", "http://www.onvif.org/ver20/ptz/wsdl", "SendAuxiliaryCommand",
         "<ProfileToken>main</ProfileToken><AuxiliaryData>tt:IRLamp|On</AuxiliaryData>"),
    ]
    for service, ns, op, inner in attempts:
        r = soap(daemon, service, ns, op, inner, who=VIEWER)
        assert r.status_code in (400, 401) and "NotAuthorized" in r.text, (service, op, r.status_code, r.text)
    assert get_mode() == before
    # The viewer may still read the relay, as any ONVIF user can.
    r = soap(daemon, "device_service", "http://www.onvif.org/ver10/device/wsdl", "GetRelayOutputs", who=VIEWER)
    assert r.status_code == 200 and 'token="ir_leds"' in r.text, r.text


def test_auto_follows_a_dark_then_a_bright_scene_without_flicker(tmp_path):
    scene = lambda pattern: f"""
[video]
source = "raw"
pipeline = "videotestsrc is-live=true pattern={pattern}"
[night]
mode = "auto"
dwell_s = 1
"""
    daemon = Daemon(tmp_path, scene("black")).start()
    try:
        # Someone watches, so the camera runs and its brightness is measured.
        viewer = subprocess.Popen(["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i",
                                   daemon.rtsp_with_creds(f"rtsp://127.0.0.1:{daemon.rtsp_port}/sub"), "-t", "30", "-f", "null", "-"])
        try:
            assert wait_for(lambda: metric(daemon, "babymonitor_night_vision").endswith(" 1")), daemon.read_log()
            assert metric(daemon, "babymonitor_scene_brightness")
            # A bright scene: back to day, after the dwell time.
            daemon.extra = scene("white")
            (tmp_path / "config.toml").write_text(daemon.config())
            daemon.proc.send_signal(1)  # SIGHUP
            assert wait_for(lambda: metric(daemon, "babymonitor_night_vision").endswith(" 0")), daemon.read_log()
        finally:
            viewer.kill()
            viewer.wait()
    finally:
        daemon.stop()


IMG = "http://www.onvif.org/ver20/imaging/wsdl"


def test_picture_adjustments_and_auto_tuning_apply_and_persist(daemon):
    settings = lambda: soap(daemon, "imaging_service", IMG, "GetImagingSettings", "<VideoSourceToken>vs</VideoSourceToken>").text
    assert "<tt:Brightness>50</tt:Brightness>" in settings()
    before = colourfulness(daemon)
    r = soap(daemon, "imaging_service", IMG, "SetImagingSettings",
             f'<VideoSourceToken>vs</VideoSourceToken><ImagingSettings><ColorSaturation xmlns="{TT}">0</ColorSaturation></ImagingSettings>')
    assert r.status_code == 200, r.text
    assert wait_for(lambda: colourfulness(daemon) < 3), "saturation 0 did not take the colour out"
    auto = (
        f'<VideoSourceToken>vs</VideoSourceToken><ImagingSettings><Extension xmlns="{TT}"><Extension>'
        "<IrCutFilterAutoAdjustment><BoundaryType>ToOff</BoundaryType><BoundaryOffset>0.5</BoundaryOffset><ResponseTime>PT30S</ResponseTime></IrCutFilterAutoAdjustment>"
        "</Extension></Extension></ImagingSettings>"
    )
    r = soap(daemon, "imaging_service", IMG, "SetImagingSettings", auto)
    assert r.status_code == 200, r.text
    text = settings()
    assert "<tt:BoundaryType>ToOff</tt:BoundaryType><tt:BoundaryOffset>0.5" in text and "PT30S" in text, text
    # Out of range or unknown: refused, nothing changes.
    for bad in ['<Brightness xmlns="{TT}">101</Brightness>', '<Sharpness xmlns="{TT}">3</Sharpness>', '<IrCutFilter xmlns="{TT}">DUSK</IrCutFilter>']:
        r = soap(daemon, "imaging_service", IMG, "SetImagingSettings", f"<VideoSourceToken>vs</VideoSourceToken><ImagingSettings>{bad.format(TT=TT)}</ImagingSettings>")
        assert r.status_code == 400 and "ter:SettingsInvalid" in r.text, (bad, r.text)
    assert "<tt:ColorSaturation>0</tt:ColorSaturation>" in settings()
    daemon.stop()
    daemon.start()
    text = settings()
    assert "<tt:ColorSaturation>0</tt:ColorSaturation>" in text and "PT30S" in text, text
    assert before > 20
