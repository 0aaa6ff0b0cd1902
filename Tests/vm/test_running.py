"""Running sandboxes: a VM started once and reached many times — sessions, exec, cp, vm ls."""
import hashlib
import json
import os
import signal
import subprocess
import time

from conftest import PEN, describe, fsck_clean
from test_sessions import qemu_pids, read_until, shell_on_a_terminal


def start(pen, name, *flags):
    r = pen.run("vm", "start", name, *flags, timeout=300)
    assert r.returncode == 0, describe(r)
    return r


def ls(pen):
    r = pen.run("vm", "ls", "--json", timeout=60, check=0)
    return {vm["name"]: vm for vm in json.loads(r.stdout)}


def test_a_started_vm_serves_sessions_until_it_is_stopped(pen):
    r = start(pen, "srv")
    assert b"is running" in r.stderr, describe(r)
    assert b"already running" in start(pen, "srv").stderr
    vm = ls(pen)["srv"]
    assert vm["status"] == "running" and vm["detached"] is True and vm["sessions"] == 0, vm
    assert isinstance(vm["uptime_seconds"], int)
    # Sessions cost no boot: each sees the same boot, and what one writes the next reads.
    boot = pen.run("exec", "srv", "--", "cat", "/proc/sys/kernel/random/boot_id", check=0).stdout
    r = pen.run("exec", "srv", "--", "sh", "-c", "echo kept > /root/note; cat /proc/sys/kernel/random/boot_id", check=0)
    assert r.stdout == boot
    r = pen.shell("srv", "cat", "/root/note", check=0)
    assert r.stdout == b"kept\n"
    # A pen shell on a started VM leaves it running.
    assert ls(pen)["srv"]["status"] == "running"
    # Each session has its own environment, working directory and status.
    r = pen.run("exec", "srv", "--env", "ONLY=here", "--workdir", "/tmp", "--", "sh", "-c", "echo $ONLY $(pwd); exit 4")
    assert r.returncode == 4 and r.stdout == b"here /tmp\n", describe(r)
    r = pen.run("exec", "srv", "--", "sh", "-c", "echo [$ONLY] $(pwd)", check=0)
    assert r.stdout == b"[] /workspace\n"
    r = pen.run("exec", "srv", "--workdir", "/no/such", "--", "true")
    assert r.returncode == 125 and b"no such directory in the VM: /no/such" in r.stderr, describe(r)
    r = pen.run("vm", "stop", "srv", timeout=120, check=0)
    assert not qemu_pids("srv")
    ok, report = fsck_clean(pen.disk("srv"))
    assert ok, report
    r = pen.run("exec", "srv", "--", "true")
    assert r.returncode == 125 and b"is not running" in r.stderr and b"pen vm start srv" in r.stderr, describe(r)


def test_boot_only_flags_that_differ_are_refused_naming_the_flag(pen):
    start(pen, "flags", "--cpus", "1", "--memory", "1G")
    for flags, named in [(["--cpus", "2"], b"--cpus"), (["--memory", "2G"], b"--memory"),
                         (["--publish", "18080:80"], b"--publish"), (["--dir", "/tmp"], b"--dir")]:
        r = pen.run("shell", "flags", *flags, "--", "true", timeout=60)
        lines = r.stderr.decode().strip().splitlines()
        assert r.returncode == 125 and len(lines) == 1 and named.decode() in lines[0], describe(r)
    # The values it booted with are fine.
    r = pen.run("shell", "flags", "--cpus", "1", "--memory", "1G", "--", "nproc", check=0)
    assert r.stdout == b"1\n"


def test_two_interactive_shells_at_once_each_on_its_own_pty(pen):
    start(pen, "two")
    with shell_on_a_terminal(pen, "two", size=(30, 90)) as (first_proc, first, _), \
            shell_on_a_terminal(pen, "two", size=(50, 120)) as (second_proc, second, _):
        assert b"root@two" in read_until(first, b"root@two", 60)
        assert b"root@two" in read_until(second, b"root@two", 60)
        os.write(first, b"echo from-first > /root/shared; tty; stty size\r")
        seen = read_until(first, b"30 90", 30)
        assert b"30 90" in seen, seen
        os.write(second, b"cat /root/shared; tty; stty size\r")
        seen = read_until(second, b"50 120", 30)
        assert b"from-first" in seen and b"50 120" in seen, seen
        assert seen.count(b"/dev/pts/") == 1 and b"/dev/pts/" in seen
        assert ls(pen)["two"]["sessions"] == 2
        os.write(first, b"exit\r")
        os.write(second, b"exit\r")
        assert first_proc.wait(timeout=60) == 0 and second_proc.wait(timeout=60) == 0


def test_fifty_concurrent_execs_each_get_their_own_output_and_status(pen):
    start(pen, "many")
    procs = [subprocess.Popen([PEN, "exec", "many", "--", "sh", "-c", f"echo out-{i}; echo err-{i} >&2; exit {i % 8}"],
                              env=pen.env, cwd=pen.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for i in range(50)]
    for i, p in enumerate(procs):
        out, err = p.communicate(timeout=300)
        assert (p.returncode, out, err) == (i % 8, f"out-{i}\n".encode(), f"err-{i}\n".encode())


def test_pen_cp_both_ways_keeps_trees_links_and_bytes(pen, tmp_path):
    start(pen, "cp")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha\n")
    (src / "sub" / "b.bin").write_bytes(os.urandom(4096))
    os.symlink("a.txt", src / "link")
    os.chmod(src / "a.txt", 0o640)
    os.utime(src / "a.txt", (1_600_000_000, 1_600_000_000))
    r = pen.run("cp", str(src), "cp:/root/", timeout=120)
    assert r.returncode == 0, describe(r)
    r = pen.run("exec", "cp", "--", "sh", "-c",
                "stat -c '%a %Y %U' /root/src/a.txt; readlink /root/src/link; cat /root/src/link", check=0)
    assert r.stdout == b"640 1600000000 root\na.txt\nalpha\n", describe(r)
    # One file to a new name, and back out.
    r = pen.run("cp", str(src / "a.txt"), "cp:/root/renamed.txt", timeout=120, check=0)
    back = tmp_path / "back"
    back.mkdir()
    r = pen.run("cp", "cp:/root/src", "cp:/root/renamed.txt", str(back), timeout=120)
    assert r.returncode == 0, describe(r)
    assert (back / "renamed.txt").read_text() == "alpha\n"
    assert (back / "src" / "sub" / "b.bin").read_bytes() == (src / "sub" / "b.bin").read_bytes()
    assert os.readlink(back / "src" / "link") == "a.txt" and os.path.islink(back / "src" / "link")
    assert oct(os.stat(back / "src" / "a.txt").st_mode & 0o777) == "0o640"
    assert os.stat(back / "src" / "a.txt").st_mtime == 1_600_000_000
    # A 100 MB file each way, checksummed.
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        for _ in range(100):
            f.write(os.urandom(1 << 20))
    digest = hashlib.sha256(big.read_bytes()).hexdigest()
    r = pen.run("cp", str(big), "cp:/root/big.bin", timeout=600)
    assert r.returncode == 0, describe(r)
    r = pen.run("exec", "cp", "--", "sha256sum", "/root/big.bin", check=0)
    assert r.stdout.split()[0].decode() == digest
    r = pen.run("cp", "cp:/root/big.bin", str(tmp_path / "big-back.bin"), timeout=600)
    assert r.returncode == 0, describe(r)
    assert hashlib.sha256((tmp_path / "big-back.bin").read_bytes()).hexdigest() == digest
    # '-' streams a tar, like docker cp.
    r = pen.run("cp", "cp:/root/src", "-", timeout=120, check=0)
    import io
    import tarfile
    names = sorted(tarfile.open(fileobj=io.BytesIO(r.stdout)).getnames())
    assert names == ["src", "src/a.txt", "src/link", "src/sub", "src/sub/b.bin"]


def test_pen_cp_refuses_what_a_hostile_guest_tar_could_do(pen, tmp_path):
    """The guest's tar is replaced by one that emits crafted archives: pen refuses each and
    writes nothing outside the destination."""
    import io
    import tarfile
    start(pen, "evil")

    def crafted(build):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
            build(t)
        return buf.getvalue()

    def add_file(t, name, data=b"x", mode=0o644):
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), mode
        t.addfile(info, io.BytesIO(data))

    def add(t, name, kind, target="", mode=0o644):
        info = tarfile.TarInfo(name)
        info.type, info.linkname, info.mode = kind, target, mode
        if kind == tarfile.CHRTYPE:
            info.devmajor, info.devminor = 1, 3
        t.addfile(info)

    outside = tmp_path / "outside"
    outside.mkdir()
    cases = {
        "dotdot": crafted(lambda t: (add(t, "x", tarfile.DIRTYPE), add_file(t, "x/../../escaped"))),
        "absolute": crafted(lambda t: (add(t, "x", tarfile.DIRTYPE), add_file(t, "/tmp/pen-cp-absolute"))),
        "through-a-link": crafted(lambda t: (add(t, "x", tarfile.DIRTYPE),
                                             add(t, "x/out", tarfile.SYMTYPE, str(outside)),
                                             add_file(t, "x/out/pwned"))),
        "device": crafted(lambda t: (add(t, "x", tarfile.DIRTYPE), add(t, "x/null", tarfile.CHRTYPE))),
        "setuid": crafted(lambda t: (add(t, "x", tarfile.DIRTYPE), add_file(t, "x/su", mode=0o4755))),
        "other-name": crafted(lambda t: add_file(t, "y/not-asked-for")),
    }
    for case, data in cases.items():
        pen.run("exec", "evil", "--", "rm", "-f", "/usr/local/sbin/tar", check=0)  # the real tar, to copy in
        (tmp_path / "evil.tar").write_bytes(data)
        r = pen.run("cp", str(tmp_path / "evil.tar"), "evil:/root/evil.tar", timeout=60)
        assert r.returncode == 0, describe(r)
        # A tar first on the guest's PATH that sends the crafted archive whatever it is asked.
        pen.run("exec", "evil", "--", "sh", "-c",
                "printf '#!/bin/sh\\ncat /root/evil.tar\\n' > /usr/local/sbin/tar; chmod +x /usr/local/sbin/tar", check=0)
        dest = tmp_path / f"dest-{case}"
        dest.mkdir()
        r = pen.run("cp", "evil:/root/x", str(dest), timeout=60)
        lines = r.stderr.decode().strip().splitlines()
        assert r.returncode != 0 and any("refused" in l for l in lines), (case, describe(r))
        assert list(outside.iterdir()) == [], case
        assert not (tmp_path / "escaped").exists() and not os.path.exists("/tmp/pen-cp-absolute"), case
        for path in dest.rglob("*"):
            assert not path.is_char_device() and not (path.stat().st_mode & 0o6000), (case, path)
    pen.run("exec", "evil", "--", "rm", "/usr/local/sbin/tar", check=0)


def test_piped_scripts_end_with_their_input_and_never_spin(pen):
    start(pen, "pipe")
    # A script without a final exit, one line of which is read by a command inside it: the shell
    # reads a pipe a byte at a time (as over ssh), so `read` takes the script's next line.
    script = b"echo first\nread line\nthis line is read by read\necho \"read: $line\"\necho last\n"
    r = pen.run("shell", "pipe", input=script, timeout=60)
    assert r.returncode == 0 and r.stdout == b"first\nread: this line is read by read\nlast\n", describe(r)
    # After stdin's end nothing polls in a loop: pen, the supervisor and the guest's init stay idle.
    proc = subprocess.Popen([PEN, "exec", "pipe", "--", "sh", "-c", "cat >/dev/null; sleep 6; echo done"], env=pen.env,
                            cwd=pen.cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(b"x\n")
    proc.stdin.close()
    time.sleep(1.5)
    supervisor = [p for p in open_pids(pen.home) if p != proc.pid]

    def cpu(pid):
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime, clock ticks
    init_before = pen.run("exec", "pipe", "--", "cat", "/proc/1/stat", check=0).stdout
    before = {pid: cpu(pid) for pid in [proc.pid] + supervisor}
    time.sleep(3)
    after = {pid: cpu(pid) for pid in before}
    init_after = pen.run("exec", "pipe", "--", "cat", "/proc/1/stat", check=0).stdout
    assert proc.wait(timeout=60) == 0
    assert proc.stdout.read() == b"done\n"
    for pid in before:
        assert after[pid] - before[pid] <= 10, (pid, before[pid], after[pid])  # ≤ 0.1 s of CPU in 3 s
    ticks = lambda stat: sum(int(x) for x in stat.decode().rsplit(")", 1)[1].split()[11:13])
    # The guest's init served two execs meanwhile; idle, it would use almost nothing.
    assert ticks(init_after) - ticks(init_before) <= 50, (init_before, init_after)


def open_pids(home):
    from conftest import supervisors
    return supervisors(home)


def test_a_command_that_writes_before_it_reads_never_deadlocks(pen):
    start(pen, "flow")
    # 16 MB out before reading 32 MB in: neither side may block writing while the other does.
    r = pen.run("exec", "flow", "--", "sh", "-c", "head -c 16777216 /dev/zero; wc -c",
                input=b"z" * (32 << 20), timeout=300)
    assert r.returncode == 0, describe(r)
    assert len(r.stdout) == (16 << 20) + len(b"33554432\n") and r.stdout.endswith(b"33554432\n")


def test_a_sessions_client_killed_hangs_up_only_its_session(pen):
    start(pen, "hup")
    victim = subprocess.Popen([PEN, "exec", "hup", "--", "sh", "-c", "trap 'echo hup > /root/hup; exit 1' HUP; "
                               "echo ready; while :; do sleep 0.2; done"], env=pen.env, cwd=pen.cwd,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    other = subprocess.Popen([PEN, "exec", "hup", "--", "sh", "-c", "sleep 8; echo still-here"], env=pen.env,
                             cwd=pen.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert victim.stdout.readline() == b"ready\n"  # its trap is set
    victim.kill()
    victim.wait()
    out, _ = other.communicate(timeout=60)
    assert other.returncode == 0 and out == b"still-here\n"
    r = pen.run("exec", "hup", "--", "cat", "/root/hup", check=0)
    assert r.stdout == b"hup\n"


def test_vm_stop_ends_every_session_with_its_status(pen):
    start(pen, "stopme")
    plain = subprocess.Popen([PEN, "exec", "stopme", "--", "sh", "-c", "echo ready; exec sleep 300"], env=pen.env,
                             cwd=pen.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert plain.stdout.readline() == b"ready\n"
    trapping = subprocess.Popen([PEN, "exec", "stopme", "--", "sh", "-c", "trap 'exit 5' TERM; echo ready; sleep 300 & wait"],
                                env=pen.env, cwd=pen.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    assert trapping.stdout.readline() == b"ready\n"  # its trap is set
    deadline = time.time() + 60
    while ls(pen)["stopme"]["sessions"] != 2 and time.time() < deadline:
        time.sleep(0.2)
    r = pen.run("vm", "stop", "stopme", timeout=120)
    assert r.returncode == 0 and b"stopped" in r.stderr, describe(r)
    assert plain.wait(timeout=60) == 128 + signal.SIGTERM
    assert trapping.wait(timeout=60) == 5
    assert not qemu_pids("stopme")
    ok, report = fsck_clean(pen.disk("stopme"))
    assert ok, report


def test_the_supervisor_killed_takes_qemu_and_tells_every_client(pen):
    start(pen, "sk")
    pen.run("exec", "sk", "--", "sh", "-c", "echo synced > /root/s; sync", check=0)
    clients = [subprocess.Popen([PEN, "exec", "sk", "--", "sleep", "300"], env=pen.env, cwd=pen.cwd,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for _ in range(2)]
    deadline = time.time() + 60
    while ls(pen)["sk"]["sessions"] != 2 and time.time() < deadline:
        time.sleep(0.2)
    from conftest import supervisors
    [sup] = supervisors(pen.home)
    os.kill(sup, signal.SIGKILL)
    killed = time.time()
    while qemu_pids("sk") and time.time() - killed < 5:
        time.sleep(0.02)
    assert not qemu_pids("sk") and time.time() - killed < 1.5, "QEMU outlived its supervisor"
    for c in clients:
        _, err = c.communicate(timeout=30)
        lines = err.decode().strip().splitlines()
        assert c.returncode == 125 and len(lines) == 1 and "stopped" in lines[0], (c.returncode, err)
    r = pen.shell("sk", "cat", "/root/s", check=0)
    assert r.stdout == b"synced\n"


def test_an_idle_vm_stops_after_its_timeout(pen):
    start(pen, "idle", "--idle-timeout", "3s")
    deadline = time.time() + 60
    while ls(pen)["idle"]["status"] == "running" and time.time() < deadline:
        time.sleep(0.5)
    assert ls(pen)["idle"]["status"] == "stopped"
    assert b"no session for 3 s" in (pen.vm_dir("idle") / "supervisor.log").read_bytes()


def test_another_user_is_refused_even_when_the_socket_is_opened_up(pen):
    if os.geteuid() != 0:
        import pytest
        pytest.skip("running a client as another uid needs root")
    start(pen, "uid")
    run = pen.vm_dir("uid") / "run"
    # Loosen every mode on the way (a careless umask, a chmod -R): the peer's uid still decides.
    ancestors = [p for p in pen.home.parents if str(p).startswith("/tmp/")]
    own = [pen.home, pen.home / "vms", pen.vm_dir("uid"), run]
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
    assert r.returncode == 0 and r.stdout == b"0\n", describe(r)  # connected, then closed without a word
    assert b"refused a connection from uid 65534" in (pen.vm_dir("uid") / "supervisor.log").read_bytes()
    r = pen.run("exec", "uid", "--", "true")
    assert r.returncode == 0, describe(r)


def test_stdin_sent_during_the_first_boot_setup_reaches_the_command(pen):
    pen.profile("slow", 'setup = """\nsleep 3\necho setup-ran > /root/setup\n"""\n')
    r = pen.run("shell", "first", "--profile", "slow", "--", "sh", "-c", "cat; cat /root/setup",
                input=b"typed while the setup ran\n", timeout=300)
    assert r.returncode == 0, describe(r)
    assert r.stdout == b"typed while the setup ran\nsetup-ran\n"
    assert b"running the first-boot setup" in r.stderr


def test_a_stop_during_the_setup_still_stops_cleanly(pen):
    pen.profile("long", 'setup = """\nsleep 300\n"""\n')
    proc = subprocess.Popen([PEN, "shell", "during", "--profile", "long", "--", "true"], env=pen.env, cwd=pen.cwd,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while time.time() < deadline and ls(pen).get("during", {}).get("status") != "running":
        time.sleep(0.3)
    time.sleep(2)  # the setup is running now
    r = pen.run("vm", "stop", "during", timeout=120)
    assert r.returncode == 0, describe(r)
    proc.communicate(timeout=60)
    assert proc.returncode != 0 and not qemu_pids("during")
    ok, report = fsck_clean(pen.disk("during"))
    assert ok, report
    # It never finished, so it runs again on the next boot: no marker on the disk's upper layer.
    r = subprocess.run(["debugfs", "-R", "stat /upper/var/lib/pen/setup-done", str(pen.disk("during"))],
                       capture_output=True, timeout=60)
    assert b"File not found" in r.stderr, describe(r)
