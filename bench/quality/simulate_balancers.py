#!/usr/bin/env python3
"""Several balancers in front of one reporting pool, as a discrete-event simulation: the
8 servers of simulate_quality.py, Poisson arrivals dealt at random over N balancers (an
ECMP router's flows), each placing by shortest queue weighted by speed on what it can
know: its own requests in flight (exact) plus the others' share from the servers' last
reports. Every server reports every --report-ms to every balancer; a report arrives
--delay-ms after it was sent (the wire and a busy host's scheduling). What the
peer_balancers rules are worth in theory, before CPUs are shared. Standard library only.

Rules for the others' share between two reports (load_balancer.peer_balancers = N - 1):
  none        the reported share, unchanged until the next report (peer_balancers 0)
  placements  plus (N - 1) x our placements at the server since the report
  in-flight   plus (N - 1) x the change in our in-flight count there since the report,
              and never below none of their share (what shortline-lb does)"""

import argparse
import heapq
import random
import statistics

from simulate_quality import SERVICE_MS, SPEEDS, percentile

RULES = ["none", "placements", "in-flight"]
DEPARTURE, REPORT_SENT, REPORT_ARRIVES = 0, 1, 2


class BalancerView:
    """What one balancer knows of each server."""

    def __init__(self, servers):
        self.in_flight = [0] * servers
        self.others = [0] * servers           # reported queue minus ours at its arrival
        self.placed_since = [0] * servers
        self.in_flight_at_report = [0] * servers

    def take_report(self, server, queue):
        self.others[server] = max(queue - self.in_flight[server], 0)
        self.placed_since[server] = 0
        self.in_flight_at_report[server] = self.in_flight[server]

    def load(self, server, rule, peers):
        own = self.in_flight[server]
        load = self.others[server] + own
        if rule == "placements":
            load += peers * self.placed_since[server]
        elif rule == "in-flight":
            change = peers * (own - self.in_flight_at_report[server])
            load += max(change, -self.others[server])
        return load


def pick(view, rule, peers, weights, start):
    """The least (load + 1) / weight, ties to a start that rotates per pick."""
    n = len(weights)
    best = start
    best_load = view.load(best, rule, peers)
    for k in range(1, n):
        i = (start + k) % n
        load = view.load(i, rule, peers)
        if (load + 1) * weights[best] < (best_load + 1) * weights[i]:
            best, best_load = i, load
    return best


def simulate(load, duration_s, balancers, rule, report_ms, delay_ms, seed, speeds=SPEEDS):
    """Latencies in ms of every request arriving in duration_s."""
    rng = random.Random(seed)
    servers = len(speeds)
    rate_per_ms = load * sum(speed / SERVICE_MS for speed in speeds)
    weights = [max(1, round(4 * s)) for s in speeds]
    peers = balancers - 1
    views = [BalancerView(servers) for _ in range(balancers)]
    queues = [0] * servers
    free_at = [0.0] * servers
    events = [(rng.random() * report_ms, REPORT_SENT, i, 0) for i in range(servers)]
    heapq.heapify(events)
    starts = [0] * balancers
    latencies = []
    arrival = rng.expovariate(rate_per_ms)
    end = duration_s * 1000.0
    while arrival < end:
        if events and events[0][0] <= arrival:
            at, kind, server, value = heapq.heappop(events)
            if kind == DEPARTURE:
                queues[server] -= 1
                views[value].in_flight[server] -= 1
            elif kind == REPORT_SENT:
                heapq.heappush(events, (at + delay_ms, REPORT_ARRIVES, server, queues[server]))
                heapq.heappush(events, (at + report_ms, REPORT_SENT, server, 0))
            else:
                for view in views:
                    view.take_report(server, value)
            continue
        b = rng.randrange(balancers)
        starts[b] = (starts[b] + 1) % servers
        i = pick(views[b], rule, peers, weights, starts[b])
        finish = max(arrival, free_at[i]) + rng.expovariate(speeds[i] / SERVICE_MS)
        free_at[i] = finish
        queues[i] += 1
        views[b].in_flight[i] += 1
        views[b].placed_since[i] += 1
        heapq.heappush(events, (finish, DEPARTURE, i, b))
        latencies.append(finish - arrival)
        arrival += rng.expovariate(rate_per_ms)
    return latencies


def median_p99(load, args, balancers, rule, delay_ms):
    p99s = [percentile(sorted(simulate(load, args.duration, balancers, rule, args.report_ms,
                                       delay_ms, seed)), 0.99)
            for seed in range(1, args.seeds + 1)]
    return statistics.median(p99s)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="simulated seconds per run")
    parser.add_argument("--seeds", type=int, default=3, help="runs per row (median shown)")
    parser.add_argument("--loads", default="0.7,0.9")
    parser.add_argument("--balancers", default="2,3", help="besides one balancer")
    parser.add_argument("--rules", default=",".join(RULES))
    parser.add_argument("--report-ms", type=float, default=2.0, help="report interval")
    parser.add_argument("--delays", default="0.1,1.0", help="report delays in ms")
    args = parser.parse_args()
    if not 1 <= args.seeds <= 20 or not 0.1 <= args.duration <= 600:
        parser.error("--seeds must be 1-20 and --duration 0.1-600")
    rules = [r for r in args.rules.split(",") if r]
    if any(r not in RULES for r in rules):
        parser.error(f"--rules: one of {', '.join(RULES)}")
    print("| report delay ms | load | balancers | rule | p99 ms | ratio to one |")
    print("| ---: | ---: | ---: | --- | ---: | ---: |")
    for delay in (float(x) for x in args.delays.split(",")):
        for load in (float(x) for x in args.loads.split(",")):
            one = median_p99(load, args, 1, "none", delay)
            print(f"| {delay:g} | {load:.0%} | 1 | - | {one:.2f} | 1 |", flush=True)
            for balancers in (int(x) for x in args.balancers.split(",")):
                for rule in rules:
                    p99 = median_p99(load, args, balancers, rule, delay)
                    print(f"| {delay:g} | {load:.0%} | {balancers} | {rule} | {p99:.2f} | "
                          f"{p99 / one:.2f} |", flush=True)


if __name__ == "__main__":
    main()
