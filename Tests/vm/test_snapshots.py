"""Boot snapshots: the first boot of a machine shape saves the machine at the init's snapshot
point; every later boot of that shape restores it. A restored VM must be its own: its disk,
workspace, published ports, clock and randomness."""
import hashlib
import json
import os
import socket
import time

import pytest

from conftest import BOOT_TIMEOUT, FAULT_RUNS, GUEST_SERVER, describe, fault_counts, free_port, fsck_clean, \
    own_image_cache


def snapshots(images):
    d = images / "snapshots"
    return sorted(p.name for p in d.iterdir() if p.is_dir() and not p.name.startswith(".")) if d.exists() else []


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
    a, b, c = pen.vm("a"), pen.vm("b"), pen.vm("c")
    r = a.start("--dir", str(spaces["a"]), "--disk-size", "2G")
    assert b"save a boot snapshot" in r.stderr, describe(r)
    assert a.info()["boot"] == "cold, snapshot saved"
    assert len(snapshots(images)) == 1, snapshots(images)
    port = free_port()
    r = b.start("--dir", str(spaces["b"]), "--disk-size", "3G", "--publish", f"{port}:8000")
    assert b"save a boot snapshot" not in r.stderr, describe(r)
    assert b.info()["boot"] == "restored"

    facts = {}
    for name in ["a", "b"]:
        r = pen.vm(name).exec("sh", "-c", FACTS, check=0)
        host_now = time.time()
        disk, workspace, uuid, noise, clock = r.stdout.decode().split("\n")[:5]
        facts[name] = dict(disk=int(disk.split()[1]), workspace=workspace, uuid=uuid, noise=noise)
        assert abs(float(clock) - host_now) < 1.0, (name, clock, host_now)  # the guest's clock is the host's
    # Each sees its own disk and workspace, though b's machine was saved while a booted.
    assert 1.7e6 < facts["a"]["disk"] < 2.1e6, ("a's disk is not its 2G", facts)
    assert 2.7e6 < facts["b"]["disk"] < 3.1e6, ("b's disk is not its 3G", facts)
    assert facts["a"]["workspace"] == "only-in-a", ("a sees another workspace", facts)
    assert facts["b"]["workspace"] == "only-in-b", ("b sees another workspace", facts)
    # Randomness is not shared: the RNG was reseeded from the host before anything ran.
    assert facts["a"]["uuid"] != facts["b"]["uuid"], ("a and b drew the same uuid", facts)
    assert facts["a"]["noise"] != facts["b"]["noise"], ("a and b read the same /dev/urandom bytes", facts)

    # b's own published port reaches a server in b.
    server = b.spawn_exec("perl", "-e", GUEST_SERVER)
    assert server.stdout.readline() == b"listening\n"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert b"hello from the guest" in conn.recv(4096)
    assert server.wait(timeout=60) == 0

    # Two VMs restored from one snapshot differ as much as two cold ones.
    c.start("--dir", str(spaces["a"]))
    r = c.exec("sh", "-c", FACTS, check=0)
    uuid, noise = r.stdout.decode().split("\n")[2:4]
    assert c.info()["boot"] == "restored"
    assert uuid != facts["b"]["uuid"], ("b and c, restored from one snapshot, drew the same uuid", uuid)
    assert noise != facts["b"]["noise"], ("b and c, restored from one snapshot, read the same random bytes", noise)
    for vm in [a, b, c]:
        vm.stop(timeout=BOOT_TIMEOUT, check=0)
        ok, report = fsck_clean(vm.disk)
        assert ok, (vm.name, report)


def test_another_machine_shape_or_cold_boots_cold(pen, base_image):
    images = own_image_cache(pen, base_image)
    pen.vm("one").shell("true", check=0)  # saves the snapshot of the default shape
    [first] = snapshots(images)
    # --cold neither restores nor saves; a VM made by a cold boot (as every VM before snapshots
    # was) restores with its disk as it left it.
    cold = pen.vm("cold")
    r = cold.shell("sh", "-c", "echo made-cold > /root/f", flags=["--cold"], check=0)
    assert b"snapshot" not in r.stderr, describe(r)
    r = cold.shell("cat", "/root/f", check=0)
    assert r.stdout == b"made-cold\n", describe(r)
    assert b"snapshot" not in r.stderr, describe(r)
    # PEN_SNAPSHOT=0 is --cold for every pen of an environment.
    env_cold = pen.vm("env-cold")
    r = pen.run("vm", "start", "env-cold", env={"PEN_SNAPSHOT": "0"}, check=0)
    assert b"snapshot" not in r.stderr, describe(r)
    assert env_cold.info()["boot"] == "cold", describe(r)
    env_cold.stop(timeout=BOOT_TIMEOUT, check=0)
    # Another memory size is another machine: booted cold once, then restored like the first.
    r = pen.vm("small").shell("true", flags=["--memory", "1G"], check=0)
    assert b"save a boot snapshot" in r.stderr, describe(r)
    assert len(snapshots(images)) == 2, snapshots(images)
    assert first in snapshots(images), (first, snapshots(images))
    r = pen.vm("small2").shell("sh", "-c", "grep MemTotal /proc/meminfo", flags=["--memory", "1G"], check=0)
    assert b"save a boot snapshot" not in r.stderr, describe(r)
    assert 900_000 < int(r.stdout.split()[1]) < 1_100_000, describe(r)
    rows = json.loads(pen.run("image", "ls", "--json", check=0).stdout)
    assert sorted(row["hash"] for row in rows if row["kind"] == "snapshot") == snapshots(images)


def test_a_damaged_snapshot_is_replaced_by_a_cold_boot(pen, base_image):
    images = own_image_cache(pen, base_image)
    pen.vm("x").shell("sh", "-c", "echo kept > /root/f", check=0)
    [key] = snapshots(images)
    state = images / "snapshots" / key / "state"
    with open(state, "r+b") as f:  # one byte changed: its SHA-256 no longer matches
        f.seek(state.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    r = pen.vm("x").shell("cat", "/root/f", check=0)
    assert r.stdout == b"kept\n", describe(r)
    assert b"boot snapshot" in r.stderr, describe(r)
    assert b"damaged" in r.stderr, describe(r)
    assert snapshots(images) == [key]  # saved again
    r = pen.vm("x").shell("cat", "/root/f", check=0)
    assert r.stdout == b"kept\n", describe(r)
    assert b"snapshot" not in r.stderr, describe(r)
    assert pen.run("image", "verify", check=0).stdout.count(b"ok") >= 5


def test_a_snapshot_qemu_cannot_load_falls_back_to_a_cold_boot(pen, base_image):
    images = own_image_cache(pen, base_image)
    pen.vm("y").shell("true", check=0)
    [key] = snapshots(images)
    state = images / "snapshots" / key / "state"
    # Garbage whose checksum is recorded: it passes verification, QEMU refuses it.
    state.write_bytes(b"not a migration stream" * 1000)
    record = json.loads((state.parent / "snapshot.json").read_text())
    record["sha256"] = hashlib.sha256(state.read_bytes()).hexdigest()
    (state.parent / "snapshot.json").write_text(json.dumps(record))
    r = pen.vm("y").shell("sh", "-c", "echo booted", check=0)
    assert r.stdout == b"booted\n", describe(r)
    log = pen.vm("y").log().decode(errors="replace")
    assert "could not be restored" in log, log
    assert not pen.vm("y").qemu_pids()


def test_prune_removes_snapshots_of_an_older_base(pen, base_image):
    images = own_image_cache(pen, base_image, copy=True)
    pen.vm("p").shell("true", check=0)
    [key] = snapshots(images)
    record = json.loads((images / "snapshots" / key / "snapshot.json").read_text())
    record["inputs"]["initrdSHA256"] = "0" * 64  # as if made from another initrd
    (images / "snapshots" / key / "snapshot.json").write_text(json.dumps(record))
    r = pen.run("image", "prune", "--json", check=0)
    removed = {item["path"]: item["reason"] for item in json.loads(r.stdout)["removed"]}
    assert removed == {str(images / "snapshots" / key): "a boot snapshot of an older base image"}, removed
    assert snapshots(images) == []


@pytest.mark.fault
def test_racing_first_boots_save_one_snapshot_and_a_damaged_one_is_replaced(pen, base_image, tmp_path):
    """Faults: three VMs of one shape booting at once with no snapshot yet; a snapshot truncated
    or with one byte changed. Each run: one snapshot, every boot works, every VM keeps its data."""
    with fault_counts("boot snapshot: three racing first boots; truncated; one byte changed") as faults:
        for run in range(FAULT_RUNS):
            images = own_image_cache(pen, base_image, images=tmp_path / f"images-{run}")
            names = [f"r{run}-{i}" for i in range(3)]
            with faults.run():
                procs = [pen.vm(name).spawn_shell("sh", "-c", f"echo {name} > /root/f") for name in names]
                errors = [p.communicate(timeout=600)[1] for p in procs]
                assert [p.returncode for p in procs] == [0, 0, 0], errors
                assert len(snapshots(images)) == 1, snapshots(images)
                leftovers = [p.name for p in (images / "snapshots").iterdir() if p.name.startswith((".save-", ".old-"))]
                assert leftovers == [], leftovers
            for damage in ["truncated", "one byte changed"]:
                with faults.run():
                    [key] = snapshots(images)
                    damage_snapshot(images / "snapshots" / key / "state", damage)
                    r = pen.vm(names[0]).shell("cat", "/root/f")
                    assert faults.kept(r, f"{names[0]}\n".encode()), describe(r)
                    assert b"damaged" in r.stderr, describe(r)
                    assert snapshots(images) == [key], (snapshots(images), describe(r))
                    # And the replaced snapshot restores.
                    r = pen.vm(names[1]).shell("cat", "/root/f")
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
