"""Tables and the target check for run_quality.py. A percentile is taken over answered
requests only, so a row that lost more than (1 - q) of its requests to the client timeout
has a true q-percentile of at least that timeout: such cells read '>= T' and count as T."""

import statistics

QUANTILES = (("p50_ms", 0.5), ("p99_ms", 0.99), ("p999_ms", 0.999))
TARGET_LOAD = 0.9
TARGET_VS_POWER_OF_TWO = 0.5    # shortest-queue p99 <= half of power-of-two's
TARGET_VS_ROUND_ROBIN = 1 / 3   # and <= a third of round-robin's
PLAIN_MODES = ("plain", "plain-equal")
DNSDIST = "dnsdist leastOutstanding"
# Plain queue servers, no reports: (mode, load, shortest-queue p99 at most this many ms or
# None, and at most this times dnsdist leastOutstanding's p99 at the same load).
PLAIN_TARGETS = (("plain", 0.9, 12.0, 0.8), ("plain", 0.7, 8.0, 0.8),
                 ("plain-equal", 0.9, None, 1.0))


def effective_ms(row, key, timeout_ms):
    """(value, is_lower_bound): the percentile with unanswered requests counted as lost."""
    quantile = dict(QUANTILES)[key]
    failed_fraction = row["failed"] / row["requests"] if row["requests"] else 1.0
    if failed_fraction > 1 - quantile:
        return max(row[key], timeout_ms), True
    return row[key], False


def cell(row, key, timeout_ms):
    value, bound = effective_ms(row, key, timeout_ms)
    return f">= {value:.0f}" if bound else f"{value:.2f}"


def find(rows, target, mode, load):
    for row in rows:
        if row["target"] == target and row["mode"] == mode and abs(row["load"] - load) < 1e-9:
            return row
    return None


def target_check(rows, timeout_ms=2000):
    """Per mode: shortest-queue's p99 at 90% load against power-of-two's and round-robin's;
    in the plain modes, against fixed limits and dnsdist's (plain_target_check)."""
    results = []
    for mode in sorted({row["mode"] for row in rows} - set(PLAIN_MODES)):
        sq = find(rows, "shortest-queue", mode, TARGET_LOAD)
        p2 = find(rows, "power-of-two", mode, TARGET_LOAD)
        rr = find(rows, "round-robin", mode, TARGET_LOAD)
        if not (sq and p2 and rr):
            results.append({"mode": mode, "met": None,
                            "text": f"{mode}: not measured (rows missing)"})
            continue
        sq_p99, sq_bound = effective_ms(sq, "p99_ms", timeout_ms)
        p2_p99, _ = effective_ms(p2, "p99_ms", timeout_ms)
        rr_p99, _ = effective_ms(rr, "p99_ms", timeout_ms)
        vs_p2 = sq_p99 / p2_p99 if p2_p99 > 0 else float("inf")
        vs_rr = sq_p99 / rr_p99 if rr_p99 > 0 else float("inf")
        met = (not sq_bound and vs_p2 <= TARGET_VS_POWER_OF_TWO and
               vs_rr <= TARGET_VS_ROUND_ROBIN)
        text = (f"{mode}: shortest-queue p99 {sq_p99:.2f} ms = {vs_p2:.2f} x power-of-two's "
                f"({p2_p99:.2f} ms; target <= 0.50) and {vs_rr:.3f} x round-robin's "
                f"({rr_p99:.2f} ms; target <= 0.33): {'MET' if met else 'NOT MET'}")
        if sq.get("ideal_p99_ms") and p2.get("ideal_p99_ms"):
            text += (f"; in the ideal simulation {sq['ideal_p99_ms']:.2f} / "
                     f"{p2['ideal_p99_ms']:.2f} ms = "
                     f"{sq['ideal_p99_ms'] / p2['ideal_p99_ms']:.2f} x power-of-two's")
        results.append({"mode": mode, "met": met, "sq_p99_ms": sq_p99, "p2_p99_ms": p2_p99,
                        "rr_p99_ms": rr_p99, "ratio_vs_p2": vs_p2, "ratio_vs_rr": vs_rr,
                        "text": text})
    return results + plain_target_check(rows, timeout_ms)


def plain_target_check(rows, timeout_ms):
    """The plain modes' targets (PLAIN_TARGETS), each PASS or FAIL; a shortest-queue p99 that
    is only a lower bound (too many failures) fails."""
    results = []
    for mode, load, limit_ms, factor in PLAIN_TARGETS:
        if not any(row["mode"] == mode for row in rows):
            continue
        name = f"{mode} at {load:.0%}"
        sq, dd = find(rows, "shortest-queue", mode, load), find(rows, DNSDIST, mode, load)
        if not (sq and dd):
            results.append({"mode": mode, "load": load, "met": None,
                            "text": f"{name}: not measured (needs the shortest-queue and "
                                    "dnsdist rows)"})
            continue
        sq_p99, sq_bound = effective_ms(sq, "p99_ms", timeout_ms)
        dd_p99, _ = effective_ms(dd, "p99_ms", timeout_ms)
        ratio = sq_p99 / dd_p99 if dd_p99 > 0 else float("inf")
        checks = [] if limit_ms is None else [(f"<= {limit_ms:g} ms", sq_p99 <= limit_ms)]
        checks.append((f"<= {factor:g} x dnsdist's {dd_p99:.2f} ms", ratio <= factor))
        met = not sq_bound and all(ok for _, ok in checks)
        suspect = "" if sq.get("lb_received_all", True) else " (suspect row)"
        text = (f"{name}: shortest-queue p99 {cell(sq, 'p99_ms', timeout_ms)} ms{suspect} = "
                f"{ratio:.2f} x dnsdist's; " +
                "; ".join(f"{what}: {'PASS' if ok and not sq_bound else 'FAIL'}"
                          for what, ok in checks) + f" => {'PASS' if met else 'FAIL'}")
        results.append({"mode": mode, "load": load, "met": met, "sq_p99_ms": sq_p99,
                        "dnsdist_p99_ms": dd_p99, "ratio_vs_dnsdist": ratio,
                        "limit_ms": limit_ms, "factor": factor, "text": text})
    return results


def share_text(row, slow_ids):
    shares = row["shares"]
    slow_ids = row.get("slow_ids", slow_ids)
    slow = sum(shares.get(str(sid), 0.0) for sid in slow_ids)
    each = " ".join(f"{100 * shares.get(str(sid), 0.0):.1f}"
                    for sid in sorted((int(s) for s in shares), key=int))
    return (f"{100 * slow:.1f}%" if slow_ids else "-"), each


def plain_lines(meta):
    """What the plain modes are, and the threads each balancer ran with."""
    if not set(meta["modes"]) & set(PLAIN_MODES):
        return []
    threads = ", ".join(f"{name}: {count}" for name, count in
                        meta.get("threads_by_target", {}).items())
    return [
        "Plain modes: `plain`: shortline-bench-queue-servers (FIFO, one request at a time, "
        "exponential service with the same means and speeds, queue bounded at 4096) that send "
        "no reports and answer DNS: every request a DNS query from one "
        f"shortline-bench-dns-loadgen over {meta['clients']} sockets (Poisson, 2 s timeout), "
        "every reply a DNS response, for every balancer. shortline-lb gets static --backend "
        "entries, weight 1 (it must learn the speeds); dnsdist "
        f"({meta.get('dnsdist') or 'not run'}) uses leastOutstanding, no cache, one health "
        "check per server at start; nginx least_conn as in `static`. `plain-equal`: the same "
        "with 8 servers at speed 1, 90% load only. Each row starts once every queue server "
        "answers a direct probe at once (no backlog left by the row before). Ideal p99 for "
        "dnsdist's rows: shortest-queue with weight 1 (what least-outstanding is worth); for "
        "shortline's in these modes: with speed weights (what learning the speeds is worth).",
        "",
        f"Threads per balancer (its process group, counted at start): {threads or '-'}. The "
        "ones that forward: shortline-lb its one worker (--workers 1); dnsdist a UDP receiver "
        "thread for its listener and a responder thread per backend (8), its other threads "
        "(TCP workers, health check, carbon) idle here; nginx its one worker process.", ""]


def ideal(row):
    value = row.get("ideal_p99_ms")
    if value is None:
        return "-"
    return "unbounded" if value > 1000 else f"{value:.2f}"  # a queue growing all the run


def balancer_ratios(rows):
    """Per (mode, policy, load, N > 1 balancers): each round's p99 and server p99 over one
    balancer's in the same round, and their medians. Empty without rounds of 1 and N."""
    single = {(r["mode"], r.get("policy"), r["load"], r.get("round")): r
              for r in rows if r.get("balancers") == 1}
    # A control row (through_one: N balancers, traffic through the first) gets its own line.
    groups = {}
    for r in rows:
        if r.get("balancers", 1) <= 1:
            continue
        base = single.get((r["mode"], r.get("policy"), r["load"], r.get("round")))
        if not base or base["p99_ms"] <= 0 or base.get("server_p99_ms", 0) <= 0:
            continue
        key = (r["mode"], r["policy"], r["load"], r["balancers"], r.get("through_one", False))
        group = groups.setdefault(key, {"p99": [], "server_p99": []})
        group["p99"].append(r["p99_ms"] / base["p99_ms"])
        group["server_p99"].append(r.get("server_p99_ms", 0) / base["server_p99_ms"])
    return [{"mode": mode, "policy": policy, "load": load, "balancers": n,
             "through_one": through_one, "p99_ratios": g["p99"], "server_p99_ratios": g["server_p99"],
             "p99_ratio_median": statistics.median(g["p99"]),
             "server_p99_ratio_median": statistics.median(g["server_p99"])}
            for (mode, policy, load, n, through_one), g in sorted(groups.items())]


def ratio_lines(meta):
    ratios = meta.get("balancer_ratios") or []
    if not ratios:
        return []
    lines = ["", "Several balancers against one, paired by round (each round ran every count "
             "over the same servers, one after another); target: p99 within 1.2x of one "
             "balancer's. \"N, traffic through one\": the control row, N balancers taking the "
             "reports but all traffic through the first: what the extra balancers cost the "
             "host, apart from placement.", "",
             "| mode | policy | load | balancers | p99 ratio, median (rounds) "
             "| server p99 ratio, median (rounds) |", "| --- | --- | ---: | ---: | --- | --- |"]
    for r in ratios:
        each = ", ".join(f"{x:.2f}" for x in r["p99_ratios"])
        each_server = ", ".join(f"{x:.2f}" for x in r["server_p99_ratios"])
        count = f"{r['balancers']}, traffic through one" if r.get("through_one") else \
            r["balancers"]
        lines.append(f"| {r['mode']} | {r['policy']} | {r['load']:.0%} | {count} | "
                     f"{r['p99_ratio_median']:.2f} ({each}) | "
                     f"{r['server_p99_ratio_median']:.2f} ({each_server}) |")
    return lines


def server_p99(row):
    value = row.get("server_p99_ms", 0)
    return f"{value:.2f}" if value > 0 else "-"  # plain servers and nginx rows carry none


def markdown(meta, rows, check):
    timeout_ms = meta["client_timeout_ms"]
    slow_ids = [s["id"] for s in meta["servers"] if s["speed"] < 1]
    fair_slow = 100 * sum(1000 * s["speed"] for s in meta["servers"] if s["speed"] < 1) / \
        meta["capacity_rps"]
    host = (f"{meta['duration_s']:.0f} s per row; client timeout {timeout_ms} ms, no retries. "
            f"Host: {meta['cpus']} CPUs, load average before the run "
            f"{meta['load_average'][0]:.2f}.")
    lines = [f"# Balancing quality, {meta['time']}", ""]
    if not set(meta["modes"]) - set(PLAIN_MODES):
        lines += [host, ""]
    else:
        lines += [
            f"{len(meta['servers'])} shortline-servers (1 worker each, exponential service, mean "
            f"{meta['service_ms_mean']} ms; speeds "
            f"{', '.join(str(s['speed']) for s in meta['servers'])}), nominal capacity "
            f"{meta['capacity_rps']:.0f} req/s; Poisson arrivals from {meta['clients']} "
            f"shortline-clients (percentiles: their answered-weighted mean), " + host, "",
            "Modes: `static`: servers given with --backend, weight 1, no reports (nginx: plain "
            "`server` lines). `weighted`: the same with weights in proportion to speed (4 and 1; "
            "nginx `weight=`), so shortest-queue compares (load + 1) / weight, the shortest "
            "expected delay. `reports`: no backends given; the servers join and report their "
            "queue to the balancer's control port, which learns their speed.", ""]
    lines += plain_lines(meta)
    for mode, capacity in meta.get("capacity_by_mode", {}).items():
        by_server = ", ".join(f"{sid}: {rps:.0f}"
                              for sid, rps in capacity["measured_by_server"].items())
        lines += [f"Capacity ({mode}): nominal {capacity['nominal_rps']:.0f} req/s, measured "
                  f"{capacity['measured_rps']:.0f} req/s on this host ({by_server}); the "
                  f"loads below are fractions of {capacity['used_rps']:.0f} req/s "
                  f"({meta['capacity_basis']}).", ""]
    lines += [
        f"Slow share: the two speed-0.25 servers together; proportional to speed would be "
        f"{fair_slow:.1f}%. Per-server shares are % of answers by server id.", "",
        "Ideal p99: the same policy, load and weights in simulate_quality.py (exact queue "
        "lengths, no overhead, same capacity as nominal); the gap to it is what the host and "
        "the implementation cost.", "",
        "CPU steal: the share of CPU time the hypervisor gave other guests during the row; "
        "rows with more than a few % measured the host's neighbours as much as the balancer.", "",
        "Server p99: the 99th percentile of the time each answer spent at its server (queue "
        "wait + service, as the server reported it): what placement decides, without the "
        "network path and the balancers' own scheduling.", "",
        "| target | mode | load | req/s | p50 ms | p99 ms | p999 ms | ideal p99 | server p99 "
        "| answered | retried/failed | slow share | shares by id | CPU steal |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- "
        "| ---: |"]
    for row in rows:
        slow, each = share_text(row, slow_ids)
        suspect = "" if row.get("lb_received_all", True) else " (suspect: lost before lb)"
        suspect += "" if row.get("queues_settled", True) else " (started with a backlog)"
        lines.append(
            f"| {row['target']}{suspect} | {row['mode']} | {row['load']:.0%} | {row['rate']:.0f} | "
            f"{cell(row, 'p50_ms', timeout_ms)} | {cell(row, 'p99_ms', timeout_ms)} | "
            f"{cell(row, 'p999_ms', timeout_ms)} | {ideal(row)} | {server_p99(row)} | "
            f"{row['answered']}/{row['requests']} | "
            f"{row['retried']}/{row['failed']} | {slow} | {each} | "
            f"{row.get('steal_pct', 0):.0f}% |")
    lines += ratio_lines(meta)
    if set(meta["modes"]) - set(PLAIN_MODES):
        lines += ["", "Target (90% load): shortest-queue p99 <= 1/2 of power-of-two's and <= 1/3 "
                  "of round-robin's.", ""]
        lines += [f"- {r['text']}" for r in check if r["mode"] not in PLAIN_MODES]
    if set(meta["modes"]) & set(PLAIN_MODES):
        lines += ["", "Targets (plain queue servers, no reports): shortline-lb shortest-queue p99 "
                  "at 90% <= 12 ms and <= 0.8 x dnsdist's, at 70% <= 8 ms and <= 0.8 x "
                  "dnsdist's; on 8 equal servers at 90% <= dnsdist's.", ""]
        lines += [f"- {r['text']}" for r in check if r["mode"] in PLAIN_MODES]
    if meta.get("picture"):
        lines += ["", f"![p99 against load]({meta['picture']})"]
    return "\n".join(lines) + "\n"
