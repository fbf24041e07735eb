"""Tables and the target check for run_quality.py. A percentile is taken over answered
requests only, so a row that lost more than (1 - q) of its requests to the client timeout
has a true q-percentile of at least that timeout: such cells read '>= T' and count as T."""

QUANTILES = (("p50_ms", 0.5), ("p99_ms", 0.99), ("p999_ms", 0.999))
TARGET_LOAD = 0.9
TARGET_VS_POWER_OF_TWO = 0.5    # shortest-queue p99 <= half of power-of-two's
TARGET_VS_ROUND_ROBIN = 1 / 3   # and <= a third of round-robin's


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
    """Per mode: shortest-queue's p99 at 90% load against power-of-two's and round-robin's."""
    results = []
    for mode in sorted({row["mode"] for row in rows}):
        sq = find(rows, "shortest-queue", mode, TARGET_LOAD)
        p2 = find(rows, "power-of-two", mode, TARGET_LOAD)
        rr = find(rows, "round-robin", mode, TARGET_LOAD)
        if not (sq and p2 and rr):
            results.append({"mode": mode, "met": None, "text": "not measured (rows missing)"})
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
    return results


def share_text(row, slow_ids):
    shares = row["shares"]
    slow = sum(shares.get(str(sid), 0.0) for sid in slow_ids)
    each = " ".join(f"{100 * shares.get(str(sid), 0.0):.1f}"
                    for sid in sorted((int(s) for s in shares), key=int))
    return f"{100 * slow:.1f}%", each


def ideal(row):
    value = row.get("ideal_p99_ms")
    if value is None:
        return "-"
    return "unbounded" if value > 1000 else f"{value:.2f}"  # a queue growing all the run


def markdown(meta, rows, check):
    timeout_ms = meta["client_timeout_ms"]
    slow_ids = [s["id"] for s in meta["servers"] if s["speed"] < 1]
    fair_slow = 100 * sum(1000 * s["speed"] for s in meta["servers"] if s["speed"] < 1) / \
        meta["capacity_rps"]
    lines = [
        f"# Balancing quality, {meta['time']}", "",
        f"{len(meta['servers'])} shortline-servers (1 worker each, exponential service, mean "
        f"{meta['service_ms_mean']} ms; speeds "
        f"{', '.join(str(s['speed']) for s in meta['servers'])}), nominal capacity "
        f"{meta['capacity_rps']:.0f} req/s; Poisson arrivals from {meta['clients']} "
        f"shortline-clients (percentiles: their answered-weighted mean), "
        f"{meta['duration_s']:.0f} s per row; client timeout {timeout_ms} ms, no retries. "
        f"Host: {meta['cpus']} CPUs, load average before the run "
        f"{meta['load_average'][0]:.2f}.", "",
        "Modes: `static`: servers given with --backend, weight 1, no reports (nginx: plain "
        "`server` lines). `weighted`: the same with weights in proportion to speed (4 and 1; "
        "nginx `weight=`), so shortest-queue compares (load + 1) / weight, the shortest "
        "expected delay. `reports`: no backends given; the servers join and report their "
        "queue to the balancer's control port, which learns their speed.", ""]
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
        "| target | mode | load | req/s | p50 ms | p99 ms | p999 ms | ideal p99 | answered "
        "| retried/failed | slow share | shares by id |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for row in rows:
        slow, each = share_text(row, slow_ids)
        suspect = "" if row.get("lb_received_all", True) else " (suspect: lost before lb)"
        lines.append(
            f"| {row['target']}{suspect} | {row['mode']} | {row['load']:.0%} | {row['rate']:.0f} | "
            f"{cell(row, 'p50_ms', timeout_ms)} | {cell(row, 'p99_ms', timeout_ms)} | "
            f"{cell(row, 'p999_ms', timeout_ms)} | {ideal(row)} | "
            f"{row['answered']}/{row['requests']} | "
            f"{row['retried']}/{row['failed']} | {slow} | {each} |")
    lines += ["", "Target (90% load): shortest-queue p99 <= 1/2 of power-of-two's and <= 1/3 of "
              "round-robin's.", ""]
    lines += [f"- {result['text']}" for result in check]
    return "\n".join(lines) + "\n"
