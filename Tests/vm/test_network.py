"""What the guest can reach on the network: the internet (and apt) through pen's relay by default,
a published port on the host's loopback only, never the host's own loopback, no network at all
under `--network none`; and its resolv.conf and hostname written at every boot. The policy's
refusals are in test_network_policy.py."""
import os
import socket
import subprocess
import time

import pytest

from conftest import PEN, GUEST_SERVER, describe, free_port, fsck_clean, pids_where


def test_published_port_reaches_a_guest_server(pen):
    port = free_port()
    vm = pen.vm("pub")
    proc = vm.spawn_shell("perl", "-e", GUEST_SERVER, flags=["--publish", f"{port}:8000"])
    assert proc.stdout.readline() == b"listening\n"
    body = b""
    deadline = time.time() + 60
    while time.time() < deadline and b"hello" not in body:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
                c.sendall(b"GET / HTTP/1.0\r\n\r\n")
                body = c.recv(4096)
        except OSError:
            time.sleep(0.3)
    assert b"hello from the guest" in body
    assert proc.wait(timeout=120) == 0
    # Published ports bind the host's loopback only.
    r = vm.shell("true", flags=["--publish", "0:80"], timeout=30)
    assert r.returncode == 125, describe(r)
    assert b"--publish" in r.stderr, describe(r)


# Reached means answered: under the policy a refused connection is accepted in the guest and
# reset at once, so a bare connect is no proof of anything.
PROBE = ("timeout 5 bash -c 'exec 3<>/dev/tcp/10.0.2.2/{port} && printf \\\"GET / HTTP/1.0\\\\r\\\\n\\\\r\\\\n\\\" >&3 "
         "&& head -c 4 <&3' | grep -q HTTP && echo reachable || echo unreachable")


def in_fresh_netns(pen, script, timeout=300):
    """Runs a shell script in a new network namespace that has only its own loopback, so
    nothing it does can reach beyond this machine."""
    return subprocess.run(["unshare", "--net", "sh", "-c", "ip link set lo up && " + script],
                          env=pen.env, cwd=pen.cwd, capture_output=True, timeout=timeout)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a network namespace")
def test_guest_cannot_reach_the_hosts_loopback(pen):
    port = free_port()
    # The server goes with the namespace's shell (it outlived the test before).
    server = f"python3 -m http.server {port} --bind 127.0.0.1 >/dev/null 2>&1 & trap \"kill $!\" EXIT; sleep 0.5; "
    r = in_fresh_netns(pen, server + f'"{PEN}" shell lo -- sh -c "{PROBE.format(port=port)}"')
    assert r.returncode == 0, describe(r)
    assert r.stdout.strip() == b"unreachable", describe(r)
    # Nor under `full` (passt, --no-map-gw).
    r = in_fresh_netns(pen, server + f'"{PEN}" shell lo --network full -- sh -c "{PROBE.format(port=port)}"')
    assert r.returncode == 0, describe(r)
    assert r.stdout.strip() == b"unreachable", describe(r)
    # The baseline pen avoids: QEMU's slirp maps its gateway to the host's loopback.
    r = in_fresh_netns(pen, server + f'PEN_NETWORK=slirp "{PEN}" shell lo --network full -- sh -c "{PROBE.format(port=port)}"')
    assert r.returncode == 0, describe(r)
    assert r.stdout.strip() == b"reachable", describe(r)
    ok, report = fsck_clean(pen.vm("lo").disk)
    assert ok, report


def test_guest_reaches_the_internet(pen):
    r = pen.vm("inet").shell("bash", "-c", "timeout 20 bash -c 'exec 3<>/dev/tcp/deb.debian.org/80' && echo internet-ok", check=0)
    assert r.stdout == b"internet-ok\n"


def test_network_apt_install_persists(pen):
    r = pen.vm("net").shell("sh", "-c", "apt-get update -q && apt-get install -y -q hello", timeout=900)
    assert r.returncode == 0, describe(r)
    r = pen.vm("net").shell("hello", check=0)
    assert r.stdout == b"Hello, world!\n"
    ok, report = fsck_clean(pen.vm("net").disk)
    assert ok, report


def parent_of(pid):
    """The parent pid of a process (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def guest_ram_flags(pid, memory_kib):
    """VmFlags of QEMU's mapping of the guest's RAM (the one of exactly its size)."""
    size, flags = None, {}
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if line.startswith("Size:"):
                size = int(line.split()[1])
            elif line.startswith("VmFlags:") and size == memory_kib:
                flags[size] = line.split()[1:]
    return flags.get(memory_kib)


def test_network_none_has_no_nic_and_guest_ram_is_not_dumped(pen):
    vm = pen.vm("nonet")
    proc = vm.sleeper("--network", "none", "--memory", "1G", before="ls /sys/class/net | tr '\\n' ' '; echo")
    assert proc.said.split(b"\n")[0].split() == [b"lo"], proc.said
    [qemu] = vm.qemu_pids()
    # No passt of this VM's supervisor (QEMU's parent); other tests' VMs may have theirs.
    supervisor = parent_of(qemu)
    assert not [p for p in pids_where(lambda args: args and b"passt" in args[0]) if parent_of(p) == supervisor], \
        "passt runs for a VM without a network"
    flags = guest_ram_flags(qemu, 1024 * 1024)
    assert flags is not None, "no mapping of the guest's RAM"
    assert "dd" in flags, flags  # MADV_DONTDUMP on all of guest RAM
    proc.terminate()
    proc.communicate(timeout=120)
    # The flag is per boot: the same VM booted again without it has the default network (the
    # relay: a dummy device holding the routes, nothing to the host).
    r = vm.shell("sh", "-c", "ls /sys/class/net | tr '\\n' ' '", check=0)
    assert sorted(r.stdout.split()) == [b"dummy0", b"lo"], describe(r)


def test_a_guest_that_makes_resolv_conf_a_symlink_boots_again(pen):
    vm = pen.vm("rs")
    vm.shell("sh", "-c", "rm -f /etc/resolv.conf && ln -s /run/elsewhere/resolv.conf /etc/resolv.conf "
             "&& ln -sf /nowhere /etc/hostname", check=0)
    r = vm.shell("sh", "-c", "test -L /etc/resolv.conf || echo replaced; grep -c nameserver /etc/resolv.conf; hostname",
                 check=0)
    assert r.stdout.split() == [b"replaced", b"1", b"rs"], describe(r)
