"""`pen vm ls/stop/rm`, `pen image ls` and `pen doctor` against real VMs."""
import json
import os
import pty
import select
import signal
import subprocess
import time

from conftest import IMAGES, describe, fsck_clean

GIB = 1 << 30


def on_terminal(pen, args, typed):
    """Runs pen with a pseudo-terminal as stdin/stdout/stderr, types `typed`; returns (status, output)."""
    controller, terminal = pty.openpty()
    proc = pen.spawn(*args, stdin=terminal, stdout=terminal, stderr=terminal, start_new_session=True)
    os.close(terminal)
    out = b""
    try:
        deadline = time.time() + 60
        while b"[y/N]" not in out and time.time() < deadline and proc.poll() is None:
            if select.select([controller], [], [], 0.5)[0]:
                try:
                    out += os.read(controller, 4096)
                except OSError:  # EIO: pen closed the terminal
                    break
        os.write(controller, typed)
        status = proc.wait(timeout=60)
        while select.select([controller], [], [], 0.2)[0]:
            try:
                chunk = os.read(controller, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(controller)
    return status, out


def test_vm_ls_reports_the_disk_from_its_filesystem(pen):
    pen.vm("a").shell("true", check=0)
    listed = pen.vms()
    assert list(listed) == ["a"]
    a = listed["a"]
    assert set(a) == {"name", "profile", "status", "cpus", "memory_mib", "disk_used_bytes", "disk_size_bytes",
                      "directory", "created_at", "sessions", "uptime_seconds", "detached", "boot",
                      "suspended_at", "suspended_bytes", "checkpoints", "checkpoint_bytes"}
    assert a["checkpoints"] == 0 and a["checkpoint_bytes"] == 0
    assert a["suspended_at"] is None and a["suspended_bytes"] is None  # not suspended
    assert a["sessions"] is None
    assert a["uptime_seconds"] is None
    assert a["detached"] is None
    assert a["boot"] is None  # stopped
    # The recorded workspace: none, or the directory pen ran in (the test's home).
    assert a["status"] == "stopped"
    assert a["profile"] == "default"
    assert a["directory"] in (None, str(pen.cwd))
    assert a["disk_size_bytes"] == 10 * GIB
    assert 0 < a["disk_used_bytes"] < a["disk_size_bytes"]
    assert a["cpus"] >= 1
    assert a["memory_mib"] == 2048
    table = pen.run("vm", "ls", timeout=60, check=0).stdout.decode().splitlines()
    assert table[0].split() == ["NAME", "PROFILE", "STATUS", "SESSIONS", "UPTIME", "CPUS", "MEMORY", "DISK", "DIR"]
    row = table[1].split()
    assert row[0] == "a", table
    assert row[2] == "stopped", table
    assert row[3] == row[4] == "-", table
    assert row[7].endswith("/10G"), table
    assert row[8] in ("-", str(pen.cwd)), table


def test_vm_stop_shuts_a_running_vm_down_cleanly(pen):
    vm = pen.vm("b")
    proc = vm.sleeper(before="true")
    assert vm.info()["status"] == "running"
    r = pen.run("vm", "rm", "b", timeout=60, check=1)
    assert b"pen vm stop b" in r.stderr, describe(r)
    assert vm.path.exists()

    started = time.time()
    r = vm.stop(check=0)
    assert b"stopped" in r.stderr, describe(r)
    assert b"forced" not in r.stderr, describe(r)
    # The session ended the way a SIGTERM to pen ends it: a clean guest shutdown.
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert time.time() - started < 60
    ok, report = fsck_clean(vm.disk)
    assert ok, report
    assert pen.vms()["b"]["status"] == "stopped"
    r = pen.run("vm", "stop", "b", timeout=60, check=0)
    assert b"not running" in r.stderr, describe(r)

    pen.run("vm", "rm", "b", timeout=60, check=0)
    assert not pen.vm("b").path.exists()
    assert "b" not in pen.vms()
    assert not [p for p in os.listdir(pen.home / "vms") if p.startswith(".rm-")]


def test_vm_stop_never_signals_a_pid_that_does_not_hold_the_lock(pen):
    pen.vm("s").shell("true", check=0)
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        (pen.vm("s").path / "lock").write_text(f"{sleeper.pid}\n")
        r = pen.run("vm", "stop", "s", timeout=60, check=0)
        assert b"not running" in r.stderr, describe(r)
        time.sleep(0.2)
        assert sleeper.poll() is None, "pen vm stop signalled a process that does not hold the VM's lock"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_vm_rm_asks_before_deleting_much_data(pen):
    pen.vm("big").shell("sh", "-c", "dd if=/dev/zero of=/root/blob bs=1M count=150 conv=fsync 2>/dev/null", check=0,
              timeout=600)
    assert pen.vms()["big"]["disk_used_bytes"] > 150_000_000
    # No terminal here: refused without --force, and nothing is deleted.
    r = pen.run("vm", "rm", "big", timeout=60, check=1)
    assert b"--force" in r.stderr, describe(r)
    assert b"MB" in r.stderr, describe(r)
    assert (pen.vm("big").path / "vm.json").exists()
    # On a terminal pen asks; anything but yes keeps the VM.
    answer, out = on_terminal(pen, ["vm", "rm", "big"], b"n\r")
    assert answer == 1, out
    assert b"remove VM 'big' and its" in out, out
    assert b"MB of data? [y/N]" in out, out
    assert (pen.vm("big").path / "vm.json").exists()
    pen.run("vm", "rm", "big", "--force", timeout=60, check=0)
    assert not pen.vm("big").path.exists()


def test_vm_commands_name_a_missing_vm(pen):
    for args in (["vm", "rm", "ghost"], ["vm", "stop", "ghost"]):
        r = pen.run(*args, timeout=60, check=1)
        assert b"no VM named 'ghost'" in r.stderr, describe(r)
    r = pen.run("vm", "rm", "../x", timeout=60, check=1)
    assert b"invalid VM name" in r.stderr, describe(r)


def test_image_ls_lists_the_fresh_base_image(pen):
    r = pen.run("image", "ls", "--json", timeout=60, check=0)
    images = json.loads(r.stdout)
    base = [i for i in images if i["kind"] == "base"]
    assert len(base) == 1, images
    assert base[0]["name"] == "base"
    assert base[0]["status"] == "fresh"
    assert base[0]["size_bytes"] > 0
    assert len(base[0]["hash"]) == 64
    assert base[0]["created_at"]
    for image in images:
        assert image["status"] in ("fresh", "stale", "orphan")
    table = pen.run("image", "ls", timeout=60, check=0).stdout.decode().splitlines()
    assert table[0].split()[:5] == ["NAME", "SIZE", "AGE", "HASH", "STATUS"]
    assert any(line.split()[0] == "base" and "fresh" in line.split() for line in table[1:]), table


def test_doctor_explains_the_accelerator_and_passes_here(pen):
    r = pen.run("doctor", timeout=120)
    assert r.returncode == 0, describe(r)
    out = r.stdout.decode()
    kvm = [line for line in out.splitlines() if line.split()[1:2] == ["kvm:"]]
    assert len(kvm) == 1, out
    if os.path.exists("/sys/module/kvm_pvm"):
        assert kvm[0].startswith("warn"), out
        assert "PVM" in kvm[0], out
        assert "TCG" in kvm[0], out
    assert "qemu:" in out
    assert "base image:" in out
    assert IMAGES in out
    network = [line for line in out.splitlines() if line.split()[1:2] == ["network:"]]
    assert len(network) == 1, out
    assert network[0].startswith("ok"), out
    assert "passt" in network[0], out
    # Asked for slirp explicitly: doctor says what that means for the host's loopback.
    r = pen.run("doctor", env={"PEN_NETWORK": "slirp"}, timeout=120, check=0)
    assert any(line.startswith("warn") and "network:" in line and "loopback" in line
               for line in r.stdout.decode().splitlines()), describe(r)

    r = pen.run("doctor", "--json", timeout=120, check=0)
    report = json.loads(r.stdout)
    assert {c["name"] for c in report["checks"]} >= {"qemu", "kvm", "kernel", "mmdebstrap", "base image", "init", "network"}
    for check in report["checks"]:
        assert set(check) == {"name", "status", "detail", "fix"}
        assert check["status"] in ("ok", "warn", "fail")
    assert report["paths"]["images"] == IMAGES
    assert report["paths"]["vms"] == str(pen.home / "vms")
