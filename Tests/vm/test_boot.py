"""The boot path end to end: real VMs under QEMU, checked from inside."""
import subprocess
import time

from conftest import PEN, describe, fsck_clean


def test_command_output_and_exit_status(pen):
    r = pen.shell("t", "sh", "-c", "echo hi; echo oops >&2; exit 7")
    assert r.returncode == 7, describe(r)
    assert r.stdout == b"hi\n"
    assert b"oops\n" in r.stderr
    ok, report = fsck_clean(pen.disk("t"))
    assert ok, report


def test_stdin_reaches_the_command(pen):
    r = pen.run("shell", "t", "--", "sh", "-c", "tr a-z A-Z", input=b"hello from the host\n")
    assert r.returncode == 0, describe(r)
    assert r.stdout == b"HELLO FROM THE HOST\n"


def test_file_persists_across_boots(pen):
    pen.shell("p", "sh", "-c", "echo persistent-data > /root/note.txt", check=0)
    ok, report = fsck_clean(pen.disk("p"))
    assert ok, report
    r = pen.shell("p", "cat", "/root/note.txt", check=0)
    assert r.stdout == b"persistent-data\n"
    ok, report = fsck_clean(pen.disk("p"))
    assert ok, report


def test_root_is_overlayfs_and_initramfs_is_gone(pen):
    r = pen.shell("m", "cat", "/proc/self/mountinfo", check=0)
    mounts = [line.split() for line in r.stdout.decode().splitlines()]
    root = [m for m in mounts if m[4] == "/"]
    assert root, r.stdout
    sep = root[0].index("-")
    assert root[0][sep + 1] == "overlay", root[0]
    assert not [m for m in mounts if "rootfs" in m], r.stdout.decode()
    assert not [m for m in mounts if m[4].startswith("/oldroot")], r.stdout.decode()


def test_command_exit_by_signal_and_missing_command(pen):
    r = pen.shell("s", "sh", "-c", "kill -9 $$")
    assert r.returncode == 137, describe(r)
    r = pen.shell("s", "no-such-command-here")
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
    r = pen.shell("sf", "sh", "-c", "cat /root/attempts; test -e /var/lib/pen/setup-done && echo marker", check=0)
    assert r.stdout == b"trying\nfixed\nmarker\n"
    r = pen.shell("sf", "cat", "/root/attempts", check=0)
    assert r.stdout == b"trying\nfixed\n"


def test_a_second_shell_joins_the_running_vm_which_stops_with_the_last(pen):
    first = subprocess.Popen([PEN, "shell", "c", "--", "sh", "-c", "echo $(cat /proc/sys/kernel/random/boot_id); sleep 20"],
                             env=pen.env, cwd=pen.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 240
        while not (pen.vm_dir("c") / "run" / "pen.sock").exists() and time.time() < deadline:
            time.sleep(0.2)
        # No second boot: the same kernel answers.
        r = pen.shell("c", "cat", "/proc/sys/kernel/random/boot_id", timeout=240, check=0)
        out, err = first.communicate(timeout=240)
        assert first.returncode == 0 and out == r.stdout, (out, err, r.stdout)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    # The VM stopped with its last session, cleanly.
    assert not (pen.vm_dir("c") / "run" / "pen.sock").exists()
    ok, report = fsck_clean(pen.disk("c"))
    assert ok, report


def test_network_apt_install_persists(pen):
    r = pen.shell("net", "sh", "-c", "apt-get update -q && apt-get install -y -q hello", timeout=900)
    assert r.returncode == 0, describe(r)
    r = pen.shell("net", "hello", check=0)
    assert r.stdout == b"Hello, world!\n"
    ok, report = fsck_clean(pen.disk("net"))
    assert ok, report
