"""SIGKILL of `pen shell` while the guest writes and syncs: QEMU dies with pen, the lock is free at
once, and every write the guest had synced before the kill is there on the next boot."""
import random
import select
import subprocess
import time

from conftest import FAULT_RUNS, PEN, describe, fault_counts, fsck_clean
from test_sessions import qemu_pids

# Appends a counter, syncs, then reports it: a number on stdout is on the disk.
WRITER = "i=0; while :; do i=$((i+1)); echo $i >> /root/counter; sync; echo $i; done"


def test_synced_data_survives_sigkill_of_pen(pen):
    rng = random.Random(5)
    with fault_counts("SIGKILL of pen shell while the guest writes and syncs") as faults:
        for run in range(3 * FAULT_RUNS):
            with faults.run():
                kill_the_writer_and_check(pen, rng, faults)


def kill_the_writer_and_check(pen, rng, faults):
    proc = subprocess.Popen([PEN, "shell", "w", "--", "sh", "-c", WRITER], env=pen.env, cwd=pen.cwd,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
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
    while qemu_pids("w") and time.time() < gone:
        time.sleep(0.05)
    assert not qemu_pids("w"), "QEMU outlived pen"
    # The lock is free at once: the next session starts, recovers the journal, finds the data.
    r = pen.shell("w", "tail", "-n", "1", "/root/counter")
    found = int(r.stdout) if r.stdout.strip().isdigit() else 0
    if r.returncode != 125 and found < acknowledged:  # the guest answered (125: pen failed, nothing seen)
        faults.lost()
    assert r.returncode == 0, describe(r)
    assert found >= acknowledged, f"synced up to {acknowledged}, found {found}"
    ok, report = fsck_clean(pen.disk("w"))
    assert ok, report
