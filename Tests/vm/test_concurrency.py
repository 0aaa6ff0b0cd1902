"""Many pens at once: exactly one session per VM, the rest refused with a message."""
import subprocess
import time

from conftest import FAULT_RUNS, PEN, fsck_clean, record_faults


def test_twenty_parallel_shells_over_five_names(pen):
    names = [f"c{i}" for i in range(5)]
    for run in range(FAULT_RUNS):
        procs = []
        for round_ in range(4):
            for name in names:
                procs.append((name, subprocess.Popen(
                    [PEN, "shell", name, "--memory", "512M", "--cpus", "1", "--", "sh", "-c", "sleep 3; echo ran"],
                    env=pen.env, cwd=pen.home, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)))
        results = {}
        for name, p in procs:
            out, err = p.communicate(timeout=600)
            results.setdefault(name, []).append((p.returncode, out, err))
        for name in names:
            ran = [r for r in results[name] if r[0] == 0]
            refused = [r for r in results[name] if r[0] != 0]
            assert len(ran) == 1 and ran[0][1] == b"ran\n", (name, results[name])
            for code, _, err in refused:
                assert code == 125 and b"already running" in err, (name, code, err)
            ok, report = fsck_clean(pen.disk(name))
            assert ok, report
    record_faults("20 parallel pen shell over 5 names", 20 * FAULT_RUNS, 20 * FAULT_RUNS, 0,
                  ran_per_name=1, refused_per_name=3)
