"""The interactive console, and pen's lifetime tied to its QEMU."""
import contextlib
import os

import pytest
import pty
import select
import signal
import subprocess
import termios
import time

from conftest import FAULT_RUNS, PEN, describe, fault_counts, fsck_clean, qemu_pids


def read_until(fd, needle, timeout):
    out = b""
    deadline = time.time() + timeout
    while needle not in out and time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return out


@contextlib.contextmanager
def shell_on_a_terminal(pen, name, size=None):
    """`pen shell NAME` on a fresh pty, like a user at a terminal; pen must leave the terminal's
    mode as it found it."""
    controller, terminal = pty.openpty()
    if size:
        termios.tcsetwinsize(terminal, size)
    before = termios.tcgetattr(terminal)
    proc = subprocess.Popen([PEN, "shell", name], env=dict(pen.env, TERM="xterm"), cwd=pen.cwd, stdin=terminal,
                            stdout=terminal, stderr=terminal, start_new_session=True)
    try:
        yield proc, controller, terminal
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        after = termios.tcgetattr(terminal)
        os.close(controller)
        os.close(terminal)
    assert after == before, "pen must restore the terminal's mode"


def test_interactive_shell_on_a_terminal(pen):
    with shell_on_a_terminal(pen, "tty", size=(40, 100)) as (proc, controller, terminal):
        # The shell's prompt shows the hostname; then type into it like a user.
        seen = read_until(controller, b"root@tty", 240)
        assert b"root@tty" in seen, seen.decode(errors="replace")
        assert termios.tcgetattr(terminal)[3] & termios.ECHO == 0, "pen should put the terminal in raw mode"
        os.write(controller, b"echo answer=$((6*7)) term=$TERM; tty; echo size=$(stty size); pwd\r")
        seen = read_until(controller, b"/workspace", 60)
        assert b"answer=42 term=xterm" in seen, seen.decode(errors="replace")
        assert b"/dev/pts/" in seen, seen.decode(errors="replace")  # a pty of its own
        assert b"size=40 100" in seen, seen.decode(errors="replace")
        os.write(controller, b"exit 3\r")
        assert proc.wait(timeout=120) == 3
    ok, report = fsck_clean(pen.disk("tty"))
    assert ok, report


def start_sleeper(pen, name):
    proc = subprocess.Popen([PEN, "shell", name, "--", "sh", "-c", "sync; echo started; exec sleep 300"],
                            env=pen.env, cwd=pen.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = b""
    ready, _, _ = select.select([proc.stdout], [], [], 240)
    if ready:
        line = proc.stdout.readline()
    assert line == b"started\n", f"no start line; stderr: {proc.stderr.read1().decode(errors='replace') if proc.poll() is not None else ''}"
    return proc


def test_qemu_dies_with_pen_even_on_sigkill(pen):
    with fault_counts("SIGKILL of pen shell (QEMU gone, lock free, journal recovers)") as faults:
        for run in range(FAULT_RUNS):
            with faults.run():
                proc = start_sleeper(pen, "k")
                pids = qemu_pids("k")
                assert len(pids) == 1, pids
                proc.kill()
                proc.wait()
                deadline = time.time() + 5
                while qemu_pids("k") and time.time() < deadline:
                    time.sleep(0.05)
                assert not qemu_pids("k"), "QEMU outlived pen"
                # The lock is free and the disk (with an unclean journal) boots and recovers.
                r = pen.shell("k", "sh", "-c", "echo back", timeout=300)
                assert r.returncode == 0 and r.stdout == b"back\n", describe(r)
                ok, report = fsck_clean(pen.disk("k"))
                assert ok, report


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_to_pen_shuts_the_guest_down_cleanly(pen, sig):
    with fault_counts(f"{signal.Signals(sig).name} to pen shell (clean shutdown, fsck clean)") as faults:
        for run in range(FAULT_RUNS):
            with faults.run():
                proc = start_sleeper(pen, "term")
                proc.send_signal(sig)
                # The guest ends the command with SIGTERM and powers off cleanly; pen reports the command's status.
                assert proc.wait(timeout=120) == 128 + signal.SIGTERM
                assert not qemu_pids("term")
                ok, report = fsck_clean(pen.disk("term"))
                assert ok, report


def test_a_signal_during_boot_still_shuts_the_guest_down_cleanly(pen):
    # Before the guest is ready it cannot take the request; pen holds it until it is, instead of
    # pulling the plug on a guest that may be mounting its disk (this is also `vm stop` mid-boot).
    pen.shell("early", "true", check=0)
    proc = subprocess.Popen([PEN, "shell", "early", "--cold", "--", "sh", "-c", "sleep 300; echo ran"], env=pen.env,
                            cwd=pen.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.5)  # pen has started QEMU; the kernel is still booting (seconds under TCG, booted cold)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM and out == b"", (proc.returncode, out, err)
    assert not qemu_pids("early")
    ok, report = fsck_clean(pen.disk("early"))
    assert ok, report


def test_a_second_signal_during_boot_gives_up_on_the_boot(pen):
    # Ctrl-C twice: the user does not want to wait for this boot any more.
    pen.shell("early2", "sh", "-c", "echo kept > /root/f; sync", check=0)
    proc = subprocess.Popen([PEN, "shell", "early2", "--cold", "--", "sh", "-c", "sleep 300; echo ran"], env=pen.env,
                            cwd=pen.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.5)  # the kernel is still booting (seconds under TCG, booted cold)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGINT and out == b"", (proc.returncode, out, err)
    assert b"interrupted while VM 'early2' was booting" in err, err
    assert not qemu_pids("early2")
    assert pen.shell("early2", "cat", "/root/f", check=0).stdout == b"kept\n"


def test_forced_kvm_is_refused_clearly_where_unusable(pen):
    probe_usable = os.path.exists("/dev/kvm") and not os.path.exists("/sys/module/kvm_pvm") and \
        any(f in open("/proc/cpuinfo").read().split() for f in ("vmx", "svm"))
    r = pen.run("shell", "acc", "--accel", "kvm", "--", "true")
    if probe_usable:
        assert r.returncode == 0, describe(r)
    else:
        assert r.returncode == 125, describe(r)
        assert b"KVM is not usable" in r.stderr and b"--accel tcg" in r.stderr
        assert not pen.vm_dir("acc").exists()


def test_auto_accel_explains_the_tcg_fallback_in_one_line(pen):
    r = pen.shell("a", "true", check=0)
    notices = [l for l in r.stderr.decode().splitlines() if "TCG" in l]
    if not os.path.exists("/sys/module/kvm_pvm") and os.path.exists("/dev/kvm"):
        return  # a host where KVM may work: nothing to explain
    assert len(notices) == 1, r.stderr.decode()


def test_ctrl_bracket_q_leaves_a_hung_guest(pen):
    with shell_on_a_terminal(pen, "hung") as (proc, controller, _):
        assert b"root@hung" in read_until(controller, b"root@hung", 240)
        # A guest that ignores the keyboard: the shell is busy and Ctrl-C is ignored.
        os.write(controller, b"trap '' INT; sleep 1000\r")
        time.sleep(1)
        os.write(controller, b"\x03\x1dq")
        assert proc.wait(timeout=60) == 130
        assert b"stopping VM 'hung'" in read_until(controller, b"Ctrl-] q", 10)
    assert not qemu_pids("hung")
