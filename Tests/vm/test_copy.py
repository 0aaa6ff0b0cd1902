"""`pen cp` both ways: trees, links, modes, times and bytes kept; and out of a VM whose tar is
hostile — crafted archives (escapes, devices, setuid bits, names that split on '/' only as
bytes), a destination that is a planted symlink, modes and holes on the host."""
import hashlib
import io
import os
import tarfile

from conftest import describe


def test_pen_cp_both_ways_keeps_trees_links_and_bytes(pen, tmp_path):
    vm = pen.vm("cp")
    vm.start()
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha\n")
    (src / "sub" / "b.bin").write_bytes(os.urandom(4096))
    os.symlink("a.txt", src / "link")
    os.chmod(src / "a.txt", 0o640)
    os.utime(src / "a.txt", (1_600_000_000, 1_600_000_000))
    r = vm.cp_in(src, "/root/", timeout=120)
    assert r.returncode == 0, describe(r)
    r = vm.exec("sh", "-c", "stat -c '%a %Y %U' /root/src/a.txt; readlink /root/src/link; cat /root/src/link",
                check=0)
    assert r.stdout == b"640 1600000000 root\na.txt\nalpha\n", describe(r)
    # One file to a new name, and back out.
    vm.cp_in(src / "a.txt", "/root/renamed.txt", timeout=120, check=0)
    back = tmp_path / "back"
    back.mkdir()
    r = vm.cp_out("/root/src", "/root/renamed.txt", to=back, timeout=120)
    assert r.returncode == 0, describe(r)
    assert (back / "renamed.txt").read_text() == "alpha\n"
    assert (back / "src" / "sub" / "b.bin").read_bytes() == (src / "sub" / "b.bin").read_bytes()
    assert os.path.islink(back / "src" / "link")
    assert os.readlink(back / "src" / "link") == "a.txt"
    assert oct(os.stat(back / "src" / "a.txt").st_mode & 0o777) == "0o640"
    assert os.stat(back / "src" / "a.txt").st_mtime == 1_600_000_000
    # A 100 MB file each way, checksummed.
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        for _ in range(100):
            f.write(os.urandom(1 << 20))
    digest = hashlib.sha256(big.read_bytes()).hexdigest()
    r = vm.cp_in(big, "/root/big.bin", timeout=600)
    assert r.returncode == 0, describe(r)
    r = vm.exec("sha256sum", "/root/big.bin", check=0)
    assert r.stdout.split()[0].decode() == digest
    r = vm.cp_out("/root/big.bin", to=tmp_path / "big-back.bin", timeout=600)
    assert r.returncode == 0, describe(r)
    assert hashlib.sha256((tmp_path / "big-back.bin").read_bytes()).hexdigest() == digest
    # '-' streams a tar, like docker cp.
    r = vm.cp_out("/root/src", to="-", timeout=120, check=0)
    names = sorted(tarfile.open(fileobj=io.BytesIO(r.stdout)).getnames())
    assert names == ["src", "src/a.txt", "src/link", "src/sub", "src/sub/b.bin"]


def crafted(build):
    """A PAX archive that `build(tarfile)` fills."""
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


def copy_out_refused(vm, tmp_path, case, data):
    """`pen cp` out of a VM whose tar sends `data`: refused, saying so; the destination and result."""
    guest_tar_sends(vm, tmp_path, data)
    dest = tmp_path / f"dest-{case}"
    dest.mkdir()
    r = vm.cp_out("/root/x", to=dest, timeout=60)
    assert r.returncode != 0, (case, describe(r))
    assert any("refused" in l for l in r.stderr.decode().strip().splitlines()), (case, describe(r))
    return dest, r


def test_pen_cp_refuses_what_a_hostile_guest_tar_could_do(pen, tmp_path):
    """The guest's tar is replaced by one that emits crafted archives: pen refuses each and
    writes nothing outside the destination."""
    vm = pen.vm("evil")
    vm.start()
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
        dest, r = copy_out_refused(vm, tmp_path, case, data)
        assert list(outside.iterdir()) == [], case
        assert not (tmp_path / "escaped").exists(), case
        assert not os.path.exists("/tmp/pen-cp-absolute"), case
        for path in dest.rglob("*"):
            assert not path.is_char_device(), (case, path)
            assert not path.stat().st_mode & 0o6000, (case, path)
    vm.exec("rm", "/usr/local/sbin/tar", check=0)


def ustar_header(name, kind=b"0", size=0, mode=0o644, link=b""):
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108] = b"%07o\0" % mode
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    h[124:136] = b"%011o\0" % size
    h[136:148] = b"%011o\0" % 1_600_000_000
    h[156:157] = kind
    h[157:157 + len(link)] = link
    h[257:265] = b"ustar\x0000"
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def archive(*entries):
    out = b""
    for name, kind, data, link in entries:
        out += ustar_header(name, kind, len(data), 0o755 if kind == b"5" else 0o644, link)
        out += data + b"\0" * ((512 - len(data) % 512) % 512)
    return out + b"\0" * 1024


def guest_tar_sends(vm, tmp_path, data):
    """Puts `data` in the VM and a tar first on its PATH that sends it whatever it is asked."""
    vm.exec("rm", "-f", "/usr/local/sbin/tar", check=0)  # the real tar, to copy in
    (tmp_path / "evil.tar").write_bytes(data)
    r = vm.cp_in(tmp_path / "evil.tar", "/root/evil.tar", timeout=60)
    assert r.returncode == 0, describe(r)
    vm.exec("sh", "-c",
            "printf '#!/bin/sh\\ncat /root/evil.tar\\n' > /usr/local/sbin/tar; chmod +x /usr/local/sbin/tar", check=0)


def test_pen_cp_splits_names_on_the_slash_byte_so_unicode_cannot_carry_a_file_out(pen, tmp_path):
    vm = pen.vm("uni")
    vm.start()
    outside = tmp_path / "outside"
    outside.mkdir()
    prepend = "a\u0600".encode()
    cases = {
        # out/, a link out/a<U+0600> -> outside, then out/a<U+0600>/cron.d/x: one grapheme with the '/'.
        "prepend": archive((b"x/", b"5", b"", b""), (b"x/" + prepend, b"2", b"", str(outside).encode()),
                           (b"x/" + prepend + b"/cron.d/", b"5", b"", b""),
                           (b"x/" + prepend + b"/cron.d/job", b"0", b"pwned\n", b"")),
        "combining": archive((b"x/", b"5", b"", b""), (b"x/a", b"2", b"", str(outside).encode()),
                             (b"x/a/" + "\u0301pwned".encode(), b"0", b"pwned\n", b"")),
        "escape-in-name": archive((b"x/", b"5", b"", b""), (b"x/\x1b]0;owned\x07/../../escaped", b"0", b"x", b"")),
    }
    for case, data in cases.items():
        dest, r = copy_out_refused(vm, tmp_path, case, data)
        assert b"\x1b" not in r.stderr, describe(r)
        assert b"\x07" not in r.stderr, describe(r)
        assert list(outside.iterdir()) == [], case
        assert not (tmp_path / "escaped").exists()
    vm.exec("rm", "/usr/local/sbin/tar", check=0)


def test_pen_cp_out_keeps_holes_applies_the_umask_and_refuses_a_planted_destination_link(pen, tmp_path):
    vm = pen.vm("modes")
    vm.start()
    os.umask(0o022)
    r = vm.exec("sh", "-c",
                "mkdir -m 777 /root/t && echo hi > /root/t/open && chmod 666 /root/t/open"
                " && truncate -s 64M /root/t/sparse && printf end >> /root/t/sparse", check=0)
    assert r.returncode == 0, describe(r)
    # A destination that is a symlink (a guest could plant ./results in the workspace).
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, tmp_path / "results")
    r = vm.cp_out("/root/t", to=tmp_path / "results", timeout=120)
    lines = r.stderr.decode().strip().splitlines()
    assert r.returncode != 0, describe(r)
    assert len(lines) == 1, describe(r)
    assert "symlink" in lines[0], describe(r)
    assert list(elsewhere.iterdir()) == []
    # An existing directory keeps its mode; what is created gets the umask (pen inherits 022).
    dest = tmp_path / "dest"
    dest.mkdir(mode=0o700)
    os.chmod(dest, 0o700)
    r = vm.cp_out("/root/t", to=dest, timeout=300)
    assert r.returncode == 0, describe(r)
    assert os.stat(dest).st_mode & 0o777 == 0o700
    assert os.stat(dest / "t").st_mode & 0o777 == 0o755
    assert os.stat(dest / "t" / "open").st_mode & 0o777 == 0o644
    st = os.stat(dest / "t" / "sparse")
    assert st.st_size == (64 << 20) + 3, st
    assert st.st_blocks * 512 < (1 << 20), st
