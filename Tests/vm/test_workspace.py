"""Workspace share, secrets by env, and what the guest can reach on the network."""
import os
import socket
import subprocess
import time

import pytest

from conftest import PEN, describe, fsck_clean, pids_where


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
    rec = (pen.vm_dir("ws") / "vm.json").read_text()
    assert f'"directory" : "{project}"' in rec.replace("\\/", "/"), rec


@pytest.mark.parametrize("bad", ["/", "/nonexistent/dir", "FILE"])
def test_bad_workspace_is_refused(pen, tmp_path, bad):
    if bad == "FILE":
        bad = str(tmp_path / "file")
        open(bad, "w").close()
    r = pen.run("shell", "bw", "--dir", bad, "--", "true", timeout=60)
    assert r.returncode == 125 and b"--dir" in r.stderr, describe(r)
    assert not pen.vm_dir("bw").exists()


def test_the_default_workspace_is_never_the_home_or_pens_state(pen, tmp_path):
    home = tmp_path / "user-home"
    (home / "project").mkdir(parents=True)
    env = dict(pen.env, HOME=str(home))
    for cwd in [home, tmp_path, pen.home, pen.home / "vms"]:
        cwd.mkdir(exist_ok=True)
        r = subprocess.run([PEN, "shell", "dw", "--", "true"], env=env, cwd=cwd, capture_output=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 125 and b"--dir" in r.stderr and len(r.stderr.strip().splitlines()) == 1, (cwd, describe(r))
        assert not pen.vm_dir("dw").exists()
    # From a project it boots; named with --dir, the home itself may be shared.
    r = subprocess.run([PEN, "shell", "dw", "--", "sh", "-c", "ls /workspace"], env=env, cwd=home / "project",
                       capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, describe(r)
    (home / "visible").write_text("x")
    r = pen.run("shell", "dw2", "--dir", str(home), "--", "ls", "/workspace", env={"HOME": str(home)}, check=0)
    assert b"visible" in r.stdout, describe(r)
    # Never, even named: a directory holding pen's state (every other VM's disk).
    r = pen.run("shell", "dw3", "--dir", str(tmp_path), "--", "true", env={"HOME": str(home)})
    assert r.returncode == 125 and b"contains pen's own state" in r.stderr, describe(r)
    assert not pen.vm_dir("dw3").exists()


def test_secret_from_host_reaches_only_the_guest_environment(pen, tmp_path):
    secret = "pen-secret-" + os.urandom(8).hex()
    unrelated = "pen-unrelated-" + os.urandom(8).hex()
    project = tmp_path / "proj"
    project.mkdir()
    proc = subprocess.Popen([PEN, "shell", "sec", "--dir", str(project), "--env-from-host", "API_TOKEN",
                             "--env", "PLAIN=visible-value", "--", "sh", "-c",
                             'echo "token=$API_TOKEN plain=$PLAIN"; cat /proc/cmdline; echo ready; sleep 5'],
                            env=dict(pen.env, API_TOKEN=secret, UNRELATED_HOST_SECRET=unrelated), cwd=pen.cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
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
    assert len(helpers) >= 3, helpers
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert lines[0] == f"token={secret} plain=visible-value\n".encode(), lines
    assert secret.encode() not in lines[1], "secret on the guest kernel command line"
    assert secret.encode() not in ps and b"visible-value" not in ps
    assert carriers == [proc.pid], f"{carriers} carry a host secret (pen is {proc.pid}, helpers {helpers})"
    for path in project.rglob("*"):
        assert secret.encode() not in path.read_bytes()
    # After shutdown: not on the overlay disk, not in any image.
    assert secret.encode() not in pen.disk("sec").read_bytes()
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
    assert r.returncode == 125 and b"PEN_NO_SUCH_VAR is not set" in r.stderr
    assert not pen.vm_dir("mv").exists()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


GUEST_SERVER = r'''
use IO::Socket::INET;
my $s = IO::Socket::INET->new(LocalPort => 8000, Listen => 5, ReuseAddr => 1) or die "listen: $!";
print "listening\n"; $| = 1;
my $c = $s->accept; my $req = <$c>;
print $c "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello from the guest\n"; close $c;
'''


def test_published_port_reaches_a_guest_server(pen):
    port = free_port()
    proc = subprocess.Popen([PEN, "shell", "pub", "--publish", f"{port}:8000", "--", "perl", "-e", GUEST_SERVER],
                            env=pen.env, cwd=pen.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"listening\n"
        body = b""
        deadline = time.time() + 60
        while time.time() < deadline and b"hello" not in body:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
                    c.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    body = c.recv(4096)
            except OSError:
                time.sleep(0.3)
        assert b"hello from the guest" in body
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # Published ports bind the host's loopback only.
    r = pen.run("shell", "pub", "--publish", "0:80", "--", "true", timeout=30)
    assert r.returncode == 125 and b"--publish" in r.stderr


PROBE = "timeout 5 bash -c 'exec 3<>/dev/tcp/10.0.2.2/{port}' && echo reachable || echo unreachable"


def in_fresh_netns(pen, script, timeout=300):
    """Runs a shell script in a new network namespace that has only its own loopback, so
    nothing it does can reach beyond this machine."""
    return subprocess.run(["unshare", "--net", "sh", "-c", "ip link set lo up && " + script],
                          env=pen.env, cwd=pen.cwd, capture_output=True, timeout=timeout)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a network namespace")
def test_guest_cannot_reach_the_hosts_loopback(pen):
    port = free_port()
    server = f"python3 -m http.server {port} --bind 127.0.0.1 >/dev/null 2>&1 & sleep 0.5; "
    r = in_fresh_netns(pen, server + f'"{PEN}" shell lo -- sh -c "{PROBE.format(port=port)}"')
    assert r.returncode == 0, describe(r)
    assert r.stdout.strip() == b"unreachable", describe(r)
    # The baseline pen avoids: QEMU's slirp maps its gateway to the host's loopback.
    r = in_fresh_netns(pen, server + f'PEN_NETWORK=slirp "{PEN}" shell lo -- sh -c "{PROBE.format(port=port)}"')
    assert r.returncode == 0, describe(r)
    assert r.stdout.strip() == b"reachable", describe(r)
    ok, report = fsck_clean(pen.disk("lo"))
    assert ok, report


def test_guest_reaches_the_internet(pen):
    r = pen.shell("inet", "bash", "-c", "timeout 20 bash -c 'exec 3<>/dev/tcp/deb.debian.org/80' && echo internet-ok", check=0)
    assert r.stdout == b"internet-ok\n"
