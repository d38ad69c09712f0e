"""WS-Discovery from the NVR's side, for tests/tests/discovery.rs (run inside a network namespace).

  discover.py search [seconds]          probe with python WSDiscovery; print what answered, as JSON
  discover.py listen <seconds>          print the Hello and Bye actions seen on the group, as JSON
  discover.py probe <ip> <type-ns> <type> [seconds]
                                        unicast Probe for a type; print the replies' bodies, as JSON
  discover.py rebind <count> <gap-ms>   ZoneMinder's way: multicast Probe from port 3702, close, rebind
                                        port 3702 to listen; print how many of the probes were answered
  discover.py flood <count> <src-ip> [during-ip]
                                        <count> multicast Probes from <src-ip>, paced; meanwhile one
                                        Probe a second from <during-ip>; print what was answered, as JSON
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
    # The caller starts the camera once this is said: its Hello goes out only once.
    print("listening", file=sys.stderr, flush=True)
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


def probe_body(message_id: str, type_ns: str, type_name: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        f'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:t="{type_ns}">'
        f"<s:Header><a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action><a:MessageID>{message_id}</a:MessageID>"
        "<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header>"
        f"<s:Body><d:Probe><d:Types>t:{type_name}</d:Types></d:Probe></s:Body></s:Envelope>"
    ).encode()


NVT = ("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter")


def probe(ip: str, type_ns: str, type_name: str, seconds: float):
    message_id = f"urn:uuid:{uuid.uuid4()}"
    body = probe_body(message_id, type_ns, type_name).decode()
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


def udp(bind_ip: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((bind_ip, port))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    return sock


def rebind(count: int, gap_ms: float):
    """What ZoneMinder's WSDiscovery::TransportUDP does: send_multi() sends the Probe from a socket
    bound to port 3702 and drops it; receive_multi() binds a new socket on 3702, joins the group
    and waits. An answer that arrives in between finds no socket and is lost."""
    answered = 0
    for _ in range(count):
        message_id = f"urn:uuid:{uuid.uuid4()}"
        sender = udp("", PORT)
        sender.sendto(probe_body(message_id, *NVT), (GROUP, PORT))
        sender.close()
        # Stands for the time ZoneMinder's Perl takes to build its second socket.
        time.sleep(gap_ms / 1000)
        listener = udp("", PORT)
        listener.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, struct.pack("4s4s", socket.inet_aton(GROUP), socket.inet_aton("0.0.0.0")))
        listener.settimeout(0.2)
        deadline = time.time() + 3
        while time.time() < deadline:
            try:
                data, _ = listener.recvfrom(65536)
            except socket.timeout:
                continue
            if f"RelatesTo>{message_id}<".encode() in data:
                answered += 1
                break
        listener.close()
    print(json.dumps({"sent": count, "answered": answered}))


def flood(count: int, src_ip: str, during_ip: str | None):
    """Multicast Probes from one address as a steady stream (10 every 10 ms); meanwhile, from
    another address, an NVR probes once a second and waits for its answer."""
    flooder = udp(src_ip, 0)
    flooder.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src_ip))
    flooder.setblocking(False)
    nvr = None
    if during_ip:
        nvr = udp(during_ip, 0)
        nvr.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(during_ip))
        nvr.setblocking(False)
    flood_answers = 0
    asked, answered = [], set()
    next_ask = time.time() + 0.5
    sent = 0
    body = probe_body(f"urn:uuid:{uuid.uuid4()}", *NVT)
    while sent < count:
        for _ in range(10):
            try:
                flooder.sendto(body, (GROUP, PORT))
            except BlockingIOError:
                pass
            sent += 1
        time.sleep(0.01)
        while True:
            try:
                flooder.recvfrom(65536)
                flood_answers += 1
            except BlockingIOError:
                break
        if nvr is None:
            continue
        if time.time() >= next_ask:
            message_id = f"urn:uuid:{uuid.uuid4()}"
            nvr.sendto(probe_body(message_id, *NVT), (GROUP, PORT))
            asked.append(message_id)
            next_ask += 1
        while True:
            try:
                data, _ = nvr.recvfrom(65536)
            except BlockingIOError:
                break
            text = data.decode("utf-8", "replace")
            answered.update(m for m in asked if f"RelatesTo>{m}<" in text)
    # Late answers (up to the camera's delay) still count.
    deadline = time.time() + 2
    while time.time() < deadline:
        time.sleep(0.05)
        for sock in (flooder, nvr):
            while sock is not None:
                try:
                    data, _ = sock.recvfrom(65536)
                except BlockingIOError:
                    break
                if sock is flooder:
                    flood_answers += 1
                else:
                    text = data.decode("utf-8", "replace")
                    answered.update(m for m in asked if f"RelatesTo>{m}<" in text)
    print(json.dumps({"sent": sent, "flood_answers": flood_answers, "asked": len(asked), "answered": len(answered)}))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "search":
        search(float(sys.argv[2]) if len(sys.argv) > 2 else 3)
    elif cmd == "listen":
        listen(float(sys.argv[2]))
    elif cmd == "probe":
        probe(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]) if len(sys.argv) > 5 else 2)
    elif cmd == "rebind":
        rebind(int(sys.argv[2]), float(sys.argv[3]))
    elif cmd == "flood":
        flood(int(sys.argv[2]), sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
