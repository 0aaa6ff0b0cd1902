"""Profiles end to end: a builder VM bakes the image once, VMs boot it, setup runs once."""
import hashlib
import json
import os
import pathlib
import shutil
import subprocess

import pytest

from conftest import PEN, BUILD_TIMEOUT, PenRunner, describe, fsck_clean, own_image_cache, published

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
    assert b"booting the builder VM" in r.stderr and b"installing 1 package" in r.stderr
    assert ls(ppen)["jqp"]["image"] == "fresh"

    r = ppen.run("shell", "v1", "--profile", "jqp", "--", "sh", "-c",
                 "jq --version; cat /etc/pen-marker; cat /root/setup-runs; ls /var/lib/apt/lists | wc -l", check=0)
    lines = r.stdout.decode().splitlines()
    assert lines[0].startswith("jq-"), lines
    assert lines[1:3] == ["built-by-profile", "setup"], lines
    assert lines[3] in ("0", "1"), "apt lists must be cleaned out of the image"  # only the lock dir may remain
    assert b"builder" not in r.stderr and b"building" not in r.stderr, r.stderr

    # A second boot (profile remembered by the VM) builds nothing and does not re-run setup.
    r = ppen.run("shell", "v1", "--", "cat", "/root/setup-runs", check=0)
    assert r.stdout == b"setup\n"
    assert b"building" not in r.stderr
    detail = show(ppen, "jqp")
    assert len(detail["hash"]) == 64 and detail["image"] == "fresh" and detail["vms"] == ["v1"]
    ok, report = fsck_clean(ppen.disk("v1"))
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
    assert "build script exited with status 3" in err and "about to fail" in err and "full log:" in err, err
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
    assert r.stdout == b"built-by-profile\n" and b"building" not in r.stderr


def test_changed_packages_make_the_image_stale_and_rebuild(ppen):
    old = published(ppen, "jqp")
    ppen.profile("jqp", JQ_PROFILE.replace('["jq"]', '["tree", "jq", "jq"]'))
    assert ls(ppen)["jqp"]["image"] == "stale"
    r = ppen.run("shell", "v1", "--", "sh", "-c", "tree --version; jq --version", timeout=BUILD_TIMEOUT)
    assert r.returncode == 0, describe(r)
    assert b"changed since its image was built; rebuilding it" in r.stderr
    assert r.stdout.startswith(b"tree v")
    new = published(ppen, "jqp")
    assert len(new) == 1 and new != old
    ppen.profile("jqp", JQ_PROFILE)


def test_parallel_builds_of_one_profile_boot_one_builder_vm(ppen):
    ppen.profile("par", 'build = "echo parallel > /etc/par-marker"\n')
    procs = [subprocess.Popen([PEN, "profile", "build", "par"], env=ppen.env, cwd=ppen.cwd, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
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
    assert len(lines) == 1 and "broken.toml" in lines[0] and "vm.cpus" in lines[0], lines
    assert not ppen.vm_dir("bv").exists()
    assert "vm.cpus" in ls(ppen)["broken"]["error"]
    (ppen.home / "profiles" / "broken.toml").unlink()


def test_default_profile_is_the_base_image(ppen):
    d = show(ppen, "default")
    assert d["image"] == "fresh" and len(d["hash"]) == 64 and d["packages"] == []


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
    assert hashes[0] and "root.erofs" in hashes[0], hashes
    assert hashes[0] == hashes[1], "two builds of an unchanged profile gave different root images"
