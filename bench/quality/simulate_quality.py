#!/usr/bin/env python3
"""The balancing-quality scenario as a discrete-event simulation: the same 8 FIFO servers
(exponential service, mean 1 ms / speed), Poisson arrivals, and each policy placing with
exact, instant queue lengths and no overhead at all. What run_quality.py measures on a
real host can be read against these figures: they are what each policy is worth in
theory, before sleeps overshoot and CPUs are shared. Standard library only."""

import argparse
import heapq
import random

SPEEDS = [1.0] * 6 + [0.25] * 2
SERVICE_MS = 1.0
POLICIES = ["shortest-queue", "power-of-two", "round-robin", "random"]


def pick(policy, queues, weights, rng, state):
    """Server index for the next request. Loads are (queue + 1) / weight, as the data plane
    compares them; ties go to a rotating start, never the lowest index."""
    n = len(queues)
    if policy == "round-robin":
        state["next"] = (state.get("next", -1) + 1) % n
        return state["next"]
    if policy == "random":
        return rng.randrange(n)
    if policy == "power-of-two":
        a, b = rng.sample(range(n), 2)
        return a if (queues[a] + 1) * weights[b] <= (queues[b] + 1) * weights[a] else b
    start = state["start"] = (state.get("start", -1) + 1) % n
    best = start
    for k in range(1, n):
        i = (start + k) % n
        if (queues[i] + 1) * weights[best] < (queues[best] + 1) * weights[i]:
            best = i
    return best


def simulate(policy, load, duration_s, weighted, seed, speeds=SPEEDS):
    """Latencies in ms of every request arriving in duration_s (all served to the end)."""
    rng = random.Random(seed)
    capacity_per_ms = sum(speed / SERVICE_MS for speed in speeds)
    rate_per_ms = load * capacity_per_ms
    weights = [max(1, round(4 * s)) if weighted else 1 for s in speeds]
    queues = [0] * len(speeds)  # in service + waiting
    free_at = [0.0] * len(speeds)  # when each server finishes its last accepted request
    departures = []  # (time, server)
    latencies = []
    state = {}
    now = 0.0
    end = duration_s * 1000.0
    while True:
        now += rng.expovariate(rate_per_ms)
        if now > end:
            break
        while departures and departures[0][0] <= now:
            queues[heapq.heappop(departures)[1]] -= 1
        i = pick(policy, queues, weights, rng, state)
        finish = max(now, free_at[i]) + rng.expovariate(speeds[i] / SERVICE_MS)
        free_at[i] = finish
        queues[i] += 1
        heapq.heappush(departures, (finish, i))
        latencies.append(finish - now)
    return latencies


def percentile(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20.0, help="simulated seconds per row")
    parser.add_argument("--loads", default="0.7,0.9")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print("| policy | weights | load | p50 ms | p99 ms | p999 ms |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    for weighted in (False, True):
        for policy in POLICIES:
            for load in (float(x) for x in args.loads.split(",")):
                values = sorted(simulate(policy, load, args.duration, weighted, args.seed))
                cells = " | ".join(f"{percentile(values, q):.2f}" for q in (0.5, 0.99, 0.999))
                print(f"| {policy} | {'by speed' if weighted else '1'} | {load:.0%} | {cells} |")


if __name__ == "__main__":
    main()
