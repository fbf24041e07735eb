"""Modes `plain` and `plain-equal` of run_quality.py: plain FIFO queue servers that send no
reports (shortline-bench-queue-server --dns), every request a DNS query from
shortline-bench-dns-loadgen, behind shortline-lb (static --backend entries, weight 1: it has
to learn the speeds itself), dnsdist's leastOutstanding and nginx least_conn. `plain` uses
the usual 6 + 2 servers; `plain-equal` 8 servers at speed 1, at 90% load only."""

import json
import os
import select
import socket
import struct
import subprocess
import time

from quality_fleet import (POLL_S, READY_TIMEOUT_S, SERVERS, SERVICE_MS, Child, start_lb,
                           start_nginx, udp_port_bound)

PLAIN_MODES = ("plain", "plain-equal")
EQUAL_SERVERS = [(i + 1, 1.0) for i in range(8)]
EQUAL_LOAD = 0.9
PLAIN_POLICIES = ("shortest-queue", "power-of-two")
DNSDIST = "dnsdist leastOutstanding"
NGINX = "nginx least_conn"
TOOLS = ("shortline-bench-queue-server", "shortline-bench-dns-loadgen")
CALIBRATE_CONCURRENCY = 4
DNSDIST_CHECK_INTERVAL_S = 3600  # one health check at start, then none during the rows
SETTLE_S_MAX = 30          # how long a row waits at most for the queues of the last to drain
SETTLE_SERVICE_TIMES = 10  # a probe answered within 10 mean service times: the queue is empty


def servers_of(mode):
    return SERVERS if mode == "plain" else EQUAL_SERVERS


def nominal_capacity(mode):
    return sum(1000.0 / SERVICE_MS * speed for _, speed in servers_of(mode))


def tools_missing(bin_dir):
    return [t for t in TOOLS if not os.access(os.path.join(bin_dir, t), os.X_OK)]


def dnsdist_version():
    """'dnsdist 1.7.3', or None when dnsdist is not installed."""
    try:
        out = subprocess.run(["dnsdist", "--version"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.split("(")[0].strip() or None


def group_threads(pgid):
    """Threads of every process in a process group (nginx: master and worker)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the name: state, ppid, pgrp, ...
            total += int(fields[17])  # num_threads
    return total


def start_queue_servers(bin_dir, log_dir, mode):
    children = []
    for server_id, speed in servers_of(mode):
        argv = [os.path.join(bin_dir, "shortline-bench-queue-server"), "--port", "0", "--id",
                str(server_id), "--service-ms", str(SERVICE_MS), "--speed", str(speed),
                "--seed", str(1000 + server_id), "--dns"]
        children.append((server_id, speed, Child(f"{mode}-server-{server_id}", argv, log_dir)))
    return [(server_id, speed, child.wait_listening()) for server_id, speed, child in children]


def dns_load_argv(bin_dir, port, duration_s, flows):
    return [os.path.join(bin_dir, "shortline-bench-dns-loadgen"), "--target",
            f"127.0.0.1:{port}", "--duration", str(duration_s), "--flows", str(flows),
            "--timeout-ms", "2000"]


def run_dns_load(bin_dir, port, rate, duration_s, flows, seed=1):
    """One open-loop Poisson run at `rate` req/s over `flows` sockets; its JSON summary."""
    argv = dns_load_argv(bin_dir, port, duration_s, flows) + ["--rate", f"{rate:.3f}",
                                                             "--seed", str(seed)]
    done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=duration_s + 30)
    if done.returncode != 0:
        raise RuntimeError(f"dns loadgen exited {done.returncode}: {done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def calibrate(bin_dir, servers, duration_s):
    """Each queue server's throughput, all saturated at once (closed loop, 4 queries
    outstanding each), as run_quality.calibrate does for the reference servers."""
    procs = [(sid, subprocess.Popen(dns_load_argv(bin_dir, port, duration_s, 1) +
                                    ["--rate", "0", "--concurrency", str(CALIBRATE_CONCURRENCY)],
                                    stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True))
             for sid, _, port in servers]
    measured = {}
    try:
        for sid, proc in procs:
            out, _ = proc.communicate(timeout=duration_s + 30)
            measured[sid] = json.loads(out.strip().splitlines()[-1])["throughput_rps"]
    finally:
        for _, proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return measured


def probe_query(query_id):
    """A DNS query (ID, RD set, one question 'probe.shortline.test A IN')."""
    name = b"".join(bytes([len(label)]) + label for label in b"probe.shortline.test".split(b"."))
    return struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + name + b"\0" + \
        struct.pack("!HH", 1, 1)


def settle(servers):
    """Waits (at most SETTLE_S_MAX) until every queue server answers a probe sent straight to
    it within SETTLE_SERVICE_TIMES of its mean service time: a FIFO answers at once only when
    its queue is empty. A balancer that overloaded the slow servers leaves them seconds of
    backlog, which must not spill into the next row. Returns whether all settled."""
    deadline = time.monotonic() + SETTLE_S_MAX
    pending = {port: SETTLE_SERVICE_TIMES * SERVICE_MS / speed / 1e3 for _, speed, port in servers}
    while pending and time.monotonic() < deadline:
        socks = {}
        for port in pending:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.connect(("127.0.0.1", port))
            sock.send(probe_query(port & 0xFFFF))
            socks[sock] = (port, time.monotonic())
        try:
            while socks and time.monotonic() < deadline:
                ready, _, _ = select.select(list(socks), [], [], 0.5)
                for sock in ready:
                    port, sent = socks.pop(sock)
                    sock.recv(2048)
                    if time.monotonic() - sent <= pending[port]:
                        del pending[port]
                    sock.close()
        finally:
            for sock in socks:
                sock.close()
    return not pending


def free_udp_tcp_port():
    """A port free for both UDP and TCP on 127.0.0.1 (dnsdist's setLocal binds both)."""
    for _ in range(64):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port
    raise RuntimeError("no port free for both UDP and TCP")


def dnsdist_config(port, servers):
    lines = ["-- Generated by bench/quality/plain_mode.py for one run.",
             'setSecurityPollSuffix("")  -- no security-status lookups leaving the host',
             f'setLocal("127.0.0.1:{port}")', 'setACL({"127.0.0.0/8"})']
    lines += [f'newServer{{address="127.0.0.1:{p}", name="q{sid}", '
              f'checkInterval={DNSDIST_CHECK_INTERVAL_S}}}' for sid, _, p in servers]
    lines += ["setServerPolicy(leastOutstanding)", ""]
    return "\n".join(lines)


def start_dnsdist(log_dir, servers, mode):
    """dnsdist in the foreground, no console, no cache, leastOutstanding over the servers;
    returns once it listens and has marked every server up (its one health check each)."""
    port = free_udp_tcp_port()
    conf_path = os.path.join(log_dir, f"dnsdist-{mode}.conf")
    with open(conf_path, "w") as out:
        out.write(dnsdist_config(port, servers))
    child = Child(f"dnsdist-{mode}", ["dnsdist", "--supervised", "--disable-syslog", "-C",
                                      conf_path], log_dir)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        with open(child.log_path, errors="replace") as log:
            up = sum(1 for line in log if "as 'up'" in line)
        if up >= len(servers) and udp_port_bound(port):
            return child, port
        if child.proc.poll() is not None:
            break
        time.sleep(POLL_S)
    child.stop()
    raise RuntimeError(f"dnsdist did not start with every server up; see {child.log_path}")


def run_plain_mode(args, bin_dir, log_dir, mode, help_text, measure, check_received):
    """Every balancer of one plain mode over one set of queue servers. `measure(target, mode,
    port, capacity, run_load, loads)` and `check_received(lb, rows)` come from
    run_quality.py."""
    servers = start_queue_servers(bin_dir, log_dir, mode)
    measured = calibrate(bin_dir, servers, args.calibrate_s)
    capacity = sum(measured.values()) if args.capacity == "measured" else nominal_capacity(mode)
    args.capacity_by_mode[mode] = {"used_rps": capacity, "nominal_rps": nominal_capacity(mode),
                                   "measured_rps": sum(measured.values()),
                                   "measured_by_server": measured}
    print(f"  capacity ({mode}): nominal {nominal_capacity(mode):.0f} req/s, measured "
          f"{sum(measured.values()):.0f} req/s "
          f"({', '.join(f'{sid}: {rps:.0f}' for sid, rps in measured.items())}); "
          f"loads are fractions of {capacity:.0f}", flush=True)
    loads = args.loads if mode == "plain" else [EQUAL_LOAD]
    slow_ids = [sid for sid, speed in servers_of(mode) if speed < 1]

    def run_load(port, rate, duration_s):
        settled = settle(servers)
        if not settled:
            print(f"  note: a queue server still had a backlog after {SETTLE_S_MAX} s; "
                  "the row starts with it", flush=True)
        summary = run_dns_load(bin_dir, port, rate, duration_s, args.clients)
        summary["settled"] = settled
        return summary

    def rows_of(target, port, pid):
        args.threads_by_target[f"{target} ({mode})"] = group_threads(pid)
        rows = measure(target, mode, port, capacity, run_load, loads)
        for r in rows:
            r["slow_ids"] = slow_ids
        return rows

    rows = []
    policies = [p for p in args.policies if p in PLAIN_POLICIES]
    for policy in policies if mode == "plain" else policies[:1]:
        lb, port = start_lb(bin_dir, log_dir, policy, servers, mode, 0, help_text)
        rows += rows_of(policy, port, lb.proc.pid)
        lb.stop()
        check_received(lb, [r for r in rows if r["target"] == policy])
    if args.dnsdist:
        dnsdist, port = start_dnsdist(log_dir, servers, mode)
        rows += rows_of(DNSDIST, port, dnsdist.proc.pid)
        dnsdist.stop()
    if args.nginx and mode == "plain":
        nginx, port = start_nginx(log_dir, servers, False, tag=mode)
        rows += rows_of(NGINX, port, nginx.proc.pid)
        nginx.stop()
    Child.stop_all()
    return rows
