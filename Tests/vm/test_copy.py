"""`pen cp` out of a VM whose tar is hostile: crafted archives with names that split on '/'
only as bytes, a destination that is a planted symlink, modes and holes on the host."""
import os

from conftest import describe
from test_running import start


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


def guest_tar_sends(pen, vm, tmp_path, data):
    """Puts `data` in the VM and a tar first on its PATH that sends it whatever it is asked."""
    pen.run("exec", vm, "--", "rm", "-f", "/usr/local/sbin/tar", check=0)  # the real tar, to copy in
    (tmp_path / "evil.tar").write_bytes(data)
    r = pen.run("cp", str(tmp_path / "evil.tar"), f"{vm}:/root/evil.tar", timeout=60)
    assert r.returncode == 0, describe(r)
    pen.run("exec", vm, "--", "sh", "-c",
            "printf '#!/bin/sh\\ncat /root/evil.tar\\n' > /usr/local/sbin/tar; chmod +x /usr/local/sbin/tar", check=0)


def test_pen_cp_splits_names_on_the_slash_byte_so_unicode_cannot_carry_a_file_out(pen, tmp_path):
    start(pen, "uni")
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
        guest_tar_sends(pen, "uni", tmp_path, data)
        dest = tmp_path / f"dest-{case}"
        dest.mkdir()
        r = pen.run("cp", "uni:/root/x", str(dest), timeout=60)
        lines = r.stderr.decode().strip().splitlines()
        assert r.returncode != 0 and any("refused" in l for l in lines), (case, describe(r))
        assert b"\x1b" not in r.stderr and b"\x07" not in r.stderr, describe(r)
        assert list(outside.iterdir()) == [], case
        assert not (tmp_path / "escaped").exists()
    pen.run("exec", "uni", "--", "rm", "/usr/local/sbin/tar", check=0)


def test_pen_cp_out_keeps_holes_applies_the_umask_and_refuses_a_planted_destination_link(pen, tmp_path):
    start(pen, "modes")
    os.umask(0o022)
    r = pen.run("exec", "modes", "--", "sh", "-c",
                "mkdir -m 777 /root/t && echo hi > /root/t/open && chmod 666 /root/t/open"
                " && truncate -s 64M /root/t/sparse && printf end >> /root/t/sparse", check=0)
    assert r.returncode == 0, describe(r)
    # A destination that is a symlink (a guest could plant ./results in the workspace).
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, tmp_path / "results")
    r = pen.run("cp", "modes:/root/t", str(tmp_path / "results"), timeout=120)
    lines = r.stderr.decode().strip().splitlines()
    assert r.returncode != 0 and len(lines) == 1 and "symlink" in lines[0], describe(r)
    assert list(elsewhere.iterdir()) == []
    # An existing directory keeps its mode; what is created gets the umask (pen inherits 022).
    dest = tmp_path / "dest"
    dest.mkdir(mode=0o700)
    os.chmod(dest, 0o700)
    r = pen.run("cp", "modes:/root/t", str(dest), timeout=300)
    assert r.returncode == 0, describe(r)
    assert os.stat(dest).st_mode & 0o777 == 0o700
    assert os.stat(dest / "t").st_mode & 0o777 == 0o755
    assert os.stat(dest / "t" / "open").st_mode & 0o777 == 0o644
    st = os.stat(dest / "t" / "sparse")
    assert st.st_size == (64 << 20) + 3 and st.st_blocks * 512 < (1 << 20), st
