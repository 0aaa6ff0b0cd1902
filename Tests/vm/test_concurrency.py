"""Many pens at once: every session runs, and each VM boots once for the sessions that overlap;
and `pen vm rm` racing `pen shell` on one name: the VM is always whole or entirely gone."""
import json
import time

import pytest

from conftest import FAULT_RUNS, describe, fault_counts, fsck_clean


@pytest.mark.fault
def test_twenty_parallel_shells_over_five_names(pen):
    names = [f"c{i}" for i in range(5)]
    with fault_counts("20 parallel pen shell over 5 names") as faults:
        for run in range(FAULT_RUNS):
            procs = []
            for round_ in range(4):
                for name in names:
                    procs.append((name, pen.vm(name).spawn_shell(
                        "sh", "-c", "cat /proc/sys/kernel/random/boot_id; sleep 3",
                        flags=["--memory", "512M", "--cpus", "1"])))
            results = {}
            for name, p in procs:
                out, err = p.communicate(timeout=900)
                results.setdefault(name, []).append((p.returncode, out, err))
            # A run per shell: it ran its command in a VM of its name, whose disk is clean after.
            boots = []
            for name in names:
                ok, report = fsck_clean(pen.vm(name).disk)
                for code, out, err in results[name]:
                    with faults.run():
                        assert code == 0, (name, code, out, err)
                        assert len(out) == 37, (name, code, out, err)
                        assert ok, report
                boots.append(len({out for _, out, _ in results[name]}))
            # Racing starters meet at the VM's lock: the ones that lose attach to the winner's boot.
            assert sum(boots) <= len(names) + 2, boots


# When `vm rm` starts relative to `pen shell` (seconds; negative: rm first). pen takes the
# VM's lock within tens of milliseconds of starting, so these straddle that window.
OFFSETS = [-0.02, 0.0, 0.01, 0.02, 0.04, 0.07, 0.1, 0.2]


def vm_state(pen, name):
    """'gone', or 'whole' after checking the record, the lock and a clean disk; else fails."""
    vms = pen.home / "vms"
    leftovers = [p.name for p in vms.iterdir() if p.name.startswith(".")] if vms.exists() else []
    assert leftovers == [], f"half-deleted leftovers: {leftovers}"
    d = vms / name
    if not d.exists():
        return "gone"
    files = sorted(p.name for p in d.iterdir())
    assert {"vm.json", "lock", "overlay.img"} <= set(files), f"half a VM: {files}"
    assert json.loads((d / "vm.json").read_text())["name"] == name
    ok, report = fsck_clean(d / "overlay.img")
    assert ok, report
    return "whole"


@pytest.mark.fault
def test_vm_rm_racing_pen_shell_never_leaves_a_half_deleted_vm(pen):
    outcomes = {}
    has_data = False
    with fault_counts("vm rm racing pen shell", outcomes=outcomes) as faults:
        for i in range(len(OFFSETS) * FAULT_RUNS):
            offset = OFFSETS[i % len(OFFSETS)]
            if not has_data:  # a VM with data in it at the start of every race
                pen.vm("race").shell("sh", "-c", "echo data > /root/d; sync", check=0)
            with faults.run():
                has_data = race(pen, offset, faults, outcomes)
    print("outcomes:", outcomes)


def race(pen, offset, faults, outcomes):
    """One race of `vm rm` and `pen shell`; checks its outcome and says whether the VM kept its data."""
    rm_first = offset < 0
    if rm_first:
        rm = pen.spawn("vm", "rm", "race", stdin=None)
        time.sleep(-offset)
    shell = pen.vm("race").spawn_shell("cat", "/root/d")
    if not rm_first:
        time.sleep(offset)
        rm = pen.spawn("vm", "rm", "race", stdin=None)
    rm_out, rm_err = rm.communicate(timeout=300)
    out, err = shell.communicate(timeout=300)
    state = vm_state(pen, "race")
    context = (offset, rm.returncode, rm_err, shell.returncode, out, err, state)
    if rm.returncode == 0:
        # Removed: the shell either never got the VM (refused with a message, or it made a
        # fresh one, where /root/d does not exist) — it never read the removed VM's data.
        assert out != b"data\n", context
        if state == "whole":
            assert shell.returncode == 1, context
            assert b"No such file" in err, context
            outcome = "removed, then the shell made a fresh VM"
        else:
            assert shell.returncode == 125 and b"already running" in err or b"was removed while" in err, context
            outcome = "removed, the shell refused"
    else:
        # Refused: the VM was in use; it is whole and kept its data.
        assert b"is running: stop it first" in rm_err, context
        if state != "whole" or shell.returncode != 125 and out != b"data\n":
            faults.lost()  # a VM that was not removed lost its data (or went)
        assert state == "whole", context
        assert shell.returncode == 0, context
        assert out == b"data\n", context
        outcome = "rm refused, shell ran"
    outcomes[outcome] = outcomes.get(outcome, 0) + 1
    if state == "whole":
        r = pen.vm("race").shell("true")
        assert r.returncode == 0, describe(r)
    return outcome == "rm refused, shell ran"
