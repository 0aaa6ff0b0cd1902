#!/usr/bin/env python3
"""The fault-injection run: the VM tests that inject faults (signals, kills, races, planted
symlinks, full disks), marked @pytest.mark.fault, each fault repeated PEN_FAULT_RUNS times
(default 5), with their counts (runs, survivors, data lost) collected into bench/faults.json and
printed as a table. A test that fails still writes its counts up to the failed run, marked with
the failure.
Run through `make faults` (after `make build image`)."""
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def main():
    runs = os.environ.get("PEN_FAULT_RUNS", "5")
    with tempfile.NamedTemporaryFile(prefix="pen-faults-", suffix=".jsonl", delete=False) as f:
        report = f.name
    env = dict(os.environ, PEN_FAULT_RUNS=runs, PEN_FAULT_REPORT=report)
    started = time.time()
    # The fault tests are those marked @pytest.mark.fault, beside the feature each breaks.
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "fault", "Tests/vm"],
                            cwd=ROOT, env=env)
    rows = [json.loads(line) for line in open(report)]
    os.unlink(report)
    totals = {k: sum(r[k] for r in rows) for k in ("runs", "survivors", "data_lost")}
    failed = [r for r in rows if r.get("failed")]
    out = {"fault_runs": int(runs), "minutes": round((time.time() - started) / 60, 1),
           "pytest_exit": result.returncode, "faults": rows, "totals": totals}
    (ROOT / "bench" / "faults.json").write_text(json.dumps(out, indent=2) + "\n")
    print_table(rows, totals)
    for r in failed:
        print(f"FAILED {r['fault']}: {r['failed']}")
    if result.returncode != 0 and not failed:
        # A test failed before its counts began (a fixture, the base image): it has no row.
        print("pytest failed outside any fault's counts: see its output above")
    print(f"({out['minutes']} min; pytest exit {result.returncode}; written to bench/faults.json)")
    return result.returncode


def print_table(rows, totals):
    """One row per fault; a fault whose test failed is marked, with the counts up to the failure."""
    width = max([len(r["fault"]) for r in rows] + [len("total")])
    print(f"\n{'fault':<{width}}  runs  survivors  data lost")
    for r in rows:
        mark = "  FAILED" if r.get("failed") else ""
        print(f"{r['fault']:<{width}}  {r['runs']:>4}  {r['survivors']:>9}  {r['data_lost']:>9}{mark}")
    print(f"{'total':<{width}}  {totals['runs']:>4}  {totals['survivors']:>9}  {totals['data_lost']:>9}")

if __name__ == "__main__":
    sys.exit(main())
