"""Hardened QEMU and image integrity."""
import pytest
import os

from conftest import describe, own_image_cache
from test_sessions import qemu_pids, start_sleeper


def test_qemu_runs_under_its_seccomp_sandbox_without_a_monitor(pen):
    proc = start_sleeper(pen, "sbx")
    try:
        [pid] = qemu_pids("sbx")
        args = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        assert b"-sandbox" in args
        assert not any(a in args for a in (b"-monitor", b"-qmp", b"-mon"))
        status = open(f"/proc/{pid}/status").read()
        assert "Seccomp:\t2" in status, "QEMU is not under a seccomp filter"
        # No socket files: every channel is an inherited socketpair.
        for fd in os.listdir(f"/proc/{pid}/fd"):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            assert not target.startswith("/") or not target.endswith(".sock"), target
    finally:
        proc.terminate()
        proc.wait(timeout=120)


def private_images(pen, base_image):
    """A copy (not links: the test damages it) of the base image in this test's own cache."""
    return own_image_cache(pen, base_image, copy=True)


def test_a_modified_image_is_refused_with_the_fix(pen, base_image):
    images = private_images(pen, base_image)
    pen.shell("ok", "true", check=0)  # verified once, stamped
    r = pen.run("image", "verify", check=0)
    # The base image's four files (and the boot snapshot this boot saved).
    assert r.stdout.count(b"ok      base") == 4 and r.stdout.count(b"ok      snapshot") == 1 and b"CORRUPT" not in r.stdout, describe(r)

    initrd = images / "base" / "initrd.img"
    with open(initrd, "r+b") as f:
        f.truncate(initrd.stat().st_size - 4096)
    r = pen.shell("ok", "true")
    assert r.returncode == 125, describe(r)
    assert b"does not match its recorded SHA-256" in r.stderr and b"pen image base --rebuild" in r.stderr
    r = pen.run("image", "verify")
    assert r.returncode == 1 and b"CORRUPT base" in r.stdout, describe(r)


@pytest.mark.parametrize("damage", ["truncated", "one byte changed"])
def test_a_damaged_root_image_is_refused_with_the_fix(pen, base_image, damage):
    images = private_images(pen, base_image)
    pen.shell("ok", "sh", "-c", "echo kept > /root/f", check=0)  # verified once, stamped
    root = images / "base" / "root.erofs"
    size = root.stat().st_size
    with open(root, "r+b") as f:
        if damage == "truncated":
            f.truncate(size - 4096)
        else:
            f.seek(size // 2)
            byte = f.read(1)
            f.seek(size // 2)
            f.write(bytes([byte[0] ^ 0xFF]))
    r = pen.shell("ok", "cat", "/root/f")
    assert r.returncode == 125, describe(r)
    assert b"root.erofs does not match its recorded SHA-256" in r.stderr and b"pen image base --rebuild" in r.stderr
    r = pen.run("image", "verify")
    assert r.returncode == 1 and b"CORRUPT base" in r.stdout and b"root.erofs" in r.stdout, describe(r)
    if damage != "truncated":
        return
    # The fix named works, and the VM's own files were never touched.
    r = pen.run("image", "base", "--rebuild", timeout=1200)
    assert r.returncode == 0, describe(r)
    assert pen.shell("ok", "cat", "/root/f", check=0).stdout == b"kept\n"
