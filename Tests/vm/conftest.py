"""Harness for VM tests: the real `pen` binary, real QEMU (TCG here), a fresh PEN_HOME per
test, a timeout on every boot, and the guest's boot logs kept when a test fails."""
import contextlib
import inspect
import json
import os
import pathlib
import pty
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import termios
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PEN = os.environ.get("PEN_BIN", str(ROOT / "out/bin/pen"))
# Content-addressed image cache shared by all tests (and reused across runs on one machine).
IMAGES = os.environ.get("PEN_TEST_IMAGES", str(ROOT / ".build-images"))
LOGS = ROOT / "test-logs"
BOOT_TIMEOUT = int(os.environ.get("PEN_TEST_BOOT_TIMEOUT", "300"))
BUILD_TIMEOUT = 1200
# Fault-injection tests repeat each fault this many times (`make faults` raises it) and, when
# PEN_FAULT_REPORT names a file, append their counts to it as JSON lines.
FAULT_RUNS = max(1, int(os.environ.get("PEN_FAULT_RUNS", "1")))
FAULT_REPORT = os.environ.get("PEN_FAULT_REPORT")


class PenRunner:
    """pen as the tests run it: one PEN_HOME, one working directory beside it, a timeout on every
    command. `vm(name)` is one VM; `spawn` is the one way to run pen in the background, and
    everything spawned (and every VM left running) is ended when the test ends."""

    def __init__(self, home: pathlib.Path):
        self.home = home
        # The directory pen runs in, so the default workspace: beside PEN_HOME, never holding it
        # (pen refuses to share its own state, or the user's home, by default).
        self.cwd = home.with_name(home.name + "-work")
        if self.cwd.parent.exists():
            self.cwd.mkdir(exist_ok=True)
        # The kernel's full log in boot.log: a failed test keeps it (test-logs/), so a boot that
        # hung says where.
        self.env = dict(os.environ, PEN_HOME=str(home), PEN_IMAGES=IMAGES, PEN_BOOT_LOGLEVEL="7")
        self.env.pop("PEN_TIMINGS", None)
        self.spawned = []
        self.others = []

    def run(self, *args, input=None, timeout=BOOT_TIMEOUT, env=None, check=None, cwd=None, binary=PEN,
            preexec_fn=None):
        """Runs pen; every call has a timeout (a hung boot fails the test, never the suite)."""
        # The default workspace is the current directory: the test's own, never the repo.
        self.cwd.mkdir(exist_ok=True)
        result = subprocess.run([binary, *args], input=input, capture_output=True, timeout=timeout,
                                cwd=cwd or self.cwd, env=dict(self.env, **(env or {})), preexec_fn=preexec_fn,
                                stdin=None if input is not None else subprocess.DEVNULL)
        if check is not None:
            assert result.returncode == check, describe(result)
        return result

    def spawn(self, *args, env=None, cwd=None, binary=PEN, **popen):
        """pen in the background (stdin empty, stdout and stderr piped unless `popen` says
        otherwise); what is still running when the test ends is killed."""
        self.cwd.mkdir(exist_ok=True)
        streams = dict(stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc = subprocess.Popen([binary, *args], env=dict(self.env, **(env or {})), cwd=cwd or self.cwd,
                                **dict(streams, **popen))
        self.spawned.append(proc)
        return proc

    def vm(self, name):
        return Microvm(self, name)

    def vms(self):
        """`pen vm ls --json`, by name."""
        r = self.run("vm", "ls", "--json", timeout=60, check=0)
        return {row["name"]: row for row in json.loads(r.stdout)}

    def profile(self, name, text):
        write_profile(self.home, name, text)

    def another(self, home: pathlib.Path):
        """A second pen with its own PEN_HOME (e.g. on a small filesystem), cleaned up with this one."""
        home.mkdir(parents=True, exist_ok=True)
        runner = PenRunner(home)
        self.others.append(runner)
        return runner

    def clean_up(self, failed, name):
        """At the test's end: the guest logs kept and printed if it failed, everything spawned
        killed, every VM still running stopped."""
        for runner in [self, *self.others]:
            if failed:
                runner.keep_logs(LOGS / name)
            for proc in runner.spawned:
                if proc.poll() is None:
                    proc.kill()
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=30)
            stop_running_vms(runner.home)

    def keep_logs(self, keep):
        keep.mkdir(parents=True, exist_ok=True)
        for log in list(self.home.glob("vms/*/boot.log")) + list(self.home.glob("vms/*/qemu.log")) + \
                list(self.home.glob("vms/*/supervisor.log")):
            shutil.copy(log, keep / f"{log.parent.name}-{log.name}")
            print(f"=== {log} (kept in {keep})\n{log.read_text(errors='replace')[-6000:]}")


class Microvm:
    """One VM by name, driven the way a user would: start and stop it, run commands in it
    (`shell` boots it if needed, `exec` needs it running), copy files, read its logs."""

    def __init__(self, pen: PenRunner, name: str):
        self.pen, self.name = pen, name

    @property
    def path(self):
        """The VM's directory under PEN_HOME."""
        return self.pen.home / "vms" / self.name

    @property
    def disk(self):
        return self.path / "overlay.img"

    def log(self, name="supervisor.log"):
        return (self.path / name).read_bytes()

    def start(self, *flags):
        """`pen vm start`, which must succeed."""
        r = self.pen.run("vm", "start", self.name, *flags, timeout=300)
        assert r.returncode == 0, describe(r)
        return r

    def stop(self, timeout=120, **kw):
        return self.pen.run("vm", "stop", self.name, timeout=timeout, **kw)

    def shell(self, *command, flags=(), **kw):
        """`pen shell NAME [flags] -- command`."""
        return self.pen.run("shell", self.name, *flags, "--", *command, **kw)

    def exec(self, *command, flags=(), **kw):
        """`pen exec NAME [flags] -- command`."""
        return self.pen.run("exec", self.name, *flags, "--", *command, **kw)

    def cp_in(self, source, guest_path, **kw):
        return self.pen.run("cp", str(source), f"{self.name}:{guest_path}", **kw)

    def cp_out(self, *guest_paths, to, **kw):
        return self.pen.run("cp", *[f"{self.name}:{p}" for p in guest_paths], str(to), **kw)

    def spawn_shell(self, *command, flags=(), **popen):
        """`pen shell` in the background; with no command, the guest's login shell."""
        return self.pen.spawn("shell", self.name, *flags, *(["--", *command] if command else []), **popen)

    def spawn_exec(self, *command, flags=(), **popen):
        return self.pen.spawn("exec", self.name, *flags, "--", *command, **popen)

    def sleeper(self, *flags, before="sync"):
        """A `pen shell` session that keeps the VM running: it runs `before`, prints a start line
        and sleeps. Returns once the start line came (within 240 s); what `before` printed is
        the process's `said`."""
        proc = self.spawn_shell("sh", "-c", f"{before}; echo started; exec sleep 300", flags=flags)
        out = b""
        deadline = time.time() + 240
        while b"started\n" not in out and time.time() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 5)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                out += chunk
        if b"started\n" not in out:
            proc.kill()
            _, err = proc.communicate(timeout=30)
            raise AssertionError(f"no start line; stdout: {out!r}; stderr: {err.decode(errors='replace')}")
        proc.said = out[:out.index(b"started\n")]
        return proc

    @contextlib.contextmanager
    def terminal(self, size=None):
        """`pen shell NAME` on a fresh pty, like a user at a terminal; pen must leave the
        terminal's mode as it found it. Yields (process, controller fd, terminal fd)."""
        controller, terminal = pty.openpty()
        if size:
            termios.tcsetwinsize(terminal, size)
        before = termios.tcgetattr(terminal)
        proc = self.spawn_shell(env={"TERM": "xterm"}, stdin=terminal, stdout=terminal, stderr=terminal,
                                start_new_session=True)
        try:
            yield proc, controller, terminal
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            after = termios.tcgetattr(terminal)
            os.close(controller)
            os.close(terminal)
        assert after == before, "pen must restore the terminal's mode"

    def info(self):
        """This VM's row of `pen vm ls --json`."""
        return self.pen.vms()[self.name]

    def qemu_pids(self):
        return qemu_pids(self.name)


def describe(result):
    return (f"exit {result.returncode}\n--- stdout\n{result.stdout.decode(errors='replace')}"
            f"\n--- stderr\n{result.stderr.decode(errors='replace')}")


def fsck_clean(image):
    r = subprocess.run(["e2fsck", "-fn", str(image)], capture_output=True, timeout=120)
    return r.returncode == 0, r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


def pytest_configure(config):
    config.addinivalue_line("markers", "fault: injects a fault and counts its runs (`make faults` runs these, "
                                       "each fault PEN_FAULT_RUNS times)")


def pytest_collection_modifyitems(config, items):
    """A VM test that counts an injected fault must say so with @pytest.mark.fault: bench/faults.py
    selects the fault runs by the marker, and a test without it would silently drop out."""
    for item in items:
        function = getattr(item, "function", None)
        if function is None or "base_image" not in getattr(item, "fixturenames", ()):
            continue
        if "fault_counts(" in inspect.getsource(function) and item.get_closest_marker("fault") is None:
            raise pytest.UsageError(f"{item.nodeid} counts a fault but is not marked @pytest.mark.fault")


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(scope="session")
def base_image():
    """Builds (or reuses) the base image once for the whole run."""
    env = dict(os.environ, PEN_IMAGES=IMAGES, PEN_HOME=str(ROOT / ".build-images-home"))
    r = subprocess.run([PEN, "image", "base"], capture_output=True, timeout=BUILD_TIMEOUT, env=env)
    assert r.returncode == 0, describe(r)
    return IMAGES


def pids_where(matches):
    """pids of the processes whose argument list (bytes) `matches` accepts."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            args = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if matches(args):
            found.append(int(entry))
    return found


def uids_of(pid):
    """The real, effective, saved and filesystem uids of a process."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return [int(v) for v in line.split()[1:]]
    return []


def supervisors(home):
    """pids of the `pen supervise` processes of VMs under `home`."""
    return pids_where(lambda args: b"supervise" in args and any(a.startswith(str(home).encode()) for a in args))


def qemu_pids(vm_name):
    """QEMU processes whose command line names this VM (`-name pen-NAME`)."""
    return pids_where(lambda args: args and b"qemu-system" in args[0] and b"pen-" + vm_name.encode() in args)


def stop_running_vms(home):
    """A test's detached VMs must not outlive it: stop them (kill what does not stop)."""
    for pid in supervisors(home):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.time() + 30
    while supervisors(home) and time.time() < deadline:
        time.sleep(0.2)
    for pid in supervisors(home):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def pen(tmp_path, request, base_image):
    home = tmp_path / "pen-home"
    home.mkdir()
    runner = PenRunner(home)
    yield runner
    failed = getattr(request.node, "rep_call", None)
    runner.clean_up(failed is not None and failed.failed, request.node.name)


def write_profile(home, name, text):
    d = home / "profiles"
    d.mkdir(exist_ok=True)
    (d / f"{name}.toml").write_text(text)


@pytest.fixture
def bare_pen(tmp_path):
    """A pen with an empty PEN_HOME and its own empty image cache: nothing may be built."""
    home = tmp_path / "pen-home"
    home.mkdir()
    runner = PenRunner(home)
    runner.env["PEN_IMAGES"] = str(tmp_path / "images")
    return runner


# Ends of a block that are no failed run: a skip, or the whole session stopped (Ctrl-C, pytest.exit).
NOT_A_FAILURE = (KeyboardInterrupt, SystemExit, pytest.skip.Exception, pytest.exit.Exception)


class FaultCounts:
    """What happened to the runs of one injected fault: runs ended, survivors, data lost."""

    def __init__(self):
        self.runs = self.survivors = self.data_lost = 0

    @contextlib.contextmanager
    def run(self):
        """One run of the fault: counted when it ends, a survivor only if no check in it failed.
        A run stopped by a skip or an interrupt is not counted at all."""
        try:
            yield
        except NOT_A_FAILURE:
            raise
        except BaseException:  # an assert, a timeout, pytest.fail: a run that did not survive
            self.runs += 1
            raise
        self.runs += 1
        self.survivors += 1

    def lost(self, count=1):
        """Data seen missing (a synced write, a kept file or image): call it before the assert
        that fails on it, so the report says so."""
        self.data_lost += count

    def kept(self, result, expected):
        """Whether a pen command reading back data written before the fault printed it. A guest
        that answered something else lost it; status 125 is pen failing, which shows nothing."""
        if result.returncode != 125 and result.stdout != expected:
            self.lost()
        return result.returncode == 0 and result.stdout == expected


def failure_line(error):
    """One bounded line for the report: the exception's type and the first line of its text."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:300]


@contextlib.contextmanager
def fault_counts(fault, **details):
    """Counts the runs of one fault (`with faults.run():` around each) and, when PEN_FAULT_REPORT
    names a file, appends them to it as a JSON line when the block ends — also when a check
    failed, before the failure reaches pytest, so the report shows the failed run. `details`
    (e.g. a dict the test fills in) are written as they stand at the end. A skipped block
    writes nothing."""
    counts = FaultCounts()
    failed, skipped = None, False
    try:
        yield counts
    except pytest.skip.Exception:
        skipped = True
        raise
    except BaseException as error:
        failed = failure_line(error) if not isinstance(error, NOT_A_FAILURE) else f"stopped ({failure_line(error)})"
        raise
    finally:
        if FAULT_REPORT and not skipped:
            with open(FAULT_REPORT, "a") as f:
                f.write(json.dumps(dict(fault=fault, runs=counts.runs, survivors=counts.survivors,
                                        data_lost=counts.data_lost, failed=failed, **details)) + "\n")


def published(runner, profile):
    """The image directories (one per input hash) published for a profile."""
    d = pathlib.Path(runner.env["PEN_IMAGES"]) / "profiles" / profile
    return sorted(p.name for p in d.iterdir() if not p.name.startswith(".") and p.is_dir()) if d.exists() else []


@pytest.fixture(scope="session")
def pen_for_any_user():
    """pen and its guest init copied where any uid can reach them: a test that runs pen as another
    user must not depend on where the checkout is (a fresh clone may sit in a 0700 directory)."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="pen-bin-"))
    os.chmod(d, 0o755)
    # The installed layout: bin/{pen,PenGuestInit} beside share/pen/profiles (the shipped profiles).
    shutil.copytree(pathlib.Path(PEN).resolve().parent.parent, d / "out", symlinks=True)
    for path in [d / "out", *(d / "out").rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)
    yield str(d / "out" / "bin" / pathlib.Path(PEN).name)
    shutil.rmtree(d, ignore_errors=True)


def own_image_cache(runner, base_image, copy=False, images=None):
    """Gives a runner its own image cache holding the shared base image: hard links (pen only
    ever replaces image files by rename, so they are safe) or, for a test that damages the
    files or needs them on another filesystem, copies. Profile images start missing."""
    images = images or runner.home / "images"
    (images / "base").mkdir(parents=True, exist_ok=True)
    for f in (pathlib.Path(base_image) / "base").iterdir():
        if f.is_file() and not f.name.startswith("."):
            try:
                if copy:
                    raise OSError
                os.link(f, images / "base" / f.name)
            except OSError:
                shutil.copy2(f, images / "base" / f.name)
    # The kernel package too, so a test that rebuilds the base does not download it again.
    (images / "kernel").mkdir(exist_ok=True)
    for f in (pathlib.Path(base_image) / "kernel").glob("*.deb"):
        with contextlib.suppress(OSError):  # another filesystem: a rebuild downloads it
            os.link(f, images / "kernel" / f.name)
    runner.env["PEN_IMAGES"] = str(images)
    return images


@contextlib.contextmanager
def small_filesystem(path, size):
    """A tmpfs of `size` bytes mounted at `path` (needs root, as CI has): a disk that can fill."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory):
    """Fills the filesystem holding `directory` to the last byte; returns the filler file."""
    filler = pathlib.Path(directory) / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        size = 1 << 20
        while size:
            try:
                os.write(fd, b"\0" * size)
            except OSError:
                size //= 2  # what is left is smaller: take it in halves, down to the last byte
    finally:
        os.close(fd)
    return filler


def read_until(fd, needle, timeout):
    """What a terminal (or pipe) `fd` printed until `needle` appeared, or `timeout` seconds passed."""
    out = b""
    deadline = time.time() + timeout
    while needle not in out and time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# A one-request HTTP server on the guest's port 8000 (perl is in the base image); it prints
# "listening" once it accepts connections.
GUEST_SERVER = r'''
use IO::Socket::INET;
my $s = IO::Socket::INET->new(LocalPort => 8000, Listen => 5, ReuseAddr => 1) or die "listen: $!";
print "listening\n"; $| = 1;
my $c = $s->accept; my $req = <$c>;
print $c "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello from the guest\n"; close $c;
'''
