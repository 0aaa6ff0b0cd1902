"""The read-only root image: VMs boot from it with their disk as the overlay's upper layer, it
is never written, a profile's is byte-for-byte reproducible, an old base is rebuilt without
touching VMs' files, and `pen image prune` removes only what nothing uses."""
import hashlib
import json
import pathlib

from conftest import BUILD_TIMEOUT, describe, fsck_clean, own_image_cache, published


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def manifest(images):
    return json.loads((images / "base" / "manifest.json").read_text())


def test_the_root_is_a_read_only_image_under_the_vms_own_upper_layer(pen, base_image):
    images = own_image_cache(pen, base_image)
    image = images / "base" / "root.erofs"
    before = sha256(image)
    script = r"""
        grep -E ' /run/pen-lower | / ' /proc/mounts
        echo changed > /usr/share/pen-probe; rm /etc/debian_version; echo added > /root/added
        (mount -o remount,rw /run/pen-lower 2>/dev/null && echo lower-writable) || echo lower-read-only
        test -e /init && echo init-visible || echo no-init
        stat -c 'mode %a' /usr/bin/passwd
    """
    r = pen.vm("ro").shell("sh", "-c", script, check=0)
    out = r.stdout.decode().splitlines()
    lower = [l for l in out if " /run/pen-lower " in l]
    assert lower, out
    assert lower[0].split()[2] == "erofs", out
    assert lower[0].split()[3].startswith("ro"), out
    assert any(l.startswith("overlay / overlay") and "lowerdir=/run/pen-lower" in l for l in out), out
    assert "lower-read-only" in out, out
    assert "no-init" in out, out
    assert "mode 4755" in out, out  # setuid kept from the guest's own tar, never a host file
    # The changes live on the VM's disk and survive a reboot; the image never changes.
    r = pen.vm("ro").shell("sh", "-c", "cat /usr/share/pen-probe /root/added; test -e /etc/debian_version || echo deleted",
                  check=0)
    assert r.stdout == b"changed\nadded\ndeleted\n", describe(r)
    assert sha256(image) == before == manifest(images)["root"]["sha256"]
    # Another VM sees the pristine image.
    r = pen.vm("other").shell("sh", "-c", "cat /etc/debian_version >/dev/null && test ! -e /root/added && echo pristine", check=0)
    assert r.stdout == b"pristine\n", describe(r)
    ok, report = fsck_clean(pen.vm("ro").disk)
    assert ok, report


def test_a_vm_made_on_an_older_base_keeps_its_files_after_the_rebuild(pen, base_image):
    images = own_image_cache(pen, base_image, copy=True)
    pen.vm("old").shell("sh", "-c", "echo mine > /root/mine; echo etc > /etc/pen-local", check=0)
    # The cache now looks like an older pen's: its base is rebuilt, the VM's disk is kept.
    record = manifest(images)
    record["builderVersion"] -= 1
    (images / "base" / "manifest.json").write_text(json.dumps(record))
    r = pen.vm("old").shell("cat", "/root/mine", "/etc/pen-local", timeout=BUILD_TIMEOUT)
    assert r.returncode == 0, describe(r)
    assert r.stdout == b"mine\netc\n", describe(r)
    assert b"building the base image" in r.stderr, describe(r)
    assert manifest(images)["builderVersion"] == record["builderVersion"] + 1


PROFILE = 'build = """\necho reproducible > /etc/pen-built\nmkdir -p /opt/tool && printf "#!/bin/sh\\necho tool\\n" > /opt/tool/run\nchmod 4755 /opt/tool/run\n"""\n'


def test_a_profile_image_is_byte_for_byte_reproducible_and_boots(pen, base_image):
    images = own_image_cache(pen, base_image)
    pen.profile("repro", PROFILE)
    r = pen.run("profile", "build", "repro", timeout=BUILD_TIMEOUT)
    assert r.returncode == 0, describe(r)
    [first_hash] = published(pen, "repro")
    root = images / "profiles" / "repro" / first_hash / "root.erofs"
    first = sha256(root)
    record = json.loads((root.parent / "build.json").read_text())
    assert record["root"]["sha256"] == first
    assert record["format"] == 2
    r = pen.run("profile", "build", "repro", "--force", timeout=BUILD_TIMEOUT)
    assert r.returncode == 0, describe(r)
    assert published(pen, "repro") == [first_hash], "two builds of one profile differ"
    assert sha256(root) == first, "two builds of one profile differ"
    r = pen.run("shell", "p", "--profile", "repro", "--", "sh", "-c",
                "cat /etc/pen-built; stat -c %a /opt/tool/run; /opt/tool/run", check=0)
    assert r.stdout == b"reproducible\n4755\ntool\n", describe(r)
    r = pen.run("image", "ls", "--json", check=0)
    rows = {(row["name"], row["hash"]): row for row in json.loads(r.stdout)}
    assert rows[("repro", first_hash)]["status"] == "fresh"
    assert rows[("repro", first_hash)]["size_bytes"] == root.stat().st_size


def test_prune_removes_only_what_no_profile_uses(pen, base_image):
    images = own_image_cache(pen, base_image)
    pen.profile("kept", 'build = "echo kept > /etc/k"\n')
    pen.profile("edited", 'build = "echo one > /etc/e"\n')
    pen.profile("deleted", 'build = "echo gone > /etc/d"\n')
    for name in ["kept", "edited", "deleted"]:
        r = pen.run("profile", "build", name, timeout=BUILD_TIMEOUT)
        assert r.returncode == 0, describe(r)
    pen.run("shell", "user", "--profile", "kept", "--", "true", check=0)
    pen.profile("edited", 'build = "echo two > /etc/e"\n')  # its image is stale until it is rebuilt
    (pen.home / "profiles" / "deleted.toml").unlink()
    stale = published(pen, "edited")

    r = pen.run("image", "prune", "--dry-run", "--json", check=0)
    report = json.loads(r.stdout)
    # (The shared base may hold an older pen's leftovers, which prune lists too.)
    planned = {pathlib.Path(item["path"]) for item in report["removed"] if (images / "profiles") in pathlib.Path(item["path"]).parents}
    assert report["dry_run"]
    assert report["bytes"] > 0
    assert planned == {images / "profiles" / "edited" / stale[0], images / "profiles" / "deleted"}, report
    assert published(pen, "deleted")
    assert published(pen, "edited") == stale  # a dry run removes nothing

    r = pen.run("image", "prune", check=0)
    assert b"freed" in r.stderr, describe(r)
    assert not (images / "profiles" / "deleted").exists()
    assert published(pen, "edited") == []
    assert len(published(pen, "kept")) == 1
    assert pen.vm("user").shell("cat", "/etc/k", check=0).stdout == b"kept\n"
    assert b"nothing to prune" in pen.run("image", "prune", check=0).stderr
