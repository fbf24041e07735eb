#!/usr/bin/env python3
"""Knee benchmark: where answered DNS traffic stops keeping up with offered traffic, found by
shortline-replay --ramp and by resperf on the same path, in one run.

A DNS capture becomes a resperf query file (pcap-queryparse) and a knot zone answering every
queried name; three knotd (one UDP worker each) stand behind one shortline-lb. Rows, each
repeated --runs times, interleaved: shortline-replay --ramp through shortline-lb; resperf
through shortline-lb with the same top rate, ramp time, interval and loss bound;
shortline-replay --ramp straight to one knotd. It prints a Markdown table (median knee, the
runs, the max throughput by resperf's rule for both tools, the ratios replay / resperf on the
same path), writes --json-out and draws the ramps (ramp_plot.py). All on 127.0.0.1; every child is stopped.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time

import knee_fleet
import knee_rows
from run_replay_bench import binary  # noqa: E402 (this folder is on the path: same folder)

ROWS = {  # name: (tool, path, what it is)
    "replay-lb": ("shortline-replay", "lb", "shortline-replay --ramp through shortline-lb"),
    "resperf-lb": ("resperf", "lb", "resperf ramp through shortline-lb"),
    "replay-direct": ("shortline-replay", "direct", "shortline-replay --ramp to one knotd"),
    "resperf-direct": ("resperf", "direct", "resperf ramp to one knotd"),
}
DEFAULT_ROWS = "replay-lb,resperf-lb,replay-direct"
HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default="build/release")
    ap.add_argument("--capture", default=os.path.join(HERE, "..", "..", "..", "shared",
                                                      "captures", "dns_udp.pcap"))
    ap.add_argument("--dst-port", type=int, default=53, help="the capture's DNS server port")
    ap.add_argument("--max", type=int, default=160_000,
                    help="top of the ramp, datagrams/s (lb rows; well past their knee)")
    ap.add_argument("--direct-max", type=int, default=260_000, help="top for the direct rows")
    ap.add_argument("--ramp-seconds", type=float, default=30.0)
    ap.add_argument("--interval", type=float, default=0.5, help="table / plot interval, s")
    ap.add_argument("--knee-loss", type=float, default=0.01, help="loss bound, fraction")
    ap.add_argument("--knee-p99-ms", type=float, default=100.0)
    ap.add_argument("--timeout-ms", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--settle-seconds", type=float, default=3.0,
                    help="pause before each row: shortline-lb's passive health marks servers "
                         "down after an overload's timeouts and probes them up a second later")
    ap.add_argument("--rows", default=DEFAULT_ROWS, help="comma list of " + ",".join(ROWS))
    ap.add_argument("--resperf-clients", type=int, default=1,
                    help="resperf -C: client sockets (the capture has one flow)")
    ap.add_argument("--resperf-outstanding", type=int, default=65536, help="resperf -q")
    ap.add_argument("--json-out", help="write the run here (default bench/results/knee-TIME.json)")
    ap.add_argument("--plot-out", help="the picture (default: the JSON's name, .png)")
    a = ap.parse_args()
    a.rows = [row for row in a.rows.split(",") if row]
    if any(row not in ROWS for row in a.rows) or not a.rows:
        sys.exit(f"error: --rows takes {','.join(ROWS)}")
    if not (1 <= a.runs <= 20 and 1 <= a.ramp_seconds <= 120 and 0.1 <= a.interval <= 10 and
            0 <= a.knee_loss < 1 and 0 <= a.settle_seconds <= 60 and 100 <= a.max <= 5_000_000 and
            100 <= a.direct_max <= 5_000_000 and 10 <= a.timeout_ms <= 10_000):
        sys.exit("error: --runs 1..20, --ramp-seconds 1..120, --interval 0.1..10, "
                 "--knee-loss [0, 1), --max/--direct-max 100..5e6, --timeout-ms 10..10000")
    return a


def start_fleet(a, tmp):
    """Queries, zones, 3 knotd and shortline-lb; returns (query file, what was set up)."""
    query_file = os.path.join(tmp, "queries.txt")
    queries = knee_fleet.parse_queries(a.capture, query_file)
    zone_dir = os.path.join(tmp, "zones")
    apexes = knee_fleet.write_zones(queries, zone_dir)
    ports = knee_fleet.pick_ports(4)
    knots = knee_fleet.start_knotds(3, tmp, zone_dir, apexes, queries[0], ports)
    lb_port = knee_fleet.start_lb(binary(a.build_dir, "shortline-lb"), tmp, ports[3], knots,
                                  queries[0])
    names = sorted({name for name, _ in queries})
    return query_file, {"queries": len(queries), "names": names[:20], "distinct_names": len(names),
                        "zones": apexes, "knotd_ports": knots, "lb_port": lb_port,
                        "probe": list(queries[0])}


def measure(a, row, run, fleet, query_file, tmp):
    tool, path, _ = ROWS[row]
    port = fleet["lb_port"] if path == "lb" else fleet["knotd_ports"][0]
    settle(a.settle_seconds, port, fleet["probe"])
    high = a.max if path == "lb" else a.direct_max
    drops_before = udp_receive_buffer_drops()
    cpu_before = children_cpu_s()
    if tool == "resperf":
        record = knee_rows.resperf_ramp(query_file, port, high, a.ramp_seconds, a, tmp,
                                        f"{row}-{run}")
    else:
        record = knee_rows.replay_ramp(binary(a.build_dir, "shortline-replay"), a.capture,
                                       port, a.dst_port, (0, high, a.ramp_seconds), a)
    drops = udp_receive_buffer_drops() - drops_before
    # On 2 shared vCPUs the sender's own CPU is taken from the balancer and the servers.
    cpu_s = children_cpu_s() - cpu_before
    record.update({"row": row, "run": run, "max_pps": high, "udp_rcvbuf_errors": drops,
                   "sender_cpu_s": cpu_s})
    knee = record["knee_pps"]
    extra = (f", Maximum throughput {record['max_throughput_pps']:.0f}"
             if tool == "resperf" and record["max_throughput_pps"] is not None else "")
    print(f"  {row} run {run}: knee {'none' if knee is None else f'{knee:.0f}'} pps{extra} "
          f"({record['wall_s']:.1f} s, sender CPU {cpu_s:.1f} s, {drops} UDP receive-buffer drops "
          "on the host)", flush=True)
    return record


def settle(seconds, port, probe):
    """Lets the previous row's overload pass, then checks the target answers again."""
    time.sleep(seconds)
    deadline = time.monotonic() + knee_fleet.READY_TIMEOUT_S
    while knee_fleet.probe_rcode(port, *probe) not in ("NOERROR", "NXDOMAIN"):
        if time.monotonic() > deadline:
            sys.exit(f"error: 127.0.0.1:{port} stopped answering {probe[0]} {probe[1]}")


def children_cpu_s():
    """User + system CPU seconds of the waited-for children: the senders (the servers are
    reaped only at the end)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def udp_receive_buffer_drops():
    """The host's UDP RcvbufErrors (/proc/net/snmp): datagrams dropped on full socket
    buffers anywhere on the machine, client or server; a row's delta says where loss may be."""
    with open("/proc/net/snmp") as snmp:
        udp = [line.split() for line in snmp if line.startswith("Udp:")]
    return int(udp[1][udp[0].index("RcvbufErrors")])


def median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(a, records):
    """Per row: median knee, the runs, resperf's median Maximum throughput."""
    rows = []
    for row in a.rows:
        mine = [r for r in records if r["row"] == row]
        rows.append({"row": row, "tool": ROWS[row][0], "path": ROWS[row][1],
                     "what": ROWS[row][2], "max_pps": mine[0]["max_pps"],
                     "knee_pps_runs": [r["knee_pps"] for r in mine],
                     "knee_pps_median": median_or_none(r["knee_pps"] for r in mine),
                     "sender_cpu_s_median": median_or_none(r["sender_cpu_s"] for r in mine),
                     "knee_answered_pps_median":
                         median_or_none(r.get("knee_answered_pps") for r in mine),
                     "max_throughput_runs": [r.get("max_throughput_pps") for r in mine],
                     "max_throughput_median":
                         median_or_none(r.get("max_throughput_pps") for r in mine)})
    by_path = {(r["tool"], r["path"]): r for r in rows}
    for r in rows:
        peer = by_path.get(("resperf", r["path"]))
        if r["tool"] == "shortline-replay" and peer and r["knee_pps_median"]:
            if peer["max_throughput_median"]:
                r["ratio_to_resperf_max_throughput"] = \
                    r["knee_pps_median"] / peer["max_throughput_median"]
            if peer["knee_pps_median"]:
                r["ratio_to_resperf_knee"] = r["knee_pps_median"] / peer["knee_pps_median"]
            if r["max_throughput_median"] and peer["max_throughput_median"]:
                r["max_throughput_ratio_to_resperf"] = \
                    r["max_throughput_median"] / peer["max_throughput_median"]
    return rows


def pps(value):
    return "none" if value is None else f"{value:.0f}"


def ratio(value):
    return "" if value is None else f"{value:.2f}"


def print_table(a, rows, fleet):
    print(f"\n# knee bench: {fleet['queries']} queries ({fleet['distinct_names']} names) from "
          f"{os.path.basename(a.capture)}, 3 knotd (udp-workers 1) behind shortline-lb; ramp "
          f"0 -> max over {a.ramp_seconds:g} s, {a.interval:g} s intervals, knee: loss <= "
          f"{100 * a.knee_loss:g} % and p99 <= {a.knee_p99_ms:g} ms, {a.runs} runs\n")
    print("| row | path | ramp max pps | knee pps (median) | knee pps (runs) "
          "| answered at knee (median) | max throughput (median; runs) "
          "| knee / resperf knee | max throughput / resperf's "
          "| knee / resperf max throughput | sender CPU s (median) |")
    print("| --- | --- | ---: | ---: | --- | ---: | --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        throughput = ""
        if r["max_throughput_median"] is not None:
            throughput = (f"{pps(r['max_throughput_median'])}; "
                          + ", ".join(pps(v) for v in r["max_throughput_runs"]))
        print(f"| {r['row']} | {r['path']} | {r['max_pps']} | {pps(r['knee_pps_median'])} "
              f"| {', '.join(pps(v) for v in r['knee_pps_runs'])} "
              f"| {pps(r['knee_answered_pps_median'])} | {throughput} "
              f"| {ratio(r.get('ratio_to_resperf_knee'))} "
              f"| {ratio(r.get('max_throughput_ratio_to_resperf'))} "
              f"| {ratio(r.get('ratio_to_resperf_max_throughput'))} "
              f"| {r['sender_cpu_s_median']:.1f} |")
    print("\nTwo rules, each applied to both tools: the knee is the highest *sent* rate of an "
          "interval with loss (and, for shortline-replay, p99) within the bounds; resperf's "
          "knee column applies it to resperf's plot buckets. The max throughput is resperf's "
          "own \"Maximum throughput\" rule: the highest *answered* rate before the first "
          "interval over a bound (shortline-replay's JSON `max_throughput`).")


def lb_log_events(log_path):
    """shortline-lb's limits line and its server down/up events, for the JSON."""
    try:
        with open(log_path, errors="replace") as log:
            lines = [line.strip() for line in log]
    except OSError:
        return {"limits": "no log", "down": [], "up": []}
    return {"limits": next((line.split("limits: ", 1)[1] for line in lines if "limits: " in line),
                           "no limits line"),
            "down": [line for line in lines if " down: " in line],
            "up": [line for line in lines if line.endswith(" up (answered a probe)")]}


def json_path_default():
    results = os.path.normpath(os.path.join(HERE, "..", "results"))
    os.makedirs(results, exist_ok=True)
    return os.path.join(results, time.strftime("knee-%Y%m%d-%H%M%S.json"))


def main():
    a = parse_args()
    for tool in ("knotd", "resperf", "pcap-queryparse"):
        if not any(os.access(os.path.join(d, tool), os.X_OK)
                   for d in os.environ.get("PATH", "").split(":") + ["/usr/sbin"]):
            sys.exit(f"error: {tool} is missing (Debian packages knot, dnsperf; "
                     "bench/run_replay_knee.sh installs them)")
    os.environ["PATH"] += ":/usr/sbin"  # knotd lives there
    records = []
    with tempfile.TemporaryDirectory(prefix="shortline-knee-bench-") as tmp:
        try:
            query_file, fleet = start_fleet(a, tmp)
            print(f"fleet: knotd on {fleet['knotd_ports']}, shortline-lb on {fleet['lb_port']}, "
                  f"zones {', '.join(fleet['zones'])}", flush=True)
            for run in range(1, a.runs + 1):
                for row in a.rows:
                    records.append(measure(a, row, run, fleet, query_file, tmp))
        finally:
            knee_fleet.stop_all()
        lb_events = lb_log_events(os.path.join(tmp, "shortline-lb.log"))
    rows = summarize(a, records)
    fleet["lb_log"] = lb_events
    print_table(a, rows, fleet)
    print(f"\nshortline-lb: {lb_events['limits']}; servers marked down "
          f"{len(lb_events['down'])} times in the run (passive health, after overloads)")
    json_out = a.json_out or json_path_default()
    with open(json_out, "w") as out:
        json.dump({"meta": {"time": time.strftime("%Y-%m-%d %H:%M:%S"), "capture": a.capture,
                            "args": {k: v for k, v in vars(a).items()}, "fleet": fleet},
                   "rows": rows, "runs": records}, out, indent=1)
    print(f"\nJSON: {json_out}")
    import ramp_plot
    png = ramp_plot.plot_ramps(json_out, a.plot_out or os.path.splitext(json_out)[0] + ".png")
    if png:
        print(f"picture: {png}")


if __name__ == "__main__":
    main()
