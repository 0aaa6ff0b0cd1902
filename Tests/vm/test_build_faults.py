"""A builder VM killed mid-build: nothing is published, the build lock is free, and the next
build works. Faults: SIGKILL to pen, SIGKILL to the builder's QEMU, SIGTERM to pen."""
import fcntl
import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import PEN, BUILD_TIMEOUT, FAULT_RUNS, describe, fault_counts, own_image_cache, published, uids_of
from test_sessions import qemu_pids

SLOW = 'build = """\necho build-started\nsleep 600\n"""\n'
QUICK = 'build = """\necho build-started\necho rebuilt > /etc/slow-marker\n"""\n'


class Build:
    """`pen profile build` in the background, its stderr collected line by line."""

    def __init__(self, pen, profile):
        self.proc = subprocess.Popen([PEN, "profile", "build", profile], env=pen.env, cwd=pen.cwd,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line)

    def wait_for(self, needle, timeout=300):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(needle in line for line in self.lines):
                return
            if self.proc.poll() is not None and not self.reader.is_alive():
                break
            time.sleep(0.1)
        raise AssertionError(f"never saw {needle!r}; stderr so far:\n{b''.join(self.lines).decode(errors='replace')}")

    def finish(self, timeout=BUILD_TIMEOUT):
        self.proc.wait(timeout=timeout)
        self.reader.join(timeout=10)
        return self.proc.returncode, b"".join(self.lines).decode(errors="replace")


def profile_dir(pen, name):
    return pen.home / "images" / "profiles" / name


def scratch(pen, name):
    return sorted(p.name for p in profile_dir(pen, name).iterdir() if p.name.startswith(".build-"))


def lock_is_free(pen, name):
    with open(profile_dir(pen, name) / ".lock", "rb") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(f, fcntl.LOCK_UN)
        return True


def wait_gone(vm_name, seconds=10):
    deadline = time.time() + seconds
    while qemu_pids(vm_name) and time.time() < deadline:
        time.sleep(0.05)
    return not qemu_pids(vm_name)


def next_build_works(pen):
    """The same profile, now quick: it builds, publishes one image, leaves no scratch, and boots."""
    pen.profile("slow", QUICK)
    r = pen.run("profile", "build", "slow", timeout=BUILD_TIMEOUT)
    assert r.returncode == 0, describe(r)
    assert len(published(pen, "slow")) == 1 and scratch(pen, "slow") == []
    r = pen.run("shell", "after", "--profile", "slow", "--", "cat", "/etc/slow-marker")
    assert r.returncode == 0 and r.stdout == b"rebuilt\n", describe(r)


@pytest.mark.parametrize("fault", ["sigkill-pen", "sigkill-builder-qemu", "sigterm-pen"])
def test_a_builder_vm_killed_mid_build_publishes_nothing(pen, base_image, fault):
    own_image_cache(pen, base_image)  # profile images start missing
    with fault_counts(f"builder VM killed mid-build ({fault})") as faults:
        for run in range(FAULT_RUNS):
            with faults.run():
                kill_a_build(pen, fault)
        next_build_works(pen)


def kill_a_build(pen, fault):
    pen.profile("slow", SLOW)
    build = Build(pen, "slow")
    build.wait_for(b"| build-started")
    [qemu] = qemu_pids("build-slow")
    if os.geteuid() == 0:  # a root pen's builder QEMU has no workspace: it runs as nobody
        assert uids_of(qemu) == [65534] * 4
    if fault == "sigkill-pen":
        build.proc.kill()
    elif fault == "sigkill-builder-qemu":
        subprocess.run(["kill", "-KILL", str(qemu)], check=True)
    else:
        build.proc.send_signal(signal.SIGTERM)
    code, err = build.finish(timeout=120)
    assert code != 0, err
    assert wait_gone("build-slow"), "the builder's QEMU outlived the build"
    assert published(pen, "slow") == [], "a killed build published an image"
    assert lock_is_free(pen, "slow"), "the build lock is still held"
    if fault != "sigkill-pen":  # pen lived to say why and to clean up
        assert "pen: profile 'slow' build failed" in err and "full log:" in err, err
        assert scratch(pen, "slow") == [], scratch(pen, "slow")
        assert (profile_dir(pen, "slow") / "last-build.log").read_bytes().count(b"build-started") == 1
