#!/usr/bin/env python3
"""End-to-end peer runner: this appliance against restic, borg, syncthing, rclone, rsync, cp and dd.

Started by benchmarks/e2e/run.sh (which installs missing peers and builds the appliance Release first);
see `--help` and the README's "Performance" section. Standard library only.

Scenarios, each on data generated here from --seed:
  1 big      one random file of --big-mib MiB, first upload
  2 insert   one byte inserted at offset 0 of that file, sync again
  3 small    --files files of 1-8 KiB in --folders folders, first upload
  4 download a second device downloads both (ours: a second client; restic restore; borg extract)
  5 propagate a new 4 KiB file on A until whole on B, daemons with default settings, --changes times

Fairness: every tool starts on the same footing (Runner.quiesce, before each timed tool): the previous tool's dirty
pages are written back first (sync), and the runner deletes no tree of a previous tool's (its restore, extract or copy)
until the end of the run: it moves it aside (a rename) instead, where the disk has room for all of them
(--defer-deletes auto, the default). On ext4 (this project's VM has no journal) creating files soon after many were
deleted costs the creator an inode-table scan: the allocator skips an inode freed less than 60 s ago, or 360 s when
its table block is dirty, and new files dirty those blocks; that used to fall on whichever tool ran right after the
runner's clean-up (ours, in the download scenario). Where the disk has no such room (auto), or with --defer-deletes
off, a tree is deleted at once and no tool starts within --delete-settle seconds (default 60) of such a mass deletion
(1,000 files or more). --drop-caches also empties the page cache before each tool (off by default: it is machine-wide and makes
every tool read cold).

Every wall time is the command's (or, for daemons, from the change until the result is whole on the other
side); CPU and peak RSS come from /usr/bin/time for commands and /proc/PID/{stat,status} for daemons (VmHWM reset
through /proc/PID/clear_refs before each scenario). Every result is compared byte for byte with the source.
Everything listens on and talks to 127.0.0.1 only; every wait is bounded; children and the work folder are
removed on exit (also on Ctrl-C / SIGTERM).
"""

import argparse
import hashlib
import json
import os
import platform
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

MIB = 1024 * 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")
SETTLE_S = 2.5  # the client's --once pass waits for files younger than 2 s; every tool gets the same settle time
NATIVE_CLIENT = "src/SyncClient/bin/native/Dropbox.SyncClient"  # where run.sh publishes the natively compiled client
DELETE_SETTLE_S = 60  # default --delete-settle: no tool starts within this long of the runner's last mass deletion
MASS_DELETE_FILES = 1000  # a removal of at least this many files and folders is a mass deletion
ALL_TOOLS = ["ours", "restic", "borg", "syncthing", "rclone", "rsync", "cp", "dd"]

_work_dir = None  # where run() keeps time(1)'s output
_children = []  # every Popen started here (own process group each), for cleanup


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# --- processes -----------------------------------------------------------------------------------------

class Result:
    def __init__(self, wall, cpu, rss, rc, out, err):
        self.wall, self.cpu, self.rss, self.rc, self.out, self.err = wall, cpu, rss, rc, out, err


def run(cmd, *, cwd=None, env=None, timeout=900, check=True, what=None):
    """Runs cmd to completion under /usr/bin/time: its wall time here, its user+sys CPU and peak RSS (of it and
    its reaped children) as time(1) reports them. time(1) rather than our own wait4(): Linux carries the peak RSS
    across exec, so a child forked from this (larger) Python process would report Python's size as its peak."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(prefix="time.", dir=_work_dir) as tf:
        t0 = time.monotonic()
        p = subprocess.Popen(["/usr/bin/time", "-f", "%e %U %S %M", "-o", tf.name, *cmd], cwd=cwd, env=env,
                             stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
        _children.append(p)
        timer = threading.Timer(timeout, _kill_group, (p,))
        timer.start()
        try:
            p.wait()
        finally:
            timer.cancel()
        wall = time.monotonic() - t0
        _children.remove(p)
        out.seek(0)
        err.seek(0)
        cpu = rss = None
        try:
            _, user, system, kib = open(tf.name).read().strip().splitlines()[-1].split()
            cpu, rss = float(user) + float(system), int(kib) * 1024
        except (OSError, ValueError, IndexError):
            pass  # killed before time(1) wrote its line
        r = Result(wall, cpu, rss, p.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"))
    if check and (r.rc != 0 or r.cpu is None):
        name = what or " ".join(map(str, cmd[:3]))
        timed_out = " (killed: timed out after %ss)" % timeout if wall >= timeout else ""
        raise BenchError(f"{name} exited {r.rc}{timed_out}\nstdout: {r.out[-2000:]}\nstderr: {r.err[-2000:]}")
    return r


def _kill_group(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class Daemon:
    """A long-running child: CPU from /proc/PID/stat, peak RSS from VmHWM (resettable)."""

    def __init__(self, name, cmd, *, env=None, cwd=None, logfile):
        self.name = name
        self.logfile = logfile
        self._log = open(logfile, "wb")
        self.p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
        _children.append(self.p)

    def alive(self):
        return self.p.poll() is None

    def tree(self):
        """The daemon's pid and its live descendants' (syncthing runs a monitor and a worker process)."""
        children = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                children.setdefault(ppid, []).append(int(d))
        result, todo = [], [self.p.pid]
        while todo:
            pid = todo.pop()
            result.append(pid)
            todo.extend(children.get(pid, []))
        return result

    def cpu(self):
        """utime + stime + reaped children's, over the process tree, in seconds."""
        total = 0
        for pid in self.tree():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += sum(int(x) for x in fields[11:15])  # fields 14-17: utime stime cutime cstime
            except OSError:
                pass
        return total / CLK_TCK

    def reset_peak(self):
        for pid in self.tree():
            try:
                with open(f"/proc/{pid}/clear_refs", "w") as f:
                    f.write("5")  # resets VmHWM to the current RSS
            except OSError:
                pass  # not allowed here: the peak is then since the process started

    def peak(self):
        """Sum of VmHWM over the process tree (one process for ours)."""
        total = 0
        for pid in self.tree():
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            total += int(line.split()[1]) * 1024
            except OSError:
                pass
        return total

    def log_tail(self):
        try:
            with open(self.logfile, "rb") as f:
                return f.read()[-3000:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self, grace=30):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(grace)
            except subprocess.TimeoutExpired:
                log(f"{self.name} did not stop within {grace} s; killing it")
                _kill_group(self.p)
                self.p.wait(10)
        if self.p in _children:
            _children.remove(self.p)
        self._log.close()


class Meter:
    """CPU and peak RSS of a set of daemons over one scenario."""

    def __init__(self, daemons):
        self.daemons = [d for d in daemons if d is not None]
        for d in self.daemons:
            d.reset_peak()
        self.cpu0 = {d.name: d.cpu() for d in self.daemons}

    def done(self):
        return ({d.name: d.cpu() - self.cpu0[d.name] for d in self.daemons},
                {d.name: d.peak() for d in self.daemons})


def cleanup():
    for p in list(_children):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
    deadline = time.monotonic() + 20
    for p in list(_children):
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _kill_group(p)
    _children.clear()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond, timeout, what, interval=0.01):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# --- data ----------------------------------------------------------------------------------------------

class Data:
    """Deterministic data from one seed: the big file, the small files, the inserted byte, the 4 KiB files."""

    def __init__(self, seed, big_mib, files, folders, changes):
        self.rng = random.Random(seed)
        self.big_size = big_mib * MIB
        self.small = []  # (relative path, size)
        for i in range(files):
            self.small.append((f"small/d{i % folders:03d}/f{i:05d}.bin", self.rng.randint(1024, 8192)))
        self.small_bytes = sum(s for _, s in self.small)
        self.insert = self.rng.randbytes(1)
        self.prop = [self.rng.randbytes(4096) for _ in range(changes + 1)]  # [0] warms the daemons up
        self.big_seed = self.rng.getrandbits(64)
        self.small_seed = self.rng.getrandbits(64)

    def write_big(self, path):
        r = random.Random(self.big_seed)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        left = self.big_size
        with open(path, "wb") as f:
            while left:
                n = min(left, 8 * MIB)
                f.write(r.randbytes(n))
                left -= n

    def write_small(self, root):
        r = random.Random(self.small_seed)
        for rel, size in self.small:
            p = os.path.join(root, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(r.randbytes(size))


def tree_digest(root, skip=(".stfolder", ".stversions", ".dropbox-folder-id")):
    """{relative path: (size, sha256)} of every regular file under root."""
    result = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in skip]
        for name in filenames:
            p = os.path.join(dirpath, name)
            if name in skip or not os.path.isfile(p) or os.path.islink(p):
                continue
            result[os.path.relpath(p, root)] = (os.path.getsize(p), file_sha(p))
    return result


def file_sha(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def compare(expected, root, what):
    got = tree_digest(root)
    if got == expected:
        return "ok"
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    diff = sorted(k for k in set(got) & set(expected) if got[k] != expected[k])
    raise BenchError(f"{what}: result differs from the source: {len(missing)} missing {missing[:3]}, "
                     f"{len(extra)} extra {extra[:3]}, {len(diff)} different {diff[:3]}")


def settle(since):
    left = since + SETTLE_S - time.time()
    if left > 0:
        time.sleep(left)


# --- the runner ----------------------------------------------------------------------------------------

class Row:
    def __init__(self, scenario, tool, wall, bytes_, rss, cpu, mib, verified, note=""):
        self.scenario, self.tool, self.wall, self.bytes, self.rss, self.cpu = scenario, tool, wall, bytes_, rss, cpu
        self.mib, self.verified, self.note = mib, verified, note


def run_footprint(data):
    """Disk the run needs at its peak without deferring deletions (measured: about 13 GiB at full size): the source, the
    repositories of restic and borg, the copies of rclone, rsync and syncthing, ours' store and second folders, one
    restore or copy at a time."""
    return 12 * (data.big_size + data.small_bytes) + 1024 * MIB


def deferred_footprint(data):
    """What deferring adds at most: four restores and four extracts of the data (each scenario's verification and the
    download) and the copies of cp (the big file, the small files, both)."""
    return 10 * (data.big_size + data.small_bytes)


LAUNCH_SETTINGS = "src/Appliance/Properties/launchSettings.json"


def launch_profile_env(root):
    """The environment the appliance's launch profile sets (LAUNCH_SETTINGS under root), which `dotnet run --project
    src/Appliance`, the README's command, applies over the shell's: the appliance runs here as it runs there
    (benchmarks/profile/upload.sh starts it so too)."""
    path = os.path.join(root, LAUNCH_SETTINGS)
    try:
        with open(path) as f:
            profiles = json.load(f)["profiles"]
        profile = next(p for p in profiles.values() if p.get("commandName") == "Project")
        return {str(k): str(v) for k, v in profile.get("environmentVariables", {}).items()}
    except (OSError, ValueError, KeyError, StopIteration, AttributeError) as e:
        raise BenchError(f"{path}: no launch profile to start the appliance with ({e!r})")


def ensure_room(a, data):
    """Refuses to start a run the work folder's disk cannot hold: the run's own footprint, a GiB, and the 1% of the disk
    syncthing keeps free (below it its folder fails with "insufficient space on disk for database", minutes into the
    run)."""
    usage = shutil.disk_usage(a.work)
    need = run_footprint(data) + 1024 * MIB + usage.total // 100
    if usage.free < need:
        raise BenchError(f"the work folder's disk ({a.work}) has {usage.free / 2**30:.1f} GiB free and the run needs about "
                         f"{need / 2**30:.1f} GiB: free some, set TMPDIR to a larger disk, or use a smaller --big-mib/--files")


def defer_deletes(a, data):
    """Whether the runner keeps the trees it would delete until the end (see Fairness above): --defer-deletes, or with
    auto, whether the work folder's disk has room for the run and every kept tree, with a GiB to spare."""
    if a.defer_deletes != "auto":
        return a.defer_deletes == "on"
    need = run_footprint(data) + deferred_footprint(data) + 1024 * MIB
    free = shutil.disk_usage(a.work).free
    log(f"deletions {'deferred to the end' if free >= need else 'at once, each mass deletion settled'}: "
        f"{free / 2**30:.1f} GiB free, {need / 2**30:.1f} GiB needed to keep every output")
    return free >= need


class Runner:
    def __init__(self, a):
        self.a = a
        self.tools = a.tools
        self.root = a.root
        self.work = a.work
        self.rows = []
        self.failures = []
        self.data = Data(a.seed, a.big_mib, a.files, a.folders, a.changes)
        self.src = os.path.join(self.work, "src")  # our client A's folder; the source of restic, borg, rsync, rclone, cp
        self.home = os.path.join(self.work, "home")
        os.makedirs(self.home)
        self.env = dict(os.environ, HOME=self.home, XDG_CACHE_HOME=os.path.join(self.home, ".cache"),
                        XDG_CONFIG_HOME=os.path.join(self.home, ".config"), DOTNET_CLI_TELEMETRY_OPTOUT="1",
                        RESTIC_PASSWORD="bench", RESTIC_REPOSITORY=os.path.join(self.work, "restic-repo"),
                        BORG_REPO=os.path.join(self.work, "borg-repo"), BORG_BASE_DIR=os.path.join(self.home, "borg"),
                        BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="yes", BORG_RELOCATED_REPO_ACCESS_IS_OK="yes",
                        RCLONE_CONFIG=os.path.join(self.home, "rclone.conf"), STNORESTART="1", STNOUPGRADE="1")
        for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
            self.env.pop(k, None)
        open(self.env["RCLONE_CONFIG"], "w").close()
        self.appliance = None
        self.appliance_env = {}  # the launch profile's environment the appliance was started with
        self.st = {}
        self.last_write = 0.0
        self.last_delete = None  # time.monotonic() of the runner's last removal of a tree or file (see quiesce)
        self.trash = os.path.join(self.work, "trash")  # trees moved aside, deleted with the work folder at the end
        self.moved_aside = 0
        ensure_room(a, self.data)
        self.defer_deletes = defer_deletes(a, self.data)
        self.timeout = a.timeout

    # ---- helpers
    def on(self, tool):
        return tool in self.tools

    def add(self, *args, **kw):
        row = Row(*args, **kw)
        self.rows.append(row)
        log(f"{row.scenario} / {row.tool}: {row.wall:.2f} s, {fmt_bytes(row.bytes)}, cpu {fmt_cpu(row.cpu)}, {row.verified}")

    def remove(self, path):
        """Removes a tree (or file) the runner made. A tree is moved aside to be deleted at the end when deletions are
        deferred; otherwise a mass deletion (MASS_DELETE_FILES entries or more) is noted, so that the next tool waits
        for it to settle."""
        if not os.path.lexists(path):
            return
        tree = os.path.isdir(path) and not os.path.islink(path)
        if tree and self.defer_deletes:
            if shutil.disk_usage(self.work).free < 2 * (self.data.big_size + self.data.small_bytes) + 1024 * MIB:
                # Less room left than expected (something else is filling the disk): delete from now on, and settle.
                log("the disk is filling: the trees moved aside so far are deleted, and the rest at once from now on")
                self.defer_deletes = False
                self.remove(self.trash)
            else:
                os.makedirs(self.trash, exist_ok=True)
                self.moved_aside += 1
                try:
                    os.rename(path, os.path.join(self.trash, f"{self.moved_aside:03d}-{os.path.basename(path)}"))
                    return
                except OSError as e:  # not expected: every tree removed is under the work folder, as the trash is
                    log(f"could not move {path} aside ({e}); deleting it")
        if tree:
            entries = sum(len(d) + len(f) for _, d, f in os.walk(path))
            shutil.rmtree(path, ignore_errors=True)
            if entries >= MASS_DELETE_FILES:
                self.last_delete = time.monotonic()
        else:
            os.unlink(path)

    def quiesce(self):
        """The same start for every tool: dirty pages written back, the runner's last mass deletion settled (see the
        module's doc), and with --drop-caches an empty page cache. Called before each timed tool."""
        os.sync()
        if self.last_delete is not None:
            left = self.last_delete + self.a.delete_settle - time.monotonic()
            if left > 0:
                log(f"waiting {left:.0f} s for the last deletion to settle (--delete-settle {self.a.delete_settle})")
                time.sleep(left)
            os.sync()
        if self.a.drop_caches:
            try:
                with open("/proc/sys/vm/drop_caches", "w") as f:
                    f.write("3")
            except OSError as e:
                raise BenchError(f"--drop-caches: cannot write /proc/sys/vm/drop_caches ({e}); run as root or leave it off")

    def attempt(self, scenario, tool, fn):
        if not self.on(tool):
            return
        try:
            self.quiesce()
            fn()
        except BenchError as e:
            log(f"FAILED {scenario} / {tool}: {e}")
            self.failures.append(f"{scenario} / {tool}: {str(e).splitlines()[0]}")
            self.rows.append(Row(scenario, tool, None, None, {}, {}, 0, "FAILED: " + str(e).splitlines()[0][:80]))

    def dotnet(self, dll, *args):
        return ["dotnet", dll, *args]

    def client(self, *args):
        # The natively compiled client (the README's published form) runs as itself; the dll under dotnet.
        return [self.client_path, *args] if self.a.client == "native" else self.dotnet(self.client_path, *args)

    # ---- setup
    def setup(self):
        self.appliance_dll = os.path.join(self.root, "src/Appliance/bin/Release/net10.0/Dropbox.Appliance.dll")
        self.client_path = os.path.join(self.root, NATIVE_CLIENT if self.a.client == "native"
                                        else "src/SyncClient/bin/Release/net10.0/Dropbox.SyncClient.dll")
        for p in (self.appliance_dll, self.client_path):
            if not os.path.isfile(p):
                raise BenchError(f"{p} is missing: build Release first (run.sh does)")
        if self.on("ours"):
            self.start_appliance()
        if self.on("restic"):
            run(["restic", "init"], env=self.env, timeout=120)
        if self.on("borg"):
            run(["borg", "init", "--encryption=none"], env=self.env, timeout=120)
        if self.on("syncthing"):
            self.start_syncthing()

    def start_appliance(self):
        data = os.path.join(self.work, "appliance")
        self.appliance_env = launch_profile_env(self.root)
        self.appliance = Daemon("appliance", self.dotnet(self.appliance_dll, "standalone", "--data", data, "--port", "0"),
                                env=dict(self.env, **self.appliance_env), logfile=os.path.join(self.work, "appliance.log"))

        def ready():
            if not self.appliance.alive():
                raise BenchError("the appliance exited: " + self.appliance.log_tail())
            text = open(self.appliance.logfile, errors="replace").read()
            token = url = None
            for line in text.splitlines():
                if line.startswith("token: "):
                    token = line[7:].strip()
                elif line.startswith("ready: "):
                    url = line[7:].strip()
            return (url, token) if url and token else None

        self.url, self.token = wait_until(ready, 120, "the appliance to print ready:", 0.1)
        if "127.0.0.1" not in self.url:
            raise BenchError(f"the appliance is not on 127.0.0.1: {self.url}")
        os.makedirs(self.src, exist_ok=True)
        self.login("a", self.src)
        self.verify_dir = os.path.join(self.work, "ours-verify")
        self.login("verify", self.verify_dir)

    def login(self, name, folder):
        os.makedirs(folder, exist_ok=True)
        run(self.client("login", "--server", self.url, "--token", self.token, "--folder", folder,
                        "--state", os.path.join(self.work, "client-" + name), "--device", name),
            env=self.env, timeout=120, what=f"client login ({name})")

    def sync_once(self, name):
        """One timed `sync --once --json` of client NAME; with the appliance's CPU and peak over the same window."""
        m = Meter([self.appliance])
        r = run(self.client("sync", "--once", "--json", "--state", os.path.join(self.work, "client-" + name)),
                env=self.env, timeout=self.timeout, what=f"client {name}: sync --once")
        cpu, peak = m.done()
        summary = json.loads(r.out.strip().splitlines()[-1])
        if summary.get("errors") or summary.get("pending"):
            raise BenchError(f"client {name}: {summary}")
        return r, summary, cpu, peak

    def ours_row(self, scenario, name, mib, kind):
        r, s, cpu, peak = self.sync_once(name)
        cpus = {"client": r.cpu, **cpu}
        rss = {"client": r.rss, **peak}
        return r, s, cpus, rss

    # ---- scenario 1
    def scenario_big(self):
        sc = "1 big"
        big = os.path.join(self.src, "big/big.bin")
        log(f"generating {self.data.big_size // MIB} MiB (seed {self.a.seed})")
        self.data.write_big(big)
        self.last_write = time.time()
        self.expected = tree_digest(self.src)
        mib = self.data.big_size / MIB
        if self.on("syncthing"):
            self.st_copy_in("big")
        settle(self.last_write)
        self.attempt(sc, "ours", lambda: self.ours_upload(sc, mib))
        self.attempt(sc, "restic", lambda: self.restic_backup(sc, mib))
        self.attempt(sc, "borg", lambda: self.borg_create(sc, mib, "a1"))
        self.attempt(sc, "syncthing", lambda: self.st_first(sc, mib))
        self.attempt(sc, "rclone", lambda: self.rclone(sc, mib))
        self.attempt(sc, "rsync", lambda: self.rsync(sc, mib))
        self.attempt(sc, "cp", lambda: self.cp(sc, mib, [big], os.path.join(self.work, "cp-dst")))
        self.attempt(sc, "dd", lambda: self.dd(sc, mib, ["cat", big]))

    def ours_upload(self, sc, mib):
        r, s, cpus, rss = self.ours_row(sc, "a", mib, "upload")
        # Verify what the appliance holds: an untimed download by a third client, compared with the source.
        _, down, _, _ = self.sync_once("verify")
        v = compare(self.expected, self.verify_dir, f"{sc} ours (download by a verifying client)")
        self.add(sc, "ours", r.wall, s["bytesUploaded"], rss, cpus, mib, v,
                 f"{s['filesUploaded']} files, {s.get('chunksUploaded', 0)} chunks up; "
                 f"the verifying client then downloaded {fmt_bytes(down['bytesDownloaded'])}")

    def restic_backup(self, sc, mib):
        r = run(["restic", "backup", "--json", "."], cwd=self.src, env=self.env, timeout=self.timeout)
        summary = [json.loads(x) for x in r.out.splitlines() if '"summary"' in x][-1]
        v = self.restic_verify(sc)
        self.add(sc, "restic", r.wall, summary["data_added"], {"restic": r.rss}, {"restic": r.cpu}, mib, v,
                 "data_added (compressed, encrypted)")

    def restic_verify(self, sc, timed=False):
        dst = os.path.join(self.work, "restic-restore")
        self.remove(dst)
        if timed:
            self.quiesce()
        r = run(["restic", "restore", "latest", "--target", dst], env=self.env, timeout=self.timeout)
        v = compare(self.expected, dst, f"{sc} restic restore")
        self.remove(dst)
        return (r, v) if timed else v

    def borg_create(self, sc, mib, name):
        r = run(["borg", "create", "--json", "::" + name, "."], cwd=self.src, env=self.env, timeout=self.timeout)
        stats = json.loads(r.out)["archive"]["stats"]
        self.borg_last = name
        v = self.borg_verify(sc)
        self.add(sc, "borg", r.wall, stats["deduplicated_size"], {"borg": r.rss}, {"borg": r.cpu}, mib, v,
                 "deduplicated_size (lz4)")

    def borg_verify(self, sc, timed=False):
        dst = os.path.join(self.work, "borg-extract")
        self.remove(dst)
        os.makedirs(dst)
        if timed:
            self.quiesce()
        r = run(["borg", "extract", "::" + self.borg_last], cwd=dst, env=self.env, timeout=self.timeout)
        v = compare(self.expected, dst, f"{sc} borg extract")
        self.remove(dst)
        return (r, v) if timed else v

    def rclone(self, sc, mib):
        dst = os.path.join(self.work, "rclone-dst")
        r = run(["rclone", "sync", self.src, dst, "-v", "--use-json-log", "--stats", "1h"], env=self.env,
                timeout=self.timeout)
        sent = [json.loads(x)["stats"]["bytes"] for x in r.err.splitlines() if '"stats"' in x][-1]
        v = compare(self.expected, dst, f"{sc} rclone")
        self.add(sc, "rclone", r.wall, sent, {"rclone": r.rss}, {"rclone": r.cpu}, mib, v, "local to local")

    def rsync(self, sc, mib):
        dst = os.path.join(self.work, "rsync-dst")
        r = run(["rsync", "-a", "--no-whole-file", "--stats", self.src + "/", dst + "/"], env=self.env,
                timeout=self.timeout)
        sent = next(int(x.split(":")[1].split()[0].replace(",", "")) for x in r.out.splitlines()
                    if x.startswith("Total bytes sent:"))
        v = compare(self.expected, dst, f"{sc} rsync")
        self.add(sc, "rsync", r.wall, sent, {"rsync": r.rss}, {"rsync": r.cpu}, mib, v,
                 "local, --no-whole-file (delta on)")

    def cp(self, sc, mib, sources, dst):
        os.makedirs(dst, exist_ok=True)
        r = run(["cp", "-r", *sources, dst], env=self.env, timeout=self.timeout)
        for s in sources:
            name = os.path.basename(s)
            if os.path.isdir(s):
                same = tree_digest(s) == tree_digest(os.path.join(dst, name))
            else:
                same = file_sha(s) == file_sha(os.path.join(dst, name))
            if not same:
                raise BenchError(f"{sc} cp: the copy of {s} differs")
        self.remove(dst)
        self.add(sc, "cp", r.wall, None, {"cp": r.rss}, {"cp": r.cpu}, mib, "ok", "page cache, no fsync")

    def dd(self, sc, mib, producer):
        out = os.path.join(self.work, "dd.out")
        cmd = " ".join(shlex.quote(x) for x in producer) + f" | dd of={shlex.quote(out)} bs=1M iflag=fullblock conv=fdatasync status=none"
        r = run(["bash", "-o", "pipefail", "-c", cmd], env=self.env, timeout=self.timeout)
        got = os.path.getsize(out)
        os.remove(out)
        if got != round(mib * MIB):
            raise BenchError(f"dd wrote {got} bytes, expected {round(mib * MIB)}")
        self.add(sc, "dd conv=fdatasync", r.wall, got, {"dd": r.rss}, {"dd+cat": r.cpu}, mib, "size",
                 "disk's durable limit")

    # ---- scenario 2
    def scenario_insert(self):
        sc = "2 insert"
        big = os.path.join(self.src, "big/big.bin")
        tmp = os.path.join(self.work, "insert.tmp")
        with open(tmp, "wb") as out, open(big, "rb") as f:
            out.write(self.data.insert)
            shutil.copyfileobj(f, out, 8 * MIB)
        if self.on("syncthing"):
            self.st_pause(True)
            shutil.copyfile(tmp, tmp + ".st")
            os.replace(tmp + ".st", os.path.join(self.st["a"]["folder"], "big/big.bin"))
        os.replace(tmp, big)
        self.last_write = time.time()
        self.expected = tree_digest(self.src)
        mib = self.data.big_size / MIB
        settle(self.last_write)
        self.attempt(sc, "ours", lambda: self.ours_upload(sc, mib))
        self.attempt(sc, "restic", lambda: self.restic_backup(sc, mib))
        self.attempt(sc, "borg", lambda: self.borg_create(sc, mib, "a2"))
        self.attempt(sc, "syncthing", lambda: self.st_change(sc, mib, ["big/big.bin"]))
        self.attempt(sc, "rsync", lambda: self.rsync(sc, mib))
        self.attempt(sc, "rclone", lambda: self.rclone(sc, mib))

    # ---- scenario 3
    def scenario_small(self):
        sc = "3 small"
        log(f"generating {len(self.data.small)} files, {self.data.small_bytes / MIB:.1f} MiB")
        self.data.write_small(self.src)
        if self.on("syncthing"):
            self.st_pause(True)
            shutil.copytree(os.path.join(self.src, "small"), os.path.join(self.st["a"]["folder"], "small"))
        self.last_write = time.time()
        self.expected = tree_digest(self.src)
        mib = self.data.small_bytes / MIB
        settle(self.last_write)
        self.attempt(sc, "ours", lambda: self.ours_upload(sc, mib))
        self.attempt(sc, "restic", lambda: self.restic_backup(sc, mib))
        self.attempt(sc, "borg", lambda: self.borg_create(sc, mib, "a3"))
        self.attempt(sc, "syncthing", lambda: self.st_change(sc, mib, [self.data.small[-1][0]]))
        self.attempt(sc, "rclone", lambda: self.rclone(sc, mib))
        self.attempt(sc, "rsync", lambda: self.rsync(sc, mib))
        self.attempt(sc, "cp", lambda: self.cp(sc, mib, [os.path.join(self.src, "small")], os.path.join(self.work, "cp-dst")))
        files = [os.path.join(self.src, rel) for rel, _ in self.data.small]
        lst = os.path.join(self.work, "small.list")
        with open(lst, "w") as f:
            f.write("\0".join(files))
        self.attempt(sc, "dd", lambda: self.dd(sc, mib, ["xargs", "-0", "-a", lst, "cat"]))

    # ---- scenario 4
    def scenario_download(self):
        sc = "4 download"
        mib = (self.data.big_size + 1 + self.data.small_bytes) / MIB

        def ours():
            b = os.path.join(self.work, "ours-b")
            self.login("b", b)
            r, s, cpus, rss = self.ours_row(sc, "b", mib, "download")
            v = compare(self.expected, b, f"{sc} ours (second client)")
            self.add(sc, "ours", r.wall, s["bytesDownloaded"], rss, cpus, mib, v, f"{s['filesDownloaded']} files down")

        def restic():
            r, v = self.restic_verify(sc, timed=True)
            self.add(sc, "restic", r.wall, None, {"restic": r.rss}, {"restic": r.cpu}, mib, v, "restore latest")

        def borg():
            r, v = self.borg_verify(sc, timed=True)
            self.add(sc, "borg", r.wall, None, {"borg": r.rss}, {"borg": r.cpu}, mib, v, "extract")

        self.attempt(sc, "ours", ours)
        self.attempt(sc, "restic", restic)
        self.attempt(sc, "borg", borg)
        self.attempt(sc, "cp", lambda: self.cp(sc, mib, [os.path.join(self.src, "big"), os.path.join(self.src, "small")],
                                               os.path.join(self.work, "cp-dst")))
        self.attempt(sc, "dd", lambda: self.dd(sc, mib, ["bash", "-c", f"cat {shlex.quote(os.path.join(self.src, 'big/big.bin'))}; xargs -0 -a {shlex.quote(os.path.join(self.work, 'small.list'))} cat"]))

    # ---- scenario 5
    def scenario_propagate(self):
        sc = "5 propagate"

        def ours():
            da = Daemon("client A", self.client("sync", "--state", os.path.join(self.work, "client-a")), env=self.env,
                        logfile=os.path.join(self.work, "daemon-a.log"))
            db = Daemon("client B", self.client("sync", "--state", os.path.join(self.work, "client-b")), env=self.env,
                        logfile=os.path.join(self.work, "daemon-b.log"))
            try:
                self.propagate(sc, "ours", self.src, os.path.join(self.work, "ours-b"), [da, db, self.appliance])
            finally:
                da.stop()
                db.stop()

        def syncthing():
            self.st_pause(False)
            self.propagate(sc, "syncthing", self.st["a"]["folder"], self.st["b"]["folder"],
                           [self.st["a"]["daemon"], self.st["b"]["daemon"]], bytes_fn=self.st_sent)

        self.attempt(sc, "ours", ours)
        self.attempt(sc, "syncthing", syncthing)

    def propagate(self, sc, tool, a, b, daemons, bytes_fn=None):
        times = []
        for i, content in enumerate(self.data.prop):
            if i == 1:
                meter = Meter(daemons)
                sent0 = bytes_fn() if bytes_fn else None
            rel = f"prop/p{i:03d}.bin"
            os.makedirs(os.path.join(a, "prop"), exist_ok=True)
            target = os.path.join(b, rel)
            t0 = time.monotonic()
            with open(os.path.join(a, rel), "wb") as f:
                f.write(content)

            def whole():
                for d in daemons:
                    if not d.alive():
                        raise BenchError(f"{d.name} exited: {d.log_tail()}")
                try:
                    with open(target, "rb") as f:
                        return f.read() == content
                except OSError:
                    return False

            wait_until(whole, self.a.change_timeout, f"{tool}: {rel} on B")
            dt = time.monotonic() - t0
            if i > 0:
                times.append(dt)
            log(f"{sc} / {tool}: change {i}{' (warm-up)' if i == 0 else ''} {dt:.2f} s")
            time.sleep(0.2)
        cpu, peak = meter.done()
        times.sort()
        p50 = times[(len(times) - 1) // 2] if len(times) % 2 else (times[len(times) // 2 - 1] + times[len(times) // 2]) / 2
        sent = bytes_fn() - sent0 if bytes_fn else None
        self.add(sc, tool, p50, sent, peak, cpu, 0, "ok (content)",
                 f"p50 of {len(times)} changes; max {max(times):.2f} s; CPU over all {len(times)}")

    # ---- syncthing: two instances on 127.0.0.1, default folder settings
    def start_syncthing(self):
        ids = {}
        for n in ("a", "b"):
            home = os.path.join(self.work, "st-" + n)
            run(["syncthing", "generate", "--home", home, "--no-default-folder", "--skip-port-probing"],
                env=self.env, timeout=120)
            ids[n] = run(["syncthing", "serve", "--home", home, "--device-id"], env=self.env, timeout=60).out.strip()
            self.st[n] = {"home": home, "id": ids[n], "gui": free_port(), "listen": free_port(),
                          "key": "bench-" + n, "folder": os.path.join(self.work, "st-folder-" + n)}
            os.makedirs(self.st[n]["folder"])
        for n, other in (("a", "b"), ("b", "a")):
            self.st_config(self.st[n], self.st[other])
            s = self.st[n]
            s["daemon"] = Daemon("syncthing " + n.upper(), ["syncthing", "serve", "--home", s["home"], "--no-browser",
                                 "--no-restart", "--no-upgrade"], env=self.env,
                                 logfile=os.path.join(self.work, f"syncthing-{n}.log"))
        for n, other in (("a", "b"), ("b", "a")):
            wait_until(lambda: self.st_get(n, "/rest/system/ping", quiet=True), 60, f"syncthing {n} REST", 0.2)
        wait_until(lambda: self.st_get("a", "/rest/system/connections")["connections"].get(ids["b"], {}).get("connected"),
                   120, "syncthing A and B to connect", 0.2)

    def st_config(self, me, peer):
        path = os.path.join(me["home"], "config.xml")
        tree = ET.parse(path)
        root = tree.getroot()
        gui = root.find("gui")
        gui.find("address").text = f"127.0.0.1:{me['gui']}"
        gui.find("apikey").text = me["key"]
        opts = root.find("options")
        for e in opts.findall("listenAddress"):
            opts.remove(e)
        la = ET.SubElement(opts, "listenAddress")
        la.text = f"tcp://127.0.0.1:{me['listen']}"
        # Only 127.0.0.1: no discovery, relays, NAT, STUN, usage or crash reports, upgrades.
        for k, v in (("globalAnnounceEnabled", "false"), ("localAnnounceEnabled", "false"), ("relaysEnabled", "false"),
                     ("natEnabled", "false"), ("urAccepted", "-1"), ("autoUpgradeIntervalH", "0"),
                     ("crashReportingEnabled", "false"), ("startBrowser", "false"), ("stunKeepaliveStartS", "0"),
                     ("announceLANAddresses", "false")):
            e = opts.find(k)
            if e is None:
                e = ET.SubElement(opts, k)
            e.text = v
        dev = ET.Element("device", {"id": peer["id"], "name": "peer", "compression": "metadata", "introducer": "false",
                                    "skipIntroductionRemovals": "false", "introducedBy": ""})
        ET.SubElement(dev, "address").text = f"tcp://127.0.0.1:{peer['listen']}"
        ET.SubElement(dev, "paused").text = "false"
        ET.SubElement(dev, "autoAcceptFolders").text = "false"
        root.insert(1, dev)
        tree.write(path)

    def st_req(self, n, method, path, body=None, quiet=False):
        s = self.st[n]
        req = urllib.request.Request(f"http://127.0.0.1:{s['gui']}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"X-API-Key": s["key"], "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                text = r.read()
                return json.loads(text) if text.strip() else True
        except (urllib.error.URLError, ConnectionError, OSError) as e:
            if quiet:
                return None
            raise BenchError(f"syncthing {n} {method} {path}: {e}")

    def st_get(self, n, path, quiet=False):
        return self.st_req(n, "GET", path, quiet=quiet)

    def st_sent(self):
        c = self.st_get("a", "/rest/system/connections")["connections"][self.st["b"]["id"]]
        return c["outBytesTotal"]

    def st_copy_in(self, rel):
        shutil.copytree(os.path.join(self.src, rel), os.path.join(self.st["a"]["folder"], rel))

    def st_pause(self, paused):
        if getattr(self, "st_folder_added", False):
            self.st_req("a", "PATCH", "/rest/config/folders/bench", {"paused": paused})

    def st_meter(self):
        return Meter([self.st["a"]["daemon"], self.st["b"]["daemon"]])

    def st_wait(self, sc, sentinels, files):
        b = self.st["b"]["folder"]

        def done():
            for n in ("a", "b"):
                if not self.st[n]["daemon"].alive():
                    raise BenchError(f"syncthing {n} exited: {self.st[n]['daemon'].log_tail()}")
            for rel in sentinels:
                try:
                    if os.path.getsize(os.path.join(b, rel)) != os.path.getsize(os.path.join(self.src, rel)):
                        return False
                except OSError:
                    return False
            st = self.st_get("b", "/rest/db/status?folder=bench")
            return (st["state"] == "idle" and st["needTotalItems"] == 0 and st["globalFiles"] == files
                    and st["localFiles"] == files)

        wait_until(done, self.timeout, f"{sc}: syncthing B to hold the folder", 0.05)

    def st_first(self, sc, mib):
        m = self.st_meter()
        sent0 = self.st_sent()
        t0 = time.monotonic()
        for n in ("a", "b"):
            self.st_req(n, "PUT", "/rest/config/folders/bench", {
                "id": "bench", "label": "bench", "path": self.st[n]["folder"], "type": "sendreceive",
                "devices": [{"deviceID": self.st["a"]["id"]}, {"deviceID": self.st["b"]["id"]}]})
        self.st_folder_added = True
        self.st_wait(sc, ["big/big.bin"], 1)
        self.st_row(sc, mib, m, sent0, t0, "folder added on both at t0")

    def st_change(self, sc, mib, sentinels):
        m = self.st_meter()
        sent0 = self.st_sent()
        t0 = time.monotonic()
        self.st_pause(False)  # unpausing rescans the folder at once (the watcher would wait 10 s first)
        self.st_wait(sc, sentinels, sum(1 for _ in self.expected))
        self.st_row(sc, mib, m, sent0, t0, "A's folder unpaused (rescan) at t0")

    def st_row(self, sc, mib, m, sent0, t0, note):
        wall = time.monotonic() - t0
        cpu, peak = m.done()
        v = compare(self.expected, self.st["b"]["folder"], f"{sc} syncthing B")
        self.add(sc, "syncthing", wall, self.st_sent() - sent0, peak, cpu, mib, v, note + "; A to B, bytes on A's connection")

    # ---- all
    def run_all(self):
        self.setup()
        self.scenario_big()
        self.scenario_insert()
        self.scenario_small()
        self.scenario_download()
        self.scenario_propagate()

    def stop(self):
        if self.appliance:
            self.appliance.stop()
        for s in self.st.values():
            if "daemon" in s:
                s["daemon"].stop()


# --- report --------------------------------------------------------------------------------------------

def fmt_bytes(n):
    if n is None:
        return ""
    if n < 10 * 1024:
        return f"{n} B"
    return f"{n / MIB:.2f} MiB"


def fmt_cpu(d):
    return ", ".join(f"{k} {v:.2f}" for k, v in d.items())


def fmt_rss(d):
    return ", ".join(f"{k} {v / 1e6:.0f} MB" for k, v in d.items())


SCENARIOS = {
    "1 big": "one {big} MiB random file, first upload",
    "2 insert": "one byte inserted at offset 0, sync again",
    "3 small": "{files} files of 1-8 KiB in {folders} folders, first upload",
    "4 download": "a second device downloads both",
    "5 propagate": "a new 4 KiB file on A until whole on B, daemons, defaults (p50)",
}


def report(runner, a, started, load0):
    lines = []
    w = lines.append
    w(f"### End-to-end peer run ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))})")
    w("")
    w("| scenario | tool | wall (s) | sent / added | peak RSS | CPU s | CPU ms/MiB | ours / this (wall) | verified | note |")
    w("|---|---|---:|---:|---|---|---:|---:|---|---|")
    for sc in SCENARIOS:
        rows = [r for r in runner.rows if r.scenario == sc]
        ours = next((r for r in rows if r.tool == "ours" and r.wall is not None), None)
        for r in rows:
            title = SCENARIOS[sc].format(big=a.big_mib, files=a.files, folders=a.folders)
            if r.wall is None:
                w(f"| {title} | {r.tool} | | | | | | | {r.verified} | |")
                continue
            total_cpu = sum(r.cpu.values())
            per_mib = f"{total_cpu * 1000 / r.mib:.1f}" if r.mib else ""
            ratio = f"{ours.wall / r.wall:.2f}" if ours and r.tool != "ours" and r.wall > 0 else ""
            w(f"| {title} | {r.tool} | {r.wall:.2f} | {fmt_bytes(r.bytes)} | {fmt_rss(r.rss)} | {fmt_cpu(r.cpu)} | "
              f"{per_mib} | {ratio} | {r.verified} | {r.note} |")
    w("")
    # The same walls at a glance: one row per scenario, one column per tool, ours / this in brackets.
    tools = [t for t in ["ours", "restic", "borg", "syncthing", "rclone", "rsync", "cp", "dd conv=fdatasync"]
             if any(r.tool == t for r in runner.rows)]
    w("| scenario | " + " | ".join(tools) + " |")
    w("|---|" + "---:|" * len(tools))
    for sc in SCENARIOS:
        rows = {r.tool: r for r in runner.rows if r.scenario == sc}
        ours = rows.get("ours")
        cells = []
        for t in tools:
            r = rows.get(t)
            if r is None:
                cells.append("")
            elif r.wall is None:
                cells.append("FAILED")
            elif t == "ours" or ours is None or ours.wall is None:
                cells.append(f"{r.wall:.2f} s" + (f", {fmt_bytes(r.bytes)}" if sc == "2 insert" and r.bytes is not None else ""))
            else:
                cells.append(f"{r.wall:.2f} s" + (f", {fmt_bytes(r.bytes)}" if sc == "2 insert" and r.bytes is not None else "")
                             + f" ({ours.wall / r.wall:.2f}x)")
        w(f"| {SCENARIOS[sc].format(big=a.big_mib, files=a.files, folders=a.folders)} | " + " | ".join(cells) + " |")
    w("")
    w("In brackets: ours' wall time divided by this tool's (above 1: ours is slower).")
    w("")
    cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    dev = subprocess.run(["df", "--output=source", a.work], capture_output=True, text=True).stdout.split()[-1]
    parts = subprocess.run(["lsblk", "-dno", "NAME,SIZE,ROTA,MODEL", dev], capture_output=True, text=True).stdout.split(None, 3)
    disk = (f"{parts[0]} {parts[1]}{' ' + parts[3].strip() if len(parts) > 3 else ''}, "
            f"{'rotational' if parts[2] == '1' else 'non-rotational'} as the kernel reports it") if len(parts) >= 3 else dev
    fs = subprocess.run(["df", "--output=fstype", a.work], capture_output=True, text=True).stdout.split()[-1]
    w(f"Machine: {os.cpu_count()} cores ({cpu_model}), {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
      f"kernel {platform.release()}, disk {disk}, {fs}; "
      f"load average {load0[0]:.1f} at start, {os.getloadavg()[0]:.1f} at end.")
    vers = []
    for t, cmd in (("restic", ["restic", "version"]), ("borg", ["borg", "--version"]), ("syncthing", ["syncthing", "--version"]),
                   ("rclone", ["rclone", "version"]), ("rsync", ["rsync", "--version"]), ("dotnet", ["dotnet", "--version"])):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.splitlines()[0]
            vers.append(f"{t} {next((x for x in out.split() if x[:1].isdigit() or x[:2] in ('v0', 'v1', 'v2')), out)}")
        except (OSError, IndexError, subprocess.TimeoutExpired):
            pass
    w(f"Versions: {', '.join(vers)}.")
    w(f"Command: `benchmarks/e2e/run.sh {' '.join(shlex.quote(x) for x in sys.argv[1:] if not x.startswith('--root'))}` "
      f"(seed {a.seed}).")
    w("")
    w("Ours: the `standalone` appliance (metadata and storage node in one process, 'appliance') built Release on "
      "127.0.0.1, the client's `sync --once --json` after `login`, as in the README"
      + (" (the client natively compiled, as the README publishes it)" if a.client == "native"
         else " (the client's Release dll under dotnet, as `dotnet run -c Release` runs it)")
      + ("; the appliance with its launch profile's environment, as `dotnet run` starts it ("
         + ", ".join(f"{k}={v}" for k, v in sorted(runner.appliance_env.items())) + ")"
         if runner.appliance_env else "") + ". 'ours / this' above 1 means "
      f"ours took longer. Every tool starts after the data has been still for {SETTLE_S} s (the client's --once pass "
      "waits for files younger than 2 s), after a sync (the previous tool's dirty pages written back) and "
      + ("with no tool's output deleted before the end of the run (each moved aside: on ext4 creating files soon after "
         "many deletions costs the creator an inode-table scan)" if runner.defer_deletes else
         f"at least {a.delete_settle} s after the runner's last mass deletion (ext4 makes creating files soon after "
         "many deletions cost the creator an inode-table scan; the disk had no room to keep every output to the end)")
      + (", with the page cache dropped" if a.drop_caches else "") + ". Peak RSS of a command is the largest of it and its children (as /usr/bin/time reports it); of a "
      "daemon its VmHWM over the scenario. CPU ms/MiB is over the scenario's data (scenario 2: the whole file). "
      "Uploads of ours, restic and borg are verified by an untimed download / restore / extract compared with the "
      "source; syncthing, rclone, rsync and cp by comparing the copy. rclone, rsync and cp do not fsync (dd does; "
      "ours and the others as they do by default). Syncthing runs with its defaults, which include "
      "setLowPriority (it lowers its own CPU and I/O priority) and a 10 s watcher delay; in scenarios 2 and 3 its "
      "folder on A is paused while the data changes and unpaused at t0, which rescans at once.")
    if runner.failures:
        w("")
        w("Failures: " + "; ".join(runner.failures))
    return "\n".join(lines)


def rm_tree(path):
    """Removes a tree with rm(1), several times faster than rmtree on ~100,000 files, bounded in time; rmtree what is left."""
    try:
        subprocess.run(["rm", "-rf", "--one-file-system", path], timeout=1200, check=False)
    except subprocess.TimeoutExpired:
        pass
    shutil.rmtree(path, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True, help="the repository (run.sh passes it)")
    p.add_argument("--big-mib", type=int, default=1024, help="size of the big file (default 1024)")
    p.add_argument("--files", type=int, default=10000, help="number of small files (default 10000)")
    p.add_argument("--folders", type=int, default=100, help="folders for the small files (default 100)")
    p.add_argument("--changes", type=int, default=20, help="propagation changes measured (default 20)")
    p.add_argument("--seed", type=int, default=11, help="data seed (default 11)")
    p.add_argument("--client", choices=("native", "dll"), default="native",
                   help="the client measured: the natively compiled one run.sh publishes (default, as the README "
                        "tells users to publish it), or the Release dll under dotnet (dotnet run -c Release)")
    p.add_argument("--tools", default=",".join(ALL_TOOLS), help=f"comma-separated subset of {','.join(ALL_TOOLS)}")
    p.add_argument("--timeout", type=int, default=900, help="seconds any one command or wait may take (default 900)")
    p.add_argument("--change-timeout", type=int, default=120, help="seconds one propagation may take (default 120)")
    p.add_argument("--work", help="work folder (default: a new one under $TMPDIR; removed at the end unless --keep)")
    p.add_argument("--defer-deletes", choices=("auto", "on", "off"), default="auto",
                   help="keep every tool's restore, extract and copy (moved aside) until the end of the run instead of "
                        "deleting it at once: on, off, or auto (default: on where the work folder's disk has room for "
                        "all of them; see Fairness above)")
    p.add_argument("--delete-settle", type=int, default=DELETE_SETTLE_S,
                   help=f"with deletions not deferred, seconds no tool starts after the runner's last mass deletion (default {DELETE_SETTLE_S}; see Fairness above)")
    p.add_argument("--drop-caches", action="store_true",
                   help="also empty the page cache before each tool (machine-wide; root only; default off)")
    p.add_argument("--keep", action="store_true", help="keep the work folder (logs, repositories)")
    p.add_argument("--out", help="also write the Markdown report to this file")
    a = p.parse_args()
    a.tools = [t.strip() for t in a.tools.split(",") if t.strip()]
    bad = [t for t in a.tools if t not in ALL_TOOLS]
    if bad or a.big_mib < 1 or a.files < 1 or a.folders < 1 or a.changes < 1:
        p.error(f"unknown tools {bad}" if bad else "--big-mib, --files, --folders and --changes must be at least 1")
    global _work_dir
    made_work = a.work is None
    a.work = tempfile.mkdtemp(prefix="dropbox-peers.") if made_work else os.path.abspath(a.work)
    if not made_work:
        if os.path.exists(a.work) and os.listdir(a.work):
            p.error(f"--work {a.work} is not empty")
        os.makedirs(a.work, exist_ok=True)
    _work_dir = a.work

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    started, load0 = time.time(), os.getloadavg()
    runner = None
    rc = 0
    try:
        runner = Runner(a)
        log(f"work folder {a.work}; tools {','.join(a.tools)}")
        runner.run_all()
    except BenchError as e:
        log(f"stopped: {e}")
        rc = 1
    except KeyboardInterrupt as e:
        log(f"interrupted ({e}); cleaning up")
        rc = 130
    finally:
        if runner:
            try:
                runner.stop()
            finally:
                cleanup()
        else:
            cleanup()
    if runner and runner.rows:
        text = report(runner, a, started, load0)
        print(text)
        if a.out:
            with open(a.out, "w") as f:
                f.write(text + "\n")
        if runner.failures and rc == 0:
            rc = 1
    if a.keep:
        rm_tree(os.path.join(a.work, "trash"))  # the verified restores, extracts and copies moved aside: not worth keeping
        log(f"kept {a.work} (but its trash)")
    else:
        log(f"removing {a.work}")
        rm_tree(a.work)
    return rc


if __name__ == "__main__":
    sys.exit(main())
