"""A VM's disk on the host: damaged so that it does not mount (repaired by the guest's e2fsck, or
kept for `pen vm fsck`), and a full host disk (a small tmpfs) while pen writes vm.json, an overlay
disk, a profile image or the base image's initrd, and while the guest writes: a clear error
naming the file and the fix, and every previous file intact."""
import hashlib
import os
import pathlib
import shutil
import subprocess
from contextlib import contextmanager

import pytest

from conftest import BUILD_TIMEOUT, describe, fault_counts, fill, fsck_clean, own_image_cache, small_filesystem

def corrupt(disk, offset, data):
    with open(disk, "r+b") as f:
        f.seek(offset)
        f.write(data)


def fingerprint(disk):
    """The disk's metadata region and mtime: what any write by a repair would change."""
    with open(disk, "rb") as f:
        head = hashlib.sha256(f.read(64 << 20)).hexdigest()
    return head, os.stat(disk).st_mtime_ns


# pen's overlay disks: 4 KiB blocks, 64-byte group descriptors from block 1, metadata_csum.
GROUP0_CHECKSUM = 4096 + 0x1E


SUPERBLOCK_MAGIC = 1024 + 56


def test_a_disk_that_does_not_mount_is_repaired_by_the_guests_e2fsck(pen):
    pen.vm("dmg").shell("sh", "-c", "echo kept > /root/data && sync", check=0)
    corrupt(pen.vm("dmg").disk, GROUP0_CHECKSUM, b"\x12\x34")  # the kernel refuses such a disk
    dump = subprocess.run(["dumpe2fs", str(pen.vm("dmg").disk)], capture_output=True, timeout=60).stdout
    assert b"csum 0x3412 (EXPECTED" in dump
    r = pen.vm("dmg").shell("cat", "/root/data", check=0)
    assert r.stdout == b"kept\n", describe(r)
    assert b"its disk did not mount; e2fsck repaired it" in r.stderr, describe(r)
    assert b"e2fsck -p" in (pen.vm("dmg").path / "boot.log").read_bytes()
    ok, report = fsck_clean(pen.vm("dmg").disk)
    assert ok, report


def test_a_disk_the_guest_cannot_repair_is_kept_and_pen_vm_fsck_repairs_it(pen):
    pen.vm("bad").shell("sh", "-c", "echo kept > /root/data && sync", check=0)
    corrupt(pen.vm("bad").disk, SUPERBLOCK_MAGIC, b"\0\0")  # needs a backup superblock: not for -p
    damaged = fingerprint(pen.vm("bad").disk)
    r = pen.vm("bad").shell("true")
    assert r.returncode != 0, describe(r)
    assert b"pen vm fsck bad" in r.stderr, describe(r)
    assert b"e2fsck -p could not repair it" in r.stderr, describe(r)
    assert fingerprint(pen.vm("bad").disk) == damaged, "a failed repair changed the disk"
    # Checking writes nothing; repairing does, and the data comes back.
    r = pen.run("vm", "fsck", "bad")
    assert r.returncode == 1, describe(r)
    assert b"pen vm fsck bad --repair" in r.stderr, describe(r)
    assert fingerprint(pen.vm("bad").disk) == damaged
    r = pen.run("vm", "fsck", "bad", "--repair", check=0)
    assert b"was repaired" in r.stderr, describe(r)
    r = pen.run("vm", "fsck", "bad", check=0)
    assert b"is clean" in r.stderr, describe(r)
    r = pen.vm("bad").shell("cat", "/root/data", check=0)
    assert r.stdout == b"kept\n", describe(r)


def test_pen_vm_fsck_refuses_a_running_vm(pen):
    proc = pen.vm("busy").sleeper(before="true")
    r = pen.run("vm", "fsck", "busy")
    assert r.returncode != 0, describe(r)
    assert b"pen vm stop busy" in r.stderr, describe(r)
    proc.terminate()
    proc.communicate(timeout=120)


MiB = 1 << 20
NO_SPACE = b"No space left on device"
FIX = b"free some space"


def snapshot(directory):
    """Every regular file under `directory` with its bytes."""
    return {p: p.read_bytes() for p in pathlib.Path(directory).rglob("*") if p.is_file() and not p.is_symlink()}


def unchanged(before, after, ignore):
    """Two snapshots hold the same files with the same bytes, those `ignore` picks aside."""
    def files(snap):
        return {p: b for p, b in snap.items() if not ignore(p)}
    return files(after) == files(before)


@contextmanager
def a_vm_with_data_on_a_small_host(pen, tmp_path, name, fault):
    """VM `name` with /root/kept synced, its PEN_HOME on a 24 MiB filesystem; counts for `fault`."""
    with small_filesystem(tmp_path / "small", 24 * MiB) as small, fault_counts(fault) as faults:
        pen = pen.another(small / "home")
        pen.vm(name).shell("sh", "-c", "echo kept > /root/kept; sync", check=0)
        yield pen, small, faults


def assert_refused_for_space(r, file):
    """pen refused for want of space on the host, naming the file it could not write and the fix."""
    assert r.returncode == 125, describe(r)
    assert file in r.stderr, describe(r)
    assert NO_SPACE in r.stderr, describe(r)
    assert FIX in r.stderr, describe(r)


@pytest.mark.fault
def test_vm_json_and_a_new_vm_on_a_full_disk(pen, tmp_path):
    with a_vm_with_data_on_a_small_host(pen, tmp_path, "a", "host disk full while writing vm.json or a new overlay disk") \
            as (pen, small, faults):
        record = (pen.vm("a").path / "vm.json").read_bytes()
        filler = fill(small)
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        with faults.run():
            # Sharing another directory rewrites vm.json: it cannot, and the old one stays.
            r = pen.run("shell", "a", "--dir", str(elsewhere), "--", "true")
            if (pen.vm("a").path / "vm.json").read_bytes() != record:
                faults.lost()
            assert_refused_for_space(r, b"vm.json")
            assert (pen.vm("a").path / "vm.json").read_bytes() == record
            assert not [p for p in os.listdir(pen.vm("a").path) if ".tmp-" in p]
        with faults.run():
            # A new VM cannot get its disk: refused, and no half-made VM is left behind.
            r = pen.vm("b").shell("true")
            assert_refused_for_space(r, b"overlay.img")
            assert not pen.vm("b").path.exists()
        # With room again, the VM of the first run boots with its data on a clean disk.
        filler.unlink()
        ok, report = fsck_clean(pen.vm("a").disk)
        assert ok, report
        r = pen.vm("a").shell("cat", "/root/kept")
        assert faults.kept(r, b"kept\n"), describe(r)


@pytest.mark.fault
def test_the_guest_filling_the_host_disk_is_reported_and_synced_data_survives(pen, tmp_path):
    with a_vm_with_data_on_a_small_host(pen, tmp_path, "g", "guest fills the host disk under its sparse overlay") \
            as (pen, small, faults):
        with faults.run():
            # The sparse overlay grows past what the host has: the guest's writes fail, and pen says
            # so instead of hanging (QEMU would pause the VM) or exiting 0 over lost writes.
            r = pen.vm("g").shell("sh", "-c", "head -c 64M /dev/urandom > /root/big; echo written", timeout=300)
            assert r.returncode == 125, describe(r)
            assert b"could not write everything to its disk" in r.stderr, describe(r)
            assert FIX in r.stderr, describe(r)
            assert b"overlay.img" in r.stderr, describe(r)
            subprocess.run(["mount", "-o", "remount,size=256M", str(small)], check=True)
            r = pen.vm("g").shell("cat", "/root/kept")
            assert faults.kept(r, b"kept\n"), describe(r)
            ok, report = fsck_clean(pen.vm("g").disk)
            assert ok, report


@pytest.mark.fault
def test_image_writes_on_a_full_disk_keep_the_previous_image(pen, tmp_path, base_image):
    base_bytes = sum(f.stat().st_size for f in (pathlib.Path(base_image) / "base").iterdir() if f.is_file())
    # A build holds its root on the disk twice while it writes the root image (the spool it reads
    # from and the image): room for the base's twice, not for v2's 400 MB.
    with small_filesystem(tmp_path / "small", base_bytes + 300 * MiB) as small, \
            fault_counts("host disk full while writing a profile image or the base initrd") as faults:
        pen = pen.another(tmp_path / "home")
        own_image_cache(pen, base_image, copy=True, images=small)

        v1 = 'build = "echo v1 > /etc/fat"\n'
        pen.profile("fat", v1)
        r = pen.run("profile", "build", "fat", timeout=BUILD_TIMEOUT)
        assert r.returncode == 0, describe(r)
        kept = snapshot(small / "profiles" / "fat")
        with faults.run():
            # v2 streams a root larger than the space left: the build fails and publishes nothing.
            pen.profile("fat", 'build = "head -c 400M /dev/urandom > /opt/big"\n')
            r = pen.run("profile", "build", "fat", timeout=BUILD_TIMEOUT)
            now = snapshot(small / "profiles" / "fat")
            if not unchanged(kept, now, ignore=lambda p: p.name == "last-build.log"):
                faults.lost()
            assert r.returncode != 0, describe(r)
            assert b"build failed" in r.stderr, describe(r)
            assert NO_SPACE in r.stderr, describe(r)
            assert FIX in r.stderr, describe(r)
            assert unchanged(kept, now, ignore=lambda p: p.name == "last-build.log")
            assert not [p for p in os.listdir(small / "profiles" / "fat") if p.startswith(".build-")]
            pen.profile("fat", v1)
            r = pen.run("shell", "f", "--profile", "fat", "--", "cat", "/etc/fat")
            assert r.returncode == 0, describe(r)
            assert r.stdout == b"v1\n", describe(r)

        with faults.run():
            # The base image's initrd is re-assembled for a new init: on a full disk that fails,
            # and the initrd and manifest in place stay as they were.
            base_before = snapshot(small / "base")
            new_init = tmp_path / "PenGuestInit"
            shutil.copy2(pathlib.Path(os.environ.get("PEN_BIN", "out/bin/pen")).parent / "PenGuestInit", new_init)
            with open(new_init, "ab") as f:
                f.write(b"\0changed")
            filler = fill(small)
            r = pen.run("shell", "b", "--", "true", env={"PEN_INIT": str(new_init)})
            base_after = snapshot(small / "base")
            if not unchanged(base_before, base_after, ignore=lambda p: p.name.startswith(".")):
                faults.lost()
            assert r.returncode == 125, describe(r)
            assert NO_SPACE in r.stderr, describe(r)
            assert FIX in r.stderr, describe(r)
            assert unchanged(base_before, base_after, ignore=lambda p: p.name.startswith("."))
            filler.unlink()
            r = pen.vm("b").shell("true")
            assert r.returncode == 0, describe(r)
