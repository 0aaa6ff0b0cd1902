"""The boot path end to end: real VMs under QEMU, checked from inside — a command's output,
input and status, the disk across boots, the root filesystem, the first-boot setup, and the
accelerator pen picks."""
import os
import subprocess
import time

from conftest import describe, fsck_clean


def test_command_output_and_exit_status(pen):
    r = pen.vm("t").shell("sh", "-c", "echo hi; echo oops >&2; exit 7")
    assert r.returncode == 7, describe(r)
    assert r.stdout == b"hi\n"
    assert b"oops\n" in r.stderr
    ok, report = fsck_clean(pen.vm("t").disk)
    assert ok, report


def test_stdin_reaches_the_command(pen):
    r = pen.run("shell", "t", "--", "sh", "-c", "tr a-z A-Z", input=b"hello from the host\n")
    assert r.returncode == 0, describe(r)
    assert r.stdout == b"HELLO FROM THE HOST\n"


def test_file_persists_across_boots(pen):
    pen.vm("p").shell("sh", "-c", "echo persistent-data > /root/note.txt", check=0)
    ok, report = fsck_clean(pen.vm("p").disk)
    assert ok, report
    r = pen.vm("p").shell("cat", "/root/note.txt", check=0)
    assert r.stdout == b"persistent-data\n"
    ok, report = fsck_clean(pen.vm("p").disk)
    assert ok, report


def test_root_is_overlayfs_and_initramfs_is_gone(pen):
    r = pen.vm("m").shell("cat", "/proc/self/mountinfo", check=0)
    mounts = [line.split() for line in r.stdout.decode().splitlines()]
    root = [m for m in mounts if m[4] == "/"]
    assert root, r.stdout
    sep = root[0].index("-")
    assert root[0][sep + 1] == "overlay", root[0]
    assert not [m for m in mounts if "rootfs" in m], r.stdout.decode()
    assert not [m for m in mounts if m[4].startswith("/oldroot")], r.stdout.decode()


def test_command_exit_by_signal_and_missing_command(pen):
    r = pen.vm("s").shell("sh", "-c", "kill -9 $$")
    assert r.returncode == 137, describe(r)
    r = pen.vm("s").shell("no-such-command-here")
    assert r.returncode == 127, describe(r)


def test_setup_runs_on_first_boot_only(pen):
    # A profile with only a setup script boots the base image itself: no builder VM.
    pen.profile("once", '''setup = """
echo setup-ran >> /root/setup-count
echo 'setup says hello'
"""
''')
    r = pen.run("shell", "su", "--profile", "once", "--", "cat", "/root/setup-count", check=0)
    assert r.stdout == b"setup-ran\n"
    assert b"setup says hello" in r.stderr
    assert b"building" not in r.stderr
    r = pen.run("shell", "su", "--", "sh", "-c", "cat /root/setup-count; ls /var/lib/pen", check=0)
    assert r.stdout == b"setup-ran\nsetup-done\n"


def test_failing_setup_leaves_no_marker_and_is_reported(pen):
    pen.profile("badsetup", '''setup = """
echo trying >> /root/attempts
exit 4
"""
''')
    r = pen.run("shell", "sf", "--profile", "badsetup", "--", "echo", "command-ran")
    assert r.returncode == 4, describe(r)
    assert b"setup failed with status 4" in r.stderr
    assert b"command-ran" not in r.stdout  # a command depends on its setup
    # No marker was left, so the (now fixed) setup runs again on the next boot, then never again.
    pen.profile("badsetup", '''setup = "echo fixed >> /root/attempts"\n''')
    r = pen.vm("sf").shell("sh", "-c", "cat /root/attempts; test -e /var/lib/pen/setup-done && echo marker", check=0)
    assert r.stdout == b"trying\nfixed\nmarker\n"
    r = pen.vm("sf").shell("cat", "/root/attempts", check=0)
    assert r.stdout == b"trying\nfixed\n"


def test_stdin_sent_during_the_first_boot_setup_reaches_the_command(pen):
    pen.profile("slow", 'setup = """\nsleep 3\necho setup-ran > /root/setup\n"""\n')
    r = pen.run("shell", "first", "--profile", "slow", "--", "sh", "-c", "cat; cat /root/setup",
                input=b"typed while the setup ran\n", timeout=300)
    assert r.returncode == 0, describe(r)
    assert r.stdout == b"typed while the setup ran\nsetup-ran\n"
    assert b"running the first-boot setup" in r.stderr


def test_a_stop_during_the_setup_still_stops_cleanly(pen):
    pen.profile("long", 'setup = """\nsleep 300\n"""\n')
    vm = pen.vm("during")
    proc = vm.spawn_shell("true", flags=["--profile", "long"])
    deadline = time.time() + 240
    while time.time() < deadline and pen.vms().get("during", {}).get("status") != "running":
        time.sleep(0.3)
    time.sleep(2)  # the setup is running now
    r = vm.stop()
    assert r.returncode == 0, describe(r)
    proc.communicate(timeout=60)
    assert proc.returncode != 0, proc.returncode
    assert not vm.qemu_pids()
    ok, report = fsck_clean(vm.disk)
    assert ok, report
    # It never finished, so it runs again on the next boot: no marker on the disk's upper layer.
    r = subprocess.run(["debugfs", "-R", "stat /upper/var/lib/pen/setup-done", str(vm.disk)],
                       capture_output=True, timeout=60)
    assert b"File not found" in r.stderr, describe(r)


def test_forced_kvm_is_refused_clearly_where_unusable(pen):
    probe_usable = os.path.exists("/dev/kvm") and not os.path.exists("/sys/module/kvm_pvm") and \
        any(f in open("/proc/cpuinfo").read().split() for f in ("vmx", "svm"))
    r = pen.run("shell", "acc", "--accel", "kvm", "--", "true")
    if probe_usable:
        assert r.returncode == 0, describe(r)
    else:
        assert r.returncode == 125, describe(r)
        assert b"KVM is not usable" in r.stderr, describe(r)
        assert b"--accel tcg" in r.stderr, describe(r)
        assert not pen.vm("acc").path.exists()


def test_auto_accel_explains_the_tcg_fallback_in_one_line(pen):
    r = pen.vm("a").shell("true", check=0)
    notices = [l for l in r.stderr.decode().splitlines() if "TCG" in l]
    if not os.path.exists("/sys/module/kvm_pvm") and os.path.exists("/dev/kvm"):
        return  # a host where KVM may work: nothing to explain
    assert len(notices) == 1, r.stderr.decode()
