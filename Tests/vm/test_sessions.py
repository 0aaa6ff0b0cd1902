"""A session's life: the interactive console, a second shell joining the VM, a session's input and
output (piped scripts, flow both ways, a slow reader), and pen's lifetime tied to its QEMU —
signals and SIGKILL, with synced writes kept."""
import os
import random
import select
import signal
import subprocess
import termios
import time

import pytest

from conftest import FAULT_RUNS, describe, fault_counts, fsck_clean, qemu_pids, read_until, supervisors


def test_interactive_shell_on_a_terminal(pen):
    with pen.vm("tty").terminal(size=(40, 100)) as (proc, controller, terminal):
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
    ok, report = fsck_clean(pen.vm("tty").disk)
    assert ok, report


def test_ctrl_bracket_q_leaves_a_hung_guest(pen):
    with pen.vm("hung").terminal() as (proc, controller, _):
        assert b"root@hung" in read_until(controller, b"root@hung", 240)
        # A guest that ignores the keyboard: the shell is busy and Ctrl-C is ignored.
        os.write(controller, b"trap '' INT; sleep 1000\r")
        time.sleep(1)
        os.write(controller, b"\x03\x1dq")
        assert proc.wait(timeout=60) == 130
        assert b"stopping VM 'hung'" in read_until(controller, b"Ctrl-] q", 10)
    assert not qemu_pids("hung")


def test_a_second_shell_joins_the_running_vm_which_stops_with_the_last(pen):
    vm = pen.vm("c")
    first = vm.spawn_shell("sh", "-c", "echo $(cat /proc/sys/kernel/random/boot_id); sleep 20")
    deadline = time.time() + 240
    while not (vm.path / "run" / "pen.sock").exists() and time.time() < deadline:
        time.sleep(0.2)
    # No second boot: the same kernel answers.
    r = vm.shell("cat", "/proc/sys/kernel/random/boot_id", timeout=240, check=0)
    out, err = first.communicate(timeout=240)
    assert first.returncode == 0, (out, err)
    assert out == r.stdout, (out, err, r.stdout)
    # The VM stopped with its last session, cleanly.
    assert not (vm.path / "run" / "pen.sock").exists()
    ok, report = fsck_clean(vm.disk)
    assert ok, report


def test_piped_scripts_end_with_their_input_and_never_spin(pen):
    vm = pen.vm("pipe")
    vm.start()
    # A script without a final exit, one line of which is read by a command inside it: the shell
    # reads a pipe a byte at a time (as over ssh), so `read` takes the script's next line.
    script = b"echo first\nread line\nthis line is read by read\necho \"read: $line\"\necho last\n"
    r = pen.run("shell", "pipe", input=script, timeout=60)
    assert r.returncode == 0, describe(r)
    assert r.stdout == b"first\nread: this line is read by read\nlast\n", describe(r)
    # After stdin's end nothing polls in a loop: pen, the supervisor and the guest's init stay idle.
    proc = vm.spawn_exec("sh", "-c", "cat >/dev/null; sleep 6; echo done", stdin=subprocess.PIPE)
    proc.stdin.write(b"x\n")
    proc.stdin.close()
    time.sleep(1.5)
    supervisor = [p for p in supervisors(pen.home) if p != proc.pid]

    def cpu(pid):
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime, clock ticks
    init_before = vm.exec("cat", "/proc/1/stat", check=0).stdout
    before = {pid: cpu(pid) for pid in [proc.pid] + supervisor}
    time.sleep(3)
    after = {pid: cpu(pid) for pid in before}
    init_after = vm.exec("cat", "/proc/1/stat", check=0).stdout
    assert proc.wait(timeout=60) == 0
    assert proc.stdout.read() == b"done\n"
    for pid in before:
        assert after[pid] - before[pid] <= 10, (pid, before[pid], after[pid])  # ≤ 0.1 s of CPU in 3 s
    ticks = lambda stat: sum(int(x) for x in stat.decode().rsplit(")", 1)[1].split()[11:13])
    # The guest's init served two execs meanwhile; idle, it would use almost nothing.
    assert ticks(init_after) - ticks(init_before) <= 50, (init_before, init_after)


def test_a_command_that_writes_before_it_reads_never_deadlocks(pen):
    vm = pen.vm("flow")
    vm.start()
    # 16 MB out before reading 32 MB in: neither side may block writing while the other does.
    r = vm.exec("sh", "-c", "head -c 16777216 /dev/zero; wc -c", input=b"z" * (32 << 20), timeout=300)
    assert r.returncode == 0, describe(r)
    assert len(r.stdout) == (16 << 20) + len(b"33554432\n"), len(r.stdout)
    assert r.stdout.endswith(b"33554432\n"), r.stdout[-20:]


def test_a_slow_reader_gets_the_last_output_and_status_of_a_vm_that_stopped_with_its_session(pen):
    # `pen shell` starts the VM and stops it with its last session. The reader starts only once
    # QEMU is gone (as `| (sleep 20; wc -c)` would): 600000 bytes are more than the socket and
    # pipe buffers hold, so the supervisor still has some queued when the VM is down.
    proc = pen.vm("slowreader").spawn_shell("head", "-c", "600000", "/dev/zero")
    deadline = time.time() + 300
    while not qemu_pids("slowreader") and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    while qemu_pids("slowreader") and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(2)  # slower still: the supervisor must keep serving after QEMU's exit
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, (proc.returncode, err)
    assert len(out) == 600000, (len(out), err)


def test_a_signal_during_boot_still_shuts_the_guest_down_cleanly(pen):
    # Before the guest is ready it cannot take the request; pen holds it until it is, instead of
    # pulling the plug on a guest that may be mounting its disk (this is also `vm stop` mid-boot).
    vm = pen.vm("early")
    vm.shell("true", check=0)
    proc = vm.spawn_shell("sh", "-c", "sleep 300; echo ran", flags=["--cold"])
    time.sleep(0.5)  # pen has started QEMU; the kernel is still booting (seconds under TCG, booted cold)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, (proc.returncode, out, err)
    assert out == b"", (proc.returncode, out, err)
    assert not qemu_pids("early")
    ok, report = fsck_clean(vm.disk)
    assert ok, report


def test_a_second_signal_during_boot_gives_up_on_the_boot(pen):
    # Ctrl-C twice: the user does not want to wait for this boot any more.
    vm = pen.vm("early2")
    vm.shell("sh", "-c", "echo kept > /root/f; sync", check=0)
    proc = vm.spawn_shell("sh", "-c", "sleep 300; echo ran", flags=["--cold"])
    time.sleep(0.5)  # the kernel is still booting (seconds under TCG, booted cold)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGINT, (proc.returncode, out, err)
    assert out == b"", (proc.returncode, out, err)
    assert b"interrupted while VM 'early2' was booting" in err, err
    assert not qemu_pids("early2")
    assert vm.shell("cat", "/root/f", check=0).stdout == b"kept\n"


@pytest.mark.fault
def test_qemu_dies_with_pen_even_on_sigkill(pen):
    vm = pen.vm("k")
    with fault_counts("SIGKILL of pen shell (QEMU gone, lock free, journal recovers)") as faults:
        for run in range(FAULT_RUNS):
            with faults.run():
                proc = vm.sleeper()
                pids = vm.qemu_pids()
                assert len(pids) == 1, pids
                proc.kill()
                proc.wait()
                deadline = time.time() + 5
                while vm.qemu_pids() and time.time() < deadline:
                    time.sleep(0.05)
                assert not vm.qemu_pids(), "QEMU outlived pen"
                # The lock is free and the disk (with an unclean journal) boots and recovers.
                r = vm.shell("sh", "-c", "echo back", timeout=300)
                assert r.returncode == 0, describe(r)
                assert r.stdout == b"back\n", describe(r)
                ok, report = fsck_clean(vm.disk)
                assert ok, report


@pytest.mark.fault
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_to_pen_shuts_the_guest_down_cleanly(pen, sig):
    vm = pen.vm("term")
    with fault_counts(f"{signal.Signals(sig).name} to pen shell (clean shutdown, fsck clean)") as faults:
        for run in range(FAULT_RUNS):
            with faults.run():
                proc = vm.sleeper()
                proc.send_signal(sig)
                # The guest ends the command with SIGTERM and powers off cleanly; pen reports the command's status.
                assert proc.wait(timeout=120) == 128 + signal.SIGTERM
                assert not vm.qemu_pids()
                ok, report = fsck_clean(vm.disk)
                assert ok, report


# Appends a counter, syncs, then reports it: a number on stdout is on the disk.
WRITER = "i=0; while :; do i=$((i+1)); echo $i >> /root/counter; sync; echo $i; done"


@pytest.mark.fault
def test_synced_data_survives_sigkill_of_pen(pen):
    """SIGKILL of `pen shell` while the guest writes and syncs: QEMU dies with pen, the lock is
    free at once, and every write the guest had synced before the kill is there on the next boot."""
    rng = random.Random(5)
    with fault_counts("SIGKILL of pen shell while the guest writes and syncs") as faults:
        for run in range(3 * FAULT_RUNS):
            with faults.run():
                kill_the_writer_and_check(pen.vm("w"), rng, faults)


def kill_the_writer_and_check(vm, rng, faults):
    proc = vm.spawn_shell("sh", "-c", WRITER)
    acknowledged, buffered = 0, b""
    deadline = None
    while True:
        ready, _, _ = select.select([proc.stdout], [], [], 240)
        assert ready, "the writer never started"
        chunk = proc.stdout.read1(4096)
        assert chunk, f"pen ended early: {proc.stderr.read().decode(errors='replace')}"
        buffered += chunk
        *lines, buffered = buffered.split(b"\n")
        if lines:
            acknowledged = int(lines[-1])
            # Kill at a random moment a little after the writing began.
            deadline = deadline or time.time() + rng.uniform(0.2, 2.0)
        if deadline and time.time() >= deadline:
            break
    proc.kill()
    proc.wait(timeout=30)
    gone = time.time() + 5
    while vm.qemu_pids() and time.time() < gone:
        time.sleep(0.05)
    assert not vm.qemu_pids(), "QEMU outlived pen"
    # The lock is free at once: the next session starts, recovers the journal, finds the data.
    r = vm.shell("tail", "-n", "1", "/root/counter")
    found = int(r.stdout) if r.stdout.strip().isdigit() else 0
    if r.returncode != 125 and found < acknowledged:  # the guest answered (125: pen failed, nothing seen)
        faults.lost()
    assert r.returncode == 0, describe(r)
    assert found >= acknowledged, f"synced up to {acknowledged}, found {found}"
    ok, report = fsck_clean(vm.disk)
    assert ok, report
