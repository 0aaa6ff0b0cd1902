"""A small world of addresses this test owns, inside a network namespace it makes: servers at a
"public" address behind a router hop (198.18.0.2, public only under the test-only
PEN_TEST_PUBLIC_BENCHMARKING=1), at a private address behind the same hop (10.251.0.2), and at the
router itself, on-link from the host (198.19.255.2), and at the metadata address 169.254.169.254. Every route is added and checked before the
first connection; nothing here sends a packet off this machine."""
import os
import subprocess
import time

PUBLIC = "198.18.0.2"
PRIVATE = "10.251.0.2"
# The cloud metadata address, served by this world's own namespace while it exists (a /32 route of the
# test's, checked before use): had pen let a connection through, it would have arrived here.
METADATA = "169.254.169.254"
ONLINK = "198.19.255.2"
HOST_SIDE = "198.19.255.1"
PORT = 8080
UDP_PORT = 9999

# Answers each TCP connection with one line naming the address it was reached at, and records
# every TCP connection and UDP datagram that arrived (the proof that a refused one never did).
SERVER = r"""
import socket, sys, threading
log = open(sys.argv[1], "a", buffering=1)
tcp = socket.socket(); tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(("0.0.0.0", %d)); tcp.listen(64)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("0.0.0.0", %d))
def serve_udp():
    while True:
        data, peer = udp.recvfrom(2048)
        log.write("udp %%s %%r\n" %% (peer[0], data))
threading.Thread(target=serve_udp, daemon=True).start()
print("ready", flush=True)
while True:
    conn, peer = tcp.accept()
    here = conn.getsockname()[0]
    log.write("tcp %%s %%s\n" %% (here, peer[0]))
    conn.settimeout(5)
    try:
        request = conn.recv(4096)
        conn.sendall(b"hello from " + here.encode() + b" " + request.split(b"\r\n")[0] + b"\n")
    except OSError:
        pass
    conn.close()
""" % (PORT, UDP_PORT)


def run(*args):
    subprocess.run(args, check=True, capture_output=True, timeout=30)


class NetWorld:
    def __init__(self, tmp_path):
        tag = f"{os.getpid() % 100000}"
        self.ns = f"pen-t{tag}"
        self.host_if = f"pt{tag}h"
        self.log = tmp_path / "networld.log"
        self.log.touch()
        self.server = None

    def __enter__(self):
        ns, h, n = self.ns, self.host_if, self.host_if[:-1] + "n"
        run("ip", "netns", "add", ns)
        try:
            run("ip", "link", "add", h, "type", "veth", "peer", "name", n)
            run("ip", "link", "set", n, "netns", ns)
            run("ip", "addr", "add", f"{HOST_SIDE}/30", "dev", h)
            run("ip", "link", "set", h, "up")
            run("ip", "-n", ns, "addr", "add", f"{ONLINK}/30", "dev", n)
            run("ip", "-n", ns, "link", "set", n, "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")
            for address in (PUBLIC, PRIVATE, METADATA):
                run("ip", "-n", ns, "addr", "add", f"{address}/32", "dev", "lo")
                run("ip", "route", "add", f"{address}/32", "via", ONLINK, "dev", h)
            # The routes go where this test says, before anything connects.
            for address in (PUBLIC, PRIVATE, METADATA):
                route = subprocess.run(["ip", "route", "get", address], capture_output=True, text=True).stdout
                assert f"via {ONLINK} dev {h}" in route, route
            route = subprocess.run(["ip", "route", "get", ONLINK], capture_output=True, text=True).stdout
            assert f"dev {h}" in route and "via" not in route, route
            self.server = subprocess.Popen(["ip", "netns", "exec", ns, "python3", "-c", SERVER, str(self.log)],
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            assert self.server.stdout.readline() == b"ready\n"
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        if self.server:
            self.server.kill()
            self.server.wait()
        for address in (PUBLIC, PRIVATE, METADATA):
            subprocess.run(["ip", "route", "del", f"{address}/32", "via", ONLINK], capture_output=True)
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)

    def arrivals(self):
        """What reached the servers: ("tcp", here, peer) and ("udp", peer, data) lines."""
        time.sleep(0.5)
        return [line.split(" ", 2) for line in self.log.read_text().splitlines()]
