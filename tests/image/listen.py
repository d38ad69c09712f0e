"""Stand-ins for services on the camera, for tests/image/run.sh's firewall checks.

Listens on TCP 23, 8080 and 8554 (which the firewall must not let in) and on UDP 3702, 5353,
9999 and 40000, and appends "udp PORT" to the file named by the first argument for each
datagram received. Runs until killed.
"""

import select
import socket
import sys

TCP_PORTS = (23, 8080, 8554)
UDP_PORTS = (3702, 5353, 9999, 40000)


def main() -> None:
    tcp = []
    for port in TCP_PORTS:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        s.listen()
        tcp.append(s)
    udp = {}
    for port in UDP_PORTS:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", port))
        udp[s] = port
    with open(sys.argv[1], "a", buffering=1) as out:
        while True:
            for s in select.select(tcp + list(udp), [], [])[0]:
                if s in udp:
                    s.recv(100)
                    out.write(f"udp {udp[s]}\n")
                else:
                    s.accept()[0].close()


if __name__ == "__main__":
    main()
