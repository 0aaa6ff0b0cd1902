#!/usr/bin/env python3
"""pen's benchmarks. Every figure is the median of several runs and sits beside a baseline
measured in the same run, as a ratio (value / baseline; lower is better). Writes
bench/results.json and prints a table. Run through `make bench` (after `make build`)."""
import json
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
PEN = os.environ.get("PEN_BIN", str(ROOT / "out/bin/pen"))
IMAGES = os.environ.get("PEN_BENCH_IMAGES", str(ROOT / ".build-images"))
RUNS = max(5, int(os.environ.get("PEN_BENCH_RUNS", "5")))
TIMEOUT = 300


def median_time(fn, runs=RUNS):
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples), samples


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT, **kw)
    if r.returncode != 0:
        sys.exit(f"bench: {' '.join(map(str, cmd))} failed ({r.returncode}): {r.stderr.decode(errors='replace')[-2000:]}")
    return r


class Bench:
    def __init__(self, home):
        self.home = pathlib.Path(home)
        self.env = dict(os.environ, PEN_HOME=str(self.home), PEN_IMAGES=IMAGES)
        self.results = []
        self.notes = {}

    def pen(self, *args, env=None):
        return run([PEN, *args], env=dict(self.env, **(env or {})), cwd=self.home, stdin=subprocess.DEVNULL)

    def add(self, name, value, unit, baseline, baseline_value):
        self.results.append({"name": name, "value": round(value, 6), "unit": unit, "baseline": baseline,
                             "baseline_value": round(baseline_value, 6),
                             "ratio": round(value / baseline_value, 3) if baseline_value else None})

    # --- boot --------------------------------------------------------------------------------
    def bare_qemu(self, initrd, accel):
        """A bare QEMU: pen's kernel, machine type, accelerator and kernel command line, the given
        initrd, and an init told to power off at once (PEN_POWEROFF=1)."""
        manifest = json.loads((pathlib.Path(IMAGES) / "base/manifest.json").read_text())
        cmdline = "console=ttyS0 loglevel=4 panic=-1 rdinit=/init SWIFT_DETERMINISTIC_HASHING=1 PEN_POWEROFF=1"
        if accel == "tcg":
            mhz = next(float(l.split(":")[1]) for l in open("/proc/cpuinfo") if l.startswith("cpu MHz"))
            cmdline += f" tsc_early_khz={int(mhz * 1000)} tsc=reliable"
        return ["qemu-system-x86_64", "-M", "microvm", "-accel", accel, "-smp", str(os.cpu_count()), "-m", "2048M",
                "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
                "-kernel", str(pathlib.Path(IMAGES) / "base/vmlinux"), "-initrd", str(initrd), "-append", cmdline,
                "-serial", "null"], manifest

    def boot(self):
        self.pen("image", "base")
        first = self.pen("shell", "b", "--", "true")  # creates the VM; warm runs follow
        accel = "tcg" if b"TCG" in first.stderr else "kvm"
        self.notes["accelerator"] = accel
        stages = {}

        def pen_boot():
            r = self.pen("shell", "b", "--", "true", env={"PEN_TIMINGS": "1"})
            line = next(l for l in r.stderr.decode().splitlines() if "timings:" in l)
            for name, us in re.findall(r"(\w+)=(\d+)us", line):
                stages.setdefault(name, []).append(int(us) / 1e6)

        pen_s, _ = median_time(pen_boot)
        base_dir = pathlib.Path(IMAGES) / "base"
        bare_cmd, manifest = self.bare_qemu(base_dir / "initrd.img", accel)
        bare_s, _ = median_time(lambda: run(bare_cmd))
        minimal_cmd, _ = self.bare_qemu(base_dir / "init-layer.cpio.zst", accel)
        minimal_s, _ = median_time(lambda: run(minimal_cmd))
        self.add("boot_to_command", pen_s, "s", "bare qemu, same kernel/initrd/accel, init powers off at once", bare_s)
        self.add("boot_floor", bare_s, "s", "bare qemu, minimal initrd (just the init)", minimal_s)
        self.notes["boot_breakdown_s"] = {k: round(statistics.median(v), 4) for k, v in stages.items()}
        self.notes["initrd_bytes"] = manifest["initrdBytes"]
        self.notes["initrd_unpacked_bytes"] = manifest["unpackedBytes"]
        self.memory()

    def memory(self):
        """QEMU's resident size once the guest is up (base image)."""
        proc = subprocess.Popen([PEN, "shell", "b", "--", "sh", "-c", "echo up; sleep 4"], env=self.env, cwd=self.home,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        proc.stdout.readline()
        time.sleep(1)
        rss = 0
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                args = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
                if b"pen-b" in args and b"qemu-system" in args[0]:
                    rss = next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")) * 1024
            except (OSError, StopIteration):
                pass
        proc.wait(timeout=TIMEOUT)
        self.notes["qemu_rss_bytes_after_boot"] = rss

    # --- disks and images --------------------------------------------------------------------------
    def overlay(self, work):
        size = 10 << 30
        pen_file, mkfs_file = work / "pen.img", work / "mkfs.img"

        in_process = []

        def pen_create():
            pen_file.unlink(missing_ok=True)
            in_process.append(float(self.pen("bench-tool", "overlay", str(pen_file), "10G").stdout))

        def mkfs_create():
            mkfs_file.unlink(missing_ok=True)
            with open(mkfs_file, "wb") as f:
                f.truncate(size)
            run(["mkfs.ext4", "-F", "-q", str(mkfs_file)])

        process_s, _ = median_time(pen_create)
        mkfs_s, _ = median_time(mkfs_create)
        # pen creates the disk inside `pen shell`; its own process start is not part of that cost.
        self.add("overlay_create", statistics.median(in_process), "s", "mkfs.ext4 -F -q on a 10G sparse file (process)", mkfs_s)
        self.notes["overlay_create_pen_whole_process_s"] = round(process_s, 4)
        self.notes["overlay_allocated_bytes"] = {"pen": os.stat(pen_file).st_blocks * 512,
                                                 "mkfs.ext4": os.stat(mkfs_file).st_blocks * 512}

    def pack(self, work):
        source = pathlib.Path(IMAGES) / "base/rootfs.cpio.zst"
        tree = work / "tree"
        tree.mkdir()
        subprocess.run(f"zstd -dc '{source}' | cpio -idm --quiet", shell=True, cwd=tree, check=True, timeout=TIMEOUT)
        out = work / "pen-initrd.img"
        gz = work / "baseline.cpio.gz"

        def pen_pack():
            out.unlink(missing_ok=True)
            self.pen("bench-tool", "pack", str(source), str(out))

        pen_s, _ = median_time(pen_pack)
        gz_s, _ = median_time(lambda: subprocess.run(f"find . | cpio -o -H newc --quiet | gzip -6 > '{gz}'",
                                                     shell=True, cwd=tree, check=True, timeout=TIMEOUT))
        self.add("initrd_pack", pen_s, "s", "find . | cpio -o -H newc | gzip -6 (the original tool)", gz_s)
        self.notes["initrd_pack_bytes"] = {"pen (zstd -3)": out.stat().st_size, "cpio | gzip -6": gz.stat().st_size}

    def cache_hit(self, work):
        """How long `pen shell --profile P` takes to decide P's image is fresh, against hashing the
        image file once (the decision must not grow with the image)."""
        profiles = self.home / "profiles"
        profiles.mkdir(exist_ok=True)
        (profiles / "hit.toml").write_text('build = "echo built > /etc/bench-marker"\n')
        self.pen("profile", "build", "hit")
        decisions = []

        def boot():
            r = self.pen("shell", "h", "--profile", "hit", "--", "true", env={"PEN_TIMINGS": "1"})
            decisions.append(int(re.search(rb"image_decision=(\d+)us", r.stderr).group(1)) / 1e6)

        median_time(boot)
        initrd = next((pathlib.Path(IMAGES) / "profiles/hit").glob("*/initrd.img"))
        hash_s, _ = median_time(lambda: run(["sha256sum", str(initrd)]))
        self.add("cache_hit_decision", statistics.median(decisions), "s", "sha256sum of the image once", hash_s)
        self.notes["profile_image_bytes"] = initrd.stat().st_size


def main():
    with tempfile.TemporaryDirectory(prefix="pen-bench-") as tmp:
        tmp = pathlib.Path(tmp)
        bench = Bench(tmp / "home")
        bench.home.mkdir()
        bench.boot()
        bench.overlay(tmp)
        bench.pack(tmp)
        bench.cache_hit(tmp)
    out = {"date": time.strftime("%Y-%m-%d"), "runs": RUNS, "machine": machine(), "results": bench.results, "notes": bench.notes}
    (ROOT / "bench/results.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"{'name':<20} {'value':>10} {'baseline':>10} {'ratio':>7}  baseline")
    for r in bench.results:
        print(f"{r['name']:<20} {r['value']:>9.3f}{r['unit']} {r['baseline_value']:>9.3f}{r['unit']} {r['ratio']:>7}  {r['baseline']}")
    for k, v in bench.notes.items():
        print(f"{k}: {v}")


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next((int(l.split()[1]) // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_mib": mem, "kernel": os.uname().release}


if __name__ == "__main__":
    main()
