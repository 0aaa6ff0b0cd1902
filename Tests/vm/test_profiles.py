"""Profiles end to end: a builder VM bakes the image once, VMs boot it, setup runs once; and a
builder VM killed mid-build (SIGKILL to pen, SIGKILL to the builder's QEMU, SIGTERM to pen)
publishes nothing, frees the build lock, and the next build works."""
import fcntl
import hashlib
import json
import os
import pathlib
import signal
import subprocess
import threading
import time

import pytest

from conftest import BUILD_TIMEOUT, FAULT_RUNS, PenRunner, describe, fault_counts, fsck_clean, own_image_cache, \
    published, qemu_pids, uids_of

JQ_PROFILE = '''
description = "jq and a marker"
packages = ["jq"]
build = """
echo built-by-profile > /etc/pen-marker
"""
setup = """
echo setup >> /root/setup-runs
"""
'''


@pytest.fixture(scope="module")
def ppen(tmp_path_factory, base_image):
    """One PEN_HOME for the whole module, so the jq image is built once. Its image cache is its
    own (profile images start missing), with the shared base image linked in (pen only ever
    replaces image files by rename, so hard links are safe)."""
    home = tmp_path_factory.mktemp("profiles-home")
    runner = PenRunner(home)
    own_image_cache(runner, base_image)
    runner.profile("jqp", JQ_PROFILE)
    return runner


def ls(ppen):
    r = ppen.run("profile", "ls", "--json", check=0)
    return {row["name"]: row for row in json.loads(r.stdout)}


def show(ppen, name):
    r = ppen.run("profile", "show", name, "--json", check=0)
    return json.loads(r.stdout)


def test_profile_is_built_once_and_used(ppen):
    assert ls(ppen)["jqp"]["image"] == "missing"
    r = ppen.run("profile", "build", "jqp", timeout=BUILD_TIMEOUT)
    assert r.returncode == 0, describe(r)
    assert b"booting the builder VM" in r.stderr
    assert b"installing 1 package" in r.stderr
    assert ls(ppen)["jqp"]["image"] == "fresh"

    r = ppen.run("shell", "v1", "--profile", "jqp", "--", "sh", "-c",
                 "jq --version; cat /etc/pen-marker; cat /root/setup-runs; ls /var/lib/apt/lists | wc -l", check=0)
    lines = r.stdout.decode().splitlines()
    assert lines[0].startswith("jq-"), lines
    assert lines[1:3] == ["built-by-profile", "setup"], lines
    assert lines[3] in ("0", "1"), "apt lists must be cleaned out of the image"  # only the lock dir may remain
    assert b"builder" not in r.stderr, r.stderr
    assert b"building" not in r.stderr, r.stderr

    # A second boot (profile remembered by the VM) builds nothing and does not re-run setup.
    r = ppen.run("shell", "v1", "--", "cat", "/root/setup-runs", check=0)
    assert r.stdout == b"setup\n"
    assert b"building" not in r.stderr
    detail = show(ppen, "jqp")
    assert len(detail["hash"]) == 64
    assert detail["image"] == "fresh"
    assert detail["vms"] == ["v1"]
    ok, report = fsck_clean(ppen.vm("v1").disk)
    assert ok, report


def test_changed_setup_does_not_rebuild_and_says_so(ppen):
    before = show(ppen, "jqp")["hash"]
    ppen.profile("jqp", JQ_PROFILE.replace("echo setup >>", "echo changed-setup >>"))
    assert show(ppen, "jqp")["hash"] == before
    assert ls(ppen)["jqp"]["image"] == "fresh"
    r = ppen.run("shell", "v1", "--", "cat", "/root/setup-runs", check=0)
    assert r.stdout == b"setup\n"
    assert b"will not re-run it" in r.stderr
    assert b"building" not in r.stderr
    ppen.profile("jqp", JQ_PROFILE)


def test_failing_builds_publish_nothing_and_keep_the_previous_image(ppen):
    good = published(ppen, "jqp")
    assert len(good) == 1
    ppen.profile("jqp", JQ_PROFILE.replace("echo built-by-profile > /etc/pen-marker", "echo about to fail\nexit 3"))
    r = ppen.run("profile", "build", "jqp", timeout=BUILD_TIMEOUT)
    assert r.returncode != 0
    err = r.stderr.decode()
    assert "build script exited with status 3" in err, err
    assert "about to fail" in err, err
    assert "full log:" in err, err
    assert published(ppen, "jqp") == good

    ppen.profile("jqp", JQ_PROFILE.replace('["jq"]', '["jq", "pen-no-such-package"]'))
    r = ppen.run("profile", "build", "jqp", timeout=BUILD_TIMEOUT)
    assert r.returncode != 0
    assert b"unknown package 'pen-no-such-package'" in r.stderr, describe(r)
    assert published(ppen, "jqp") == good

    # Back to the original inputs: the previous image is fresh and boots without a rebuild.
    ppen.profile("jqp", JQ_PROFILE)
    assert ls(ppen)["jqp"]["image"] == "fresh"
    r = ppen.run("shell", "v1", "--", "cat", "/etc/pen-marker", check=0)
    assert r.stdout == b"built-by-profile\n"
    assert b"building" not in r.stderr


def test_changed_packages_make_the_image_stale_and_rebuild(ppen):
    old = published(ppen, "jqp")
    ppen.profile("jqp", JQ_PROFILE.replace('["jq"]', '["tree", "jq", "jq"]'))
    assert ls(ppen)["jqp"]["image"] == "stale"
    r = ppen.run("shell", "v1", "--", "sh", "-c", "tree --version; jq --version", timeout=BUILD_TIMEOUT)
    assert r.returncode == 0, describe(r)
    assert b"changed since its image was built; rebuilding it" in r.stderr
    assert r.stdout.startswith(b"tree v")
    new = published(ppen, "jqp")
    assert len(new) == 1
    assert new != old
    ppen.profile("jqp", JQ_PROFILE)


def test_parallel_builds_of_one_profile_boot_one_builder_vm(ppen):
    ppen.profile("par", 'build = "echo parallel > /etc/par-marker"\n')
    procs = [ppen.spawn("profile", "build", "par") for _ in range(4)]
    results = [p.communicate(timeout=BUILD_TIMEOUT) for p in procs]
    assert all(p.returncode == 0 for p in procs), results
    boots = sum(err.count(b"booting the builder VM") for _, err in results)
    assert boots == 1, results
    waited = sum(b"waiting for another pen that is building profile 'par'" in err for _, err in results)
    assert waited >= 1, results
    assert len({out for out, _ in results}) == 1  # the same hash and path for all four
    assert len(published(ppen, "par")) == 1
    r = ppen.run("shell", "pv", "--profile", "par", "--", "cat", "/etc/par-marker", check=0)
    assert r.stdout == b"parallel\n"


def test_another_profile_for_an_existing_vm_is_refused(ppen):
    r = ppen.run("shell", "v1", "--profile", "default", "--", "true")
    assert r.returncode == 125
    assert b"created with profile 'jqp'" in r.stderr


def test_malformed_profile_is_named_with_its_key_and_creates_nothing(ppen):
    ppen.profile("broken", 'packages = ["jq"]\n[vm]\ncpus = "two"\n')
    r = ppen.run("shell", "bv", "--profile", "broken", "--", "true")
    assert r.returncode == 125
    lines = r.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert "broken.toml" in lines[0], lines
    assert "vm.cpus" in lines[0], lines
    assert not ppen.vm("bv").path.exists()
    assert "vm.cpus" in ls(ppen)["broken"]["error"]
    (ppen.home / "profiles" / "broken.toml").unlink()


def test_default_profile_is_the_base_image(ppen):
    d = show(ppen, "default")
    assert d["image"] == "fresh"
    assert len(d["hash"]) == 64
    assert d["packages"] == []


def published_root_image_sha256(runner, profile):
    """The SHA-256 of each file of the profile's one published image directory."""
    [image] = published(runner, profile)
    d = pathlib.Path(runner.env["PEN_IMAGES"]) / "profiles" / profile / image
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(d.iterdir())
            if f.is_file() and f.name.endswith(".erofs")}


def test_an_unchanged_profile_rebuilds_to_the_same_root_image_bytes(tmp_path, base_image):
    """Two forced builds of the same profile give the same root image, byte for byte: nothing
    a build leaves that depends on when or where it ran (ldconfig's aux-cache with its inode
    numbers and times, logs, apt caches) reaches the image."""
    runner = PenRunner(tmp_path / "home")
    own_image_cache(runner, base_image)
    runner.profile("repro", 'packages = ["jq"]\n')
    hashes = []
    for _ in range(2):
        r = runner.run("profile", "build", "repro", "--force", timeout=BUILD_TIMEOUT)
        assert r.returncode == 0, describe(r)
        hashes.append(published_root_image_sha256(runner, "repro"))
    assert hashes[0], hashes
    assert "root.erofs" in hashes[0], hashes
    assert hashes[0] == hashes[1], "two builds of an unchanged profile gave different root images"


SLOW = 'build = """\necho build-started\nsleep 600\n"""\n'
QUICK = 'build = """\necho build-started\necho rebuilt > /etc/slow-marker\n"""\n'


class Build:
    """`pen profile build` in the background, its stderr collected line by line."""

    def __init__(self, pen, profile):
        self.proc = pen.spawn("profile", "build", profile)
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
    assert len(published(pen, "slow")) == 1, published(pen, "slow")
    assert scratch(pen, "slow") == [], scratch(pen, "slow")
    r = pen.run("shell", "after", "--profile", "slow", "--", "cat", "/etc/slow-marker")
    assert r.returncode == 0, describe(r)
    assert r.stdout == b"rebuilt\n", describe(r)


@pytest.mark.fault
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
        assert "pen: profile 'slow' build failed" in err, err
        assert "full log:" in err, err
        assert scratch(pen, "slow") == [], scratch(pen, "slow")
        assert (profile_dir(pen, "slow") / "last-build.log").read_bytes().count(b"build-started") == 1
