"""The network policy, end to end: a guest in `public` reaches a public server and nothing else
(private, on-link, the host's own addresses, the host's loopback); `allow` reaches only what its
rules name; UDP other than DNS goes nowhere; DNS answers only allowed names; `full` is passt and
says so. The servers are this test's own, in a network namespace it makes (networld.py); each
refusal is checked twice: the guest saw it at once, and the server saw no connection."""
import json
import os
import socket
import threading

import pytest

from conftest import BUILD_TIMEOUT, describe, free_port, own_image_cache
from networld import NetWorld, PUBLIC, PRIVATE, ONLINK, METADATA, PORT, UDP_PORT

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a network namespace")

TEST_PUBLIC = {"PEN_TEST_PUBLIC_BENCHMARKING": "1"}


def probe(address, port=PORT, host="h"):
    """A guest command: connect, send one HTTP request, print the answer, then `rc=N`."""
    request = f"GET /probe HTTP/1.0\\r\\nHost: {host}\\r\\n\\r\\n"
    return (f"timeout 20 bash -c 'exec 3<>/dev/tcp/{address}/{port} && printf \"{request}\" >&3 && cat <&3' 2>&1;"
            " echo rc=$?")


def results(output):
    """The probes' outputs, one per `rc=` line: (answer lines, rc)."""
    out, current = [], []
    for line in output.decode(errors="replace").splitlines():
        if line.startswith("rc="):
            out.append(("\n".join(current), int(line[3:])))
            current = []
        else:
            current.append(line)
    return out


@pytest.fixture
def world(tmp_path):
    with NetWorld(tmp_path) as w:
        yield w


class HostServer:
    """A TCP server of this test on the host, on every address: records who connected."""

    def __init__(self, port):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("0.0.0.0", port))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.connections = []
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while self.running:
            try:
                conn, peer = self.sock.accept()
                self.connections.append(peer)
                conn.close()
            except OSError:
                pass

    def close(self):
        self.running = False
        self.thread.join()
        self.sock.close()


def host_addresses():
    out = os.popen("ip -4 -o addr show scope global").read().split()
    return [word.split("/")[0] for i, word in enumerate(out) if i > 0 and out[i - 1] == "inet"]


def network_log(vm):
    return [json.loads(line) for line in (vm.path / "network.log").read_text().splitlines() if line.strip()]


def test_public_reaches_public_addresses_and_nothing_private_local_or_the_hosts(pen, world):
    port = free_port()
    server = HostServer(port)
    try:
        own = [a for a in host_addresses() if not a.startswith("198.19.255.")]
        assert own, "no global address on this host"
        script = "; ".join([probe(PUBLIC), probe(PRIVATE), probe(ONLINK), probe(own[0], port), probe("10.0.2.2", port),
                            probe(METADATA)])
        vm = pen.vm("pub")
        r = vm.shell("sh", "-c", script, env=TEST_PUBLIC, timeout=300)
        assert r.returncode == 0, describe(r)
        public, private, onlink, host, loopback, metadata = results(r.stdout)
    finally:
        server.close()
    assert public == (f"hello from {PUBLIC} GET /probe HTTP/1.0", 0), describe(r)
    for refused in (private, onlink, host, loopback, metadata):
        assert refused[1] != 0 and "hello" not in refused[0], describe(r)
    # None of them reached a server: refused before any packet left.
    assert [a[:2] for a in world.arrivals()] == [["tcp", PUBLIC]], world.arrivals()
    assert server.connections == []
    # Each decision is on record, with its reason.
    log = network_log(vm)
    verdicts = {(entry.get("destination"), entry["verdict"]) for entry in log}
    assert (PUBLIC, "allowed") in verdicts, log
    for address in (PRIVATE, ONLINK, own[0], METADATA, "127.0.0.1"):
        assert (address, "refused") in verdicts, log


def test_the_benchmarking_range_is_not_public_without_the_test_setting(pen, world):
    r = pen.vm("bench").shell("sh", "-c", probe(PUBLIC), timeout=300)
    [(answer, rc)] = results(r.stdout)
    assert rc != 0 and "hello" not in answer, describe(r)
    assert world.arrivals() == []


def test_allow_reaches_only_what_its_rules_name(pen, world):
    vm = pen.vm("allow")
    script = "; ".join([probe(PRIVATE), probe(PUBLIC), probe(PRIVATE, 8081)])
    r = vm.shell("sh", "-c", script, flags=["--allow", f"{PRIVATE}:{PORT}"], env=TEST_PUBLIC, timeout=300)
    allowed, public, other_port = results(r.stdout)
    assert allowed == (f"hello from {PRIVATE} GET /probe HTTP/1.0", 0), describe(r)
    assert public[1] != 0 and other_port[1] != 0, describe(r)
    assert [a[:2] for a in world.arrivals()] == [["tcp", PRIVATE]], world.arrivals()


def test_udp_other_than_dns_goes_nowhere_and_there_is_no_network_device(pen, world):
    vm = pen.vm("udp")
    r = vm.shell("sh", "-c", f"ls /sys/class/net | tr '\\n' ' '; echo; for i in 1 2 3; do echo ping > /dev/udp/{PUBLIC}/{UDP_PORT}; "
                 "done; echo sent", env=TEST_PUBLIC, timeout=300, check=0)
    lines = r.stdout.decode().splitlines()
    assert sorted(lines[0].split()) == ["dummy0", "lo"], describe(r)
    assert [a for a in world.arrivals() if a[0] == "udp"] == []


def test_dns_in_allow_answers_allowed_names_only(pen):
    vm = pen.vm("dns")
    r = vm.shell("sh", "-c", "getent ahostsv4 deb.debian.org | head -1; echo rc=$?; getent hosts forbidden.example.org; echo rc=$?; "
                 "cat /etc/resolv.conf", flags=["--allow", "deb.debian.org"], timeout=300, check=0)
    out = r.stdout.decode()
    first, rest = out.split("rc=", 1)
    assert first.strip() and first.split()[0].count(".") == 3, describe(r)
    assert "rc=2" in rest or "rc=1" in rest, describe(r)  # getent: not found
    assert "nameserver 10.0.2.3" in out, describe(r)


def test_full_is_passt_and_says_so_on_every_boot(pen):
    vm = pen.vm("full")
    for _ in range(2):
        r = vm.shell("sh", "-c", "ls /sys/class/net | tr '\\n' ' '", flags=["--network", "full"], timeout=300, check=0)
        assert sorted(r.stdout.split()) == [b"eth0", b"lo"], describe(r)
        assert b"169.254.169.254" in r.stderr, describe(r)


def test_allow_by_name_runs_apt_and_refuses_another_host_on_the_same_address(pen):
    """The Debian mirror is the real public name these tests may reach: apt works with only its
    name allowed, and a request to its address that names another host is refused before any
    byte of it leaves."""
    vm = pen.vm("mirror")
    script = ("apt-get update -q >/dev/null 2>&1; echo apt=$?; "
              "export addr=$(getent ahostsv4 deb.debian.org | head -1 | cut -d' ' -f1); echo addr=$addr; "
              + probe("$addr", 80, host="forbidden.example") + "; "
              + probe("$addr", 80, host="deb.debian.org"))
    r = vm.shell("sh", "-c", script, flags=["--allow", "deb.debian.org"], timeout=900, check=0)
    out = r.stdout.decode()
    assert "apt=0" in out, describe(r)
    forbidden, allowed = results(b"\n".join(line for line in r.stdout.splitlines() if not line.startswith((b"apt=", b"addr="))))
    assert forbidden[1] != 0 and "HTTP/" not in forbidden[0], describe(r)
    assert "HTTP/1" in allowed[0], describe(r)
    log = network_log(vm)
    assert any(e.get("presented") == "forbidden.example" and e["verdict"] == "refused" for e in log), log
    assert any(e.get("presented") == "deb.debian.org" and e["verdict"] == "allowed" for e in log), log


NARROW_BUILD = f"""
packages = ["jq"]
[build]
allow = ["{PRIVATE}:{PORT}"]
script = '''#!/bin/bash
exec 3<>/dev/tcp/{PRIVATE}/{PORT} && printf 'GET /allowed HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3 > /root/allowed
(exec 4<>/dev/tcp/{PUBLIC}/{PORT} && printf 'GET /refused HTTP/1.0\\r\\n\\r\\n' >&4 && cat <&4) > /root/refused 2>&1 || true
'''
"""


def test_build_allow_narrows_the_builder_to_its_rules_and_apts_mirrors(pen, world, base_image):
    """A builder VM runs `public`; `[build] allow` narrows it: its rules are reached (a private
    address, which `public` would refuse), apt still installs from the Debian mirrors, and a
    public address the rules do not name is refused (the test's "public" server sees nothing)."""
    images = own_image_cache(pen, base_image)
    pen.profile("narrow", NARROW_BUILD)
    r = pen.run("profile", "build", "narrow", env=TEST_PUBLIC, timeout=BUILD_TIMEOUT)
    assert r.returncode == 0, describe(r)
    assert f"refused {PUBLIC}:{PORT}".encode() in r.stderr, describe(r)  # said in the build's output
    shown = json.loads(pen.run("profile", "show", "narrow", "--json", check=0).stdout)
    assert shown["buildAllow"] == [f"{PRIVATE}:{PORT}"], shown

    r = pen.vm("narrowed").shell("sh", "-c", "jq --version; cat /root/allowed; echo refused: $(cat /root/refused)",
                                 flags=["--profile", "narrow"], check=0)
    lines = r.stdout.decode().splitlines()
    assert lines[0].startswith("jq-"), describe(r)
    assert f"hello from {PRIVATE} GET /allowed HTTP/1.0" in lines, describe(r)
    refused = next(line for line in lines if line.startswith("refused:"))
    assert "hello" not in refused, describe(r)  # the build got an error, not an answer
    assert [a[0] for a in world.arrivals()] == ["tcp"], world.log.read_text()
    assert world.arrivals()[0][1] == PRIVATE, world.log.read_text()
    kept = (images / "profiles" / "narrow" / "last-build.log").read_text()
    refusals = [json.loads(line) for line in kept.splitlines() if line.startswith("{") and '"verdict":"refused"' in line]
    assert any(e["destination"] == PUBLIC and e["port"] == PORT for e in refusals), kept[-2000:]


def test_vm_net_shows_the_mode_the_rules_and_what_was_refused(pen, world):
    vm = pen.vm("shown")
    vm.start("--allow", f"{PRIVATE}:{PORT}")
    try:
        r = pen.run("vm", "net", "shown", "--json", check=0)
        assert r.returncode == 0, describe(r)
        summary = json.loads(r.stdout)
        assert summary["running"] and summary["mode"] == "allow", summary
        assert summary["rules"] == [f"{PRIVATE}:{PORT}"], summary
        r = vm.exec("sh", "-c", probe(PRIVATE) + "; " + probe(PUBLIC), env=TEST_PUBLIC, check=0)
        allowed, refused = results(r.stdout)
        assert allowed[1] == 0 and refused[1] != 0, describe(r)
        r = pen.run("vm", "net", "shown", check=0)
        text = r.stdout.decode()
        assert "network: allow" in text and f"allow {PRIVATE}:{PORT}" in text, describe(r)
        assert f"refused  {PUBLIC}:{PORT}" in text, describe(r)
        r = pen.run("vm", "net", "shown", "--log", "--json", check=0)
        entries = [json.loads(line) for line in r.stdout.splitlines()]
        assert entries == network_log(vm), describe(r)
        # Changed while it runs: at once, and kept for its next boot.
        r = pen.run("vm", "net", "shown", "allow", f"{PUBLIC}:{PORT}", check=0)
        assert b"now allows" in r.stderr, describe(r)
        r = vm.exec("sh", "-c", probe(PUBLIC), check=0)
        assert results(r.stdout)[0][1] == 0, describe(r)
        r = pen.run("vm", "net", "shown", "deny", f"{PRIVATE}:{PORT}", "--json", check=0)
        assert json.loads(r.stdout) == [f"{PUBLIC}:{PORT}"], describe(r)
        r = vm.exec("sh", "-c", probe(PRIVATE), check=0)
        assert results(r.stdout)[0][1] != 0, describe(r)
        r = pen.run("vm", "net", "shown", "deny", "never.example")
        assert r.returncode != 0 and b"no rule never.example" in r.stderr, describe(r)
        record = json.loads((vm.path / "vm.json").read_text())
        assert (record["network"], record["allow"]) == ("allow", [f"{PUBLIC}:{PORT}"]), record
    finally:
        vm.stop()
    vm.start()
    try:
        summary = json.loads(pen.run("vm", "net", "shown", "--json", check=0).stdout)
        assert (summary["mode"], summary["rules"]) == ("allow", [f"{PUBLIC}:{PORT}"]), summary
    finally:
        vm.stop()
    r = pen.run("vm", "net", "shown", "--follow")
    assert r.returncode != 0 and b"--log" in r.stderr, describe(r)


# A DNS query over TCP for NAME (type A), written by perl (the guest has no dig): prints the
# answer's response code (3 = NXDOMAIN) or "no-answer".
DNS_OVER_TCP = r"""perl -MIO::Socket::INET -e '
my ($server, $name) = @ARGV;
my $q = pack("n6", 0x1234, 0x0100, 1, 0, 0, 0) . join("", map { chr(length) . $_ } split /\./, $name) . "\0" . pack("n2", 1, 1);
my $s = IO::Socket::INET->new(PeerAddr => $server, PeerPort => 53, Timeout => 10) or do { print "no-answer\n"; exit };
print $s pack("n", length $q) . $q;
my ($len, $r);
my $n = read($s, $len, 2) == 2 ? unpack("n", $len) : 0;
print $n && read($s, $r, $n) == $n ? (unpack("n2", $r))[1] & 15 : "no-answer", "\n";
' """


def test_guest_root_finds_no_way_around_the_policy(pen, world):
    """As root in the guest: IPv6 forms of a private address, its own nameserver, DNS over TCP to
    an address of its choosing: each answered by pen or refused, none reaching the servers."""
    vm = pen.vm("hostile")
    script = "; ".join([
        probe(f"::ffff:{PRIVATE}"), probe(f"64:ff9b::{PRIVATE}"), probe("fd00::1"),
        f"echo nameserver {PRIVATE} > /etc/resolv.conf",
        "getent hosts forbidden.example >/dev/null; echo getent=$?",
        "getent ahostsv4 deb.debian.org >/dev/null; echo allowed=$?",
        DNS_OVER_TCP + f"{PRIVATE} forbidden.example",
    ])
    r = vm.shell("sh", "-c", script, flags=["--allow", "deb.debian.org"], env=TEST_PUBLIC, timeout=300, check=0)
    lines = r.stdout.decode().splitlines()
    first_getent = next((i for i, l in enumerate(lines) if l.startswith("getent=")), len(lines))
    probes = results("\n".join(lines[:first_getent]).encode())
    assert len(probes) == 3 and all(rc != 0 and "hello" not in answer for answer, rc in probes), describe(r)
    assert "getent=2" in lines, describe(r)  # not found: pen's NXDOMAIN, whatever resolv.conf says
    assert "allowed=0" in lines, describe(r)
    assert lines[-1] == "3", describe(r)  # NXDOMAIN over TCP, from pen
    assert world.arrivals() == [], world.arrivals()
    log = network_log(vm)
    assert any(e.get("destination") == PRIVATE and e["verdict"] == "refused" for e in log), log
    assert any(e["event"] == "dns" and "forbidden.example" in e["names"] and e["verdict"] == "refused" for e in log), log


def test_guest_root_rewiring_its_routes_and_links_gets_nowhere_new(pen, world):
    """As root in the guest with busybox's `ip` (the base image has none: the test copies the host's
    static busybox in): pen's default routes deleted and one of its own added, a link of its own
    made, dummy0 taken down. Every connection still goes through pen's relay or nowhere: the
    private and metadata servers are never reached, the public one only as pen allowed it."""
    vm = pen.vm("rewired")
    r = pen.run("vm", "start", "rewired", env=TEST_PUBLIC, timeout=300)
    assert r.returncode == 0, describe(r)
    try:
        r = vm.cp_in("/bin/busybox", "/usr/local/bin/busybox")
        assert r.returncode == 0, describe(r)
        rewire = "; ".join([
            "busybox ip route del default", "busybox ip -6 route del default", "busybox ip route add default dev lo",
            "busybox ip link add rogue type dummy && busybox ip link set rogue up && busybox ip addr add 10.251.0.9/24 dev rogue",
            "busybox ip route add 169.254.0.0/16 dev rogue",
            "echo routes: $(busybox ip route | tr '\\n' ';')",
        ])
        after_rewire = "; ".join([probe(PUBLIC), probe(PRIVATE), probe(METADATA)])
        down = "busybox ip link set dummy0 down; busybox ip route add default dev rogue"
        r = vm.exec("sh", "-c", "; ".join([rewire, after_rewire, down, after_rewire]), timeout=300, check=0)
        out = r.stdout.decode()
        assert "routes: default dev lo" in out, describe(r)  # the rewiring took effect
        probes = results(b"\n".join(l for l in r.stdout.splitlines() if not l.startswith(b"routes:")))
        assert len(probes) == 6, describe(r)
        reached = [answer for answer, rc in probes if "hello" in answer]
        assert all(f"hello from {PUBLIC}" in answer for answer in reached), describe(r)
        arrivals = world.arrivals()
        assert all(a[0] == "tcp" and a[1] == PUBLIC for a in arrivals), arrivals
        allowed = [e for e in network_log(vm) if e["event"] == "connect" and e["verdict"] == "allowed"]
        assert len(arrivals) <= len(allowed), (arrivals, allowed)  # whatever arrived, pen let through
    finally:
        vm.stop()
