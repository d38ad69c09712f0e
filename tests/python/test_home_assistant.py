"""The calls Home Assistant's ONVIF integration makes, in its order, with its library."""

import datetime

import httpx
import pytest
from onvif import ONVIFCamera
from zeep.exceptions import Fault

from conftest import ADMIN, VIEWER, ffprobe

SOAP = "application/soap+xml; charset=utf-8"
DATE_AND_TIME = """<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>
<GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>"""


def subcodes(fault: Fault) -> list[str]:
    """ONVIF subcodes as local names, checking they are in the ONVIF error namespace."""
    codes = fault.subcodes or []
    assert all(q.namespace == "http://www.onvif.org/ver10/error" for q in codes), [q.text for q in codes]
    return [q.localname for q in codes]


async def camera(daemon, creds=ADMIN, tls=False) -> ONVIFCamera:
    """Over plain HTTP as most NVRs, or over HTTPS (what changes passwords must use)."""
    if tls:
        cam = ONVIFCamera("https://127.0.0.1", daemon.https_port, creds[0], creds[1])
    else:
        cam = ONVIFCamera("127.0.0.1", daemon.http_port, creds[0], creds[1])
    await cam.update_xaddrs()
    return cam


async def test_the_home_assistant_sequence(daemon):
    # GetSystemDateAndTime answers without any credentials, with NTP time in UTC.
    r = httpx.post(f"http://127.0.0.1:{daemon.http_port}/onvif/device_service", content=DATE_AND_TIME, headers={"Content-Type": SOAP})
    assert r.status_code == 200, r.text
    assert "<tt:DateTimeType>NTP</tt:DateTimeType>" in r.text and "UTCDateTime" in r.text

    cam = await camera(daemon)
    try:
        device = await cam.create_devicemgmt_service()
        clock = await device.GetSystemDateAndTime()
        utc = clock.UTCDateTime
        camera_time = datetime.datetime(utc.Date.Year, utc.Date.Month, utc.Date.Day, utc.Time.Hour, utc.Time.Minute, utc.Time.Second, tzinfo=datetime.timezone.utc)
        assert abs((camera_time - datetime.datetime.now(datetime.timezone.utc)).total_seconds()) < 5

        # GetServices and GetCapabilities agree, and use the address we connected to.
        services = await device.GetServices({"IncludeCapability": True})
        xaddrs = {s.Namespace: s.XAddr for s in services}
        base = f"http://127.0.0.1:{daemon.http_port}/onvif/"
        assert xaddrs["http://www.onvif.org/ver10/device/wsdl"] == base + "device_service"
        assert xaddrs["http://www.onvif.org/ver10/media/wsdl"] == base + "media_service"
        assert xaddrs["http://www.onvif.org/ver20/media/wsdl"] == base + "media2_service"
        caps = await device.GetCapabilities({"Category": "All"})
        assert caps.Media.XAddr == xaddrs["http://www.onvif.org/ver10/media/wsdl"]
        assert caps.Device.XAddr == xaddrs["http://www.onvif.org/ver10/device/wsdl"]

        interfaces = await device.GetNetworkInterfaces()
        enabled = [i for i in interfaces if i.Enabled]
        assert enabled and len(enabled[0].Info.HwAddress.split(":")) == 6

        info = await device.GetDeviceInformation()
        assert info.Manufacturer and info.Model and info.SerialNumber and info.FirmwareVersion

        media = await cam.create_media_service()
        media_caps = await media.GetServiceCapabilities()
        assert media_caps.SnapshotUri is True

        profiles = await media.GetProfiles()
        h264 = [p for p in profiles if p.VideoEncoderConfiguration and p.VideoEncoderConfiguration.Encoding == "H264"]
        assert len(h264) == 2
        main = h264[0]
        assert (main.VideoEncoderConfiguration.Resolution.Width, main.VideoEncoderConfiguration.Resolution.Height) == (640, 360)
        sources = await media.GetVideoSources()
        assert main.VideoSourceConfiguration.SourceToken in [s.token for s in sources]

        for protocol, transport, port in [
            ("RTSP", "tcp", daemon.rtsp_port),
            ("UDP", "udp", daemon.rtsp_port),
            ("TCP", "tcp", daemon.rtsp_port),
            # Tunnelled in HTTP, through the HTTP port.
            ("HTTP", "http", daemon.http_port),
        ]:
            req = media.create_type("GetStreamUri")
            req.ProfileToken = main.token
            req.StreamSetup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": protocol}}
            uri = (await media.GetStreamUri(req)).Uri
            assert uri.startswith(f"rtsp://127.0.0.1:{port}/"), uri
            out = ffprobe(daemon.rtsp_with_creds(uri), transport)
            assert "h264,640,360" in out and "aac" in out, out

        snapshot = (await media.GetSnapshotUri({"ProfileToken": main.token})).Uri
        r = httpx.get(snapshot)
        assert r.status_code == 401
        r = httpx.get(snapshot, auth=httpx.DigestAuth(*ADMIN))
        assert r.status_code == 200 and r.content[:2] == b"\xff\xd8"
    finally:
        await cam.close()


async def test_a_wrong_password_gets_not_authorized(daemon):
    cam = ONVIFCamera("127.0.0.1", daemon.http_port, ADMIN[0], "not the password")
    try:
        # update_xaddrs uses GetCapabilities, which needs no login.
        await cam.update_xaddrs()
        device = await cam.create_devicemgmt_service()
        with pytest.raises(Fault) as fault:
            await device.GetDeviceInformation()
        assert subcodes(fault.value) == ["NotAuthorized"]
        media = await cam.create_media_service()
        with pytest.raises(Fault):
            await media.GetProfiles()
    finally:
        await cam.close()


async def test_a_watch_only_user_cannot_change_settings_or_users(daemon):
    cam = await camera(daemon, VIEWER)
    try:
        media = await cam.create_media_service()
        profiles = await media.GetProfiles()
        assert profiles
        config = profiles[0].VideoEncoderConfiguration
        with pytest.raises(Fault) as fault:
            await media.SetVideoEncoderConfiguration({"Configuration": config, "ForcePersistence": True})
        assert subcodes(fault.value) == ["NotAuthorized"]
        device = await cam.create_devicemgmt_service()
        with pytest.raises(Fault):
            await device.GetUsers()
        with pytest.raises(Fault):
            await device.SystemReboot()
    finally:
        await cam.close()


async def test_encoder_changes_take_effect_persist_and_bad_ones_change_nothing(daemon):
    cam = await camera(daemon)
    try:
        media = await cam.create_media_service()
        profiles = await media.GetProfiles()
        config = profiles[0].VideoEncoderConfiguration
        options = await media.GetVideoEncoderConfigurationOptions({"ConfigurationToken": config.token})
        sizes = [(r.Width, r.Height) for r in options.H264.ResolutionsAvailable]
        assert (960, 540) in sizes

        config.Resolution.Width, config.Resolution.Height = 1281, 721
        with pytest.raises(Fault) as fault:
            await media.SetVideoEncoderConfiguration({"Configuration": config, "ForcePersistence": True})
        assert subcodes(fault.value) == ["InvalidArgVal", "ConfigModify"]
        assert "h264,640,360" in ffprobe(daemon.rtsp_with_creds(f"rtsp://127.0.0.1:{daemon.rtsp_port}/stream"))

        config.Resolution.Width, config.Resolution.Height = 960, 540
        config.RateControl.FrameRateLimit = 10
        config.H264.GovLength = 20
        await media.SetVideoEncoderConfiguration({"Configuration": config, "ForcePersistence": True})
        again = (await media.GetProfiles())[0].VideoEncoderConfiguration
        assert (again.Resolution.Width, again.Resolution.Height, again.RateControl.FrameRateLimit, again.H264.GovLength) == (960, 540, 10, 20)
    finally:
        await cam.close()
    assert "h264,960,540" in ffprobe(daemon.rtsp_with_creds(f"rtsp://127.0.0.1:{daemon.rtsp_port}/stream"))

    # Persisted: a restarted camera streams the new size.
    daemon.stop()
    daemon.start()
    assert "h264,960,540" in ffprobe(daemon.rtsp_with_creds(f"rtsp://127.0.0.1:{daemon.rtsp_port}/stream"))


async def test_users_are_managed_over_onvif_and_persist(daemon):
    # CreateUsers carries passwords: HTTPS only.
    cam = await camera(daemon, tls=True)
    try:
        device = await cam.create_devicemgmt_service()
        names = {u.Username: u.UserLevel for u in await device.GetUsers()}
        assert names == {"admin": "Administrator", "viewer": "User"}
        await device.CreateUsers({"User": [{"Username": "grandma", "Password": "knits-4-baby", "UserLevel": "Operator"}]})
        with pytest.raises(Fault):
            await device.CreateUsers({"User": [{"Username": "grandma", "Password": "again-123", "UserLevel": "User"}]})
        await device.DeleteUsers({"Username": ["viewer"]})
        with pytest.raises(Fault):
            await device.DeleteUsers({"Username": ["admin"]})  # the last administrator stays
        names = {u.Username: u.UserLevel for u in await device.GetUsers()}
        assert names == {"admin": "Administrator", "grandma": "Operator"}
    finally:
        await cam.close()

    grandma = ("grandma", "knits-4-baby")
    assert "h264" in ffprobe(daemon.rtsp_with_creds(f"rtsp://127.0.0.1:{daemon.rtsp_port}/sub", grandma))
    r = httpx.get(f"http://127.0.0.1:{daemon.http_port}/snapshot.jpg", auth=httpx.DigestAuth(*VIEWER))
    assert r.status_code == 401

    daemon.stop()
    daemon.start()
    cam = await camera(daemon, grandma)
    try:
        media = await cam.create_media_service()
        assert await media.GetProfiles()
    finally:
        await cam.close()


MEDIA2_STREAM_URI = """<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>
<GetStreamUri xmlns="http://www.onvif.org/ver20/media/wsdl"><Protocol>{protocol}</Protocol><ProfileToken>{token}</ProfileToken></GetStreamUri>
</s:Body></s:Envelope>"""


@pytest.mark.parametrize("protocol,transport", [("RtspUnicast", "udp"), ("RTSP", "tcp"), ("RtspOverHttp", "http")])
def test_media2_stream_uris_play(daemon, protocol, transport):
    body = MEDIA2_STREAM_URI.format(protocol=protocol, token="sub")
    r = httpx.post(f"http://127.0.0.1:{daemon.http_port}/onvif/media2_service", content=body,
                   headers={"Content-Type": SOAP}, auth=httpx.DigestAuth(*ADMIN))
    assert r.status_code == 200, r.text
    uri = r.text.split("<tr2:Uri>")[1].split("</tr2:Uri>")[0]
    out = ffprobe(daemon.rtsp_with_creds(uri), transport)
    assert "h264,320,180" in out and "aac" in out, out


MEDIA2_SET = """<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tt="http://www.onvif.org/ver10/schema"><s:Body>
<SetVideoEncoderConfiguration xmlns="http://www.onvif.org/ver20/media/wsdl"><Configuration token="venc_sub" GovLength="10" Profile="Main">
<tt:Name>Sub stream</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>H264</tt:Encoding>
<tt:Resolution><tt:Width>{w}</tt:Width><tt:Height>{h}</tt:Height></tt:Resolution>
<tt:RateControl ConstantBitRate="false"><tt:FrameRateLimit>10</tt:FrameRateLimit><tt:BitrateLimit>300</tt:BitrateLimit></tt:RateControl>
<tt:Quality>5</tt:Quality></Configuration></SetVideoEncoderConfiguration></s:Body></s:Envelope>"""


def test_media2_encoder_changes_take_effect(daemon):
    url = f"http://127.0.0.1:{daemon.http_port}/onvif/media2_service"
    post = lambda body: httpx.post(url, content=body, headers={"Content-Type": SOAP}, auth=httpx.DigestAuth(*ADMIN))
    r = post(MEDIA2_SET.format(w=999, h=333))
    assert r.status_code == 400 and "ter:ConfigModify" in r.text, r.text
    r = post(MEDIA2_SET.format(w=480, h=270))
    assert r.status_code == 200, r.text
    r = post(MEDIA2_STREAM_URI.format(protocol="RtspUnicast", token="sub").replace("GetStreamUri", "GetProfiles").replace("<Protocol>RtspUnicast</Protocol><ProfileToken>sub</ProfileToken>", "<Token>sub</Token><Type>VideoEncoder</Type>"))
    assert r.status_code == 200, r.text
    assert 'GovLength="10"' in r.text and "<tt:Width>480</tt:Width>" in r.text, r.text
    assert "h264,480,270" in ffprobe(daemon.rtsp_with_creds(f"rtsp://127.0.0.1:{daemon.rtsp_port}/sub"))
