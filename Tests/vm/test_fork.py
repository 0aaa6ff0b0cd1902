"""`pen vm fork SRC NEW` of a stopped or suspended VM: NEW boots SRC's disk as a machine of its
own (its hostname is its name), and from then on the two disks are apart."""
from conftest import describe


def test_a_fork_has_its_sources_disk_and_is_its_own_machine(pen):
    src = pen.vm("src")
    src.shell("sh", "-c", "echo from-src > /root/f; sync", check=0)
    r = pen.run("vm", "fork", "src", "dst")
    assert r.returncode == 0 and b"VM 'dst' forked from 'src'" in r.stderr, describe(r)
    r = pen.vm("dst").shell("sh", "-c", "cat /root/f; hostname; echo only-dst > /root/g", check=0)
    assert r.stdout == b"from-src\ndst\n", describe(r)
    r = src.shell("sh", "-c", "cat /root/f; test -e /root/g && echo shared || echo apart", check=0)
    assert r.stdout == b"from-src\napart\n", describe(r)


def test_a_running_source_or_a_taken_name_is_refused(pen):
    src = pen.vm("busy")
    src.start()
    try:
        r = pen.run("vm", "fork", "busy", "copy")
        assert r.returncode != 0 and b"VM 'busy' is running" in r.stderr and b"pen vm suspend busy" in r.stderr, describe(r)
        assert not (pen.home / "vms" / "copy").exists()
    finally:
        src.stop()
    pen.vm("taken").shell("true", check=0)
    r = pen.run("vm", "fork", "busy", "taken")
    assert r.returncode != 0 and b"VM 'taken' exists already" in r.stderr, describe(r)


def test_a_suspended_source_gives_its_disk_not_its_processes(pen):
    src = pen.vm("sleepy")
    src.start()
    src.exec("sh", "-c", "echo kept > /root/f; sync", check=0)
    assert pen.run("vm", "suspend", "sleepy").returncode == 0
    r = pen.run("vm", "fork", "sleepy", "twin")
    assert r.returncode == 0 and b"has its disk, not its running processes" in r.stderr, describe(r)
    assert pen.vm("twin").shell("cat", "/root/f", check=0).stdout == b"kept\n"
    assert (src.path / "suspended").exists()  # the source's saved machine is still its own

