"""Turns the end-to-end benchmark's per-row medians into ratios, target checks and the
Markdown tables (used by run_e2e.py; standard library only). Rows come in three kinds:
steady (the main table), churn (a new source port per request) and flood (a legitimate
client beside a spoofed-source flood)."""

CHURN_BASES = ("relay-churn", "nginx-churn", "direct-churn")
CHURN_TARGET = 0.8  # the issue: lb1-churn pps >= 0.8 x the harness's own churn ceiling


def measured(results, size, kind):
    return {r["row"]: r for r in results
            if r["payload"] == size and r.get("kind", "steady") == kind and "pps" in r}


def ratio(a, b):
    return a / b if a is not None and b else None


def add_ratios(results):
    """Steady rows against relay and nginx; churn rows against relay-, nginx- and direct-churn."""
    for size in {r["payload"] for r in results}:
        for kind, bases in (("steady", ("relay", "nginx")), ("churn", CHURN_BASES)):
            rows = measured(results, size, kind)
            for r in rows.values():
                for base in bases:
                    ref = rows.get(base, {})
                    for key in ("pps", "cpu_us_per_req"):
                        r[f"{key}_vs_{base}"] = ratio(r.get(key), ref.get(key))


def fmt(value, digits=1, suffix=""):
    return "—" if value is None else f"{value:,.{digits}f}{suffix}"


def check(name, a, b, factor, op, size):
    """One target line: a <= b*factor ("le"), a >= b*factor ("ge") or a > b*factor ("gt")."""
    limit = None if b is None else b * factor
    ok = a is not None and limit is not None and \
        (a <= limit if op == "le" else a >= limit if op == "ge" else a > limit)
    return f"- {size} B: {name}: {'PASS' if ok else 'FAIL'} ({fmt(a, 2)} vs {fmt(limit, 2)})"


def target_lines(results):
    """The issue's targets for shortline-lb with 1 worker, checked per payload."""
    lines = []
    for size in sorted({r["payload"] for r in results}):
        rows = measured(results, size, "steady")
        lb, relay, nginx = rows.get("lb1"), rows.get("relay"), rows.get("nginx")
        if not lb or not relay:
            if any(r.get("kind", "steady") == "steady" for r in results if r["payload"] == size):
                lines.append(f"- {size} B: not checked (needs the shortline-lb 1 worker and relay"
                             " rows)")
            continue
        lines += [check("CPU/req ≤ relay", lb["cpu_us_per_req"], relay["cpu_us_per_req"], 1.0,
                        "le", size),
                  check("pps ≥ relay", lb["pps"], relay["pps"], 1.0, "ge", size),
                  check("p99 @ light ≤ relay", lb["light_p99_us"], relay["light_p99_us"], 1.0,
                        "le", size)]
        if nginx:
            lines.append(check("CPU/req ≤ nginx/3", lb["cpu_us_per_req"],
                               nginx["cpu_us_per_req"], 1 / 3, "le", size))
    return lines


def churn_target_lines(results):
    """The churn issue's target: lb1-churn pps >= 0.8 x direct-churn and ahead of relay-churn
    and nginx-churn; beside it, the steady row's CPU/req <= the relay's, from the same run."""
    lines = []
    for size in sorted({r["payload"] for r in results if r.get("kind") == "churn"}):
        churn, steady = measured(results, size, "churn"), measured(results, size, "steady")
        lb = churn.get("lb1-churn")
        if not lb:
            lines.append(f"- {size} B: not checked (needs the lb1-churn row)")
            continue
        checks = []
        for base, factor, op, name in (("direct-churn", CHURN_TARGET, "ge", "pps ≥ 0.8 × direct"),
                                       ("relay-churn", 1.0, "gt", "pps > relay"),
                                       ("nginx-churn", 1.0, "gt", "pps > nginx")):
            if base in churn:
                checks.append(check(f"churn {name}", lb["pps"], churn[base]["pps"], factor, op,
                                    size))
        if "lb1" in steady and "relay" in steady:
            checks.append(check("steady CPU/req ≤ relay", steady["lb1"]["cpu_us_per_req"],
                                steady["relay"]["cpu_us_per_req"], 1.0, "le", size))
        verdict = "not fully checked (rows missing)" if len(checks) < 4 else \
            "met" if all(": PASS" in c for c in checks) else "not met"
        lines += checks + [f"- {size} B: **issue target {verdict}** (churn pps ≥ 0.8 × direct,"
                           " ahead of relay and nginx; steady CPU/req ≤ relay; this run)"]
    return lines


def note_lines(results):
    """Flags what the tables hide: light-load loss, duplicated or misdelivered replies, the
    generator's own failures in churn and the relay's table overflowing."""
    notes = []
    for r in results:
        if "skipped" in r:
            continue
        label = f"- {r['title']}, {r['payload']} B"
        if r.get("kind", "steady") == "steady":
            runs = r["runs"]["saturation"] + r["runs"]["light"]
            duplicates = sum(run["duplicates"] for run in runs)
            if (r["light_loss_pct"] or 0) > 0.1 or duplicates:
                notes.append(f"{label}: light-load loss {fmt(r['light_loss_pct'], 2)} %, "
                             f"duplicates {duplicates}")
        elif r["kind"] == "churn":
            counts = {k: v for k, v in r["counts"].items() if v}
            if counts:
                notes.append(f"{label}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
            tail = r.get("exit_log") or ""
            if "dropped_table_full" in tail and "dropped_table_full 0" not in tail:
                notes.append(f"{label}: the relay's client table filled (no eviction): "
                             + tail.strip().splitlines()[-1])
    return ["", "Notes:"] + notes if notes else []


def fmt_load(values):
    return ", ".join(f"{v:.2f}" for v in values)


def header_lines(meta):
    return [f"# shortline end-to-end benchmark — {meta['time']}", "",
            f"{meta['host']}; {meta['cpus']} CPUs ({meta['cpu_model']}); kernel {meta['kernel']};"
            f" commit {meta['commit']}; {meta['nginx']}.", "",
            f"Pinning: {meta['pinning']}", "",
            f"Load average (1, 5, 15 min) before: {fmt_load(meta['loadavg_before'])}; after: "
            f"{fmt_load(meta['loadavg_after'])}. Other work on these CPUs shows up as latency and"
            " pps noise; CPU per request is the steadiest column.", ""]


def steady_table(meta, results):
    rows = [r for r in results if r.get("kind", "steady") == "steady"]
    if not rows:
        return []
    head = [f"Saturation: rate 0 with a window of {meta['window']} outstanding over "
            f"{meta['flows']} flows; light: {meta['light_rate']:,} req/s. {meta['duration_s']} s"
            f" measured after {meta['warmup_s']} s warm-up, median of {meta['repeats']} runs."
            " CPU = the balancer's user+system time (all threads and processes) over the measured"
            " window ÷ answered.", "",
            "| row | payload | pps answered | loss % | p50 µs | p99 µs | p999 µs | p99 µs @light"
            " | CPU µs/req | CPU µs/req @light | pps ÷ relay | CPU ÷ relay | pps ÷ nginx |"
            " CPU ÷ nginx |", "|" + " --- |" * 14]
    body = []
    for r in rows:
        if "skipped" in r:
            body.append(f"| {r['title']} | {r['payload']} B | skipped: {r['skipped']} |"
                        + " |" * 11)
            continue
        body.append(
            f"| {r['title']} | {r['payload']} B | {fmt(r['pps'], 0)} | {fmt(r['loss_pct'], 2)} | "
            f"{fmt(r['p50_us'])} | {fmt(r['p99_us'])} | {fmt(r['p999_us'])} | "
            f"{fmt(r['light_p99_us'])} | {fmt(r['cpu_us_per_req'], 2)} | "
            f"{fmt(r['light_cpu_us_per_req'], 2)} | {fmt(r.get('pps_vs_relay'), 2)} | "
            f"{fmt(r.get('cpu_us_per_req_vs_relay'), 2)} | {fmt(r.get('pps_vs_nginx'), 2)} | "
            f"{fmt(r.get('cpu_us_per_req_vs_nginx'), 2)} |")
    return head + body


def churn_table(meta, results):
    rows = [r for r in results if r.get("kind") == "churn"]
    if not rows:
        return []
    head = ["", "## Churn: a new source port per request", "",
            f"The generator opens a socket per request (socket, sendto, the reply read from it,"
            f" close), rate 0 with {meta['churn_window']} requests outstanding; the direct row is"
            " the harness's own churn ceiling. Generator CPU is the load generator's own time per"
            " answered request (it pays for the sockets too).", "",
            "| row | payload | pps answered | loss % | p99 µs | CPU µs/req | generator CPU µs/req"
            " | pps ÷ direct | pps ÷ relay | CPU ÷ relay | pps ÷ nginx | CPU ÷ nginx |",
            "|" + " --- |" * 12]
    body = []
    for r in rows:
        if "skipped" in r:
            body.append(f"| {r['title']} | {r['payload']} B | skipped: {r['skipped']} |" + " |" * 9)
            continue
        body.append(
            f"| {r['title']} | {r['payload']} B | {fmt(r['pps'], 0)} | {fmt(r['loss_pct'], 2)} | "
            f"{fmt(r['p99_us'])} | {fmt(r['cpu_us_per_req'], 2)} | "
            f"{fmt(r['generator_cpu_us_per_req'], 2)} | {fmt(r.get('pps_vs_direct-churn'), 2)} | "
            f"{fmt(r.get('pps_vs_relay-churn'), 2)} | "
            f"{fmt(r.get('cpu_us_per_req_vs_relay-churn'), 2)} | "
            f"{fmt(r.get('pps_vs_nginx-churn'), 2)} | "
            f"{fmt(r.get('cpu_us_per_req_vs_nginx-churn'), 2)} |")
    return head + body + ["", "Targets (churn issue):"] + churn_target_lines(results)


def flood_table(meta, results):
    rows = [r for r in results if r.get("kind") == "flood"]
    if not rows:
        return []
    rate = "as fast as it can" if not meta["flood_rate"] else f"{meta['flood_rate']:,}/s"
    head = ["", "## Spoofed flood", "",
            f"A legitimate client at {meta['flood_legit_rate']:,} req/s ({meta['flows']} steady"
            " flows) through the balancer, first alone, then while shortline-bench-flood sends"
            f" datagrams from random spoofed sources in 127.0.0.0/8 ({rate}, raw socket, pinned"
            " beside the generator and the echo servers) to the same port. The direct row floods"
            " an echo port with no balancer: what the harness itself loses. Balancer CPU is its"
            " share of one CPU during the flooded runs.", "",
            "| row | payload | legit req/s | loss % alone | p99 µs alone | loss % flooded |"
            " p99 µs flooded | p999 µs flooded | flood sent | flood pps | balancer CPU % |",
            "|" + " --- |" * 11]
    body = []
    for r in rows:
        if "skipped" in r:
            body.append(f"| {r['title']} | {r['payload']} B | skipped: {r['skipped']} |" + " |" * 8)
            continue
        sent = None if r["flood_sent"] is None else float(r["flood_sent"])
        body.append(
            f"| {r['title']} | {r['payload']} B | {r['legit_rate']:,} | "
            f"{fmt(r['alone_loss_pct'], 2)} | {fmt(r['alone_p99_us'])} | {fmt(r['loss_pct'], 2)} | "
            f"{fmt(r['p99_us'])} | {fmt(r['p999_us'])} | {fmt(sent, 0)} | "
            f"{fmt(r['flood_pps'], 0)} | {fmt(r['balancer_cpu_pct'], 0)} |")
    return head + body


def markdown(meta, results):
    steady = steady_table(meta, results)
    tail = (["", "Targets (shortline-lb, 1 worker):"] + target_lines(results)) if steady else []
    lines = header_lines(meta) + steady + tail + churn_table(meta, results) + \
        flood_table(meta, results) + note_lines(results)
    return "\n".join(lines) + "\n"
