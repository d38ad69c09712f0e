"""The parent's phone, for tests/image/run.sh's firewall checks.

Connects to the camera (the first argument) on TCP ports that it serves and on some that
its firewall must not let in, printing "tcp PORT open" (connected), "tcp PORT refused" (let
in, nothing listens) or "tcp PORT dropped" (no answer); then sends three datagrams to each
UDP port that listen.py listens on.
"""

import socket
import sys

TCP_PORTS = (22, 80, 322, 443, 554, 23, 8080, 8554)
UDP_PORTS = (3702, 5353, 9999, 40000)


def main() -> None:
    camera = sys.argv[1]
    for port in TCP_PORTS:
        with socket.socket() as s:
            s.settimeout(2)
            try:
                s.connect((camera, port))
                print(f"tcp {port} open")
            except ConnectionRefusedError:
                print(f"tcp {port} refused")
            except OSError:
                print(f"tcp {port} dropped")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for port in UDP_PORTS:
            for _ in range(3):
                s.sendto(b"probe", (camera, port))


if __name__ == "__main__":
    main()
