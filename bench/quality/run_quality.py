#!/usr/bin/env python3
"""Balancing quality: 8 reference servers (mean service 1 ms, exponential; 6 at speed 1 and
2 at speed 0.25, 6500 req/s together) behind shortline-lb with each policy and behind nginx
least_conn, under open-loop Poisson load at 70% and 90% of that capacity; and, in modes
`plain` and `plain-equal`, plain DNS queue servers that send no reports behind shortline-lb,
dnsdist leastOutstanding and nginx least_conn. Compares p50, p99 and p999 latency, answers
and failures, and each server's share. Writes JSON, Markdown and a p99-against-load picture
to bench/results/ and prints the table with the target checks. Standard library only (the
picture needs matplotlib and is skipped with a note without it)."""

import argparse
import datetime
import functools
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time

from quality_fleet import (NGINX_STREAM_MODULE, POLL_S, READY_TIMEOUT_S, SERVERS, SERVICE_MS,
                           Child, free_udp_port, free_udp_ports_below_ephemeral, lb_help,
                           reports_supported, start_lb, start_nginx, start_servers)
from plain_mode import (DNSDIST, EQUAL_SERVERS, NGINX, PLAIN_MODES, dnsdist_version,
                        run_plain_mode, tools_missing)
from quality_plot import plot_p99
from quality_report import balancer_ratios, markdown, target_check
from simulate_quality import percentile, simulate

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
POLICIES = ["shortest-queue", "power-of-two", "round-robin", "random"]
CLIENT_TIMEOUT_MS = 2000  # a request unanswered this long counts as failed


def capacity_rps():
    return sum(1000.0 / SERVICE_MS * speed for _, speed in SERVERS)


def run_clients(bin_dir, log_dir, port, rate, duration_s, count):
    """`count` shortline-clients at rate/count each, run together, merged into one summary.
    `port` may be a list (several balancers): the clients are dealt over them in turn, as an
    ECMP router deals flows.

    Several client sockets, because nginx balances UDP sessions (one per client address and
    port), not datagrams: one socket would pin every request to one server. The union of
    independent Poisson streams is Poisson at the summed rate. Each client sees the same
    latency distribution (the balancer treats them alike), so the answered-weighted mean of
    their percentiles estimates the pooled percentile; the worst client's p99 is kept too."""
    ports = port if isinstance(port, list) else [port]
    argv = [os.path.join(bin_dir, "shortline-client"),
            "--rate", f"{rate / count:.3f}", "--poisson", "--duration", str(duration_s),
            "--json", "--timeout-ms", str(CLIENT_TIMEOUT_MS), "--log-dir", log_dir + "/clients"]
    procs = [subprocess.Popen(argv + ["--target", f"127.0.0.1:{ports[i % len(ports)]}",
                                      "--seed", str(1 + i)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
             for i in range(count)]
    bound_s = duration_s + 30  # the client's own grace is timeout + backoff; this is a backstop
    summaries = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=bound_s)
            if proc.returncode != 0:
                raise RuntimeError(f"client exited {proc.returncode}: {err.strip()}")
            summaries.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return merge(summaries)


def merge(summaries):
    total = {key: sum(s[key] for s in summaries)
             for key in ("requests", "answered", "retried", "failed", "skipped")}
    answered = max(1, total["answered"])
    weights = [s["answered"] / answered for s in summaries]
    total["latency_us"] = {key: sum(w * s["latency_us"][key] for w, s in zip(weights, summaries))
                           for key in ("p50", "p90", "p99", "p999", "mean")}
    total["latency_us"]["max"] = max(s["latency_us"]["max"] for s in summaries)
    total["latency_us"]["p99_worst_client"] = max(s["latency_us"]["p99"] for s in summaries)
    total["throughput_rps"] = sum(s["throughput_rps"] for s in summaries)
    for key in ("service_time_us_mean", "queue_wait_us_mean"):
        total[key] = sum(w * s.get(key, 0) for w, s in zip(weights, summaries))
    total["server_side_us"] = {key: sum(w * s.get("server_side_us", {}).get(key, 0)
                                        for w, s in zip(weights, summaries))
                               for key in ("p50", "p99")}
    servers = {}
    for s in summaries:
        for sid, count in s.get("servers", {}).items():
            servers[sid] = servers.get(sid, 0) + count
    total["servers"] = servers
    total["arrivals"] = summaries[0].get("arrivals", "?")
    return total


def calibrate(bin_dir, log_dir, servers, duration_s):
    """Each server's real capacity: all saturated at once (closed loop, 4 outstanding each),
    so that they share the CPUs as in the run. Sleep overshoot and per-request costs make a
    real server slower than its nominal 1000 x speed req/s, more so on a busy host."""
    argv = [os.path.join(bin_dir, "shortline-client"), "--concurrency", "4", "--duration",
            str(duration_s), "--json", "--log-dir", log_dir]
    procs = [(sid, subprocess.Popen(argv + ["--target", f"127.0.0.1:{port}"],
                                    stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True))
             for sid, _, port in servers]
    measured = {}
    for sid, proc in procs:
        out, _ = proc.communicate(timeout=duration_s + 30)
        measured[sid] = json.loads(out.strip().splitlines()[-1])["throughput_rps"]
    return measured


def registered_servers(lb):
    with open(lb.log_path, errors="replace") as log:
        return set(re.findall(r"server (\d+) registered", log.read()))


def warm_up(bin_dir, log_dir, lbs, port, want_servers, capacity):
    """Mode 'reports': waits (bounded) until every balancer logs every server as registered,
    then sends 2 s at 30% load (below where round-robin overloads the slow servers) so the
    speed estimate has replies to learn from before the rows start."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if all(len(registered_servers(lb)) >= want_servers for lb in lbs):
            run_clients(bin_dir, log_dir, port, 0.3 * capacity, 2.0, 4)
            return True
        time.sleep(POLL_S)
    return False


def row(target, mode, load, rate, summary):
    answered = summary["answered"]
    shares = {sid: count / answered if answered else 0.0
              for sid, count in summary.get("servers", {}).items()}
    latency = summary.get("latency_us", {})
    return {"target": target, "mode": mode, "load": load, "rate": rate,
            "p50_ms": latency.get("p50", 0) / 1e3, "p99_ms": latency.get("p99", 0) / 1e3,
            "p999_ms": latency.get("p999", 0) / 1e3, "max_ms": latency.get("max", 0) / 1e3,
            "p99_worst_client_ms": latency.get("p99_worst_client", latency.get("p99", 0)) / 1e3,
            "requests": summary["requests"], "answered": answered,
            "retried": summary["retried"], "failed": summary["failed"],
            "skipped": summary.get("skipped", 0), "arrivals": summary.get("arrivals", "?"),
            "throughput_rps": summary.get("throughput_rps", 0),
            "service_us_mean": summary.get("service_time_us_mean", 0),
            "queue_wait_us_mean": summary.get("queue_wait_us_mean", 0),
            # Time at the server only (queue wait + service): placement without the path.
            "server_p99_ms": summary.get("server_side_us", {}).get("p99", 0) / 1e3,
            "shares": shares}


def cpu_times():
    """(steal, total) jiffies of all CPUs from /proc/stat; (0, 0) where unreadable."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(x) for x in stat.readline().split()[1:]]
        return fields[7] if len(fields) > 7 else 0, sum(fields[:8])
    except (OSError, ValueError):
        return 0, 0


def measure(args, target, mode, port, capacity, run_load, loads):
    """One row per load; run_load(port, rate, duration_s) returns a client summary. Each row
    also records the share of CPU time the hypervisor stole meanwhile (a shared VM's
    neighbours): a row with much of it measured the host, not the balancer."""
    rows = []
    for load in loads:
        rate = load * capacity
        print(f"  {target:<24} {mode:<11} load {load:.0%} ({rate:.0f} req/s, {args.duration} s)",
              flush=True)
        steal_before, total_before = cpu_times()
        summary = run_load(port, rate, args.duration)
        steal_after, total_after = cpu_times()
        rows.append(row(target, mode, load, rate, summary))
        ticks = total_after - total_before
        rows[-1]["steal_pct"] = 100.0 * (steal_after - steal_before) / ticks if ticks > 0 else 0.0
        if "send_lag_us" in summary:  # shortline-bench-dns-loadgen's extras
            rows[-1]["send_lag_p99_ms"] = summary["send_lag_us"]["p99"] / 1e3
            rows[-1]["queues_settled"] = summary.get("settled", True)
        print(f"    p50 {rows[-1]['p50_ms']:.2f} ms  p99 {rows[-1]['p99_ms']:.2f} ms  "
              f"failed {rows[-1]['failed']}  steal {rows[-1]['steal_pct']:.0f}%", flush=True)
    return rows


def check_received(lb, rows):
    """Compares what the balancer (or balancers: a list) says it received (exit counters)
    with what the clients sent; a gap means datagrams were lost before the balancer (a row
    to distrust)."""
    lbs = lb if isinstance(lb, list) else [lb]
    counts = []
    for one in lbs:
        with open(one.log_path, errors="replace") as log:
            match = re.search(r"requests_received\s+(\d+)", log.read())
        counts.append(int(match.group(1)) if match else None)
    lb = lbs[0]
    sent = sum(r["requests"] + r["retried"] for r in rows)
    received = None if None in counts else sum(counts)
    for r in rows:
        r["lb_requests_received"] = received
        r["lb_received_all"] = received is None or received >= 0.99 * sent
    if received is not None and received < 0.99 * sent:
        print(f"  WARNING: {lb.name} received {received} of {sent} requests sent; "
              "its rows are marked suspect", flush=True)


def run_mode(args, bin_dir, log_dir, mode, help_text):
    """Every policy (and nginx, not in mode reports) over one set of servers."""
    if mode in PLAIN_MODES:
        return run_plain_mode(args, bin_dir, log_dir, mode, help_text,
                              functools.partial(measure, args), check_received)

    def run_load(port, rate, duration_s):
        return run_clients(bin_dir, log_dir, port, rate, duration_s, args.clients)
    counts = args.balancers if mode == "reports" else [(1, False)]
    report_ports = (free_udp_ports_below_ephemeral(max(n for n, _ in counts))
                    if mode == "reports" else [])
    servers = start_servers(bin_dir, log_dir, report_ports, args.report_interval_ms)
    measured = calibrate(bin_dir, log_dir, servers, args.calibrate_s)
    capacity = sum(measured.values()) if args.capacity == "measured" else capacity_rps()
    args.capacity_by_mode[mode] = {"used_rps": capacity, "nominal_rps": capacity_rps(),
                                   "measured_rps": sum(measured.values()),
                                   "measured_by_server": measured}
    print(f"  capacity: nominal {capacity_rps():.0f} req/s, measured "
          f"{sum(measured.values()):.0f} req/s "
          f"({', '.join(f'{sid}: {rps:.0f}' for sid, rps in measured.items())}); "
          f"loads are fractions of {capacity:.0f}", flush=True)
    rows = []
    # Rounds interleave the balancer counts over the same servers and calibration, so that
    # each round's rows see the same host and can be compared pairwise.
    rounds = args.rounds if mode == "reports" else 1
    for round_index in range(rounds):
        for policy in args.policies:
            for balancers, through_one in counts:
                new = run_balancers(args, bin_dir, log_dir, mode, help_text, policy, servers,
                                    report_ports[:balancers], capacity, run_load, through_one)
                for r in new:
                    r["policy"], r["balancers"], r["round"] = policy, balancers, round_index
                    r["through_one"] = through_one
                rows += new
    if mode != "reports" and args.nginx:
        nginx, port = start_nginx(log_dir, servers, mode == "weighted")
        rows += measure(args, NGINX, mode, port, capacity, run_load, args.loads)
        nginx.stop()
    Child.stop_all()
    return rows


def run_balancers(args, bin_dir, log_dir, mode, help_text, policy, servers, report_ports,
                  capacity, run_load, through_one=False):
    """One policy's rows behind len(report_ports) balancers (one with static backends when
    the mode has no reports), started for these rows and stopped after them. through_one:
    the control row, all traffic through the first balancer (peer_balancers 0) while the
    others only take the servers' reports: what the extra balancers cost the host."""
    balancers = max(1, len(report_ports))
    peers = balancers - 1 if args.peer_balancers and "--peer-balancers" in help_text else 0
    if through_one:
        peers = 0
    started = [start_lb(bin_dir, log_dir, policy, servers, mode, report_ports[b] if
                        report_ports else 0, help_text, tag=f"-{b}" if balancers > 1 else "",
                        peers=peers, report_interval_ms=args.report_interval_ms)
               for b in range(balancers)]
    lbs = [lb for lb, _ in started]
    ports = [port for _, port in started]
    port = ports if balancers > 1 and not through_one else ports[0]
    target = policy if balancers == 1 else f"{policy} x{balancers} balancers"
    if through_one:
        target += ", traffic through one"
    registered = mode != "reports" or warm_up(bin_dir, log_dir, lbs, port, len(SERVERS),
                                              capacity)
    rows = []
    if not registered:
        print(f"  {policy}: not every server registered by report; skipped", flush=True)
    else:
        rows = measure(args, target, mode, port, capacity, run_load, args.loads)
    for lb in lbs:
        lb.stop()
    check_received(lbs, rows)
    return rows


def parse_balancer_counts(text):
    """"1,2,3,3c" -> [(1, False), (2, False), (3, False), (3, True)]; [] when malformed. A
    count with "c" is the control row: that many balancers, traffic through the first."""
    counts = []
    for item in (x for x in text.split(",") if x):
        match = re.fullmatch(r"([123])(c?)", item)
        if not match or (match.group(2) and match.group(1) == "1"):
            return []
        counts.append((int(match.group(1)), bool(match.group(2))))
    return counts


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "build/release"))
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per row")
    parser.add_argument("--quick", action="store_true", help="5 s per row")
    parser.add_argument("--loads", default="0.7,0.9", help="fractions of total capacity")
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--no-nginx", dest="nginx", action="store_false")
    parser.add_argument("--no-dnsdist", dest="dnsdist", action="store_false",
                        help="leave out dnsdist's rows in the plain modes")
    parser.add_argument("--clients", type=int, default=32,
                        help="client processes (sockets) sharing the load")
    parser.add_argument("--modes", default="auto",
                        help="comma list of static (weight 1), weighted (weight by speed), "
                             "reports (servers join by reporting), plain (queue servers that "
                             "send no reports, DNS payloads), plain-equal (the same, 8 equal "
                             "servers, 90%% load); auto = all (reports when shortline-lb takes "
                             "server reports, the plain ones when their bench tools are built)")
    parser.add_argument("--capacity", choices=("measured", "nominal"), default="measured",
                        help="what the loads are fractions of: the servers' throughput measured "
                             "first on this host, or 1000 x speed req/s per server")
    parser.add_argument("--calibrate-s", type=float, default=3.0,
                        help="seconds of the capacity measurement")
    parser.add_argument("--balancers", default="1",
                        help="mode reports: this many shortline-lb in front of the same servers "
                             "(each server reports to all; the clients are dealt over them); a "
                             "list such as 1,2,3 runs each count in turn; 3c is a control row: "
                             "3 balancers, all traffic through the first (peer_balancers 0), "
                             "what the extra balancers cost the host apart from placement")
    parser.add_argument("--rounds", type=int, default=1,
                        help="mode reports: run the --balancers counts this many times, "
                             "interleaved, and report each count's p99 over one balancer's "
                             "of the same round (median of the rounds)")
    parser.add_argument("--no-peer-balancers", dest="peer_balancers", action="store_false",
                        help="with --balancers N, leave load_balancer.peer_balancers at 0 "
                             "instead of N - 1 (each balancer then ignores the others' likely "
                             "placements between reports)")
    parser.add_argument("--report-interval-ms", type=int, default=None,
                        help="mode reports: the servers' report interval, also given to every "
                             "balancer (load_balancer.report_interval_ms; default: the "
                             "servers' own, 2 ms)")
    parser.add_argument("--out-dir", default=os.path.join(ROOT, "bench/results"))
    args = parser.parse_args()
    if args.quick:
        args.duration = 5.0
    args.loads = [float(x) for x in args.loads.split(",")]
    args.capacity_by_mode = {}
    args.threads_by_target = {}
    args.policies = [p for p in args.policies.split(",") if p]
    if not all(0 < load < 1.5 for load in args.loads) or not 1 <= args.duration <= 600:
        parser.error("--loads must be in (0, 1.5) and --duration in [1, 600]")
    args.balancers = parse_balancer_counts(args.balancers)
    if not args.balancers:
        parser.error("--balancers takes counts from 1 to 3, such as 2 or 1,2,3, and control "
                     "rows 2c or 3c")
    if not 1 <= args.rounds <= 50:
        parser.error("--rounds must be from 1 to 50")
    if not 1 <= args.clients <= 64:
        parser.error("--clients must be from 1 to 64")
    if args.report_interval_ms is not None and not 1 <= args.report_interval_ms <= 1000:
        parser.error("--report-interval-ms must be from 1 to 1000")
    return args


def on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def main():
    args = parse_args()
    bin_dir = os.path.join(args.build_dir, "bin")
    for name in ("shortline-server", "shortline-lb", "shortline-client"):
        if not os.access(os.path.join(bin_dir, name), os.X_OK):
            sys.exit(f"run_quality: {bin_dir}/{name} missing; build first (bench/run_quality.sh)")
    if args.nginx and not os.path.exists(NGINX_STREAM_MODULE):
        print("run_quality: no nginx stream module; nginx row skipped", flush=True)
        args.nginx = False
    args.dnsdist_version = dnsdist_version()
    if args.dnsdist and not args.dnsdist_version:
        print("run_quality: dnsdist not installed (bench/run_quality.sh installs it); "
              "its rows skipped", flush=True)
        args.dnsdist = False
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    args.load_average_start = os.getloadavg()
    log_dir = tempfile.mkdtemp(prefix=f"quality-{stamp}-")
    try:
        help_text = lb_help(bin_dir)
        modes = choose_modes(args, bin_dir, log_dir, help_text)
        print(f"run_quality: capacity {capacity_rps():.0f} req/s, modes {', '.join(modes)}, "
              f"logs in {log_dir}", flush=True)
        rows = []
        for mode in modes:
            rows += run_mode(args, bin_dir, log_dir, mode, help_text)
    finally:
        Child.stop_all()
    write_results(args, stamp, modes, rows, log_dir)


def choose_modes(args, bin_dir, log_dir, help_text):
    known = ("static", "weighted", "reports") + PLAIN_MODES
    if args.modes != "auto":
        modes = [m for m in args.modes.split(",") if m]
        if set(modes) - set(known):
            sys.exit(f"run_quality: --modes takes {','.join(known)}")
    else:
        modes = ["static", "weighted"]
        if reports_supported(bin_dir, log_dir, help_text):
            modes.append("reports")
        modes += PLAIN_MODES
    missing = tools_missing(bin_dir)
    if missing and set(modes) & set(PLAIN_MODES):
        print(f"run_quality: {', '.join(missing)} not built; plain modes skipped "
              "(bench/run_quality.sh builds them)", flush=True)
        modes = [m for m in modes if m not in PLAIN_MODES]
    return modes


def add_ideal(rows, duration_s):
    """The zero-overhead simulation's p99 for each shortline row (same policy, load, weights;
    reports and plain modes compare with speed weights, the goal of learning them), and for
    dnsdist's: leastOutstanding is shortest-queue with weight 1."""
    cache = {}
    for r in rows:
        policy = "shortest-queue" if r["target"] == DNSDIST else r["target"]
        if policy not in POLICIES:
            continue
        equal = r["mode"] == "plain-equal"
        weighted = r["mode"] != "static" and r["target"] != DNSDIST
        key = (policy, r["load"], weighted, equal)
        if key not in cache:
            speeds = [speed for _, speed in (EQUAL_SERVERS if equal else SERVERS)]
            values = sorted(simulate(policy, r["load"], min(duration_s, 20.0), weighted, 1,
                                     speeds))
            cache[key] = percentile(values, 0.99)
        r["ideal_p99_ms"] = cache[key]


def write_results(args, stamp, modes, rows, log_dir):
    meta = {"time": stamp, "host": platform.node(), "cpus": os.cpu_count(),
            "load_average": args.load_average_start, "kernel": platform.release(),
            "duration_s": args.duration, "capacity_rps": capacity_rps(),
            "servers": [{"id": sid, "speed": speed} for sid, speed in SERVERS],
            "service_ms_mean": SERVICE_MS, "client_timeout_ms": CLIENT_TIMEOUT_MS,
            "clients": args.clients, "capacity_basis": args.capacity,
            "capacity_by_mode": args.capacity_by_mode,
            "threads_by_target": args.threads_by_target,
            "dnsdist": args.dnsdist_version if args.dnsdist else None,
            "report_interval_ms": args.report_interval_ms,
            "modes": modes, "logs": log_dir}
    add_ideal(rows, args.duration)
    check = target_check(rows)
    meta["balancer_ratios"] = balancer_ratios(rows)
    os.makedirs(args.out_dir, exist_ok=True)
    base = os.path.join(args.out_dir, f"quality-{stamp}")
    with open(base + ".json", "w") as out:
        json.dump({"meta": meta, "rows": rows, "target": check}, out, indent=1)
    picture = plot_p99(base + ".json", base + ".png")  # None, with a note, when it fails
    meta["picture"] = os.path.basename(picture) if picture else None
    text = markdown(meta, rows, check)
    with open(base + ".md", "w") as out:
        out.write(text)
    print("\n" + text)
    print(f"run_quality: wrote {base}.json, {base}.md" + (f" and {picture}" if picture else ""))


if __name__ == "__main__":
    main()
