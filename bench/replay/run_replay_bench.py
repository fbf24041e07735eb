#!/usr/bin/env python3
"""Replay benchmark: shortline-replay at --max-rate through shortline-lb into echo servers,
next to the e2e harness's load generator on the same balancer, in the same run.

It writes a synthetic capture (Ethernet/IPv4/UDP, --flows sources, --size byte payloads),
starts shortline-bench-echo (3 ports) and shortline-lb, runs shortline-replay, then
shortline-bench-loadgen against the same balancer, and prints one comparison table (and
JSON with --json-out). All traffic stays on 127.0.0.1; every step is bounded in time.
The other binaries are called as commands only (their flags and output lines, nothing else).
"""
import argparse
import json
import os
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time


GAP_US = 10  # capture timestamps: one datagram every 10 us, 100 000 per second at --speed 1


def write_capture(path, datagrams, flows, size, gap_us):
    """A pcap of `datagrams` UDP requests to 10.0.0.100:53 from `flows` sources."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i in range(datagrams):
            flow = i % flows
            payload = (b"seq=%d " % i).ljust(size, b".")[:size]
            udp = struct.pack("!HHHH", 20000 + flow, 53, 8 + len(payload), 0) + payload
            src = bytes([10, 0, flow >> 8 & 0xFF, flow & 0xFF])
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                             src, bytes([10, 0, 0, 100])) + udp
            frame = b"\x02" * 12 + b"\x08\x00" + ip
            ts_us = 1_700_000_000_000_000 + i * gap_us
            f.write(struct.pack("<IIII", ts_us // 1_000_000, ts_us % 1_000_000,
                                len(frame), len(frame)))
            f.write(frame)


class Children:
    """Started processes, each in its own process group; all stopped on exit."""

    def __init__(self):
        self.procs = []

    def start(self, args):
        # stderr to /dev/null: an unread pipe could fill and block a chatty child.
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def stop_all(self):
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


def read_lines(proc, prefix, count, timeout_s):
    """The first `count` stdout lines starting with prefix (raw fd reads: no hidden buffer)."""
    fd = proc.stdout.fileno()
    buffer, lines, deadline = b"", [], time.monotonic() + timeout_s
    while len(lines) < count and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        buffer += chunk
        while b"\n" in buffer and len(lines) < count:
            line, buffer = buffer.split(b"\n", 1)
            if line.decode(errors="replace").startswith(prefix):
                lines.append(line.decode().strip())
    if len(lines) < count:
        sys.exit(f"error: {proc.args[0]} did not print {count} '{prefix}' lines "
                 f"within {timeout_s}s (got {lines})")
    return lines


def run_json(args, timeout_s):
    started = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s)
    wall = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1]), wall


def binary(build_dir, name, required=True):
    path = os.path.join(build_dir, "bin", name)
    if not os.access(path, os.X_OK):
        if required:
            sys.exit(f"error: {path} is missing; build it: cmake --build {build_dir} --target {name}"
                     " (the bench binaries need -DSHORTLINE_BUILD_BENCH=ON)")
        return None
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default="build/release")
    ap.add_argument("--flows", type=int, default=8)
    ap.add_argument("--size", type=int, default=64, help="payload bytes (16..2048)")
    ap.add_argument("--datagrams", type=int, default=100_000, help="datagrams in the capture")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    ap.add_argument("--workers", type=int, default=1, help="shortline-lb workers")
    ap.add_argument("--direct", action="store_true", help="no balancer: straight to one echo port")
    ap.add_argument("--json-out", help="write the results here as JSON")
    a = ap.parse_args()
    if not (1 <= a.flows <= 256 and 16 <= a.size <= 2048 and 1 <= a.datagrams <= 5_000_000
            and 0 < a.duration <= 120):
        sys.exit("error: --flows 1..256, --size 16..2048, --datagrams 1..5e6, --duration (0, 120]")
    replay = binary(a.build_dir, "shortline-replay")
    echo = binary(a.build_dir, "shortline-bench-echo")
    loadgen = binary(a.build_dir, "shortline-bench-loadgen", required=False)
    lb = None if a.direct else binary(a.build_dir, "shortline-lb")
    children = Children()
    with tempfile.TemporaryDirectory(prefix="shortline-replay-bench-") as tmp:
        capture = os.path.join(tmp, "bench.pcap")
        write_capture(capture, a.datagrams, a.flows, a.size, gap_us=GAP_US)
        try:
            echo_proc = children.start([echo, "--ports", "0,0,0"])
            ports = [line.split()[1] for line in read_lines(echo_proc, "listening", 3, 10)]
            target = ports[0]
            if lb:
                lb_proc = children.start([lb, "--listen", "127.0.0.1:0", "--backend",
                                          ",".join(ports), "--workers", str(a.workers)])
                target = read_lines(lb_proc, "shortline-lb: listening on", 1, 20)[0].split()[3]
            results = {"target": "direct" if a.direct else f"shortline-lb x{a.workers}",
                       "flows": a.flows, "size": a.size}
            results["replay"], wall = run_json(
                [replay, capture, "--target", target, "--max-rate", "--loop", "0",
                 "--duration", str(a.duration), "--json", "--no-progress", "--timeout-ms", "1000"],
                timeout_s=a.duration + 120)
            results["replay"]["wall_seconds"] = wall
            if loadgen:
                results["loadgen"], _ = run_json(
                    [loadgen, "--target", target, "--flows", str(a.flows), "--size", str(a.size),
                     "--rate", "0", "--window", "128", "--duration", str(a.duration),
                     "--warmup", "0.5"], timeout_s=a.duration + 60)
                # Paced replay at 80 % of what the balancer answered for the load generator:
                # latency at a sustainable rate, and how closely the schedule is kept.
                rate = 0.8 * results["loadgen"]["pps_answered"]
                speed = max(0.001, rate * GAP_US / 1e6)
                results["replay_paced"], _ = run_json(
                    [replay, capture, "--target", target, "--speed", f"{speed:.4f}", "--loop", "0",
                     "--duration", str(a.duration), "--json", "--no-progress",
                     "--timeout-ms", "1000"], timeout_s=a.duration + 120)
        finally:
            children.stop_all()
    report(results)
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(results, f, indent=2)


def replay_row(label, r):
    answered = r["replies"] / r["send_seconds"] if r["send_seconds"] else 0
    lat, late = r["latency_us"], r["lateness_us"]
    lateness = "" if r["max_rate"] else f"{late['mean']:.1f} / {late['max']:.0f}"
    return (f"| shortline-replay | {label} | {r['achieved_pps']:.0f} | {answered:.0f} "
            f"| {r['loss_pct']:.2f} | {lat['p50']:.1f} | {lat['p99']:.1f} | {lat['p999']:.1f} "
            f"| {lateness} |")


def report(results):
    r = results["replay"]
    print(f"# replay bench: {results['target']}, {results['flows']} flows, "
          f"{results['size']} byte payloads")
    print(f"capture read: {r['read']} records in {r['load_seconds']:.3f} s "
          f"({r['read_pps']:.0f} records/s, two passes: port tally + load)")
    print("| sender | mode | sent pps | answered pps | loss % | p50 us | p99 us | p999 us "
          "| lateness mean / max us |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(replay_row("open loop, --max-rate", r))
    g = results.get("loadgen")
    if g:
        loss = 100.0 * g["lost"] / g["sent"] if g["sent"] else 0.0
        print(f"| shortline-bench-loadgen | window 128 | {g['pps_sent']:.0f} "
              f"| {g['pps_answered']:.0f} | {loss:.2f} | {g['p50_us']:.1f} | {g['p99_us']:.1f} "
              f"| {g['p999_us']:.1f} | |")
        p = results["replay_paced"]
        print(replay_row(f"paced, {p['intended_pps']:.0f} pps intended", p))
    else:
        print("| shortline-bench-loadgen | (not built: skipped) | | | | | | | |")


if __name__ == "__main__":
    main()
