"""What pen shares with the guest and writes on the host: the workspace (shared both ways, never
the home or pen's own state by default, its owner, modes and device nodes kept off the host),
secrets passed by environment, and a symlink planted at any path pen writes (a VM's directory
and files, image and cache files), refused naming it, with nothing written through it."""
import json
import os
import pathlib
import stat
import subprocess
import tempfile
import time

import pytest

from conftest import BUILD_TIMEOUT, FAULT_RUNS, describe, fault_counts, own_image_cache, pids_where, \
    uids_of

NOBODY = 65534


def as_nobody():
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def test_workspace_is_shared_both_ways_and_is_the_working_directory(pen, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "from-host.txt").write_text("written on the host\n")
    link = tmp_path / "link-to-project"
    link.symlink_to(project)
    r = pen.run("shell", "ws", "--dir", str(link / ".." / "project"), "--", "sh", "-c",
                "pwd; cat from-host.txt; echo written in the guest > from-guest.txt", check=0)
    assert r.stdout == b"/workspace\nwritten on the host\n"
    assert (project / "from-guest.txt").read_text() == "written in the guest\n"
    rec = (pen.vm("ws").path / "vm.json").read_text()
    assert f'"directory" : "{project}"' in rec.replace("\\/", "/"), rec


@pytest.mark.parametrize("bad", ["/", "/nonexistent/dir", "FILE"])
def test_bad_workspace_is_refused(pen, tmp_path, bad):
    if bad == "FILE":
        bad = str(tmp_path / "file")
        open(bad, "w").close()
    r = pen.run("shell", "bw", "--dir", bad, "--", "true", timeout=60)
    assert r.returncode == 125, describe(r)
    assert b"--dir" in r.stderr, describe(r)
    assert not pen.vm("bw").path.exists()


def test_the_default_workspace_is_never_the_home_or_pens_state(pen, tmp_path):
    home = tmp_path / "user-home"
    (home / "project").mkdir(parents=True)
    env = {"HOME": str(home)}
    dw = pen.vm("dw")
    for cwd in [home, tmp_path, pen.home, pen.home / "vms"]:
        cwd.mkdir(exist_ok=True)
        r = dw.shell("true", env=env, cwd=cwd, timeout=60)
        assert r.returncode == 125, (cwd, describe(r))
        assert b"--dir" in r.stderr, (cwd, describe(r))
        assert len(r.stderr.strip().splitlines()) == 1, (cwd, describe(r))
        assert not dw.path.exists()
    # From a project it boots; named with --dir, the home itself may be shared.
    r = dw.shell("sh", "-c", "ls /workspace", env=env, cwd=home / "project", timeout=300)
    assert r.returncode == 0, describe(r)
    (home / "visible").write_text("x")
    r = pen.run("shell", "dw2", "--dir", str(home), "--", "ls", "/workspace", env={"HOME": str(home)}, check=0)
    assert b"visible" in r.stdout, describe(r)
    # Never, even named: a directory holding pen's state (every other VM's disk).
    r = pen.run("shell", "dw3", "--dir", str(tmp_path), "--", "true", env={"HOME": str(home)})
    assert r.returncode == 125, describe(r)
    assert b"contains pen's own state" in r.stderr, describe(r)
    assert not pen.vm("dw3").path.exists()


def test_secret_from_host_reaches_only_the_guest_environment(pen, tmp_path):
    secret = "pen-secret-" + os.urandom(8).hex()
    unrelated = "pen-unrelated-" + os.urandom(8).hex()
    project = tmp_path / "proj"
    project.mkdir()
    proc = pen.vm("sec").spawn_shell(
        "sh", "-c", 'echo "token=$API_TOKEN plain=$PLAIN"; cat /proc/cmdline; echo ready; sleep 5',
        flags=["--dir", str(project), "--env-from-host", "API_TOKEN", "--env", "PLAIN=visible-value"],
        env={"API_TOKEN": secret, "UNRELATED_HOST_SECRET": unrelated})
    lines = []
    deadline = time.time() + 240
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line == b"ready\n":
            break
    # While the VM runs: nothing in the host's process list carries the secret or the --env value.
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, timeout=30).stdout
    # Nor any process's environment but the pen that read it: not QEMU's, passt's or the
    # supervisor's (a helper's /proc/PID/environ stays readable for as long as the VM runs).
    helpers = pids_where(lambda args: args and (b"qemu-system" in args[0] or b"passt" in args[0] or b"supervise" in args))
    carriers = environ_carrying([secret.encode(), unrelated.encode()])
    assert len(helpers) >= 2, helpers  # QEMU and the supervisor (passt runs only under --network full)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert lines[0] == f"token={secret} plain=visible-value\n".encode(), lines
    assert secret.encode() not in lines[1], "secret on the guest kernel command line"
    assert secret.encode() not in ps, "the secret in the host's process list"
    assert b"visible-value" not in ps, "an --env value in the host's process list"
    assert carriers == [proc.pid], f"{carriers} carry a host secret (pen is {proc.pid}, helpers {helpers})"
    for path in project.rglob("*"):
        assert secret.encode() not in path.read_bytes()
    # After shutdown: not on the overlay disk, not in any image.
    assert secret.encode() not in pen.vm("sec").disk.read_bytes()
    for image in (pen.home / "images").rglob("*") if (pen.home / "images").exists() else []:
        if image.is_file():
            assert secret.encode() not in image.read_bytes()


def environ_carrying(needles):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                environ = open(f"/proc/{entry}/environ", "rb").read()
            except OSError:
                continue
            if any(n in environ for n in needles):
                found.append(int(entry))
    return found


def test_missing_host_variable_is_an_error(pen):
    env = dict(pen.env)
    env.pop("PEN_NO_SUCH_VAR", None)
    r = pen.run("shell", "mv", "--env-from-host", "PEN_NO_SUCH_VAR", "--", "true", timeout=60)
    assert r.returncode == 125, describe(r)
    assert b"PEN_NO_SUCH_VAR is not set" in r.stderr, describe(r)
    assert not pen.vm("mv").path.exists()


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
    owner = pen.vm("owner")
    proc = owner.sleeper("--dir", str(ws), "--network", "full", before="echo made > /workspace/made && sync")
    [qemu] = owner.qemu_pids()
    assert uids_of(qemu) == [NOBODY] * 4
    with open(f"/proc/{qemu}/status") as f:
        groups = [line.split()[1:] for line in f if line.startswith("Groups:")]
    assert groups == [[]], groups  # none of root's groups
    passt = pids_where(lambda args: args and b"passt" in args[0])
    assert passt, "no passt"
    assert all(uids_of(p) == [NOBODY] * 4 for p in passt), {p: uids_of(p) for p in passt}
    # QEMU is not dumpable: the workspace's owner cannot read its memory or environment
    # (the values root's pen sent), nor ptrace it.
    peek = subprocess.run(["cat", f"/proc/{qemu}/environ"], preexec_fn=as_nobody, capture_output=True, timeout=30)
    assert peek.returncode != 0, peek
    assert b"Permission denied" in peek.stderr, peek
    proc.terminate()
    proc.communicate(timeout=120)
    made = ws / "made"
    assert made.read_text() == "made\n"
    assert made.stat().st_uid == NOBODY
    # A root-owned workspace, which no other uid could write: QEMU stays root there (and the
    # share is mapped-xattr: test_guest_made_setuid_files_and_device_nodes_are_plain_files_on_the_host).
    rootws = pen.vm("rootws")
    proc = rootws.sleeper(before="true")
    [qemu] = rootws.qemu_pids()
    assert uids_of(qemu)[0] == 0
    proc.terminate()
    proc.communicate(timeout=120)


def test_a_non_root_pen_keeps_setuid_bits_fifos_and_device_nodes_off_the_host(pen, base_image, pen_for_any_user):
    """pen as an ordinary user shares the workspace with security_model=none: the guest's chmod,
    mkfifo and mknod would be the host's. QEMU's seccomp filter refuses setuid/setgid bits and
    every node but a regular file, so the host's files stay plain. (As root, the test runs pen as
    nobody; as a normal user, as that user.)"""
    top = pathlib.Path(tempfile.mkdtemp(prefix="pen-user-"))  # /tmp: a user other than root can reach it
    try:
        runner = pen.another(top / "home")
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
        r = runner.vm("nonroot").shell("sh", "-c", script, flags=["--dir", str(ws)], binary=pen_for_any_user,
                                       preexec_fn=as_nobody if os.geteuid() == 0 else None, cwd=ws, timeout=300)
        assert r.returncode == 0, describe(r)
        assert r.stdout.decode().split() == ["setuid-refused", "setgid-refused", "fifo-refused", "node-refused",
                                             "setgid-dir-refused", "755"], describe(r)
        st = os.lstat(ws / "suid")
        assert stat.S_ISREG(st.st_mode), oct(st.st_mode)
        assert not st.st_mode & (stat.S_ISUID | stat.S_ISGID), oct(st.st_mode)
        for made in ws.iterdir():  # no FIFO or node was made; a directory (if made) is not setgid
            st = os.lstat(made)
            assert made.name in ("suid", "gdir"), (made, oct(st.st_mode))
            assert not st.st_mode & (stat.S_ISUID | stat.S_ISGID), (made, oct(st.st_mode))
            assert stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode), (made, oct(st.st_mode))
    finally:
        subprocess.run(["rm", "-rf", str(top)], timeout=60)


VICTIM_TEXT = b"precious: must never change\n"


@pytest.fixture
def victim(tmp_path):
    """A file and a directory outside PEN_HOME that planted links point at."""
    f = tmp_path / "victim-file"
    f.write_bytes(VICTIM_TEXT)
    d = tmp_path / "victim-dir"
    d.mkdir()
    return f, d


def assert_refused(r, path):
    assert r.returncode != 0, describe(r)
    assert str(path).encode() in r.stderr, describe(r)
    assert b"symlink" in r.stderr, describe(r)


def assert_untouched(victim):
    f, d = victim
    assert f.read_bytes() == VICTIM_TEXT
    assert list(d.iterdir()) == []


def plant(path, target):
    if path.exists() or path.is_symlink():
        path.rename(path.with_name(path.name + ".moved"))
    path.symlink_to(target)


def restore(path):
    path.unlink()
    moved = path.with_name(path.name + ".moved")
    if moved.exists():
        moved.rename(path)


VM_FILES = ["vm.json", "overlay.img", "lock", "boot.log", "qemu.log", "network.log"]


@pytest.mark.fault
def test_symlinks_planted_in_a_vm_are_refused(pen, victim):
    f, d = victim
    pen.vm("v").shell("sh", "-c", "echo kept > /root/kept; sync", check=0)
    vm = pen.vm("v").path
    with fault_counts("symlink planted at a VM path") as faults:
        for _ in range(FAULT_RUNS):
            for name in VM_FILES:
                path = vm / name
                with faults.run():
                    plant(path, f)
                    r = pen.vm("v").shell("sh", "-c", "echo through > /root/x")
                    refused_and_untouched(faults, r, path, victim)
                    restore(path)
            # The VM's directory itself, for an existing name and for a new one.
            for name in ["v", "fresh"]:
                path = pen.home / "vms" / name
                with faults.run():
                    plant(path, d)
                    r = pen.vm(name).shell("true")
                    refused_and_untouched(faults, r, path, victim)
                    restore(path)
            # A VM whose creation was interrupted (no vm.json yet) with a link where its disk goes.
            half = pen.home / "vms" / "half"
            with faults.run():
                half.mkdir(exist_ok=True)
                plant(half / "overlay.img", f)
                r = pen.vm("half").shell("true")
                refused_and_untouched(faults, r, half / "overlay.img", victim)
                (half / "overlay.img").unlink()
        # After all that, the VM is intact and boots with its data.
        r = pen.vm("v").shell("cat", "/root/kept")
        assert faults.kept(r, b"kept\n"), describe(r)


def refused_and_untouched(faults, r, path, victim):
    """The command was refused naming the link, and nothing was written through it."""
    count_a_changed_victim(faults, victim)
    assert_refused(r, path)
    assert_untouched(victim)


def count_a_changed_victim(faults, victim):
    """The file a link pointed at, overwritten or gone: data lost."""
    f, _ = victim
    if not f.is_file() or f.read_bytes() != VICTIM_TEXT:
        faults.lost()


@pytest.mark.fault
def test_symlinks_planted_in_the_image_cache_are_refused(pen, base_image, victim):
    f, d = victim
    images = own_image_cache(pen, base_image)
    base = images / "base"
    with fault_counts("symlink planted at an image or cache path") as faults:
        for _ in range(FAULT_RUNS):
            # The image files a VM boots are refused, with the command that rebuilds them.
            for name in ["initrd.img", "vmlinux", "root.erofs"]:
                with faults.run():
                    plant(base / name, f)
                    r = pen.vm("i").shell("true")
                    refused_and_untouched(faults, r, base / name, victim)
                    assert b"pen image base --rebuild" in r.stderr, describe(r)
                    restore(base / name)
            # A verification stamp is never written through (the image is simply re-hashed).
            stamp = base / ".initrd.img.verified"
            with faults.run():
                plant(stamp, f)
                r = pen.vm("i").shell("true")
                assert r.returncode == 0, describe(r)
                count_a_changed_victim(faults, victim)
                assert_untouched(victim)
                restore(stamp)

        # A profile's build lock, and the directory its image is published into.
        pen.profile("sl", 'build = "echo linked > /etc/sl"\n')
        pdir = images / "profiles" / "sl"
        pdir.mkdir(parents=True)
        with faults.run():
            plant(pdir / ".lock", f)
            r = pen.run("profile", "build", "sl")
            refused_and_untouched(faults, r, pdir / ".lock", victim)
            restore(pdir / ".lock")

        image_hash = json.loads(pen.run("profile", "show", "sl", "--json", check=0).stdout)["hash"]
        with faults.run():
            plant(pdir / image_hash, d)
            r = pen.run("profile", "build", "sl", timeout=BUILD_TIMEOUT)
            refused_and_untouched(faults, r, pdir / image_hash, victim)
            restore(pdir / image_hash)
            assert [p for p in os.listdir(pdir) if p.startswith(".build-")] == []

        # With the links gone, the same build publishes and boots.
        r = pen.run("shell", "p", "--profile", "sl", "--", "cat", "/etc/sl", timeout=BUILD_TIMEOUT)
        assert r.returncode == 0, describe(r)
        assert r.stdout == b"linked\n", describe(r)
