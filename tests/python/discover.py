"""WS-Discovery from the NVR's side, for tests/tests/discovery.rs (run inside a network namespace).

  discover.py search [seconds]          probe with python WSDiscovery; print what answered, as JSON
  discover.py listen <seconds>          print the Hello and Bye actions seen on the group, as JSON
  discover.py probe <ip> <type-ns> <type> [seconds]
                                        unicast Probe for a type; print the replies' bodies, as JSON
"""

import json
import socket
import struct
import sys
import time
import uuid

GROUP, PORT = "239.255.255.250", 3702


def search(seconds: float):
    from wsdiscovery.discovery import ThreadedWSDiscovery

    wsd = ThreadedWSDiscovery()
    wsd.start()
    try:
        services = wsd.searchServices(timeout=seconds)
        found = [
            {
                "epr": s.getEPR(),
                "types": [f"{{{t.getNamespace()}}}{t.getLocalname()}" for t in s.getTypes()],
                "scopes": [str(sc.getValue()) for sc in s.getScopes()],
                "xaddrs": list(s.getXAddrs()),
            }
            for s in services
        ]
    finally:
        wsd.stop()
    print(json.dumps(found))


def listen(seconds: float):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("", PORT))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, struct.pack("4s4s", socket.inet_aton(GROUP), socket.inet_aton("0.0.0.0")))
    sock.settimeout(0.2)
    seen = []
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            data, _ = sock.recvfrom(65536)
        except socket.timeout:
            continue
        text = data.decode("utf-8", "replace")
        for action in ("Hello", "Bye"):
            if f"/discovery/{action}<" in text:
                seen.append({"action": action, "message": text})
        # A line per event, flushed, so the test can see progress while this runs.
        print(json.dumps(seen[-1:]), flush=True) if seen else None
    print(json.dumps(seen), flush=True)


def probe(ip: str, type_ns: str, type_name: str, seconds: float):
    message_id = f"urn:uuid:{uuid.uuid4()}"
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        f'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:t="{type_ns}">'
        f"<s:Header><a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action><a:MessageID>{message_id}</a:MessageID>"
        "<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header>"
        f"<s:Body><d:Probe><d:Types>t:{type_name}</d:Types></d:Probe></s:Body></s:Envelope>"
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(0.2)
    sock.sendto(body.encode(), (ip, PORT))
    replies = []
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            data, _ = sock.recvfrom(65536)
            replies.append(data.decode("utf-8", "replace"))
        except socket.timeout:
            pass
    print(json.dumps({"message_id": message_id, "replies": replies}))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "search":
        search(float(sys.argv[2]) if len(sys.argv) > 2 else 3)
    elif cmd == "listen":
        listen(float(sys.argv[2]))
    elif cmd == "probe":
        probe(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]) if len(sys.argv) > 5 else 2)
