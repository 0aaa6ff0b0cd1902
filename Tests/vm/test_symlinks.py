"""A symlink planted at any path pen writes (a VM's directory and files, image and cache files)
is refused with a message naming it, and nothing is written through it."""
import json
import os

import pytest

from conftest import FAULT_RUNS, BUILD_TIMEOUT, describe, fault_counts, own_image_cache

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
    with fault_counts("symlink planted at a VM path") as faults:
        for _ in range(FAULT_RUNS):
            for name in VM_FILES:
                path = vm / name
                with faults.run():
                    plant(path, f)
                    r = pen.shell("v", "sh", "-c", "echo through > /root/x")
                    refused_and_untouched(faults, r, path, victim)
                    restore(path)
            # The VM's directory itself, for an existing name and for a new one.
            for name in ["v", "fresh"]:
                path = pen.home / "vms" / name
                with faults.run():
                    plant(path, d)
                    r = pen.shell(name, "true")
                    refused_and_untouched(faults, r, path, victim)
                    restore(path)
            # A VM whose creation was interrupted (no vm.json yet) with a link where its disk goes.
            half = pen.home / "vms" / "half"
            with faults.run():
                half.mkdir(exist_ok=True)
                plant(half / "overlay.img", f)
                r = pen.shell("half", "true")
                refused_and_untouched(faults, r, half / "overlay.img", victim)
                (half / "overlay.img").unlink()
        # After all that, the VM is intact and boots with its data.
        r = pen.shell("v", "cat", "/root/kept")
        assert faults.kept(r, b"kept\n"), describe(r)


def refused_and_untouched(faults, r, path, victim):
    """The command was refused naming the link, and nothing was written through it."""
    count_a_changed_victim(faults, victim)
    assert_refused(r, path)
    assert_untouched(victim)


def count_a_changed_victim(faults, victim):
    """The file a link pointed at, overwritten or gone: data lost."""
    f, _ = victim
    if not f.is_file() or f.read_bytes() != VICTIM_TEXT:
        faults.lost()


def test_symlinks_planted_in_the_image_cache_are_refused(pen, base_image, victim):
    f, d = victim
    images = own_image_cache(pen, base_image)
    base = images / "base"
    with fault_counts("symlink planted at an image or cache path") as faults:
        for _ in range(FAULT_RUNS):
            # The image files a VM boots are refused, with the command that rebuilds them.
            for name in ["initrd.img", "vmlinux", "root.erofs"]:
                with faults.run():
                    plant(base / name, f)
                    r = pen.shell("i", "true")
                    refused_and_untouched(faults, r, base / name, victim)
                    assert b"pen image base --rebuild" in r.stderr, describe(r)
                    restore(base / name)
            # A verification stamp is never written through (the image is simply re-hashed).
            stamp = base / ".initrd.img.verified"
            with faults.run():
                plant(stamp, f)
                r = pen.shell("i", "true")
                assert r.returncode == 0, describe(r)
                count_a_changed_victim(faults, victim)
                assert_untouched(victim)
                restore(stamp)

        # A profile's build lock, and the directory its image is published into.
        pen.profile("sl", 'build = "echo linked > /etc/sl"\n')
        pdir = images / "profiles" / "sl"
        pdir.mkdir(parents=True)
        with faults.run():
            plant(pdir / ".lock", f)
            r = pen.run("profile", "build", "sl")
            refused_and_untouched(faults, r, pdir / ".lock", victim)
            restore(pdir / ".lock")

        image_hash = json.loads(pen.run("profile", "show", "sl", "--json", check=0).stdout)["hash"]
        with faults.run():
            plant(pdir / image_hash, d)
            r = pen.run("profile", "build", "sl", timeout=BUILD_TIMEOUT)
            refused_and_untouched(faults, r, pdir / image_hash, victim)
            restore(pdir / image_hash)
            assert [p for p in os.listdir(pdir) if p.startswith(".build-")] == []

        # With the links gone, the same build publishes and boots.
        r = pen.run("shell", "p", "--profile", "sl", "--", "cat", "/etc/sl", timeout=BUILD_TIMEOUT)
        assert r.returncode == 0 and r.stdout == b"linked\n", describe(r)
