"""The supervisor's bounds seen from outside: what it still holds for a slow client when the VM
stops is delivered, not dropped."""
import subprocess
import time

from conftest import PEN, describe, qemu_pids


def test_a_slow_reader_gets_the_last_output_and_status_of_a_vm_that_stopped_with_its_session(pen):
    # `pen shell` starts the VM and stops it with its last session. The reader starts only once
    # QEMU is gone (as `| (sleep 20; wc -c)` would): 600000 bytes are more than the socket and
    # pipe buffers hold, so the supervisor still has some queued when the VM is down.
    proc = subprocess.Popen([PEN, "shell", "slowreader", "--", "head", "-c", "600000", "/dev/zero"], env=pen.env,
                            cwd=pen.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while not qemu_pids("slowreader") and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    while qemu_pids("slowreader") and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(2)  # slower still: the supervisor must keep serving after QEMU's exit
    out, err = proc.communicate(timeout=120)
    result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    assert proc.returncode == 0 and len(out) == 600000, describe(result)
