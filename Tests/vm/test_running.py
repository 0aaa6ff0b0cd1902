"""Running VMs: a VM started once (`pen vm start`) and reached many times — sessions and execs
side by side, the flags it booted with, `pen vm stop`, its supervisor, the idle timeout and who
may connect."""
import os
import signal
import subprocess
import time

import pytest

from conftest import describe, fsck_clean, read_until, supervisors


def test_a_started_vm_serves_sessions_until_it_is_stopped(pen):
    vm = pen.vm("srv")
    r = vm.start()
    assert b"is running" in r.stderr, describe(r)
    assert b"already running" in vm.start().stderr
    row = vm.info()
    assert row["status"] == "running", row
    assert row["detached"] is True, row
    assert row["sessions"] == 0, row
    assert isinstance(row["uptime_seconds"], int), row
    # Sessions cost no boot: each sees the same boot, and what one writes the next reads.
    boot = vm.exec("cat", "/proc/sys/kernel/random/boot_id", check=0).stdout
    r = vm.exec("sh", "-c", "echo kept > /root/note; cat /proc/sys/kernel/random/boot_id", check=0)
    assert r.stdout == boot
    r = vm.shell("cat", "/root/note", check=0)
    assert r.stdout == b"kept\n"
    # A pen shell on a started VM leaves it running.
    assert vm.info()["status"] == "running"
    # Each session has its own environment, working directory and status.
    r = vm.exec("sh", "-c", "echo $ONLY $(pwd); exit 4", flags=["--env", "ONLY=here", "--workdir", "/tmp"])
    assert r.returncode == 4, describe(r)
    assert r.stdout == b"here /tmp\n", describe(r)
    r = vm.exec("sh", "-c", "echo [$ONLY] $(pwd)", check=0)
    assert r.stdout == b"[] /workspace\n"
    r = vm.exec("true", flags=["--workdir", "/no/such"])
    assert r.returncode == 125, describe(r)
    assert b"no such directory in the VM: /no/such" in r.stderr, describe(r)
    vm.stop(check=0)
    assert not vm.qemu_pids()
    ok, report = fsck_clean(vm.disk)
    assert ok, report
    r = vm.exec("true")
    assert r.returncode == 125, describe(r)
    assert b"is not running" in r.stderr, describe(r)
    assert b"pen vm start srv" in r.stderr, describe(r)


def test_boot_only_flags_that_differ_are_refused_naming_the_flag(pen):
    pen.vm("flags").start("--cpus", "1", "--memory", "1G")
    for flags, named in [(["--cpus", "2"], b"--cpus"), (["--memory", "2G"], b"--memory"),
                         (["--publish", "18080:80"], b"--publish"), (["--dir", "/tmp"], b"--dir")]:
        r = pen.run("shell", "flags", *flags, "--", "true", timeout=60)
        lines = r.stderr.decode().strip().splitlines()
        assert r.returncode == 125, describe(r)
        assert len(lines) == 1, describe(r)
        assert named.decode() in lines[0], describe(r)
    # The values it booted with are fine.
    r = pen.run("shell", "flags", "--cpus", "1", "--memory", "1G", "--", "nproc", check=0)
    assert r.stdout == b"1\n"


def test_two_interactive_shells_at_once_each_on_its_own_pty(pen):
    vm = pen.vm("two")
    vm.start()
    with vm.terminal(size=(30, 90)) as (first_proc, first, _), vm.terminal(size=(50, 120)) as (second_proc, second, _):
        assert b"root@two" in read_until(first, b"root@two", 60)
        assert b"root@two" in read_until(second, b"root@two", 60)
        os.write(first, b"echo from-first > /root/shared; tty; stty size\r")
        seen = read_until(first, b"30 90", 30)
        assert b"30 90" in seen, seen
        os.write(second, b"cat /root/shared; tty; stty size\r")
        seen = read_until(second, b"50 120", 30)
        assert b"from-first" in seen, seen
        assert b"50 120" in seen, seen
        assert seen.count(b"/dev/pts/") == 1, seen
        assert vm.info()["sessions"] == 2
        os.write(first, b"exit\r")
        os.write(second, b"exit\r")
        assert first_proc.wait(timeout=60) == 0
        assert second_proc.wait(timeout=60) == 0


def test_fifty_concurrent_execs_each_get_their_own_output_and_status(pen):
    vm = pen.vm("many")
    vm.start()
    procs = [vm.spawn_exec("sh", "-c", f"echo out-{i}; echo err-{i} >&2; exit {i % 8}") for i in range(50)]
    for i, p in enumerate(procs):
        out, err = p.communicate(timeout=300)
        assert (p.returncode, out, err) == (i % 8, f"out-{i}\n".encode(), f"err-{i}\n".encode())


def test_a_sessions_client_killed_hangs_up_only_its_session(pen):
    vm = pen.vm("hup")
    vm.start()
    victim = vm.spawn_exec("sh", "-c", "trap 'echo hup > /root/hup; exit 1' HUP; echo ready; while :; do sleep 0.2; done")
    other = vm.spawn_exec("sh", "-c", "sleep 8; echo still-here")
    assert victim.stdout.readline() == b"ready\n"  # its trap is set
    victim.kill()
    victim.wait()
    out, _ = other.communicate(timeout=60)
    assert other.returncode == 0, out
    assert out == b"still-here\n"
    r = vm.exec("cat", "/root/hup", check=0)
    assert r.stdout == b"hup\n"


def test_vm_stop_ends_every_session_with_its_status(pen):
    vm = pen.vm("stopme")
    vm.start()
    plain = vm.spawn_exec("sh", "-c", "echo ready; exec sleep 300")
    assert plain.stdout.readline() == b"ready\n"
    trapping = vm.spawn_exec("sh", "-c", "trap 'exit 5' TERM; echo ready; sleep 300 & wait")
    assert trapping.stdout.readline() == b"ready\n"  # its trap is set
    deadline = time.time() + 60
    while vm.info()["sessions"] != 2 and time.time() < deadline:
        time.sleep(0.2)
    r = vm.stop()
    assert r.returncode == 0, describe(r)
    assert b"stopped" in r.stderr, describe(r)
    assert plain.wait(timeout=60) == 128 + signal.SIGTERM
    assert trapping.wait(timeout=60) == 5
    assert not vm.qemu_pids()
    ok, report = fsck_clean(vm.disk)
    assert ok, report


def test_the_supervisor_killed_takes_qemu_and_tells_every_client(pen):
    vm = pen.vm("sk")
    vm.start()
    vm.exec("sh", "-c", "echo synced > /root/s; sync", check=0)
    clients = [vm.spawn_exec("sleep", "300") for _ in range(2)]
    deadline = time.time() + 60
    while vm.info()["sessions"] != 2 and time.time() < deadline:
        time.sleep(0.2)
    [sup] = supervisors(pen.home)
    os.kill(sup, signal.SIGKILL)
    killed = time.time()
    while vm.qemu_pids() and time.time() - killed < 5:
        time.sleep(0.02)
    gone_after = time.time() - killed
    assert not vm.qemu_pids(), "QEMU outlived its supervisor"
    assert gone_after < 1.5, f"QEMU outlived its supervisor by {gone_after:.2f} s"
    for c in clients:
        _, err = c.communicate(timeout=30)
        lines = err.decode().strip().splitlines()
        assert c.returncode == 125, (c.returncode, err)
        assert len(lines) == 1, (c.returncode, err)
        assert "stopped" in lines[0], (c.returncode, err)
    r = vm.shell("cat", "/root/s", check=0)
    assert r.stdout == b"synced\n"


def test_an_idle_vm_stops_after_its_timeout(pen):
    vm = pen.vm("idle")
    vm.start("--idle-timeout", "3s")
    deadline = time.time() + 60
    while vm.info()["status"] == "running" and time.time() < deadline:
        time.sleep(0.5)
    assert vm.info()["status"] == "stopped"
    assert b"no session for 3 s" in vm.log()


def test_another_user_is_refused_even_when_the_socket_is_opened_up(pen):
    if os.geteuid() != 0:
        pytest.skip("running a client as another uid needs root")
    vm = pen.vm("uid")
    vm.start()
    run = vm.path / "run"
    # Loosen every mode on the way (a careless umask, a chmod -R): the peer's uid still decides.
    ancestors = [p for p in pen.home.parents if str(p).startswith("/tmp/")]
    own = [pen.home, pen.home / "vms", vm.path, run]
    saved = {p: os.stat(p).st_mode & 0o7777 for p in ancestors + own}
    for p in ancestors:
        os.chmod(p, saved[p] | 0o011)
    for p in own:
        os.chmod(p, 0o777)
    os.chmod(run / "pen.sock", 0o777)
    # The supervisor may close before the probe has written (EPIPE) or read (ECONNRESET): either
    # way, not one byte may come back.
    probe = ("import socket, sys\ns = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(10)\n"
             "try:\n    s.sendall(bytes([1, 0, 0, 0, 1]) + b'4' + bytes([30, 0, 0, 0, 0]))\n"
             "except (BrokenPipeError, ConnectionResetError):\n    pass\n"
             "try:\n    print(len(s.recv(65536)))\nexcept ConnectionResetError:\n    print(0)\n")
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "python3", "-c", probe,
                        str(run / "pen.sock")], capture_output=True, timeout=60)
    # Back as they were: pen refuses state in directories anyone can write (StateOwnership).
    for p, mode in saved.items():
        os.chmod(p, mode)
    assert r.returncode == 0, describe(r)
    assert r.stdout == b"0\n", describe(r)  # connected, then closed without a word
    assert b"refused a connection from uid 65534" in vm.log()
    r = vm.exec("true")
    assert r.returncode == 0, describe(r)
