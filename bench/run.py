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
import threading
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


def tsc_khz():
    return int(next(float(l.split(":")[1]) for l in open("/proc/cpuinfo") if l.startswith("cpu MHz")) * 1000)


def qemu_pids(name):
    """pids of the QEMU processes started with `-name NAME` (pen names its VMs pen-VM)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            args = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if args and b"qemu-system" in args[0] and name.encode() in args:
            found.append(pid)
    return found


def process_cpu_seconds(pid):
    """utime + stime of process `pid` (threads that ended included), in seconds."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def qemu_memory(name):
    """VmRSS, RssAnon, RssFile and VmHWM (bytes) of the QEMU named `name`."""
    for pid in qemu_pids(name):
        fields = {}
        for line in open(f"/proc/{pid}/status"):
            key = line.split(":")[0]
            if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                fields[key] = int(line.split()[1]) * 1024
        return fields
    raise SystemExit(f"bench: no QEMU named {name}")


class PeakMemory:
    """The largest VmHWM seen (sampled every 20 ms) of the QEMU named `name` while the block runs."""
    def __init__(self, name):
        self.name, self.bytes = name, 0
        self.stop = threading.Event()

    def sample(self):
        while not self.stop.is_set():
            for pid in qemu_pids(self.name):
                try:
                    hwm = next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("VmHWM")) * 1024
                    self.bytes = max(self.bytes, hwm)
                except (OSError, StopIteration):
                    pass
            time.sleep(0.02)

    def __enter__(self):
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


# In the guest: the whole root read through tar, cold, from the root image; then /usr copied to
# a tmpfs and read again from there (RAM, what the initramfs root was). Prints: seconds cold,
# seconds from RAM (scaled to the whole root's bytes), bytes.
GUEST_READ = r"""
now() { date +%s.%N; }
t0=$(now); total=$(tar -C /run/pen-lower -cf - . | wc -c); t1=$(now)
mkdir -p /dev/shm/copy && cp -a /run/pen-lower/usr /dev/shm/copy/
t2=$(now); part=$(tar -C /dev/shm/copy -cf - . | wc -c); t3=$(now)
rm -rf /dev/shm/copy
awk -v a=$t0 -v b=$t1 -v c=$t2 -v d=$t3 -v n=$total -v p=$part 'BEGIN { printf "%.3f %.3f %d\n", b - a, (d - c) * n / p, n }'
"""


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT, **kw)
    if r.returncode != 0:
        sys.exit(f"bench: {' '.join(map(str, cmd))} failed ({r.returncode}): {r.stderr.decode(errors='replace')[-2000:]}")
    return r


# A server in the test world's namespace (Tests/vm/networld.py): port 9000 sends SIZE bytes and
# closes, port 9001 one byte. Reached at the same address through pen's relay (`public`) and passt
# (`full`), so the two paths are compared on one server in one run.
NET_SERVER = r"""
import socket, sys, threading
size = int(sys.argv[1])
chunk = b"x" * (1 << 20)
def serve(port, total):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(64)
    while True:
        c, _ = s.accept()
        left = total
        try:
            while left > 0:
                n = c.send(chunk[:min(left, len(chunk))]); left -= n
        except OSError:
            pass
        c.close()
threading.Thread(target=serve, args=(9001, 1), daemon=True).start()
print("ready", flush=True)
serve(9000, size)
"""

# In the guest: the time a download of the server's bytes takes, then 20 connections' time to
# their first byte, in seconds, one per line (bash's /dev/tcp; the clock read in the guest).
NET_PROBE = ("t0=$(date +%s%N); exec 3<>/dev/tcp/{addr}/9000; cat <&3 | wc -c; t1=$(date +%s%N); exec 3<&-; "
             "echo $(( (t1 - t0) / 1000 )); for i in $(seq 20); do a=$(date +%s%N); exec 4<>/dev/tcp/{addr}/9001; "
             "head -c 1 <&4 >/dev/null; b=$(date +%s%N); exec 4<&-; echo $(( (b - a) / 1000 )); done")


class Bench:
    def __init__(self, home):
        self.home = pathlib.Path(home)
        self.env = dict(os.environ, PEN_HOME=str(self.home), PEN_IMAGES=IMAGES)
        # The default workspace: beside PEN_HOME (pen refuses to share its own state).
        self.work = self.home.with_name(self.home.name + "-work")
        self.work.mkdir(exist_ok=True)
        self.results = []
        self.notes = {}

    def pen(self, *args, env=None):
        return run([PEN, *args], env=dict(self.env, **(env or {})), cwd=self.work, stdin=subprocess.DEVNULL)

    def add(self, name, value, unit, baseline, baseline_value):
        self.results.append({"name": name, "value": round(value, 6), "unit": unit, "baseline": baseline,
                             "baseline_value": round(baseline_value, 6),
                             "ratio": round(value / baseline_value, 3) if baseline_value else None})

    # --- boot --------------------------------------------------------------------------------
    def kernel_arguments(self, accel, before_plan14=False):
        """pen's guest kernel command line (as `pen` builds it), told to power off at /init;
        `before_plan14`: as it was before plan 14 (proactive compaction on)."""
        args = ["console=ttyS0", "loglevel=4", "panic=-1", "rdinit=/init", "SWIFT_DETERMINISTIC_HASHING=1",
                "cryptomgr.notests", "initcall_blacklist=crypto_kdf108_init", "PEN_POWEROFF=1"]
        if not before_plan14:
            args.append("sysctl.vm.compaction_proactiveness=0")
        if accel == "tcg":
            args += [f"tsc_early_khz={tsc_khz()}", "tsc=reliable"]
        return " ".join(args)

    def bare_qemu(self, initrd, accel, name="bare", before_plan14=False):
        """A bare QEMU: pen's kernel, machine type, CPU, accelerator and kernel command line, the
        given initrd, and an init told to power off at once (PEN_POWEROFF=1). `before_plan14`: the
        CPU and command line pen used before plan 14 (TCG's default CPU, without ARAT)."""
        cpu = ["-cpu", "host"] if accel == "kvm" else [] if before_plan14 else ["-cpu", "qemu64,+arat"]
        return ["qemu-system-x86_64", "-name", name, "-M", "microvm", "-accel", accel, *cpu, "-smp", str(os.cpu_count()),
                "-m", "2048M", "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
                "-kernel", str(pathlib.Path(IMAGES) / "base/vmlinux"), "-initrd", str(initrd),
                "-append", self.kernel_arguments(accel, before_plan14), "-serial", "null"]

    def boot(self):
        self.pen("image", "base")
        first = self.pen("shell", "b", "--", "true")  # creates the VM and saves its boot snapshot
        accel = "tcg" if b"TCG" in first.stderr else "kvm"
        self.notes["accelerator"] = accel

        def timed_boots(*flags):
            stages, peaks = {}, []

            def one():
                with PeakMemory("pen-b") as peak:
                    r = self.pen("shell", "b", *flags, "--", "true", env={"PEN_TIMINGS": "1"})
                peaks.append(peak.bytes)
                line = next(l for l in r.stderr.decode().splitlines() if "timings:" in l)
                for name, us in re.findall(r"(\w+)=(\d+)us", line):
                    stages.setdefault(name, []).append(int(us) / 1e6)

            seconds, _ = median_time(one)
            return seconds, {k: round(statistics.median(v), 4) for k, v in stages.items()}, statistics.median(peaks)

        pen_s, stages, peak = timed_boots("--cold")
        restore_s, restore_stages, restore_peak = timed_boots()
        peaks = [peak]
        base_dir = pathlib.Path(IMAGES) / "base"
        floor_peaks = []

        def floor():
            with PeakMemory("floor") as peak:
                run(self.bare_qemu(base_dir / "init-layer.cpio.zst", accel, name="floor"))
            floor_peaks.append(peak.bytes)

        floor_s, _ = median_time(floor)
        self.add("boot_to_command", pen_s, "s", "bare qemu, same kernel/accel, an initrd of just the init, which powers off at once", floor_s)
        self.add("boot_peak_memory", statistics.median(peaks), "bytes", "that bare qemu's peak resident memory", statistics.median(floor_peaks))
        self.add("restore_to_command", restore_s, "s", "boot_to_command: a cold boot (--cold) of the same VM", pen_s)
        self.add("restore_peak_memory", restore_peak, "bytes", "boot_peak_memory: the same VM booted cold", peak)
        self.notes["boot_breakdown_s"] = stages
        self.notes["restore_breakdown_s"] = restore_stages
        snapshots = sorted((pathlib.Path(IMAGES) / "snapshots").glob("*/snapshot.json"), key=lambda p: p.stat().st_mtime)
        if snapshots:
            record = json.loads(snapshots[-1].read_text())
            self.notes["boot_snapshot"] = {"bytes": record["bytes"], "save_seconds": record["saveSeconds"]}
        self.restore_s = restore_s
        manifest = json.loads((base_dir / "manifest.json").read_text())
        self.notes["base_image"] = {"root_image_bytes": manifest["root"]["bytes"], "root_files_bytes": manifest["root"]["unpackedBytes"],
                                    "initrd_bytes": manifest["initrdBytes"], "kernel_bytes": manifest["kernelBytes"],
                                    "build_seconds": manifest["buildSeconds"]}
        self.peer(accel, pen_s, statistics.median(peaks))
        self.memory()

    def peer(self, accel, pen_s, pen_peak):
        """virtme-ng (PyPI, in its own virtual environment) booting the same vmlinux under the same
        QEMU and accelerator to run `true`, the way ../shared/notes/peers.md records it."""
        venv = ROOT / ".bench-venv"
        if not (venv / "bin/vng").exists():
            run([sys.executable, "-m", "venv", str(venv)])
            run([str(venv / "bin/pip"), "install", "-q", "virtme-ng"])
        version = run([str(venv / "bin/vng"), "--version"]).stdout.decode().strip()
        kernel_root = pathlib.Path(tempfile.mkdtemp(prefix="pen-bench-vng-"))
        try:
            deb = next((pathlib.Path(IMAGES) / "kernel").glob("*.deb"))
            run(["dpkg-deb", "-x", str(deb), str(kernel_root)])  # lib/modules for vng's initramfs
            release = json.loads((pathlib.Path(IMAGES) / "base/manifest.json").read_text())["kernelRelease"]
            vmlinux = kernel_root / "boot" / f"vmlinux-{release}"
            shutil.copy(pathlib.Path(IMAGES) / "base/vmlinux", vmlinux)  # the very kernel pen boots
            command = [str(venv / "bin/vng"), "--run", str(vmlinux), "--cpus", str(os.cpu_count()), "--memory", "2G",
                       "--force-9p", "--append", f"tsc_early_khz={tsc_khz()} tsc=reliable", "--", "true"]
            if accel == "tcg":
                command.insert(3, "--disable-kvm")
            env = dict(os.environ, PATH=f"{venv / 'bin'}:{os.environ['PATH']}")
            peaks, statuses = [], []

            def vng():
                with PeakMemory("virtme-ng") as peak:
                    r = subprocess.run(command, cwd=kernel_root, env=env, capture_output=True, timeout=TIMEOUT)
                peaks.append(peak.bytes)
                statuses.append(r.returncode)

            vng_s, _ = median_time(vng)
        finally:
            shutil.rmtree(kernel_root, ignore_errors=True)
        self.add("peer_boot_to_command", pen_s, "s", f"virtme-ng {version}: {' '.join(command[1:])}", vng_s)
        self.add("peer_restore_to_command", self.restore_s, "s", "the same virtme-ng boot", vng_s)
        self.add("peer_peak_memory", pen_peak, "bytes", "virtme-ng's QEMU peak resident memory, same command", statistics.median(peaks))
        # Without udev on the host, vng's guest finds no named virtio ports: it runs the command on
        # its console and cannot report the status (255); the command itself ran.
        self.notes["peer_exit_statuses"] = sorted(set(statuses))

    def memory(self):
        """QEMU's resident memory once the default profile's guest is up, and what free page
        reporting gives back after the guest used and freed 600 MB."""
        self.pen("vm", "start", "mem", "--cold")
        try:
            time.sleep(2)
            after_cold_boot = qemu_memory("pen-mem")
        finally:
            self.pen("vm", "stop", "mem")
        self.pen("vm", "start", "mem")  # the first restorable boot saves the snapshot (if `b`'s does not fit)
        self.pen("vm", "stop", "mem")
        self.pen("vm", "start", "mem")
        try:
            time.sleep(2)
            after_boot = qemu_memory("pen-mem")
            self.pen("exec", "mem", "--", "sh", "-c", "dd if=/dev/zero of=/dev/shm/burst bs=1M count=600 2>/dev/null; rm /dev/shm/burst")
            after_burst = qemu_memory("pen-mem")
            time.sleep(60)
            after_idle = qemu_memory("pen-mem")
        finally:
            self.pen("vm", "stop", "mem")
        floor = next(r["baseline_value"] for r in self.results if r["name"] == "boot_peak_memory")
        self.add("rss_after_boot", after_cold_boot["VmRSS"], "bytes", "bare qemu floor's peak (kernel + an init that powers off)", floor)
        self.add("rss_after_restore", after_boot["VmRSS"], "bytes", "rss_after_boot: the same VM booted cold", after_cold_boot["VmRSS"])
        self.add("rss_after_idle_minute", after_idle["VmRSS"], "bytes", "right after the guest freed 600 MB (before reporting)", after_burst["VmRSS"])
        self.notes["qemu_memory_bytes"] = {"after_cold_boot": after_cold_boot, "after_restore": after_boot,
                                           "after_600MB_burst": after_burst, "after_idle_minute": after_idle}

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

    def root_image(self, work):
        """The base root as pen writes it (EROFS, from a tar, no root, nothing extracted) beside
        mkfs.erofs on the extracted tree, and tar2sqfs (squashfs, zstd) from the same tar; then a
        guest reading the whole root: from the image (cold) and from RAM (what an initramfs gave)."""
        self.pen("vm", "start", "img")
        try:
            tar = work / "root.tar"
            with open(tar, "wb") as out:
                subprocess.run([PEN, "exec", "img", "--", "tar", "-C", "/run/pen-lower", "--numeric-owner", "-cf", "-", "."],
                               stdout=out, env=self.env, cwd=self.work, check=True, timeout=TIMEOUT)
            read = self.pen("exec", "img", "--", "sh", "-c", GUEST_READ).stdout.decode().split()
        finally:
            self.pen("vm", "stop", "img")
        image = work / "pen.erofs"

        def pen_write():
            image.unlink(missing_ok=True)
            self.pen("bench-tool", "root-image", str(tar), str(image))

        pen_s, _ = median_time(pen_write)
        tree = work / "tree"
        tree.mkdir()
        run(["tar", "-xpf", str(tar), "--numeric-owner", "-C", str(tree)])
        mkfs = work / "mkfs.erofs"
        sqfs = work / "root.sqfs"

        def mkfs_erofs():
            mkfs.unlink(missing_ok=True)
            run(["mkfs.erofs", "-T0", str(mkfs), str(tree)])

        def tar2sqfs():
            sqfs.unlink(missing_ok=True)
            run(["tar2sqfs", "-q", "-c", "zstd", "-j", "1", str(sqfs)], stdin=open(tar, "rb"))

        mkfs_s, _ = median_time(mkfs_erofs)
        sqfs_s, _ = median_time(tar2sqfs, runs=1)
        self.add("root_image_write", pen_s, "s", "mkfs.erofs -T0 of the same root, extracted", mkfs_s)
        self.notes["root_image"] = {"pen_erofs_bytes": image.stat().st_size, "mkfs_erofs_bytes": mkfs.stat().st_size,
                                    "tar2sqfs_zstd_bytes": sqfs.stat().st_size, "tar2sqfs_zstd_s": round(sqfs_s, 3),
                                    "tar_bytes": tar.stat().st_size}
        cold, ram, nbytes = float(read[0]), float(read[1]), int(read[2])
        self.add("guest_root_read", cold, "s", "the same tree read from guest RAM (tmpfs): what the initramfs root gave", ram)
        self.notes["guest_root_read_bytes"] = nbytes

    def profile_build(self):
        """A `jq` profile's image built from nothing: time and bytes, beside installing the same
        package with apt in a running VM (the work itself, without a builder VM or an image)."""
        profiles = self.home / "profiles"
        profiles.mkdir(exist_ok=True)
        (profiles / "jq.toml").write_text('packages = ["jq"]\n')
        t = time.perf_counter()
        self.pen("profile", "build", "jq", "--force")
        build_s = time.perf_counter() - t
        record = json.loads(next((pathlib.Path(IMAGES) / "profiles/jq").glob("*/build.json")).read_text())
        self.pen("vm", "start", "apt")
        try:
            t = time.perf_counter()
            self.pen("exec", "apt", "--", "sh", "-c", "apt-get update -q >/dev/null && apt-get install -y -q jq >/dev/null")
            apt_s = time.perf_counter() - t
        finally:
            self.pen("vm", "stop", "apt")
        self.add("profile_build_jq", build_s, "s", "apt-get update + install jq in a running VM", apt_s)
        self.notes["profile_image_jq"] = {"root_image_bytes": record["root"]["bytes"], "files_bytes": record["root"]["unpackedBytes"],
                                          "phase_seconds": record["phaseSeconds"]}

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
        image = next((pathlib.Path(IMAGES) / "profiles/hit").glob("*/root.erofs"))
        hash_s, _ = median_time(lambda: run(["sha256sum", str(image)]))
        self.add("cache_hit_decision", statistics.median(decisions), "s", "sha256sum of the image once", hash_s)
        self.notes["profile_image_bytes"] = image.stat().st_size


    # --- suspend and resume ----------------------------------------------------------------------
    def suspend(self, tmp):
        """`pen vm suspend` of a VM with a process running, and `pen exec` resuming it to a first
        command, beside stopping it and starting it again (a boot restored from its snapshot):
        what a suspend costs against what it keeps."""
        counter = "cd /root && setsid sh -c 'i=0; while :; do i=$((i+1)); echo $i > /root/n; sleep 1; done' </dev/null >/dev/null 2>&1 &"
        saves, resumes, sizes, restarts = [], [], [], []
        self.pen("vm", "start", "sus")
        try:
            for _ in range(RUNS):
                self.pen("exec", "sus", "--", "sh", "-c", counter)
                started = time.time()
                self.pen("vm", "suspend", "sus")
                saves.append(time.time() - started)
                rows = json.loads(self.pen("vm", "ls", "--json").stdout)
                sizes.append(next(row["suspended_bytes"] for row in rows if row["name"] == "sus"))
                started = time.time()
                self.pen("exec", "sus", "--", "true")
                resumes.append(time.time() - started)
            for _ in range(RUNS):
                self.pen("vm", "stop", "sus")
                started = time.time()
                self.pen("vm", "start", "sus")
                self.pen("exec", "sus", "--", "true")
                restarts.append(time.time() - started)
        finally:
            self.pen("vm", "stop", "sus")
        self.add("suspend_save", statistics.median(saves), "s", "stop + start again to a first command (restored boot, processes lost)",
                 statistics.median(restarts))
        self.add("resume_to_command", statistics.median(resumes), "s", "stop + start again to a first command (restored boot, processes lost)",
                 statistics.median(restarts))
        self.notes["suspend_state_bytes"] = statistics.median(sizes)


    # --- fork and checkpoints --------------------------------------------------------------------
    def fork(self, tmp):
        """`pen vm fork` of a stopped VM that wrote 256 MB into its 10 GiB disk, beside `cp
        --sparse=always` + `sync` of the same disk file (what a user would do by hand): the fork's
        cost must follow the data written, not the disk's size."""
        # Random bytes: zeros would let cp --sparse=always make holes of them and write nothing.
        self.pen("shell", "fsrc", "--", "sh", "-c", "dd if=/dev/urandom of=/root/big bs=1M count=256 status=none; sync")
        disk = self.home / "vms/fsrc/overlay.img"
        forks, copies = [], []
        for i in range(RUNS):
            started = time.time()
            self.pen("vm", "fork", "fsrc", f"f{i}")
            forks.append(time.time() - started)
            started = time.time()
            run(["cp", "--sparse=always", str(disk), str(tmp / f"copy{i}.img")])
            run(["sync", str(tmp / f"copy{i}.img")])  # durable, as the fork's copy is (fsync)
            copies.append(time.time() - started)
            (tmp / f"copy{i}.img").unlink()
            self.pen("vm", "rm", f"f{i}", "--force")
        self.add("fork_stopped", statistics.median(forks), "s", "cp --sparse=always + sync of the same 10 GiB disk (256 MB written)",
                 statistics.median(copies))
        self.notes["fork_disk_allocated_bytes"] = disk.stat().st_blocks * 512

    # --- running VMs ---------------------------------------------------------------------------
    def running(self, work):
        """Sessions on a running VM: exec latency and throughput, a session's stream, pen cp."""
        boot_s = next(r["value"] for r in self.results if r["name"] == "boot_to_command")
        self.pen("vm", "start", "r")
        try:
            latency, _ = median_time(lambda: self.pen("exec", "r", "--", "true"), runs=20)
            self.add("exec_latency", latency, "s", "boot_to_command of the same image (a session costs no boot)", boot_s)
            t = time.perf_counter()
            for _ in range(100):
                self.pen("exec", "r", "--", "true")
            hundred = time.perf_counter() - t
            self.add("exec_throughput", hundred, "s", "100 × boot_to_command: 100 commands with a boot each", 100 * boot_s)
            self.notes["exec_per_second"] = round(100 / hundred, 1)

            size = 256 << 20
            data = work / "stream.bin"
            with open(data, "wb") as f:
                for _ in range(size >> 20):
                    f.write(os.urandom(1 << 20))

            def stream(cmd):
                with open(data, "rb") as src:
                    p = subprocess.run(cmd, stdin=src, stdout=subprocess.PIPE, env=self.env, cwd=self.work, timeout=TIMEOUT)
                assert p.returncode == 0 and len(p.stdout) == size, (cmd, p.returncode, len(p.stdout))

            pen_s, _ = median_time(lambda: stream([PEN, "exec", "r", "--", "cat"]), runs=3)
            cat_s, _ = median_time(lambda: stream(["cat"]), runs=3)
            self.add("session_stream", pen_s, "s", "256 MB through `cat` in a host pipe", cat_s)
            self.notes["session_stream_mb_per_s"] = round(size / 1e6 / pen_s, 1)

            copy_in, _ = median_time(lambda: self.pen("cp", str(data), "r:/root/stream.bin"), runs=3)
            back = work / "back.bin"

            def copy_out():
                back.unlink(missing_ok=True)
                self.pen("cp", "r:/root/stream.bin", str(back))

            copy_out_s, _ = median_time(copy_out, runs=3)
            host_cp, _ = median_time(lambda: run(["cp", str(data), str(work / "host-copy.bin")]), runs=3)
            self.add("cp_in", copy_in, "s", "256 MB: host cp of the same file", host_cp)
            self.add("cp_out", copy_out_s, "s", "256 MB: host cp of the same file", host_cp)
            self.notes["cp_mb_per_s"] = {"in": round(size / 1e6 / copy_in, 1), "out": round(size / 1e6 / copy_out_s, 1)}
        finally:
            self.pen("vm", "stop", "r")

    # --- the cost of waiting --------------------------------------------------------------------
    IDLE_SETTLE_S = 10   # after boot: the guest's first writeback and page reporting are done
    IDLE_WINDOW_S = 10   # one sample of QEMU's CPU (a clock tick is 0.1 % of a core over it)

    def idle_cpu(self, qemu_pid):
        """QEMU's CPU time over wall time (% of a core), the median of RUNS windows, after the guest settled."""
        time.sleep(self.IDLE_SETTLE_S)
        samples = []
        for _ in range(RUNS):
            cpu0, t0 = process_cpu_seconds(qemu_pid), time.monotonic()
            time.sleep(self.IDLE_WINDOW_S)
            samples.append(100 * (process_cpu_seconds(qemu_pid) - cpu0) / (time.monotonic() - t0))
        return statistics.median(samples)

    def idle_bare(self, tmp, accel, before_plan14):
        """The idle figure of a bare QEMU (pen's kernel, busybox's sleep as init: no pen in the guest)."""
        root = tmp / "idle-initramfs"
        if not root.exists():
            (root / "bin").mkdir(parents=True)
            shutil.copy("/bin/busybox", root / "bin/busybox")
            (root / "init").write_text("#!/bin/busybox sh\nexec /bin/busybox sleep 100000\n")
            (root / "init").chmod(0o755)
            listing = subprocess.run(["find", "."], cwd=root, capture_output=True, check=True).stdout
            (tmp / "idle.cpio").write_bytes(subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root, input=listing,
                                                           capture_output=True, check=True).stdout)
        name = "idle-before" if before_plan14 else "idle-bare"
        qemu = subprocess.Popen(self.bare_qemu(tmp / "idle.cpio", accel, name=name, before_plan14=before_plan14),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        try:
            time.sleep(10)  # the boot, then the settling time idle_cpu waits
            return self.idle_cpu(qemu.pid)
        finally:
            qemu.kill()
            qemu.wait()

    def idle(self, tmp):
        """CPU of a started VM left idle, beside a bare QEMU of the same kernel with the CPU and
        command line pen used before plan 14 (the idle guest's tick never stopped)."""
        accel = self.notes.get("accelerator", "tcg")
        self.pen("vm", "start", "idle")
        try:
            pen_percent = self.idle_cpu(int(qemu_pids("pen-idle")[0]))
        finally:
            self.pen("vm", "stop", "idle")
        before = self.idle_bare(tmp, accel, before_plan14=True)
        self.add("idle_cpu_percent", pen_percent, "%", "bare qemu of the same kernel idle, with pen's CPU and kernel command line from before plan 14", before)
        self.notes["idle_cpu_percent_bare_kernel"] = round(self.idle_bare(tmp, accel, before_plan14=False), 3)

    def network(self, tmp):
        """Downloads and connection setup through pen's relay (`public`) beside passt (`full`)."""
        if os.geteuid() != 0:
            self.notes["network"] = "skipped: needs root for the network namespace"
            return
        sys.path.insert(0, str(ROOT / "Tests/vm"))
        from networld import NetWorld, PUBLIC
        size = 256 << 20  # the figure: passt takes a minute or more per download under TCG
        with NetWorld(tmp) as world:
            server = subprocess.Popen(["ip", "netns", "exec", world.ns, "python3", "-c", NET_SERVER, str(size)],
                                      stdout=subprocess.PIPE)
            try:
                assert server.stdout.readline() == b"ready\n"
                measured = {}
                for mode in ("public", "full"):
                    vm = f"net-{mode}"
                    self.pen("vm", "start", vm, "--network", mode, env={"PEN_TEST_PUBLIC_BENCHMARKING": "1"})
                    try:
                        downloads, firsts = [], []
                        for _ in range(3):
                            out = self.pen("exec", vm, "--", "bash", "-c", NET_PROBE.format(addr=PUBLIC)).stdout.decode().split()
                            assert int(out[0]) == size, out
                            downloads.append(int(out[1]) / 1e6)
                            firsts += [int(x) / 1e6 for x in out[2:]]
                        measured[mode] = (statistics.median(downloads), statistics.median(firsts))
                    finally:
                        self.pen("vm", "stop", vm)
            finally:
                server.kill()
                server.wait()
        relay, passt = measured["public"], measured["full"]
        self.add("net_download", relay[0], "s", "256 MB into the guest: passt (--network full), same server, same run", passt[0])
        self.add("net_first_byte", relay[1], "s", "connect to first byte: passt (--network full), median of 60", passt[1])
        self.notes["net_mb_per_s"] = {"relay": round(size / 1e6 / relay[0], 1), "passt": round(size / 1e6 / passt[0], 1)}


def main():
    with tempfile.TemporaryDirectory(prefix="pen-bench-") as tmp:
        tmp = pathlib.Path(tmp)
        bench = Bench(tmp / "home")
        bench.home.mkdir()
        bench.boot()
        bench.running(tmp)
        bench.idle(tmp)
        bench.suspend(tmp)
        bench.fork(tmp)
        bench.network(tmp)
        bench.overlay(tmp)
        bench.root_image(tmp)
        bench.profile_build()
        bench.cache_hit(tmp)
    out = {"date": time.strftime("%Y-%m-%d"), "runs": RUNS, "machine": machine(), "results": bench.results, "notes": bench.notes}
    (ROOT / "bench/results.json").write_text(json.dumps(out, indent=2) + "\n")
    def show(value, unit):
        return f"{value / 1e6:>8.1f}MB" if unit == "bytes" else f"{value:>9.3f}{unit}"

    print(f"{'name':<22} {'value':>10} {'baseline':>10} {'ratio':>7}  baseline")
    for r in bench.results:
        print(f"{r['name']:<22} {show(r['value'], r['unit'])} {show(r['baseline_value'], r['unit'])} {r['ratio']:>7}  {r['baseline']}")
    for k, v in bench.notes.items():
        print(f"{k}: {v}")


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next((int(l.split()[1]) // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_mib": mem, "kernel": os.uname().release}


if __name__ == "__main__":
    main()
