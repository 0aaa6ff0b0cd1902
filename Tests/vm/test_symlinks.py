"""A symlink planted at any path pen writes (a VM's directory and files, image and cache files)
is refused with a message naming it, and nothing is written through it."""
import json
import os

import pytest

from conftest import FAULT_RUNS, BUILD_TIMEOUT, describe, own_image_cache, record_faults

VICTIM_TEXT = b"precious: must never change\n"


@pytest.fixture
def victim(tmp_path):
    """A file and a directory outside PEN_HOME that planted links point at."""
    f = tmp_path / "victim-file"
    f.write_bytes(VICTIM_TEXT)
    d = tmp_path / "victim-dir"
    d.mkdir()
    return f, d


def assert_refused(r, path):
    assert r.returncode != 0, describe(r)
    assert str(path).encode() in r.stderr and b"symlink" in r.stderr, describe(r)


def assert_untouched(victim):
    f, d = victim
    assert f.read_bytes() == VICTIM_TEXT
    assert list(d.iterdir()) == []


def plant(path, target):
    if path.exists() or path.is_symlink():
        path.rename(path.with_name(path.name + ".moved"))
    path.symlink_to(target)


def restore(path):
    path.unlink()
    moved = path.with_name(path.name + ".moved")
    if moved.exists():
        moved.rename(path)


VM_FILES = ["vm.json", "overlay.img", "lock", "boot.log", "qemu.log", "passt.log"]


def test_symlinks_planted_in_a_vm_are_refused(pen, victim):
    f, d = victim
    pen.shell("v", "sh", "-c", "echo kept > /root/kept; sync", check=0)
    vm = pen.vm_dir("v")
    planted = 0
    for _ in range(FAULT_RUNS):
        for name in VM_FILES:
            path = vm / name
            plant(path, f)
            r = pen.shell("v", "sh", "-c", "echo through > /root/x")
            assert_refused(r, path)
            assert_untouched(victim)
            restore(path)
            planted += 1
        # The VM's directory itself, for an existing name and for a new one.
        for name in ["v", "fresh"]:
            path = pen.home / "vms" / name
            plant(path, d)
            r = pen.shell(name, "true")
            assert_refused(r, path)
            assert_untouched(victim)
            restore(path)
            planted += 1
        # A VM whose creation was interrupted (no vm.json yet) with a link where its disk goes.
        half = pen.home / "vms" / "half"
        half.mkdir(exist_ok=True)
        plant(half / "overlay.img", f)
        r = pen.shell("half", "true")
        assert_refused(r, half / "overlay.img")
        assert_untouched(victim)
        (half / "overlay.img").unlink()
        planted += 1
    # After all that, the VM is intact and boots with its data.
    r = pen.shell("v", "cat", "/root/kept")
    assert r.returncode == 0 and r.stdout == b"kept\n", describe(r)
    record_faults("symlink planted at a VM path", planted, planted, 0)


def test_symlinks_planted_in_the_image_cache_are_refused(pen, base_image, victim):
    f, d = victim
    images = own_image_cache(pen, base_image)
    base = images / "base"
    planted = 0
    for _ in range(FAULT_RUNS):
        # The image files a VM boots are refused, with the command that rebuilds them.
        for name in ["initrd.img", "vmlinux", "root.erofs"]:
            plant(base / name, f)
            r = pen.shell("i", "true")
            assert_refused(r, base / name)
            assert b"pen image base --rebuild" in r.stderr, describe(r)
            assert_untouched(victim)
            restore(base / name)
            planted += 1
        # A verification stamp is never written through (the image is simply re-hashed).
        stamp = base / ".initrd.img.verified"
        plant(stamp, f)
        r = pen.shell("i", "true")
        assert r.returncode == 0, describe(r)
        assert_untouched(victim)
        restore(stamp)
        planted += 1

    # A profile's build lock, and the directory its image is published into.
    pen.profile("sl", 'build = "echo linked > /etc/sl"\n')
    pdir = images / "profiles" / "sl"
    pdir.mkdir(parents=True)
    plant(pdir / ".lock", f)
    r = pen.run("profile", "build", "sl")
    assert_refused(r, pdir / ".lock")
    assert_untouched(victim)
    restore(pdir / ".lock")
    planted += 1

    image_hash = json.loads(pen.run("profile", "show", "sl", "--json", check=0).stdout)["hash"]
    plant(pdir / image_hash, d)
    r = pen.run("profile", "build", "sl", timeout=BUILD_TIMEOUT)
    assert_refused(r, pdir / image_hash)
    assert_untouched(victim)
    restore(pdir / image_hash)
    planted += 1
    assert [p for p in os.listdir(pdir) if p.startswith(".build-")] == []

    # With the links gone, the same build publishes and boots.
    r = pen.run("shell", "p", "--profile", "sl", "--", "cat", "/etc/sl", timeout=BUILD_TIMEOUT)
    assert r.returncode == 0 and r.stdout == b"linked\n", describe(r)
    record_faults("symlink planted at an image or cache path", planted, planted, 0)
