"""Many pens at once: every session runs, and each VM boots once for the sessions that overlap."""
import subprocess

from conftest import FAULT_RUNS, PEN, fault_counts, fsck_clean


def test_twenty_parallel_shells_over_five_names(pen):
    names = [f"c{i}" for i in range(5)]
    with fault_counts("20 parallel pen shell over 5 names") as faults:
        for run in range(FAULT_RUNS):
            procs = []
            for round_ in range(4):
                for name in names:
                    procs.append((name, subprocess.Popen(
                        [PEN, "shell", name, "--memory", "512M", "--cpus", "1", "--", "sh", "-c",
                         "cat /proc/sys/kernel/random/boot_id; sleep 3"],
                        env=pen.env, cwd=pen.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE)))
            results = {}
            for name, p in procs:
                out, err = p.communicate(timeout=900)
                results.setdefault(name, []).append((p.returncode, out, err))
            # A run per shell: it ran its command in a VM of its name, whose disk is clean after.
            boots = []
            for name in names:
                ok, report = fsck_clean(pen.disk(name))
                for code, out, err in results[name]:
                    with faults.run():
                        assert code == 0 and len(out) == 37, (name, code, out, err)
                        assert ok, report
                boots.append(len({out for _, out, _ in results[name]}))
            # Racing starters meet at the VM's lock: the ones that lose attach to the winner's boot.
            assert sum(boots) <= len(names) + 2, boots
