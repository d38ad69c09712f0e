"""ONVIF over HTTPS as zeep clients use it: onvif-zeep-async finds every service at an https
address and plays the stream it is given; plain zeep with the project's WSDLs shows that a
PasswordText login is refused over plain HTTP (with a fault saying what to use) and accepted
over HTTPS, where the camera's certificate is verified."""

import asyncio
import subprocess

import pytest
import requests
from onvif import ONVIFCamera
from zeep import Client
from zeep.exceptions import Fault
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from conftest import ADMIN, running

WSDL = __import__("onvif").__path__[0] + "/wsdl/devicemgmt.wsdl"
BINDING = "{http://www.onvif.org/ver10/device/wsdl}DeviceBinding"


@pytest.fixture
def daemon(tmp_path):
    yield from running(tmp_path)


def test_onvif_zeep_async_over_https(daemon):
    async def run():
        cam = ONVIFCamera("https://127.0.0.1", daemon.https_port, *ADMIN)
        try:
            await cam.update_xaddrs()
            assert cam.xaddrs, "no services"
            for namespace, xaddr in cam.xaddrs.items():
                assert xaddr.startswith(f"https://127.0.0.1:{daemon.https_port}/onvif/"), (namespace, xaddr)
            device = await cam.create_devicemgmt_service()
            info = await device.GetDeviceInformation()
            assert info.Manufacturer and info.Model
            media = await cam.create_media_service()
            profiles = await media.GetProfiles()
            assert profiles
            uri = (await media.GetStreamUri({
                "ProfileToken": profiles[0].token,
                "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
            })).Uri
            snapshot = (await media.GetSnapshotUri({"ProfileToken": profiles[0].token})).Uri
            assert snapshot.startswith(f"https://127.0.0.1:{daemon.https_port}/"), snapshot
            return uri
        finally:
            await cam.close()

    uri = asyncio.run(run())
    assert uri.startswith(f"rtsp://127.0.0.1:{daemon.rtsp_port}/"), uri
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_entries", "stream=codec_name",
         "-of", "csv=p=0", daemon.rtsp_with_creds(uri)],
        capture_output=True, text=True, timeout=60,
    )
    assert "h264" in probe.stdout, probe.stderr


def device_service(url: str, digest: bool):
    session = requests.Session()  # verifies against REQUESTS_CA_BUNDLE: the test certificate
    client = Client(WSDL, transport=Transport(session=session),
                    wsse=UsernameToken(*ADMIN, use_digest=digest))
    return client.create_service(BINDING, url)


def test_password_text_is_refused_over_plain_http_and_accepted_over_https(daemon):
    plain = device_service(f"http://127.0.0.1:{daemon.http_port}/onvif/device_service", digest=False)
    with pytest.raises(Fault) as refused:
        plain.GetUsers()
    assert "PasswordDigest" in refused.value.message and "HTTPS" in refused.value.message, refused.value.message
    secure = device_service(f"{daemon.https_base}/onvif/device_service", digest=False)
    assert {u.Username for u in secure.GetUsers()} >= {"admin"}
    # PasswordDigest still works over plain HTTP.
    digest = device_service(f"http://127.0.0.1:{daemon.http_port}/onvif/device_service", digest=True)
    assert {u.Username for u in digest.GetUsers()} >= {"admin"}
