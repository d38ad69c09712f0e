"""The speaker over ONVIF: the audio output and talk-back decoder as onvif-zeep-async (Home
Assistant's library) reads them, and Media2's audio clips driven the way an NVR does: add a
clip, upload to its UploadUri, play it, see it playing, stop it. zeep's bundled WSDL has no
Media2, so those calls are written by hand, as the other Media2 tests do."""

import html
import re

import httpx
import pytest
from onvif import ONVIFCamera

import speaker
from conftest import ADMIN, VIEWER

SOAP = "application/soap+xml; charset=utf-8"
TR2 = "http://www.onvif.org/ver20/media/wsdl"


def media2(daemon, op, inner="", creds=ADMIN):
    body = (f'<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            f'xmlns:tr2="{TR2}"><s:Body><tr2:{op}>{inner}</tr2:{op}></s:Body></s:Envelope>')
    return httpx.post(f"http://127.0.0.1:{daemon.http_port}/onvif/media2_service", content=body,
                      headers={"Content-Type": SOAP}, auth=httpx.DigestAuth(*creds), timeout=30)


def values(xml, tag):
    return [html.unescape(v) for v in re.findall(rf"<tr2:{tag}>([^<]*)</tr2:{tag}>", xml)]


def clip_config(name, repeat=0, level=None):
    lvl = f"<tr2:AudioOutputLevel>{level}</tr2:AudioOutputLevel>" if level is not None else ""
    return (f"<tr2:Configuration><tr2:Enabled>true</tr2:Enabled><tr2:Name>{name}</tr2:Name>"
            f"<tr2:AudioOutputToken>speaker</tr2:AudioOutputToken><tr2:Type>audio/vnd.wave;codec=1</tr2:Type>"
            f"<tr2:RepeatCycles>{repeat}</tr2:RepeatCycles>{lvl}</tr2:Configuration>")


async def test_zeep_sees_the_speaker_and_the_talkback_decoder(daemon):
    cam = ONVIFCamera("127.0.0.1", daemon.http_port, *ADMIN)
    await cam.update_xaddrs()
    try:
        media = await cam.create_media_service()
        outputs = await media.GetAudioOutputs()
        assert [o.token for o in outputs] == ["speaker"]
        configs = await media.GetAudioOutputConfigurations()
        assert configs[0].OutputToken == "speaker" and configs[0].OutputLevel == 80
        decoders = await media.GetAudioDecoderConfigurations()
        assert decoders[0].token == "talkback_decoder"
        options = await media.GetAudioDecoderConfigurationOptions({"ConfigurationToken": "talkback_decoder"})
        assert 8 in options.G711DecOptions.SampleRateRange.Items
        # The backchannel also takes AAC at 16 kHz.
        assert 16 in options.AACDecOptions.SampleRateRange.Items
        v20 = media2(daemon, "GetAudioDecoderConfigurationOptions").text
        assert re.findall(r"<tt:Encoding>([^<]+)</tt:Encoding>", v20) == ["PCMU", "PCMA", "MPEG4-GENERIC"], v20
        profiles = await media.GetProfiles()
        for p in profiles:
            # zeep files the extension's configurations under its xs:any when it parses them.
            ext = p.Extension
            found = [ext.AudioOutputConfiguration, ext.AudioDecoderConfiguration, *(ext._value_1 or [])]
            assert {c.token for c in found if c is not None} == {"speaker_config", "talkback_decoder"}, ext
        configs[0].OutputLevel = 45
        await media.SetAudioOutputConfiguration({"Configuration": configs[0], "ForcePersistence": False})
        got = await media.GetAudioOutputConfiguration({"ConfigurationToken": "speaker_config"})
        assert got.OutputLevel == 45
        status = httpx.get(f"https://127.0.0.1:{daemon.https_port}/api/audio", auth=httpx.DigestAuth(*ADMIN)).json()
        assert status["volume"] == 45, "ONVIF and the HTTP API share one volume"
        deviceio = await cam.create_deviceio_service()
        assert [o.token for o in await deviceio.GetAudioOutputs()] == ["speaker"]
    finally:
        await cam.close()


def test_an_nvr_adds_uploads_plays_and_stops_a_clip(daemon):
    caps = media2(daemon, "GetServiceCapabilities").text
    assert "AudioClipCapabilities" in caps and "MaxAudioClipLimit=" in caps, caps
    profiles = media2(daemon, "GetProfiles", "<tr2:Type>All</tr2:Type>").text
    assert 'tr2:AudioOutput token="speaker_config"' in profiles, profiles

    r = media2(daemon, "AddAudioClip", clip_config("Mum sings", repeat=-1, level=70))
    assert r.status_code == 200, r.text
    token = values(r.text, "Token")[0]
    upload = values(r.text, "UploadUri")[0]
    assert values(r.text, "ExpiryTime")
    assert upload.startswith(f"http://127.0.0.1:{daemon.http_port}/"), upload

    # Not uploaded yet: it cannot play.
    r = media2(daemon, "PlayAudioClip", f"<tr2:Token>{token}</tr2:Token><tr2:Play>true</tr2:Play>")
    assert r.status_code >= 400 and "AudioClipNotUploaded" in r.text, r.text

    up = httpx.post(upload, content=speaker.tone_wav(660, 1.0), auth=httpx.DigestAuth(*ADMIN), timeout=30)
    assert up.status_code == 200, up.text
    clips = media2(daemon, "GetAudioClips", f"<tr2:Token>{token}</tr2:Token>").text
    assert values(clips, "Name") == ["Mum sings"] and values(clips, "Type") == ["audio/vnd.wave;codec=1"], clips
    assert values(clips, "RepeatCycles") == ["-1"] and values(clips, "AudioOutputLevel") == ["70"]

    r = media2(daemon, "PlayAudioClip",
               f"<tr2:Token>{token}</tr2:Token><tr2:AudioOutputToken>speaker</tr2:AudioOutputToken><tr2:Play>true</tr2:Play>")
    assert r.status_code == 200, r.text
    playing = media2(daemon, "GetPlayingAudioClips").text
    assert values(playing, "Token") == [token] and values(playing, "RepeatsLeft") == ["-1"], playing
    assert values(playing, "AudioOutputLevel") == ["70"]

    # A damaged upload to the same URI is refused and the clip plays on.
    bad = httpx.post(upload, content=b"RIFF\x10\x00\x00\x00WAVEdata\xff\xff\xff\x7f" + b"\x00" * 64,
                     auth=httpx.DigestAuth(*ADMIN), timeout=30)
    assert bad.status_code == 422, bad.text
    # 2.5 s more of the clip reach the speaker (the file grows only while something plays).
    wav = daemon.tmp / "data" / "speaker.wav"
    rate, played = speaker.read(wav)
    daemon.wait_for(lambda: len(speaker.read(wav)[1]) >= len(played) + 2.5 * rate, "the clip stopped")
    assert values(media2(daemon, "GetPlayingAudioClips").text, "Token") == [token]
    r = media2(daemon, "PlayAudioClip", f"<tr2:Token>{token}</tr2:Token><tr2:Play>false</tr2:Play>")
    assert r.status_code == 200, r.text
    daemon.wait_for(lambda: values(media2(daemon, "GetPlayingAudioClips").text, "Token") == [], "still playing")
    assert values(media2(daemon, "GetPlayingAudioClips").text, "Token") == []
    heard = [w for w in speaker.windows(daemon.tmp / "data" / "speaker.wav") if speaker.near(w[1], 660)]
    assert len(heard) >= 25, f"about 3 s of the looping clip, got {len(heard)} windows"

    # A user who may only watch cannot play; nonsense gets a fault, not a crash.
    r = media2(daemon, "PlayAudioClip", f"<tr2:Token>{token}</tr2:Token><tr2:Play>true</tr2:Play>", creds=VIEWER)
    assert r.status_code >= 400 and "NotAuthorized" in r.text, r.text
    for inner in [f"<tr2:Token>{token}</tr2:Token>", "<tr2:Token>nope</tr2:Token><tr2:Play>true</tr2:Play>",
                  f"<tr2:Token>{token}</tr2:Token><tr2:Play>true</tr2:Play><tr2:RepeatCycles>lots</tr2:RepeatCycles>"]:
        r = media2(daemon, "PlayAudioClip", inner)
        assert r.status_code >= 400 and "Fault" in r.text, (inner, r.text)

    r = media2(daemon, "SetAudioClip", f"<tr2:Token>{token}</tr2:Token>" + clip_config("Mum, again"))
    assert r.status_code == 200, r.text
    assert values(media2(daemon, "GetAudioClips", f"<tr2:Token>{token}</tr2:Token>").text, "Name") == ["Mum, again"]
    assert media2(daemon, "DeleteAudioClip", f"<tr2:Token>{token}</tr2:Token>").status_code == 200
    r = media2(daemon, "GetAudioClips", f"<tr2:Token>{token}</tr2:Token>")
    assert r.status_code >= 400 and "InvalidToken" in r.text


def test_an_nvr_can_start_a_built_in_lullaby(daemon):
    names = values(media2(daemon, "GetAudioClips").text, "Name")
    assert "Brahms' Lullaby (Wiegenlied)" in names and "White noise" in names, names
    r = media2(daemon, "PlayAudioClip", "<tr2:Token>lullaby-brahms</tr2:Token><tr2:Play>true</tr2:Play>")
    assert r.status_code == 200, r.text
    assert values(media2(daemon, "GetPlayingAudioClips").text, "Token") == ["lullaby-brahms"]
    r = media2(daemon, "DeleteAudioClip", "<tr2:Token>lullaby-brahms</tr2:Token>")
    assert r.status_code >= 400 and "built-in" in r.text
