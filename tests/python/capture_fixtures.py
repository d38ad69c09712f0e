"""Records the SOAP requests real ONVIF clients send, as fixtures for the onvif crate's tests.

    .venv/bin/python tests/python/capture_fixtures.py

Starts a simulated daemon, puts a recording proxy in front of it, runs onvif-zeep-async (Home
Assistant's calls) and the npm `onvif` client through the proxy, and writes each request body to
onvif/testdata/requests/<client>/<NN>-<Operation>.xml. The credentials are the test's own.
"""

import asyncio
import datetime
import http.server
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from conftest import ADMIN, ROOT, Daemon, free_port  # noqa: E402

OUT = ROOT / "onvif" / "testdata" / "requests"


def proxy(daemon_port: int, client: list):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            # The Host header goes through, so the XAddrs the camera hands out point back here.
            headers = {k: v for k, v in self.headers.items() if k.lower() != "content-length"}
            r = httpx.post(f"http://127.0.0.1:{daemon_port}{self.path}", content=body, headers=headers)
            if body:
                op = re.search(rb"<(?:[\w-]+:)?Body[^>]*>\s*<(?:[\w-]+:)?(\w+)", body)
                name = op.group(1).decode() if op else "Unknown"
                folder = OUT / client[0]
                folder.mkdir(parents=True, exist_ok=True)
                n = len(list(folder.glob("*.xml"))) + 1
                (folder / f"{n:02d}-{name}.xml").write_bytes(body)
            self.send_response(r.status_code)
            for k, v in r.headers.items():
                if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(r.content)))
            self.end_headers()
            self.wfile.write(r.content)

        def log_message(self, *args):
            pass

    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, port


async def zeep(port: int):
    from onvif import ONVIFCamera

    cam = ONVIFCamera("127.0.0.1", port, *ADMIN)
    await cam.update_xaddrs()
    device = await cam.create_devicemgmt_service()
    await device.GetSystemDateAndTime()
    await device.GetServices({"IncludeCapability": True})
    await device.GetNetworkInterfaces()
    await device.GetDeviceInformation()
    media = await cam.create_media_service()
    await media.GetServiceCapabilities()
    profiles = await media.GetProfiles()
    req = media.create_type("GetStreamUri")
    req.ProfileToken = profiles[0].token
    req.StreamSetup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
    await media.GetStreamUri(req)
    await media.GetSnapshotUri({"ProfileToken": profiles[0].token})
    ptz = await cam.create_ptz_service()
    await ptz.GetConfigurationOptions({"ConfigurationToken": profiles[0].PTZConfiguration.token})
    await ptz.GetStatus({"ProfileToken": profiles[0].token})
    # Home Assistant's "Set System Date and Time" button, each of its tries: its own time zone
    # name ("UTC" on a machine in UTC), the camera's, none.
    from zeep.exceptions import Fault

    now = datetime.datetime.now(datetime.timezone.utc)
    for tz in ("UTC", "UTC0", None):
        request = device.create_type("SetSystemDateAndTime")
        request.DateTimeType = "Manual"
        request.DaylightSavings = False
        request.UTCDateTime = {"Date": {"Year": now.year, "Month": now.month, "Day": now.day},
                               "Time": {"Hour": now.hour, "Minute": now.minute, "Second": now.second}}
        request.TimeZone = tz
        try:
            await device.SetSystemDateAndTime(request)
        except Fault:
            pass
    await cam.close()


NODE = """
import onvif from 'onvif';
const cam = new onvif.Cam({hostname: '127.0.0.1', port: PORT, username: 'USER', password: 'PASS'}, function (err) {
  if (err) { console.error(err); process.exit(1); }
  this.getStreamUri({protocol: 'RTSP'}, () => this.getSnapshotUri({}, () => process.exit(0)));
});
"""


def main():
    with tempfile.TemporaryDirectory() as tmp:
        daemon = Daemon(Path(tmp)).start()
        try:
            client = ["zeep"]
            server, port = proxy(daemon.http_port, client)
            for old in OUT.glob("*/*.xml"):
                old.unlink()
            asyncio.run(zeep(port))
            client[0] = "npm-onvif"
            script = NODE.replace("PORT", str(port)).replace("USER", ADMIN[0]).replace("PASS", ADMIN[1])
            subprocess.run(["node", "--input-type=module", "-e", script], cwd=ROOT / "tests" / "node", check=True, timeout=60)
            server.shutdown()
        finally:
            daemon.stop()
    print(f"wrote {len(list(OUT.glob('*/*.xml')))} requests under {OUT}")


if __name__ == "__main__":
    main()
