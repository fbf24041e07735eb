#!/usr/bin/env python3
"""End-to-end UDP benchmark on loopback: echo servers behind no balancer (direct), a plain
recvmmsg relay, shortline-lb (1 and 2 workers) and nginx's stream proxy; pps, loss, latency
and the balancer's CPU time per answered request, with steady flows, with a new source port
per request (churn) and under a spoofed-source flood. Writes JSON, Markdown and a picture
(pps and CPU per request per row) to bench/results/. Standard library only (the picture needs
matplotlib and is skipped with a note without it)."""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import select
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

from e2e_plot import plot_e2e
from e2e_report import add_ratios, markdown

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLK_TCK = os.sysconf("SC_CLK_TCK")
NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
LISTEN_RE = re.compile(r"listening (?:on )?(\S+):(\d+)")
STEADY_ROWS = ["direct", "relay", "lb1", "lb2", "nginx"]
CHURN_ROWS = ["direct-churn", "relay-churn", "lb1-churn", "nginx-churn"]
FLOOD_ROWS = ["direct-flood", "lb1-flood"]
ALL_ROWS = STEADY_ROWS + CHURN_ROWS + FLOOD_ROWS
ROW_TITLES = {"direct": "direct (no balancer)", "relay": "plain relay (1 thread)",
              "lb1": "shortline-lb 1 worker", "lb2": "shortline-lb 2 workers",
              "nginx": "nginx stream (1 worker)"}
ROW_TITLES.update({f"{b}-churn": ROW_TITLES[b] + ", churn" for b in ("direct", "relay", "lb1",
                                                                      "nginx")})
ROW_TITLES.update({f"{b}-flood": ROW_TITLES[b] + ", spoofed flood" for b in ("direct", "lb1")})
RELAY_CHURN_CLIENTS_MAX = 60000  # the relay's own ceiling; lowered to the file limit


def row_kind(row):
    """("steady" | "churn" | "flood", the balancer row it runs: direct, relay, lb1, ...)."""
    base, _, kind = row.partition("-")
    return kind or "steady", base


def files_hard_limit():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 1 << 20 if hard == resource.RLIM_INFINITY else hard


def child_setup(cpus):
    """Runs in each child before exec: the soft file limit raised to the hard one (churn opens
    a socket per client in the relay), then the CPU pinning, if any."""
    def setup():
        resource.setrlimit(resource.RLIMIT_NOFILE, (files_hard_limit(), files_hard_limit()))
        if cpus:
            os.sched_setaffinity(0, cpus)
    return setup


class Child:
    """A child process in its own process group, optionally pinned, with its output logged."""

    live = []

    def __init__(self, name, argv, log_dir, cpus=None):
        self.name = name
        self.log_path = os.path.join(log_dir, name + ".log")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     preexec_fn=child_setup(cpus))
        self.pgid = self.proc.pid
        self.buffer = b""
        Child.live.append(self)

    def read_lines(self, count, timeout_s):
        """Returns the first `count` stdout lines matching LISTEN_RE (ports), or raises."""
        deadline, ports = time.monotonic() + timeout_s, []
        fd = self.proc.stdout.fileno()
        while len(ports) < count:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise RuntimeError(f"{self.name}: no ready line (see {self.log_path})")
            if select.select([fd], [], [], min(left, 0.2))[0]:
                chunk = os.read(fd, 4096)
                self.log.write(chunk)
                self.buffer += chunk
            *lines, self.buffer = self.buffer.split(b"\n")
            for line in lines:
                match = LISTEN_RE.search(line.decode(errors="replace"))
                if match:
                    ports.append(int(match.group(2)))
        self.log.flush()
        threading.Thread(target=self._drain, daemon=True).start()
        return ports

    def _drain(self):
        fd = self.proc.stdout.fileno()
        try:
            while chunk := os.read(fd, 65536):
                self.log.write(chunk)
        except (OSError, ValueError):
            pass

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.pgid, signal.SIGTERM)
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                os.killpg(self.pgid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        if self in Child.live:
            Child.live.remove(self)
        self.log.close()

    @classmethod
    def stop_all(cls):
        for child in list(cls.live):
            child.stop()


def stat_fields(pid):
    """/proc/PID/stat from field 3 (state) on, or None once the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def group_cpu_s(pgid):
    """utime + stime of every process (all its threads) in process group pgid, in seconds."""
    ticks = 0
    for entry in os.listdir("/proc"):
        fields = stat_fields(entry) if entry.isdigit() else None
        if fields and int(fields[2]) == pgid:  # fields[0] is stat field 3 (state): pgrp is 5
            ticks += int(fields[11]) + int(fields[12])  # utime 14, stime 15
    return ticks / CLK_TCK


def process_cpu_s(pid):
    fields = stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK if fields else None


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_echoing(port, timeout_s=5.0):
    """Sends probes through the balancer until one comes back (the data path is up)."""
    deadline = time.monotonic() + timeout_s
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.1)
        while time.monotonic() < deadline:
            s.sendto(b"\xff" * 16, ("127.0.0.1", port))
            try:
                if s.recv(64):
                    return
            except OSError:
                time.sleep(0.05)
    raise RuntimeError(f"nothing echoed through 127.0.0.1:{port} within {timeout_s} s")


def run_loadgen(args, port, size, rate, balancer, cpus, churn=False):
    """One loadgen run; returns its JSON plus the balancer's and its own CPU over the measured
    window. churn: a new socket (source port) per request, --churn-window outstanding."""
    argv = [os.path.join(args.bin_dir, "shortline-bench-loadgen"),
            "--target", f"127.0.0.1:{port}", "--size", str(size), "--rate", str(rate),
            "--window", str(args.churn_window if churn else args.window),
            "--flows", str(args.flows), "--duration", str(args.duration),
            "--warmup", str(args.warmup), "--grace", str(args.grace)]
    argv += ["--churn"] if churn else []
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, preexec_fn=child_setup(cpus))
    watchdog = threading.Timer(args.duration + args.warmup + args.grace + 15, proc.kill)
    watchdog.start()
    cpu, own, other = {}, {}, []
    try:
        for line in proc.stderr:
            mark = line.strip()
            if mark in ("MEASURE_START", "MEASURE_END"):
                cpu[mark] = group_cpu_s(balancer.pgid) if balancer else None
                own[mark] = process_cpu_s(proc.pid)
            else:
                other.append(mark)
        out = proc.stdout.read()
        proc.wait()
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0 or not out.strip():
        raise RuntimeError(f"loadgen failed ({proc.returncode}): {' '.join(other)[-500:]}")
    result = json.loads(out)

    def per_req(used_s):
        return used_s / result["answered"] * 1e6 if result["answered"] else None
    if balancer and len(cpu) == 2:
        result["balancer_cpu_s"] = cpu["MEASURE_END"] - cpu["MEASURE_START"]
        result["cpu_us_per_req"] = per_req(result["balancer_cpu_s"])
    if None not in own.values() and len(own) == 2:
        result["generator_cpu_us_per_req"] = per_req(own["MEASURE_END"] - own["MEASURE_START"])
    return result


def nginx_argv(args, backends, log_dir):
    port = free_udp_port()
    files_max = min(65536, files_hard_limit())
    servers = "".join(f"    server 127.0.0.1:{p};\n" for p in backends)
    conf = (f"load_module {NGINX_STREAM_MODULE};\n"
            f"worker_processes 1;\nworker_rlimit_nofile {files_max};\n"
            f"pid {log_dir}/nginx.pid;\nerror_log {log_dir}/nginx-error.log warn;\n"
            f"events {{ worker_connections {files_max // 2}; }}\n"
            "stream {\n  upstream echo_servers {\n" + servers + "  }\n"
            f"  server {{\n    listen 127.0.0.1:{port} udp;\n    proxy_pass echo_servers;\n"
            "    proxy_responses 1;\n    proxy_timeout 5s;\n  }\n}\n")
    path = os.path.join(log_dir, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    return ["nginx", "-c", path, "-p", log_dir + "/", "-g", "daemon off;"], port


def start_balancer(args, row, backends, log_dir, pin, churn=False):
    """Starts the row's balancer; returns (Child, port) or raises FileNotFoundError. churn: the
    relay's client table is raised from 4096 so that it holds every ephemeral port it can."""
    backend_list = ",".join(f"127.0.0.1:{p}" for p in backends)
    cpus = pin["balancer"]
    if row == "relay":
        argv = [os.path.join(args.bin_dir, "shortline-bench-relay"), "--listen", "127.0.0.1:0",
                "--backend", backend_list]
        if churn:
            clients_max = min(RELAY_CHURN_CLIENTS_MAX, files_hard_limit() - 64)
            argv += ["--clients-max", str(clients_max)]
    elif row in ("lb1", "lb2"):
        lb = args.lb or os.path.join(args.bin_dir, "shortline-lb")
        if not os.access(lb, os.X_OK):
            raise FileNotFoundError(f"{lb} is not built yet")
        workers = "1" if row == "lb1" else "2"
        # Control and admin ports are fixed by default; a benchmark takes free ones.
        argv = [lb, "--listen", "127.0.0.1:0", "--backend", backend_list, "--workers", workers,
                "--control-port", "0", "--controller-port", "0", "--admin", "127.0.0.1:0"]
        cpus = pin["balancer"] if row == "lb1" else None  # 2 workers: both CPUs, unpinned
    else:
        argv, port = nginx_argv(args, backends, log_dir)
        child = Child(row, argv, log_dir, cpus)
        wait_until_echoing(port)
        return child, port
    child = Child(row, argv, log_dir, cpus)
    port = child.read_lines(1, 10)[0]
    wait_until_echoing(port)
    return child, port


def check_echo(echo, ports):
    """Every row starts with all echo servers answering; otherwise says what echo is doing."""
    try:
        for port in ports:
            wait_until_echoing(port, 2.0)
    except RuntimeError as error:
        state = "exited" if echo.proc.poll() is not None else "unknown"
        try:
            with open(f"/proc/{echo.proc.pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            with open(f"/proc/{echo.proc.pid}/wchan") as f:
                state += " in " + f.read()
        except OSError:
            pass
        raise RuntimeError(f"echo servers not answering ({error}); echo process state {state}")


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def measure_row(args, row, size, echo_ports, log_dir, pin):
    kind = row_kind(row)[0]
    if kind == "churn":
        return measure_churn_row(args, row, size, echo_ports, log_dir, pin)
    if kind == "flood":
        return measure_flood_row(args, row, size, echo_ports, log_dir, pin)
    balancer, port = None, echo_ports[0]
    if row != "direct":
        balancer, port = start_balancer(args, row, echo_ports, log_dir, pin)
    try:
        saturated = [run_loadgen(args, port, size, 0, balancer, pin["generator"])
                     for _ in range(args.repeats)]
        light = [run_loadgen(args, port, size, args.light_rate, balancer, pin["generator"])
                 for _ in range(args.repeats)]
        if balancer and balancer.proc.poll() is not None:
            raise RuntimeError(f"{row} exited during the run (see {balancer.log_path})")
    finally:
        if balancer:
            balancer.stop()
    loss = [loss_pct(r) for r in saturated]
    return {"row": row, "kind": "steady", "title": ROW_TITLES[row], "payload": size,
            "pps": median(r["pps_answered"] for r in saturated), "loss_pct": median(loss),
            "p50_us": median(r["p50_us"] for r in saturated),
            "p99_us": median(r["p99_us"] for r in saturated),
            "p999_us": median(r["p999_us"] for r in saturated),
            "light_p99_us": median(r["p99_us"] for r in light),
            "light_loss_pct": median(loss_pct(r) for r in light),
            "cpu_us_per_req": median(r.get("cpu_us_per_req") for r in saturated),
            "light_cpu_us_per_req": median(r.get("cpu_us_per_req") for r in light),
            "runs": {"saturation": saturated, "light": light}}


def loss_pct(run):
    return 100.0 * run["lost"] / run["sent"] if run["sent"] else None


def stop_and_tail(balancer):
    """Stops a balancer and returns the end of its log (its exit counters), or None."""
    if not balancer:
        return None
    balancer.stop()
    with open(balancer.log_path, errors="replace") as f:
        return f.read()[-600:]


def measure_churn_row(args, row, size, echo_ports, log_dir, pin):
    """A new source port per request, closed loop at the generator's maximum (rate 0)."""
    _, base = row_kind(row)
    balancer, port = None, echo_ports[0]
    if base != "direct":
        balancer, port = start_balancer(args, base, echo_ports, log_dir, pin, churn=True)
    try:
        runs = [run_loadgen(args, port, size, 0, balancer, pin["generator"], churn=True)
                for _ in range(args.repeats)]
        if balancer and balancer.proc.poll() is not None:
            raise RuntimeError(f"{row} exited during the run (see {balancer.log_path})")
    finally:
        exit_log = stop_and_tail(balancer)
    counts = {key: sum(r.get(key, 0) for r in runs)
              for key in ("duplicates", "foreign", "window_full", "socket_errors", "send_errors")}
    return {"row": row, "kind": "churn", "title": ROW_TITLES[row], "payload": size,
            "pps": median(r["pps_answered"] for r in runs),
            "loss_pct": median(loss_pct(r) for r in runs),
            "p50_us": median(r["p50_us"] for r in runs),
            "p99_us": median(r["p99_us"] for r in runs),
            "cpu_us_per_req": median(r.get("cpu_us_per_req") for r in runs),
            "generator_cpu_us_per_req": median(r.get("generator_cpu_us_per_req") for r in runs),
            "counts": counts, "exit_log": exit_log, "runs": {"saturation": runs}}


def start_flood(args, port, size, log_dir, cpus, duration_s):
    """Starts shortline-bench-flood at --flood-rate; returns its Child once it is sending."""
    flood_bin = os.path.join(args.bin_dir, "shortline-bench-flood")
    if not os.access(flood_bin, os.X_OK):
        raise FileNotFoundError(f"{flood_bin} is not built yet")
    argv = [flood_bin, "--target", f"127.0.0.1:{port}", "--rate", str(args.flood_rate),
            "--size", str(size), "--duration", f"{duration_s:.1f}"]
    log_path = os.path.join(log_dir, "flood.log")
    offset = os.path.getsize(log_path) if os.path.exists(log_path) else 0  # earlier rows' runs
    flood = Child("flood", argv, log_dir, cpus)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with open(flood.log_path, errors="replace") as f:
            f.seek(offset)
            text = f.read()
        if "FLOOD_START" in text:
            return flood
        if flood.proc.poll() is not None:
            flood.stop()
            raise RuntimeError(f"flood exited ({flood.proc.returncode}): {text.strip()[-300:]}")
        time.sleep(0.05)
    flood.stop()
    raise RuntimeError("flood did not start within 5 s")


def stop_flood(flood):
    """SIGTERM: the flood prints what it sent and exits; returns that JSON (or {})."""
    flood.stop()
    out = flood.proc.stdout.read().decode(errors="replace").strip()
    return json.loads(out.splitlines()[-1]) if out else {}


def measure_flood_row(args, row, size, echo_ports, log_dir, pin):
    """A legitimate loadgen at --flood-legit-rate through the balancer, first alone, then while
    shortline-bench-flood sends spoofed sources at --flood-rate (0: its maximum) to the same
    port. direct-flood floods one echo port with no balancer: what the harness itself loses."""
    if os.geteuid() != 0:
        raise RuntimeError("needs root (a raw socket for spoofed source addresses)")
    _, base = row_kind(row)
    balancer, port = None, echo_ports[0]
    if base != "direct":
        balancer, port = start_balancer(args, base, echo_ports, log_dir, pin)
    flood, flood_out = None, {}

    def legit():
        return run_loadgen(args, port, size, args.flood_legit_rate, balancer, pin["generator"])
    try:
        alone = [legit() for _ in range(args.repeats)]
        span_s = args.repeats * (args.warmup + args.duration + args.grace + 2) + 3
        flood = start_flood(args, port, size, log_dir, pin["generator"], span_s)
        flooded = [legit() for _ in range(args.repeats)]
        flood_out = stop_flood(flood)
        if balancer and balancer.proc.poll() is not None:
            raise RuntimeError(f"{row} exited during the flood (see {balancer.log_path})")
    finally:
        if flood:
            flood.stop()
        exit_log = stop_and_tail(balancer)
    busy = [r["balancer_cpu_s"] / ((r["window_end_ns"] - r["window_start_ns"]) / 1e9) * 100
            for r in flooded if "balancer_cpu_s" in r]
    return {"row": row, "kind": "flood", "title": ROW_TITLES[row], "payload": size,
            "legit_rate": args.flood_legit_rate,
            "alone_loss_pct": median(loss_pct(r) for r in alone),
            "alone_p99_us": median(r["p99_us"] for r in alone),
            "loss_pct": median(loss_pct(r) for r in flooded),
            "p99_us": median(r["p99_us"] for r in flooded),
            "p999_us": median(r["p999_us"] for r in flooded),
            "balancer_cpu_pct": median(busy), "flood_sent": flood_out.get("sent"),
            "flood_pps": flood_out.get("pps_sent"), "flood": flood_out, "exit_log": exit_log,
            "runs": {"alone": alone, "flood": flooded}}


def metadata(args, pin):
    def command_output(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT,
                                  timeout=10).stdout.strip() or "unknown"
        except OSError:
            return "unknown"
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    return {"time": datetime.datetime.now().isoformat(timespec="seconds"),
            "host": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count(),
            "cpu_model": model, "commit": command_output(["git", "rev-parse", "--short", "HEAD"]),
            "nginx": nginx.replace("nginx version: ", ""), "pinning": pin["text"],
            "window": args.window, "flows": args.flows, "light_rate": args.light_rate,
            "churn_window": args.churn_window, "flood_rate": args.flood_rate,
            "flood_legit_rate": args.flood_legit_rate, "root": os.geteuid() == 0,
            "duration_s": args.duration, "warmup_s": args.warmup, "repeats": args.repeats,
            "sizes": args.sizes, "rows": args.rows, "bin_dir": args.bin_dir,
            "loadavg_before": os.getloadavg()}


def pinning(args):
    cpus = os.sched_getaffinity(0)
    if not args.pin or not {0, 1} <= cpus:
        return {"generator": None, "balancer": None,
                "text": "none (--no-pin, or CPUs 0 and 1 not both available)."}
    return {"generator": {0}, "balancer": {1},
            "text": "load generator, echo servers and the flood sender on CPU 0; relay, nginx"
                    " (master and worker) and shortline-lb with 1 worker on CPU 1; shortline-lb"
                    " with 2 workers unpinned (it shares CPU 0 with the generator)."}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build-dir", default=os.path.join(ROOT, "build/release"))
    p.add_argument("--lb", help="shortline-lb binary (default: BUILD_DIR/bin/shortline-lb)")
    default_rows = STEADY_ROWS + CHURN_ROWS + (FLOOD_ROWS if os.geteuid() == 0 else [])
    p.add_argument("--rows", default=",".join(default_rows),
                   help="subset of " + ",".join(ALL_ROWS) + " (default: all; the flood row only"
                   " as root)")
    p.add_argument("--sizes", default="64,512", help="payload sizes in bytes (>= 16)")
    p.add_argument("--repeats", type=int, help="runs per measurement, median kept (3)")
    p.add_argument("--duration", type=float, help="measured seconds per run (5)")
    p.add_argument("--warmup", type=float, help="seconds before measuring (1)")
    p.add_argument("--grace", type=float, help="seconds to wait for late replies (0.5)")
    p.add_argument("--light-rate", type=int, default=20000)
    p.add_argument("--window", type=int, default=128)
    p.add_argument("--flows", type=int, default=8)
    p.add_argument("--churn-window", type=int, default=64,
                   help="churn rows: requests (each its own socket) outstanding")
    p.add_argument("--flood-rate", type=int, default=0,
                   help="flood row: spoofed datagrams per second (0: as fast as it can)")
    p.add_argument("--flood-legit-rate", type=int, default=5000,
                   help="flood row: the legitimate client's requests per second")
    p.add_argument("--pin", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--quick", action="store_true",
                   help="~1 minute smoke run: 1 run of 1 s after 0.3 s (flags still override)")
    p.add_argument("--out-dir", default=os.path.join(ROOT, "bench/results"))
    args = p.parse_args()
    defaults = {"repeats": 1, "duration": 1.0, "warmup": 0.3, "grace": 0.3} if args.quick else \
        {"repeats": 3, "duration": 5.0, "warmup": 1.0, "grace": 0.5}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.bin_dir = os.path.join(os.path.abspath(args.build_dir), "bin")
    args.rows = [r for r in args.rows.split(",") if r]
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    if set(args.rows) - set(ALL_ROWS) or not args.sizes or min(args.sizes) < 16:
        p.error("--rows must name " + ",".join(ALL_ROWS) + "; --sizes must be >= 16")
    if not 1 <= args.repeats <= 20 or not 0 < args.duration <= 60 or args.warmup > 30:
        p.error("--repeats 1..20, --duration (0, 60], --warmup <= 30")
    if not 1 <= args.churn_window <= 16384 or not 1 <= args.flood_legit_rate <= 1_000_000 \
            or args.flood_rate < 0:
        p.error("--churn-window 1..16384, --flood-legit-rate 1..1000000, --flood-rate >= 0")
    return args


def run(args, base):
    """Measures every row for every size; logs (and nginx's prefix) go to BASE-logs/."""
    pin = pinning(args)
    meta = metadata(args, pin)
    results = []
    log_dir = base + "-logs"
    os.makedirs(log_dir)
    echo = Child("echo", [os.path.join(args.bin_dir, "shortline-bench-echo"),
                          "--ports", "0,0,0"], log_dir, pin["generator"])
    echo_ports = echo.read_lines(3, 5)
    for size in args.sizes:
        for row in args.rows:
            print(f"e2e: {ROW_TITLES[row]}, {size} B ...", file=sys.stderr, flush=True)
            try:
                check_echo(echo, echo_ports)
                results.append(measure_row(args, row, size, echo_ports, log_dir, pin))
            except (FileNotFoundError, RuntimeError) as error:
                print(f"e2e: skipping {row} {size} B: {error}", file=sys.stderr, flush=True)
                results.append({"row": row, "kind": row_kind(row)[0], "title": ROW_TITLES[row],
                                "payload": size, "skipped": str(error)})
    echo.stop()
    meta["loadavg_after"] = os.getloadavg()
    add_ratios(results)
    return meta, results


def write_outputs(base, meta, results):
    with open(base + ".json", "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=2)
    picture = plot_e2e(base + ".json", base + ".png")  # None, with a note, when it fails
    table = markdown(meta, results)
    if picture:
        table += f"\n![pps and CPU per request]({os.path.basename(picture)})\n"
    with open(base + ".md", "w") as f:
        f.write(table)
    print(table)
    print(f"e2e: wrote {base}.json, {base}.md" + (f", {picture}" if picture else "") +
          f" and {base}-logs/", file=sys.stderr)


def main():
    args = parse_args()
    for tool in ("shortline-bench-loadgen", "shortline-bench-echo", "shortline-bench-relay"):
        if not os.access(os.path.join(args.bin_dir, tool), os.X_OK):
            sys.exit(f"e2e: {args.bin_dir}/{tool} missing: build first (bench/run_e2e.sh does)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.makedirs(args.out_dir, exist_ok=True)
    base = os.path.join(args.out_dir, "e2e-" + datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    try:
        meta, results = run(args, base)
        write_outputs(base, meta, results)
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        Child.stop_all()


if __name__ == "__main__":
    main()
