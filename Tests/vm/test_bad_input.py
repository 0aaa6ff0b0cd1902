"""Bad input: one clear line, a non-zero exit, nothing created or changed."""
import os

import pytest

from conftest import describe


def tree(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.mark.parametrize("name", ["../x", "a/b", "", "-rf", "x" * 64, ".hidden", "a b", "é"])
def test_bad_vm_name(bare_pen, name):
    before = tree(bare_pen.home)
    r = bare_pen.run("shell", name, "--", "true", timeout=30)
    assert r.returncode != 0
    lines = r.stderr.decode().strip().splitlines()
    if not name.startswith("-"):  # a leading '-' is already refused by the option parser
        assert len(lines) == 1, describe(r)
        assert "name" in lines[0], describe(r)
    assert tree(bare_pen.home) == before


@pytest.mark.parametrize("size", ["10X", "0", "", "-5G", "1.5G", "99999999999T"])
def test_bad_disk_size(bare_pen, size):
    r = bare_pen.run("shell", "ok", f"--disk-size={size}", "--", "true", timeout=30)
    assert r.returncode != 0
    lines = r.stderr.decode().strip().splitlines()
    assert len(lines) == 1, describe(r)
    assert "--disk-size" in lines[0], describe(r)
    assert tree(bare_pen.home) == []


def test_missing_qemu(bare_pen):
    r = bare_pen.run("shell", "ok", "--", "true", timeout=30, env={"PATH": "/nonexistent"})
    assert r.returncode != 0
    assert b"qemu-system-x86_64 not found" in r.stderr
    assert b"apt-get install qemu-system-x86" in r.stderr
    assert tree(bare_pen.home) == []


def test_bad_accel(bare_pen):
    r = bare_pen.run("shell", "ok", "--accel", "warp", "--", "true", timeout=30)
    assert r.returncode != 0
    assert b"--accel" in r.stderr


def test_kernel_package_not_fetchable(bare_pen, tmp_path):
    # An apt-get that cannot download anything stands in for an unreachable archive.
    fake = tmp_path / "bin"
    fake.mkdir()
    for tool in ("apt-get", "apt-cache"):
        (fake / tool).write_text("#!/bin/sh\necho 'E: network unreachable' >&2\nexit 100\n")
        os.chmod(fake / tool, 0o755)
    r = bare_pen.run("image", "base", timeout=60, env={"PATH": f"{fake}:/usr/bin:/bin:/usr/sbin:/sbin"})
    assert r.returncode != 0
    msg = r.stderr.decode()
    assert "kernel" in msg, describe(r)
    assert "apt-get update" in msg or "--kernel-deb" in msg, describe(r)
    images = tmp_path / "images"
    assert not (images / "base" / "manifest.json").exists()
