"""What a hostile guest or a careless default could do before issue 13, each checked on the
real binary: no NIC under --network none, guest RAM out of QEMU's core dumps, pen's own memory
and environment closed to its user's other processes, a guest's resolv.conf symlink."""
import hashlib
import os
import pathlib
import select
import stat
import subprocess
import tempfile
import time

import pytest

from conftest import PEN, PenRunner, describe, fsck_clean, own_image_cache, pids_where, qemu_pids, uids_of

NOBODY = 65534


def as_nobody():
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def start(pen, name, *args, script):
    proc = subprocess.Popen([PEN, "shell", name, *args, "--", "sh", "-c", script + "; echo ready; exec sleep 60"],
                            env=pen.env, cwd=pen.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = b""
    deadline = time.time() + 240
    while b"ready\n" not in out and time.time() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 5)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            out += chunk
    assert b"ready\n" in out, (out, proc.stderr.read1() if proc.poll() is not None else b"")
    return proc, out


def parent_of(pid):
    """The parent pid of a process (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def stop(proc):
    proc.terminate()
    proc.communicate(timeout=120)


def guest_ram_flags(pid, memory_kib):
    """VmFlags of QEMU's mapping of the guest's RAM (the one of exactly its size)."""
    size, flags = None, {}
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if line.startswith("Size:"):
                size = int(line.split()[1])
            elif line.startswith("VmFlags:") and size == memory_kib:
                flags[size] = line.split()[1:]
    return flags.get(memory_kib)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a process as nobody")
def test_pen_is_not_readable_by_its_users_other_processes(tmp_path, pen_for_any_user):
    """A process of the same user cannot read pen's environment (its secrets) or memory."""
    run = tmp_path / "run"
    reader, writer = os.pipe()
    env = {"PATH": "/usr/bin:/bin", "PEN_HOME": str(tmp_path), "A_SECRET": "pen-hidden-value"}
    proc = subprocess.Popen([pen_for_any_user, "supervise", "--plan-fd", "0", "--ready-fd", "1", "--run", str(run)],
                            stdin=reader, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                            preexec_fn=as_nobody)
    os.close(reader)
    try:
        time.sleep(1)  # pen has started and waits for its plan
        assert proc.poll() is None
        probe = subprocess.run(["python3", "-c", f"open('/proc/{proc.pid}/environ','rb').read()"],
                               preexec_fn=as_nobody, capture_output=True, timeout=30)
        assert probe.returncode != 0 and b"PermissionError" in probe.stderr, probe
        # The baseline: an ordinary process of the same user is readable.
        sleeper = subprocess.Popen(["sleep", "30"], preexec_fn=as_nobody)
        probe = subprocess.run(["python3", "-c", f"open('/proc/{sleeper.pid}/environ','rb').read()"],
                               preexec_fn=as_nobody, capture_output=True, timeout=30)
        sleeper.kill()
        sleeper.wait()
        assert probe.returncode == 0, probe
    finally:
        os.close(writer)
        proc.wait(timeout=30)


def test_network_none_has_no_nic_and_guest_ram_is_not_dumped(pen):
    proc, out = start(pen, "nonet", "--network", "none", "--memory", "1G",
                      script="ls /sys/class/net | tr '\\n' ' '; echo")
    try:
        assert out.split(b"\n")[0].split() == [b"lo"], out
        [qemu] = qemu_pids("nonet")
        # No passt of this VM's supervisor (QEMU's parent); other tests' VMs may have theirs.
        supervisor = parent_of(qemu)
        assert not [p for p in pids_where(lambda args: args and b"passt" in args[0]) if parent_of(p) == supervisor], \
            "passt runs for a VM without a network"
        flags = guest_ram_flags(qemu, 1024 * 1024)
        assert flags is not None and "dd" in flags, flags  # MADV_DONTDUMP on all of guest RAM
    finally:
        stop(proc)
    # The flag is per boot: the same VM booted again without it has the default NIC.
    r = pen.shell("nonet", "sh", "-c", "ls /sys/class/net | tr '\\n' ' '", check=0)
    assert r.stdout.split() == [b"eth0", b"lo"] or r.stdout.split() == [b"lo", b"eth0"], describe(r)


def test_a_guest_that_makes_resolv_conf_a_symlink_boots_again(pen):
    pen.shell("rs", "sh", "-c", "rm -f /etc/resolv.conf && ln -s /run/elsewhere/resolv.conf /etc/resolv.conf "
              "&& ln -sf /nowhere /etc/hostname", check=0)
    r = pen.shell("rs", "sh", "-c", "test -L /etc/resolv.conf || echo replaced; grep -c nameserver /etc/resolv.conf; "
                  "hostname", check=0)
    assert r.stdout.split() == [b"replaced", b"1", b"rs"], describe(r)


def corrupt(disk, offset, data):
    with open(disk, "r+b") as f:
        f.seek(offset)
        f.write(data)


def fingerprint(disk):
    """The disk's metadata region and mtime: what any write by a repair would change."""
    with open(disk, "rb") as f:
        head = hashlib.sha256(f.read(64 << 20)).hexdigest()
    return head, os.stat(disk).st_mtime_ns


# pen's overlay disks: 4 KiB blocks, 64-byte group descriptors from block 1, metadata_csum.
GROUP0_CHECKSUM = 4096 + 0x1E
SUPERBLOCK_MAGIC = 1024 + 56


def test_a_disk_that_does_not_mount_is_repaired_by_the_guests_e2fsck(pen):
    pen.shell("dmg", "sh", "-c", "echo kept > /root/data && sync", check=0)
    corrupt(pen.disk("dmg"), GROUP0_CHECKSUM, b"\x12\x34")  # the kernel refuses such a disk
    dump = subprocess.run(["dumpe2fs", str(pen.disk("dmg"))], capture_output=True, timeout=60).stdout
    assert b"csum 0x3412 (EXPECTED" in dump
    r = pen.shell("dmg", "cat", "/root/data", check=0)
    assert r.stdout == b"kept\n", describe(r)
    assert b"its disk did not mount; e2fsck repaired it" in r.stderr, describe(r)
    assert b"e2fsck -p" in (pen.vm_dir("dmg") / "boot.log").read_bytes()
    ok, report = fsck_clean(pen.disk("dmg"))
    assert ok, report


def test_a_disk_the_guest_cannot_repair_is_kept_and_pen_vm_fsck_repairs_it(pen):
    pen.shell("bad", "sh", "-c", "echo kept > /root/data && sync", check=0)
    corrupt(pen.disk("bad"), SUPERBLOCK_MAGIC, b"\0\0")  # needs a backup superblock: not for -p
    damaged = fingerprint(pen.disk("bad"))
    r = pen.shell("bad", "true")
    assert r.returncode != 0 and b"pen vm fsck bad" in r.stderr and b"e2fsck -p could not repair it" in r.stderr, describe(r)
    assert fingerprint(pen.disk("bad")) == damaged, "a failed repair changed the disk"
    # Checking writes nothing; repairing does, and the data comes back.
    r = pen.run("vm", "fsck", "bad")
    assert r.returncode == 1 and b"pen vm fsck bad --repair" in r.stderr, describe(r)
    assert fingerprint(pen.disk("bad")) == damaged
    r = pen.run("vm", "fsck", "bad", "--repair", check=0)
    assert b"was repaired" in r.stderr, describe(r)
    r = pen.run("vm", "fsck", "bad", check=0)
    assert b"is clean" in r.stderr, describe(r)
    r = pen.shell("bad", "cat", "/root/data", check=0)
    assert r.stdout == b"kept\n", describe(r)


def test_pen_vm_fsck_refuses_a_running_vm(pen):
    proc, _ = start(pen, "busy", script="true")
    try:
        r = pen.run("vm", "fsck", "busy")
        assert r.returncode != 0 and b"pen vm stop busy" in r.stderr, describe(r)
    finally:
        stop(proc)


@pytest.mark.skipif(os.geteuid() != 0, reason="QEMU runs as root only when pen does")
def test_guest_made_setuid_files_and_device_nodes_are_plain_files_on_the_host(pen, tmp_path):
    """pen as root runs QEMU as root: the workspace's 9p share must not apply the guest's
    chown, setuid/setgid bits or mknod to the host's files."""
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "from-host").write_text("host file\n")
    os.chmod(ws / "from-host", 0o750)
    script = ("cd /workspace && echo x > suid && chown 1234:1234 suid && chmod 6755 suid && mknod blk b 8 0 "
              "&& mknod chr c 1 3 && stat -c '%a %u %F' suid blk chr from-host && cat from-host")
    r = pen.run("shell", "ws9p", "--dir", str(ws), "--", "sh", "-c", script, check=0)
    # The guest sees what it asked for (kept as metadata) and the host's own file as it is.
    assert r.stdout.decode().splitlines() == ["6755 1234 regular file", "644 0 block special file",
                                              "644 0 character special file", "750 0 regular file", "host file"], describe(r)
    for name in ["suid", "blk", "chr"]:
        st = os.lstat(ws / name)
        assert stat.S_ISREG(st.st_mode), (name, oct(st.st_mode))
        assert not st.st_mode & (stat.S_ISUID | stat.S_ISGID), (name, oct(st.st_mode))
        assert st.st_uid == 0, (name, st.st_uid)
    assert (ws / "suid").read_text() == "x\n"
    assert stat.S_IMODE(os.lstat(ws / "from-host").st_mode) == 0o750


@pytest.mark.skipif(os.geteuid() != 0, reason="QEMU drops privileges only when pen runs as root")
def test_a_root_pen_runs_qemu_as_the_workspaces_owner_and_passt_as_nobody(pen, base_image, tmp_path):
    ws = tmp_path / "owned"  # under pytest's 0700 root directories: QEMU gets it as a descriptor
    ws.mkdir()
    os.chown(ws, NOBODY, NOBODY)
    # Root's image cache where nobody can reach it (as ~root/.cache is): QEMU still starts.
    own_image_cache(pen, base_image, images=tmp_path / "private" / "images")
    os.chmod(tmp_path / "private", 0o700)
    proc, _ = start(pen, "owner", "--dir", str(ws), script="echo made > /workspace/made && sync")
    try:
        [qemu] = qemu_pids("owner")
        assert uids_of(qemu) == [NOBODY] * 4
        with open(f"/proc/{qemu}/status") as f:
            groups = [line.split()[1:] for line in f if line.startswith("Groups:")]
        assert groups == [[]], groups  # none of root's groups
        passt = pids_where(lambda args: args and b"passt" in args[0])
        assert passt and all(uids_of(p) == [NOBODY] * 4 for p in passt)
        # QEMU is not dumpable: the workspace's owner cannot read its memory or environment
        # (the values root's pen sent), nor ptrace it.
        peek = subprocess.run(["cat", f"/proc/{qemu}/environ"], preexec_fn=as_nobody, capture_output=True, timeout=30)
        assert peek.returncode != 0 and b"Permission denied" in peek.stderr, peek
    finally:
        stop(proc)
    made = ws / "made"
    assert made.read_text() == "made\n" and made.stat().st_uid == NOBODY
    # A root-owned workspace, which no other uid could write: QEMU stays root there (and the
    # share is mapped-xattr: test_guest_made_setuid_files_and_device_nodes_are_plain_files_on_the_host).
    proc, _ = start(pen, "rootws", script="true")
    try:
        [qemu] = qemu_pids("rootws")
        assert uids_of(qemu)[0] == 0
    finally:
        stop(proc)


def test_a_non_root_pen_keeps_setuid_bits_fifos_and_device_nodes_off_the_host(base_image, pen_for_any_user):
    """pen as an ordinary user shares the workspace with security_model=none: the guest's chmod,
    mkfifo and mknod would be the host's. QEMU's seccomp filter refuses setuid/setgid bits and
    every node but a regular file, so the host's files stay plain. (As root, the test runs pen as
    nobody; as a normal user, as that user.)"""
    top = pathlib.Path(tempfile.mkdtemp(prefix="pen-user-"))  # /tmp: a user other than root can reach it
    try:
        runner = PenRunner(top / "home")
        (top / "home").mkdir()
        own_image_cache(runner, base_image)
        ws = top / "ws"
        ws.mkdir()
        user = NOBODY if os.geteuid() == 0 else os.geteuid()
        for path in [top, *top.rglob("*")]:
            os.lchown(path, user, user)
        script = ("cd /workspace && echo x > suid && chmod 755 suid; "
                  "chmod 4755 suid 2>&1 | grep -q 'not permitted' && echo setuid-refused; "
                  "chmod 2755 suid 2>&1 | grep -q 'not permitted' && echo setgid-refused; "
                  "mkfifo fifo 2>&1 | grep -q 'not permitted' && echo fifo-refused; "
                  "mknod blk b 8 0 2>&1 | grep -q 'not permitted' && echo node-refused; "
                  "mkdir -m 2775 gdir 2>&1 | grep -q 'not permitted' && echo setgid-dir-refused; "
                  "stat -c '%a' suid")
        r = subprocess.run([pen_for_any_user, "shell", "nonroot", "--dir", str(ws), "--", "sh", "-c", script],
                           preexec_fn=as_nobody if os.geteuid() == 0 else None, env=runner.env, cwd=ws,
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
        assert r.returncode == 0, describe(r)
        assert r.stdout.decode().split() == ["setuid-refused", "setgid-refused", "fifo-refused", "node-refused",
                                             "setgid-dir-refused", "755"], describe(r)
        st = os.lstat(ws / "suid")
        assert stat.S_ISREG(st.st_mode) and not st.st_mode & (stat.S_ISUID | stat.S_ISGID), oct(st.st_mode)
        for made in ws.iterdir():  # no FIFO or node was made; a directory (if made) is not setgid
            st = os.lstat(made)
            assert made.name in ("suid", "gdir") and not st.st_mode & (stat.S_ISUID | stat.S_ISGID), (made, oct(st.st_mode))
            assert stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode), (made, oct(st.st_mode))
    finally:
        subprocess.run(["rm", "-rf", str(top)], timeout=60)
