"""Boot snapshots: the first boot of a machine shape saves the machine at the init's snapshot
point; every later boot of that shape restores it. A restored VM must be its own: its disk,
workspace, published ports, clock and randomness."""
import json
import os
import socket
import subprocess
import time

from conftest import FAULT_RUNS, PEN, describe, fault_counts, fsck_clean, own_image_cache, qemu_pids
from test_workspace import GUEST_SERVER, free_port


def vm(pen, name):
    r = pen.run("vm", "ls", "--json", timeout=60, check=0)
    return {row["name"]: row for row in json.loads(r.stdout)}[name]


def snapshots(images):
    d = images / "snapshots"
    return sorted(p.name for p in d.iterdir() if p.is_dir() and not p.name.startswith(".")) if d.exists() else []


def start(pen, name, *flags):
    r = pen.run("vm", "start", name, *flags, timeout=300)
    assert r.returncode == 0, describe(r)
    return r


FACTS = r"""
df -k /run/pen-disk | tail -1 | awk '{print "disk", $2}'
ls /workspace
cat /proc/sys/kernel/random/uuid
head -c 64 /dev/urandom | od -An -tx1 | tr -d ' \n'; echo
date +%s.%N
"""


def test_the_second_vm_of_a_shape_is_restored_and_is_its_own(pen, base_image, tmp_path):
    images = own_image_cache(pen, base_image)
    spaces = {}
    for name in ["a", "b"]:
        spaces[name] = tmp_path / f"ws-{name}"
        spaces[name].mkdir()
        (spaces[name] / f"only-in-{name}").write_text(name)
    r = start(pen, "a", "--dir", str(spaces["a"]), "--disk-size", "2G")
    assert b"save a boot snapshot" in r.stderr, describe(r)
    assert vm(pen, "a")["boot"] == "cold, snapshot saved"
    assert len(snapshots(images)) == 1
    port = free_port()
    r = start(pen, "b", "--dir", str(spaces["b"]), "--disk-size", "3G", "--publish", f"{port}:8000")
    assert b"save a boot snapshot" not in r.stderr, describe(r)
    assert vm(pen, "b")["boot"] == "restored"

    facts = {}
    for name in ["a", "b"]:
        r = pen.run("exec", name, "--", "sh", "-c", FACTS, check=0)
        host_now = time.time()
        disk, workspace, uuid, noise, clock = r.stdout.decode().split("\n")[:5]
        facts[name] = dict(disk=int(disk.split()[1]), workspace=workspace, uuid=uuid, noise=noise)
        assert abs(float(clock) - host_now) < 1.0, (name, clock, host_now)  # the guest's clock is the host's
    # Each sees its own disk and workspace, though b's machine was saved while a booted.
    assert 1.7e6 < facts["a"]["disk"] < 2.1e6 and 2.7e6 < facts["b"]["disk"] < 3.1e6, facts
    assert facts["a"]["workspace"] == "only-in-a" and facts["b"]["workspace"] == "only-in-b", facts
    # Randomness is not shared: the RNG was reseeded from the host before anything ran.
    assert facts["a"]["uuid"] != facts["b"]["uuid"] and facts["a"]["noise"] != facts["b"]["noise"], facts

    # b's own published port reaches a server in b.
    server = subprocess.Popen([PEN, "exec", "b", "--", "perl", "-e", GUEST_SERVER], env=pen.env, cwd=pen.cwd,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert server.stdout.readline() == b"listening\n"
        with socket.create_connection(("127.0.0.1", port), timeout=30) as c:
            c.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert b"hello from the guest" in c.recv(4096)
        assert server.wait(timeout=60) == 0
    finally:
        if server.poll() is None:
            server.kill()

    # Two VMs restored from one snapshot differ as much as two cold ones.
    start(pen, "c", "--dir", str(spaces["a"]))
    r = pen.run("exec", "c", "--", "sh", "-c", FACTS, check=0)
    uuid, noise = r.stdout.decode().split("\n")[2:4]
    assert vm(pen, "c")["boot"] == "restored" and uuid != facts["b"]["uuid"] and noise != facts["b"]["noise"]
    for name in ["a", "b", "c"]:
        pen.run("vm", "stop", name, check=0)
        ok, report = fsck_clean(pen.disk(name))
        assert ok, (name, report)


def test_another_machine_shape_or_cold_boots_cold(pen, base_image):
    images = own_image_cache(pen, base_image)
    pen.shell("one", "true", check=0)  # saves the snapshot of the default shape
    [first] = snapshots(images)
    # --cold neither restores nor saves; a VM made by a cold boot (as every VM before snapshots
    # was) restores with its disk as it left it.
    r = pen.run("shell", "cold", "--cold", "--", "sh", "-c", "echo made-cold > /root/f", check=0)
    assert b"snapshot" not in r.stderr, describe(r)
    r = pen.run("shell", "cold", "--", "cat", "/root/f", check=0)
    assert r.stdout == b"made-cold\n" and b"snapshot" not in r.stderr, describe(r)
    # PEN_SNAPSHOT=0 is --cold for every pen of an environment.
    r = pen.run("vm", "start", "env-cold", env={"PEN_SNAPSHOT": "0"}, check=0)
    assert b"snapshot" not in r.stderr and vm(pen, "env-cold")["boot"] == "cold", describe(r)
    pen.run("vm", "stop", "env-cold", check=0)
    # Another memory size is another machine: booted cold once, then restored like the first.
    r = pen.run("shell", "small", "--memory", "1G", "--", "true", check=0)
    assert b"save a boot snapshot" in r.stderr, describe(r)
    assert len(snapshots(images)) == 2 and first in snapshots(images)
    r = pen.run("shell", "small2", "--memory", "1G", "--", "sh", "-c", "grep MemTotal /proc/meminfo", check=0)
    assert b"save a boot snapshot" not in r.stderr and 900_000 < int(r.stdout.split()[1]) < 1_100_000, describe(r)
    rows = json.loads(pen.run("image", "ls", "--json", check=0).stdout)
    assert sorted(row["hash"] for row in rows if row["kind"] == "snapshot") == snapshots(images)


def test_a_damaged_snapshot_is_replaced_by_a_cold_boot(pen, base_image):
    images = own_image_cache(pen, base_image)
    pen.shell("x", "sh", "-c", "echo kept > /root/f", check=0)
    [key] = snapshots(images)
    state = images / "snapshots" / key / "state"
    with open(state, "r+b") as f:  # one byte changed: its SHA-256 no longer matches
        f.seek(state.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    r = pen.shell("x", "cat", "/root/f", check=0)
    assert r.stdout == b"kept\n" and b"boot snapshot" in r.stderr and b"damaged" in r.stderr, describe(r)
    assert snapshots(images) == [key]  # saved again
    r = pen.shell("x", "cat", "/root/f", check=0)
    assert r.stdout == b"kept\n" and b"snapshot" not in r.stderr, describe(r)
    assert pen.run("image", "verify", check=0).stdout.count(b"ok") >= 5


def test_a_snapshot_qemu_cannot_load_falls_back_to_a_cold_boot(pen, base_image):
    images = own_image_cache(pen, base_image)
    pen.shell("y", "true", check=0)
    [key] = snapshots(images)
    state = images / "snapshots" / key / "state"
    # Garbage whose checksum is recorded: it passes verification, QEMU refuses it.
    state.write_bytes(b"not a migration stream" * 1000)
    record = json.loads((state.parent / "snapshot.json").read_text())
    import hashlib
    record["sha256"] = hashlib.sha256(state.read_bytes()).hexdigest()
    (state.parent / "snapshot.json").write_text(json.dumps(record))
    r = pen.shell("y", "sh", "-c", "echo booted", check=0)
    assert r.stdout == b"booted\n", describe(r)
    log = (pen.vm_dir("y") / "supervisor.log").read_text()
    assert "could not be restored" in log, log
    assert not qemu_pids("y")


def test_prune_removes_snapshots_of_an_older_base(pen, base_image):
    images = own_image_cache(pen, base_image, copy=True)
    pen.shell("p", "true", check=0)
    [key] = snapshots(images)
    record = json.loads((images / "snapshots" / key / "snapshot.json").read_text())
    record["inputs"]["initrdSHA256"] = "0" * 64  # as if made from another initrd
    (images / "snapshots" / key / "snapshot.json").write_text(json.dumps(record))
    r = pen.run("image", "prune", "--json", check=0)
    removed = {item["path"]: item["reason"] for item in json.loads(r.stdout)["removed"]}
    assert removed == {str(images / "snapshots" / key): "a boot snapshot of an older base image"}, removed
    assert snapshots(images) == []


def test_racing_first_boots_save_one_snapshot_and_a_damaged_one_is_replaced(pen, base_image, tmp_path):
    """Faults: three VMs of one shape booting at once with no snapshot yet; a snapshot truncated
    or with one byte changed. Each run: one snapshot, every boot works, every VM keeps its data."""
    with fault_counts("boot snapshot: three racing first boots; truncated; one byte changed") as faults:
        for run in range(FAULT_RUNS):
            images = own_image_cache(pen, base_image, images=tmp_path / f"images-{run}")
            names = [f"r{run}-{i}" for i in range(3)]
            with faults.run():
                procs = [subprocess.Popen([PEN, "shell", name, "--", "sh", "-c", f"echo {name} > /root/f"],
                                          env=pen.env, cwd=pen.cwd, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                         for name in names]
                errors = [p.communicate(timeout=600)[1] for p in procs]
                assert [p.returncode for p in procs] == [0, 0, 0], errors
                assert len(snapshots(images)) == 1, snapshots(images)
                leftovers = [p.name for p in (images / "snapshots").iterdir() if p.name.startswith((".save-", ".old-"))]
                assert leftovers == [], leftovers
            for damage in ["truncated", "one byte changed"]:
                with faults.run():
                    [key] = snapshots(images)
                    damage_snapshot(images / "snapshots" / key / "state", damage)
                    r = pen.shell(names[0], "cat", "/root/f")
                    assert faults.kept(r, f"{names[0]}\n".encode()), describe(r)
                    assert b"damaged" in r.stderr and snapshots(images) == [key], describe(r)
                    # And the replaced snapshot restores.
                    r = pen.shell(names[1], "cat", "/root/f")
                    assert faults.kept(r, f"{names[1]}\n".encode()), describe(r)
                    assert b"snapshot" not in r.stderr, describe(r)


def damage_snapshot(state, damage):
    if damage == "truncated":
        os.truncate(state, state.stat().st_size // 2)
    else:
        with open(state, "r+b") as f:
            f.seek(state.stat().st_size // 3)
            byte = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([byte[0] ^ 0x01]))
