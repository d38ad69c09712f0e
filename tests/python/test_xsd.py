"""Every Device, Media (ver10), PTZ, Imaging, DeviceIO and Events response the camera produces validates against the ONVIF XSDs
shipped with onvif-zeep-async. (That package has no Media2 schema; Media2 answers are checked by
the clients in test_home_assistant.py and the npm test.)"""

import httpx
import pytest
from lxml import etree

from conftest import onvif_call as call
from xsd import body_element, errors

TDS = "http://www.onvif.org/ver10/device/wsdl"
TRT = "http://www.onvif.org/ver10/media/wsdl"
TT = "http://www.onvif.org/ver10/schema"

STREAM_SETUP = f'<StreamSetup><Stream xmlns="{TT}">RTP-Unicast</Stream><Transport xmlns="{TT}"><Protocol>{{}}</Protocol></Transport></StreamSetup><ProfileToken>main</ProfileToken>'

DEVICE = [
    ("GetSystemDateAndTime", ""),
    ("GetServices", "<IncludeCapability>false</IncludeCapability>"),
    ("GetServices", "<IncludeCapability>true</IncludeCapability>"),
    ("GetServiceCapabilities", ""),
    ("GetCapabilities", "<Category>All</Category>"),
    ("GetCapabilities", "<Category>Device</Category>"),
    ("GetCapabilities", "<Category>Media</Category>"),
    ("GetDeviceInformation", ""),
    ("GetNetworkInterfaces", ""),
    ("GetNetworkProtocols", ""),
    ("GetDNS", ""),
    ("GetNTP", ""),
    ("GetNetworkDefaultGateway", ""),
    ("GetScopes", ""),
    ("GetHostname", ""),
    ("GetWsdlUrl", ""),
    ("GetEndpointReference", ""),
    ("GetDiscoveryMode", ""),
    ("SetDiscoveryMode", "<DiscoveryMode>NonDiscoverable</DiscoveryMode>"),
    ("GetUsers", ""),
    ("CreateUsers", f'<User><Username xmlns="{TT}">nanny</Username><Password xmlns="{TT}">bottle-123</Password><UserLevel xmlns="{TT}">User</UserLevel></User>'),
    ("SetUser", f'<User><Username xmlns="{TT}">nanny</Username><Password xmlns="{TT}">bottle-456</Password><UserLevel xmlns="{TT}">Operator</UserLevel></User>'),
    ("DeleteUsers", "<Username>nanny</Username>"),
    ("SetSystemDateAndTime", "<DateTimeType>NTP</DateTimeType><DaylightSavings>false</DaylightSavings>"),
    ("SystemReboot", ""),
]

MEDIA = [
    ("GetServiceCapabilities", ""),
    ("GetProfiles", ""),
    ("GetProfile", "<ProfileToken>sub</ProfileToken>"),
    ("GetVideoSources", ""),
    ("GetAudioSources", ""),
    ("GetVideoSourceConfigurations", ""),
    ("GetVideoSourceConfiguration", "<ConfigurationToken>vsc</ConfigurationToken>"),
    ("GetVideoEncoderConfigurations", ""),
    ("GetVideoEncoderConfiguration", "<ConfigurationToken>venc_main</ConfigurationToken>"),
    ("GetAudioSourceConfigurations", ""),
    ("GetAudioSourceConfiguration", "<ConfigurationToken>asc</ConfigurationToken>"),
    ("GetAudioEncoderConfigurations", ""),
    ("GetAudioEncoderConfiguration", "<ConfigurationToken>aenc</ConfigurationToken>"),
    ("GetVideoSourceConfigurationOptions", ""),
    ("GetVideoEncoderConfigurationOptions", "<ConfigurationToken>venc_sub</ConfigurationToken>"),
    ("GetAudioSourceConfigurationOptions", ""),
    ("GetAudioEncoderConfigurationOptions", ""),
    ("GetCompatibleVideoEncoderConfigurations", "<ProfileToken>main</ProfileToken>"),
    ("GetStreamUri", STREAM_SETUP.format("UDP")),
    ("GetStreamUri", STREAM_SETUP.format("TCP")),
    ("GetStreamUri", STREAM_SETUP.format("RTSP")),
    ("GetStreamUri", STREAM_SETUP.format("HTTP")),
    ("GetSnapshotUri", "<ProfileToken>main</ProfileToken>"),
    ("GetAudioOutputs", ""),
    ("GetAudioOutputConfigurations", ""),
    ("GetAudioDecoderConfigurations", ""),
    ("GetCompatibleAudioOutputConfigurations", "<ProfileToken>main</ProfileToken>"),
    ("GetCompatibleAudioDecoderConfigurations", "<ProfileToken>main</ProfileToken>"),
    ("GetAudioOutputConfiguration", "<ConfigurationToken>speaker_config</ConfigurationToken>"),
    ("GetAudioDecoderConfiguration", "<ConfigurationToken>talkback_decoder</ConfigurationToken>"),
    ("GetAudioOutputConfigurationOptions", "<ConfigurationToken>speaker_config</ConfigurationToken>"),
    ("GetAudioDecoderConfigurationOptions", "<ConfigurationToken>talkback_decoder</ConfigurationToken>"),
    ("SetAudioOutputConfiguration", f'<Configuration token="speaker_config"><Name xmlns="{TT}">Speaker</Name><UseCount xmlns="{TT}">2</UseCount><OutputToken xmlns="{TT}">speaker</OutputToken><OutputLevel xmlns="{TT}">70</OutputLevel></Configuration><ForcePersistence>true</ForcePersistence>'),
]


TPTZ = "http://www.onvif.org/ver20/ptz/wsdl"
FOV = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/TranslationSpaceFov"

PTZ = [
    ("GetServiceCapabilities", ""),
    ("GetNodes", ""),
    ("GetNode", "<NodeToken>ptz_node</NodeToken>"),
    ("GetConfigurations", ""),
    ("GetConfiguration", "<PTZConfigurationToken>ptz</PTZConfigurationToken>"),
    ("GetConfigurationOptions", "<ConfigurationToken>ptz</ConfigurationToken>"),
    ("AbsoluteMove", f'<ProfileToken>main</ProfileToken><Position><PanTilt xmlns="{TT}" x="0.1" y="0.1"/></Position>'),
    ("RelativeMove", f'<ProfileToken>main</ProfileToken><Translation><PanTilt xmlns="{TT}" x="0.1" y="0" space="{FOV}"/></Translation>'),
    ("ContinuousMove", f'<ProfileToken>main</ProfileToken><Velocity><PanTilt xmlns="{TT}" x="0.2" y="0"/></Velocity><Timeout>PT0.2S</Timeout>'),
    ("Stop", "<ProfileToken>main</ProfileToken>"),
    ("GetStatus", "<ProfileToken>main</ProfileToken>"),
    ("SetPreset", "<ProfileToken>main</ProfileToken><PresetName>cot</PresetName>"),
    ("GetPresets", "<ProfileToken>main</ProfileToken>"),
    ("GotoPreset", "<ProfileToken>main</ProfileToken><PresetToken>preset1</PresetToken>"),
    ("SetHomePosition", "<ProfileToken>main</ProfileToken>"),
    ("GotoHomePosition", "<ProfileToken>main</ProfileToken>"),
    ("RemovePreset", "<ProfileToken>main</ProfileToken><PresetToken>preset1</PresetToken>"),
]


TIMG = "http://www.onvif.org/ver20/imaging/wsdl"
TMD = "http://www.onvif.org/ver10/deviceIO/wsdl"

NIGHT = [
    ("imaging_service", TIMG, "GetServiceCapabilities", ""),
    ("imaging_service", TIMG, "GetImagingSettings", "<VideoSourceToken>vs</VideoSourceToken>"),
    ("imaging_service", TIMG, "GetOptions", "<VideoSourceToken>vs</VideoSourceToken>"),
    ("imaging_service", TIMG, "GetMoveOptions", "<VideoSourceToken>vs</VideoSourceToken>"),
    ("imaging_service", TIMG, "GetStatus", "<VideoSourceToken>vs</VideoSourceToken>"),
    ("imaging_service", TIMG, "SetImagingSettings", f'<VideoSourceToken>vs</VideoSourceToken><ImagingSettings><IrCutFilter xmlns="{TT}">AUTO</IrCutFilter></ImagingSettings>'),
    ("deviceio_service", TMD, "GetServiceCapabilities", ""),
    # DeviceIO's WSDL uses the Device namespace for these two.
    ("deviceio_service", TDS, "GetRelayOutputs", ""),
    ("deviceio_service", TDS, "SetRelayOutputState", "<RelayOutputToken>ir_leds</RelayOutputToken><LogicalState>inactive</LogicalState>"),
    # The speaker: DeviceIO's WSDL takes GetAudioOutputs from the Media namespace.
    ("deviceio_service", TRT, "GetAudioOutputs", ""),
    ("deviceio_service", TMD, "GetAudioOutputConfiguration", "<AudioOutputToken>speaker</AudioOutputToken>"),
    ("deviceio_service", TMD, "GetAudioOutputConfigurationOptions", "<AudioOutputToken>speaker</AudioOutputToken>"),
    ("deviceio_service", TMD, "SetAudioOutputConfiguration", f'<Configuration token="speaker_config"><Name xmlns="{TT}">Speaker</Name><UseCount xmlns="{TT}">2</UseCount><OutputToken xmlns="{TT}">speaker</OutputToken><OutputLevel xmlns="{TT}">60</OutputLevel></Configuration>'),
    ("deviceio_service", TMD, "GetRelayOutputOptions", "<RelayOutputToken>ir_leds</RelayOutputToken>"),
    ("deviceio_service", TMD, "SetRelayOutputSettings", f'<RelayOutput token="ir_leds"><Properties xmlns="{TT}"><Mode>Bistable</Mode><DelayTime>PT0S</DelayTime><IdleState>open</IdleState></Properties></RelayOutput>'),
    ("device_service", TDS, "SetRelayOutputSettings", f'<RelayOutputToken>ir_leds</RelayOutputToken><Properties><Mode xmlns="{TT}">Bistable</Mode><DelayTime xmlns="{TT}">PT0S</DelayTime><IdleState xmlns="{TT}">open</IdleState></Properties>'),
    ("device_service", TDS, "GetRelayOutputs", ""),
    ("device_service", TDS, "SendAuxiliaryCommand", "<AuxiliaryCommand>tt:IRLamp|Auto</AuxiliaryCommand>"),
    ("ptz_service", "http://www.onvif.org/ver20/ptz/wsdl", "SendAuxiliaryCommand", "<ProfileToken>main</ProfileToken><AuxiliaryData>tt:IRLamp|On</AuxiliaryData>"),
]


TEV = "http://www.onvif.org/ver10/events/wsdl"
WSNT = "http://docs.oasis-open.org/wsn/b-2"

EVENTS = [
    (TEV, "GetServiceCapabilities", ""),
    (TEV, "GetEventProperties", ""),
    (TEV, "CreatePullPointSubscription", "<InitialTerminationTime>PT60S</InitialTerminationTime>"),
    (WSNT, "Subscribe", '<ConsumerReference><Address xmlns="http://www.w3.org/2005/08/addressing">http://127.0.0.1:9/hook</Address></ConsumerReference><InitialTerminationTime>PT60S</InitialTerminationTime>'),
]

SUBSCRIPTION = [
    (TEV, "PullMessages", "<Timeout>PT1S</Timeout><MessageLimit>100</MessageLimit>"),
    (TEV, "SetSynchronizationPoint", ""),
    (WSNT, "Renew", "<TerminationTime>PT120S</TerminationTime>"),
    (WSNT, "Unsubscribe", ""),
]



def check(response: httpx.Response, op: str):
    assert response.status_code == 200, response.text
    element = body_element(response.content)
    assert element.tag == f"{{{element.nsmap[element.prefix]}}}{op}Response", element.tag
    problems = errors(element)
    assert not problems, f"{op}: {problems}\n{response.text}"


def test_device_responses_validate(daemon):
    for op, inner in DEVICE:
        check(call(daemon, "device_service", TDS, op, inner), op)


def test_media_responses_validate(daemon):
    for op, inner in MEDIA:
        check(call(daemon, "media_service", TRT, op, inner), op)
    # A change sent back as read validates too, and is accepted.
    config = body_element(call(daemon, "media_service", TRT, "GetVideoEncoderConfiguration", "<ConfigurationToken>venc_main</ConfigurationToken>").content)[0]
    inner = etree.tostring(config).decode().replace("trt:Configuration", "Configuration", 2)
    check(call(daemon, "media_service", TRT, "SetVideoEncoderConfiguration", f"{inner}<ForcePersistence>true</ForcePersistence>"), "SetVideoEncoderConfiguration")


def test_ptz_responses_validate(daemon):
    for op, inner in PTZ:
        check(call(daemon, "ptz_service", TPTZ, op, inner), op)


def test_night_vision_responses_validate(daemon):
    for service, ns, op, inner in NIGHT:
        check(call(daemon, service, ns, op, inner), op)


def test_events_responses_validate(daemon):
    for ns, op, inner in EVENTS:
        r = call(daemon, "events_service", ns, op, inner)
        check(r, op)
    created = body_element(call(daemon, "events_service", TEV, "CreatePullPointSubscription", "").content)
    address = created.find(f"{{{TEV}}}SubscriptionReference/{{http://www.w3.org/2005/08/addressing}}Address").text
    path = address.split("/", 3)[3]
    for ns, op, inner in SUBSCRIPTION:
        check(call(daemon, path.removeprefix("onvif/"), ns, op, inner), op)


@pytest.mark.parametrize("op,inner,subcodes", [
    ("GetProfile", "<ProfileToken>nope</ProfileToken>", ["InvalidArgVal", "NoProfile"]),
    ("MakeCoffee", "", ["ActionNotSupported"]),
])
def test_faults_are_soap_12_with_onvif_subcodes(daemon, op, inner, subcodes):
    r = call(daemon, "media_service", TRT, op, inner)
    assert r.status_code in (400, 500)
    fault = body_element(r.content)
    env = "http://www.w3.org/2003/05/soap-envelope"
    assert fault.tag == f"{{{env}}}Fault"
    code = fault.find(f"{{{env}}}Code/{{{env}}}Value")
    assert code.text in ("env:Sender", "env:Receiver")
    found = []
    sub = fault.find(f"{{{env}}}Code/{{{env}}}Subcode")
    while sub is not None:
        prefix, local = sub.find(f"{{{env}}}Value").text.split(":")
        assert sub.find(f"{{{env}}}Value").nsmap[prefix] == "http://www.onvif.org/ver10/error"
        found.append(local)
        sub = sub.find(f"{{{env}}}Subcode")
    assert found == subcodes
    assert fault.find(f"{{{env}}}Reason/{{{env}}}Text").text


def test_the_validator_refuses_what_the_schema_forbids():
    # Guards the guard: elements out of schema order must be reported.
    wrong_order = etree.fromstring(
        b'<tds:GetHostnameResponse xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema">'
        b"<tds:HostnameInformation><tt:Name>x</tt:Name><tt:FromDHCP>false</tt:FromDHCP></tds:HostnameInformation></tds:GetHostnameResponse>"
    )
    assert "not expected" in errors(wrong_order)
