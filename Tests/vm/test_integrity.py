"""The integrity of what pen runs: every image verified before it boots (a damaged one refused
with the fix), QEMU under its seccomp sandbox without a monitor, and pen's own memory and
environment closed to its user's other processes."""
import os
import subprocess
import time

import pytest

from conftest import describe, own_image_cache

NOBODY = 65534


def as_nobody():
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def test_qemu_runs_under_its_seccomp_sandbox_and_its_monitor_is_the_supervisors_alone(pen):
    vm = pen.vm("sbx")
    proc = vm.sleeper()
    [pid] = vm.qemu_pids()
    args = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
    assert b"-sandbox" in args
    assert not any(a in args for a in (b"-monitor", b"-qmp"))
    # One monitor, QMP, on a socketpair the supervisor holds (it suspends the VM through it).
    assert [args[i + 1] for i, a in enumerate(args) if a == b"-mon"] == [b"chardev=qmp,mode=control"]
    assert any(a.startswith(b"socket,id=qmp,fd=") for a in args), args
    status = open(f"/proc/{pid}/status").read()
    assert "Seccomp:\t2" in status, "QEMU is not under a seccomp filter"
    # No socket files: every channel is an inherited socketpair.
    for fd in os.listdir(f"/proc/{pid}/fd"):
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
        assert not target.startswith("/") or not target.endswith(".sock"), target
    proc.terminate()
    proc.wait(timeout=120)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a process as nobody")
def test_pen_is_not_readable_by_its_users_other_processes(pen, pen_for_any_user):
    """A process of the same user cannot read pen's environment (its secrets) or memory."""
    reader, writer = os.pipe()
    proc = pen.spawn("supervise", "--plan-fd", "0", "--ready-fd", "1", "--run", str(pen.home / "run"),
                     binary=pen_for_any_user, env={"A_SECRET": "pen-hidden-value"}, cwd="/", stdin=reader,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=as_nobody)
    os.close(reader)
    try:
        time.sleep(1)  # pen has started and waits for its plan
        assert proc.poll() is None
        probe = subprocess.run(["python3", "-c", f"open('/proc/{proc.pid}/environ','rb').read()"],
                               preexec_fn=as_nobody, capture_output=True, timeout=30)
        assert probe.returncode != 0, probe
        assert b"PermissionError" in probe.stderr, probe
        # The baseline: an ordinary process of the same user is readable.
        sleeper = subprocess.Popen(["sleep", "30"], preexec_fn=as_nobody)
        probe = subprocess.run(["python3", "-c", f"open('/proc/{sleeper.pid}/environ','rb').read()"],
                               preexec_fn=as_nobody, capture_output=True, timeout=30)
        sleeper.kill()
        sleeper.wait()
        assert probe.returncode == 0, probe
    finally:
        os.close(writer)
        proc.wait(timeout=30)


def private_images(pen, base_image):
    """A copy (not links: the test damages it) of the base image in this test's own cache."""
    return own_image_cache(pen, base_image, copy=True)


def assert_refused_as_corrupt(pen, r, file):
    """A boot refused over a damaged base image file, with the fix; `image verify` names it."""
    assert r.returncode == 125, describe(r)
    assert f"{file} does not match its recorded SHA-256".encode() in r.stderr, describe(r)
    assert b"pen image base --rebuild" in r.stderr, describe(r)
    r = pen.run("image", "verify")
    assert r.returncode == 1, describe(r)
    corrupt = [line for line in r.stdout.splitlines() if line.startswith(b"CORRUPT base ")]
    assert [line for line in corrupt if line.endswith(b"/" + file.encode())], describe(r)


def test_a_modified_image_is_refused_with_the_fix(pen, base_image):
    images = private_images(pen, base_image)
    pen.vm("ok").shell("true", check=0)  # verified once, stamped
    r = pen.run("image", "verify", check=0)
    # The base image's four files (and the boot snapshot this boot saved).
    assert r.stdout.count(b"ok      base") == 4, describe(r)
    assert r.stdout.count(b"ok      snapshot") == 1, describe(r)
    assert b"CORRUPT" not in r.stdout, describe(r)

    initrd = images / "base" / "initrd.img"
    with open(initrd, "r+b") as f:
        f.truncate(initrd.stat().st_size - 4096)
    assert_refused_as_corrupt(pen, pen.vm("ok").shell("true"), "initrd.img")


@pytest.mark.parametrize("damage", ["truncated", "one byte changed"])
def test_a_damaged_root_image_is_refused_with_the_fix(pen, base_image, damage):
    images = private_images(pen, base_image)
    pen.vm("ok").shell("sh", "-c", "echo kept > /root/f", check=0)  # verified once, stamped
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
    assert_refused_as_corrupt(pen, pen.vm("ok").shell("cat", "/root/f"), "root.erofs")
    if damage != "truncated":
        return
    # The fix named works, and the VM's own files were never touched.
    r = pen.run("image", "base", "--rebuild", timeout=1200)
    assert r.returncode == 0, describe(r)
    assert pen.vm("ok").shell("cat", "/root/f", check=0).stdout == b"kept\n"
