"""`pen vm suspend` and resume: the whole machine saved beside its disk and QEMU gone; `pen exec`,
`pen shell` or `pen vm start` resume it with its processes, the host's clock and /workspace back.
What stands in the way (sessions attached, processes using /workspace) is named, or with --force
ended; a saved machine that cannot be used boots the disk instead and says so."""
import json
import time

from conftest import describe, fsck_clean

# A process that outlives its session: counts in /root every 0.2 s, its pid kept in /root/pid.
COUNTER = ("cd /root && setsid sh -c 'echo $$ > /root/pid; i=0; while :; do i=$((i+1)); echo $i > /root/n; sleep 0.2; done'"
           " </dev/null >/dev/null 2>&1 &")


def listing(pen, name):
    rows = json.loads(pen.run("vm", "ls", "--json", check=0).stdout)
    return next(row for row in rows if row["name"] == name)


def test_a_suspended_vm_resumes_with_its_processes_and_the_hosts_clock(pen):
    vm = pen.vm("sus")
    vm.start()
    vm.exec("sh", "-c", COUNTER, check=0)
    time.sleep(1)  # it has written its pid and counted
    before = vm.exec("sh", "-c", "cat /root/pid /root/n", check=0).stdout.split()

    r = pen.run("vm", "suspend", "sus")
    assert r.returncode == 0, describe(r)
    assert b"suspended" in r.stderr, describe(r)
    assert not vm.qemu_pids()
    row = listing(pen, "sus")
    assert row["status"] == "suspended" and row["suspended_bytes"] > 0, row
    ok, report = fsck_clean(vm.disk)  # the disk alone is a clean filesystem: frozen before the save
    assert ok, report
    r = pen.run("vm", "fsck", "sus", "--repair")
    assert r.returncode != 0 and b"is suspended: a repaired disk would no longer match" in r.stderr, describe(r)

    time.sleep(3)  # the guest's clock must not lag by this
    r = vm.exec("sh", "-c", "cat /root/pid; test -d /proc/$(cat /root/pid) && echo alive; date +%s", check=0)
    host_now = time.time()
    pid, alive, guest_now = r.stdout.split()
    assert pid == before[0] and alive == b"alive", describe(r)  # the same process, never restarted
    assert abs(int(guest_now) - host_now) < 3, (guest_now, host_now)
    time.sleep(1)
    counted = int(vm.exec("cat", "/root/n", check=0).stdout)
    assert counted > int(before[1]), (before, counted)  # it carried on counting
    assert listing(pen, "sus")["status"] == "running"
    assert not (vm.path / "suspended").exists()  # a saved machine runs once only
    # The network policy's relay runs again: pen answers the guest's DNS.
    r = vm.exec("sh", "-c", "getent ahostsv4 deb.debian.org >/dev/null && echo dns", check=0)
    assert r.stdout == b"dns\n", describe(r)
    vm.stop()


def test_sessions_and_workspace_users_are_named_or_with_force_ended(pen):
    vm = pen.vm("busy")
    shell = vm.spawn_shell("sh", "-c", "echo up; sleep 300")  # its working directory is /workspace
    assert shell.stdout.readline() == b"up\n"
    r = pen.run("vm", "suspend", "busy")
    assert r.returncode != 0 and b"has a session attached" in r.stderr and b"--force" in r.stderr, describe(r)

    r = pen.run("vm", "suspend", "busy", "--force")
    assert r.returncode == 0, describe(r)
    out, err = shell.communicate(timeout=60)
    assert shell.returncode == 129 and b"VM 'busy' was suspended" in err, (shell.returncode, err)
    assert not vm.qemu_pids()

    # A process of its own in /workspace: named, nothing saved; forced, it is ended.
    r = vm.exec("sh", "-c", "cd /workspace && setsid sleep 300 </dev/null >/dev/null 2>&1 & sleep 1; echo resumed", check=0)
    assert r.stdout == b"resumed\n", describe(r)
    r = pen.run("vm", "suspend", "busy")
    assert r.returncode != 0 and b"/workspace is in use by sleep (pid" in r.stderr, describe(r)
    assert listing(pen, "busy")["status"] == "running"
    r = pen.run("vm", "suspend", "busy", "--force")
    assert r.returncode == 0, describe(r)
    # Resumed, /workspace is there again: a file written in the guest shows on the host.
    r = vm.exec("sh", "-c", "echo back > /workspace/after; pidof sleep || echo none", check=0)
    assert r.stdout == b"none\n", describe(r)
    assert (pen.cwd / "after").read_bytes() == b"back\n"
    vm.stop()


def test_a_damaged_saved_machine_boots_the_disk_and_says_its_processes_were_not_kept(pen):
    vm = pen.vm("dmg")
    vm.start()
    vm.exec("sh", "-c", "echo kept > /root/f; " + COUNTER, check=0)
    time.sleep(1)
    assert vm.exec("sh", "-c", "test -d /proc/$(cat /root/pid) && sync && echo alive", check=0).stdout == b"alive\n"
    assert pen.run("vm", "suspend", "dmg").returncode == 0
    state = vm.path / "suspended" / "state"
    with open(state, "r+b") as f:
        f.seek(4096)
        f.write(b"\xff" * 64)
    r = vm.shell("sh", "-c", "cat /root/f; test -d /proc/$(cat /root/pid) && echo alive || echo gone", check=0)
    assert r.stdout == b"kept\ngone\n", describe(r)
    assert b"the suspended machine of VM 'dmg' is damaged (its state does not match its recorded SHA-256)" in r.stderr, describe(r)
    assert b"its processes were not kept" in r.stderr, describe(r)
    assert not (vm.path / "suspended").exists()


def test_the_idle_timeout_can_suspend_instead_of_stopping(pen):
    vm = pen.vm("idle")
    vm.start("--idle-timeout", "3s", "--on-idle", "suspend")
    vm.exec("sh", "-c", COUNTER, check=0)
    deadline = time.time() + 60
    while listing(pen, "idle")["status"] != "suspended" and time.time() < deadline:
        time.sleep(0.5)
    assert listing(pen, "idle")["status"] == "suspended", vm.log().decode()
    assert not vm.qemu_pids()
    assert b"had no session for 3 s; suspending it" in vm.log()
    r = vm.exec("sh", "-c", "test -d /proc/$(cat /root/pid) && echo alive", check=0)
    assert r.stdout == b"alive\n", describe(r)
    # Resumed by `pen exec`, it keeps what its `pen vm start` said: idle again, suspended again.
    deadline = time.time() + 60
    while listing(pen, "idle")["status"] != "suspended" and time.time() < deadline:
        time.sleep(0.5)
    assert listing(pen, "idle")["status"] == "suspended", vm.log().decode()


def test_a_rollback_brings_back_the_disk_and_a_suspended_vms_processes(pen):
    vm = pen.vm("cp")
    vm.start()
    vm.exec("sh", "-c", "echo one > /root/f; " + COUNTER, check=0)
    time.sleep(1)
    pid = vm.exec("cat", "/root/pid", check=0).stdout.strip()
    assert pen.run("vm", "suspend", "cp").returncode == 0
    r = pen.run("vm", "checkpoint", "cp", "mark")
    assert r.returncode == 0 and b"checkpoint 'mark'" in r.stderr and b"its processes too" in r.stderr, describe(r)
    rows = json.loads(pen.run("vm", "checkpoints", "cp", "--json", check=0).stdout)
    assert [(row["label"], row["with_memory"]) for row in rows] == [("mark", True)], rows
    row = listing(pen, "cp")  # vm ls counts their space
    assert row["checkpoints"] == 1 and row["checkpoint_bytes"] == rows[0]["bytes"] > 0, row

    # Resumed, the VM moves on: another file, the counter killed, then stopped for good.
    vm.exec("sh", "-c", "echo two > /root/f; kill $(cat /root/pid); sync", check=0)
    vm.stop()
    r = pen.run("vm", "rollback", "cp", "mark")
    assert r.returncode == 0 and b"is back at checkpoint 'mark'" in r.stderr, describe(r)
    r = vm.exec("sh", "-c", f"cat /root/f; test -d /proc/{pid.decode()} && echo alive", check=0)
    assert r.stdout == b"one\nalive\n", describe(r)
    vm.stop()
    r = pen.run("vm", "checkpoint", "cp", "--rm", "mark")
    assert r.returncode == 0 and json.loads(pen.run("vm", "checkpoints", "cp", "--json", check=0).stdout) == []
