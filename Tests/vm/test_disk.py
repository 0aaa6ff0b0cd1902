"""A full host disk (a small tmpfs) while pen writes vm.json, an overlay disk, a profile image or
the base image's initrd, and while the guest writes: a clear error naming the file and the fix,
and every previous file intact."""
import os
import pathlib
import shutil
import subprocess

from conftest import BUILD_TIMEOUT, PenRunner, describe, fault_counts, fill, fsck_clean, own_image_cache, \
    small_filesystem

MiB = 1 << 20
NO_SPACE = b"No space left on device"
FIX = b"free some space"


def snapshot(directory):
    """Every regular file under `directory` with its bytes."""
    return {p: p.read_bytes() for p in pathlib.Path(directory).rglob("*") if p.is_file() and not p.is_symlink()}


def unchanged(before, after, ignore):
    """Two snapshots hold the same files with the same bytes, those `ignore` picks aside."""
    def files(snap):
        return {p: b for p, b in snap.items() if not ignore(p)}
    return files(after) == files(before)


def test_vm_json_and_a_new_vm_on_a_full_disk(tmp_path, base_image):
    with small_filesystem(tmp_path / "small", 24 * MiB) as small, \
            fault_counts("host disk full while writing vm.json or a new overlay disk") as faults:
        pen = PenRunner(small / "home")
        pen.home.mkdir()
        pen.shell("a", "sh", "-c", "echo kept > /root/kept; sync", check=0)
        record = (pen.vm_dir("a") / "vm.json").read_bytes()
        filler = fill(small)
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        with faults.run():
            # Sharing another directory rewrites vm.json: it cannot, and the old one stays.
            r = pen.run("shell", "a", "--dir", str(elsewhere), "--", "true")
            if (pen.vm_dir("a") / "vm.json").read_bytes() != record:
                faults.lost()
            assert r.returncode == 125, describe(r)
            assert b"vm.json" in r.stderr and NO_SPACE in r.stderr and FIX in r.stderr, describe(r)
            assert (pen.vm_dir("a") / "vm.json").read_bytes() == record
            assert not [p for p in os.listdir(pen.vm_dir("a")) if ".tmp-" in p]
        with faults.run():
            # A new VM cannot get its disk: refused, and no half-made VM is left behind.
            r = pen.shell("b", "true")
            assert r.returncode == 125, describe(r)
            assert b"overlay.img" in r.stderr and NO_SPACE in r.stderr and FIX in r.stderr, describe(r)
            assert not pen.vm_dir("b").exists()
        # With room again, the VM of the first run boots with its data on a clean disk.
        filler.unlink()
        ok, report = fsck_clean(pen.disk("a"))
        assert ok, report
        r = pen.shell("a", "cat", "/root/kept")
        assert faults.kept(r, b"kept\n"), describe(r)


def test_the_guest_filling_the_host_disk_is_reported_and_synced_data_survives(tmp_path, base_image):
    with small_filesystem(tmp_path / "small", 24 * MiB) as small, \
            fault_counts("guest fills the host disk under its sparse overlay") as faults:
        pen = PenRunner(small / "home")
        pen.home.mkdir()
        pen.shell("g", "sh", "-c", "echo kept > /root/kept; sync", check=0)
        with faults.run():
            # The sparse overlay grows past what the host has: the guest's writes fail, and pen says
            # so instead of hanging (QEMU would pause the VM) or exiting 0 over lost writes.
            r = pen.shell("g", "sh", "-c", "head -c 64M /dev/urandom > /root/big; echo written", timeout=300)
            assert r.returncode == 125, describe(r)
            assert b"could not write everything to its disk" in r.stderr and FIX in r.stderr, describe(r)
            assert b"overlay.img" in r.stderr, describe(r)
            subprocess.run(["mount", "-o", "remount,size=256M", str(small)], check=True)
            r = pen.shell("g", "cat", "/root/kept")
            assert faults.kept(r, b"kept\n"), describe(r)
            ok, report = fsck_clean(pen.disk("g"))
            assert ok, report


def test_image_writes_on_a_full_disk_keep_the_previous_image(tmp_path, base_image):
    base_bytes = sum(f.stat().st_size for f in (pathlib.Path(base_image) / "base").iterdir() if f.is_file())
    # A build holds its root on the disk twice while it writes the root image (the spool it reads
    # from and the image): room for the base's twice, not for v2's 400 MB.
    with small_filesystem(tmp_path / "small", base_bytes + 300 * MiB) as small, \
            fault_counts("host disk full while writing a profile image or the base initrd") as faults:
        pen = PenRunner(tmp_path / "home")
        pen.home.mkdir()
        own_image_cache(pen, base_image, copy=True, images=small)

        v1 = 'build = "echo v1 > /etc/fat"\n'
        pen.profile("fat", v1)
        r = pen.run("profile", "build", "fat", timeout=BUILD_TIMEOUT)
        assert r.returncode == 0, describe(r)
        kept = snapshot(small / "profiles" / "fat")
        with faults.run():
            # v2 streams a root larger than the space left: the build fails and publishes nothing.
            pen.profile("fat", 'build = "head -c 400M /dev/urandom > /opt/big"\n')
            r = pen.run("profile", "build", "fat", timeout=BUILD_TIMEOUT)
            now = snapshot(small / "profiles" / "fat")
            if not unchanged(kept, now, ignore=lambda p: p.name == "last-build.log"):
                faults.lost()
            assert r.returncode != 0, describe(r)
            assert b"build failed" in r.stderr and NO_SPACE in r.stderr and FIX in r.stderr, describe(r)
            assert unchanged(kept, now, ignore=lambda p: p.name == "last-build.log")
            assert not [p for p in os.listdir(small / "profiles" / "fat") if p.startswith(".build-")]
            pen.profile("fat", v1)
            r = pen.run("shell", "f", "--profile", "fat", "--", "cat", "/etc/fat")
            assert r.returncode == 0 and r.stdout == b"v1\n", describe(r)

        with faults.run():
            # The base image's initrd is re-assembled for a new init: on a full disk that fails,
            # and the initrd and manifest in place stay as they were.
            base_before = snapshot(small / "base")
            new_init = tmp_path / "PenGuestInit"
            shutil.copy2(pathlib.Path(os.environ.get("PEN_BIN", "out/bin/pen")).parent / "PenGuestInit", new_init)
            with open(new_init, "ab") as f:
                f.write(b"\0changed")
            filler = fill(small)
            r = pen.run("shell", "b", "--", "true", env={"PEN_INIT": str(new_init)})
            base_after = snapshot(small / "base")
            if not unchanged(base_before, base_after, ignore=lambda p: p.name.startswith(".")):
                faults.lost()
            assert r.returncode == 125, describe(r)
            assert NO_SPACE in r.stderr and FIX in r.stderr, describe(r)
            assert unchanged(base_before, base_after, ignore=lambda p: p.name.startswith("."))
            filler.unlink()
            r = pen.shell("b", "true")
            assert r.returncode == 0, describe(r)

