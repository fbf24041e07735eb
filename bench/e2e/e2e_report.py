"""Turns the end-to-end benchmark's per-row medians into ratios, target checks and the
Markdown table (used by run_e2e.py; standard library only)."""


def add_ratios(results):
    for size in {r["payload"] for r in results}:
        rows = {r["row"]: r for r in results if r["payload"] == size and "pps" in r}
        for r in rows.values():
            for base in ("relay", "nginx"):
                ref = rows.get(base, {})
                for key in ("pps", "cpu_us_per_req"):
                    a, b = r.get(key), ref.get(key)
                    r[f"{key}_vs_{base}"] = a / b if a is not None and b else None


def fmt(value, digits=1, suffix=""):
    return "—" if value is None else f"{value:,.{digits}f}{suffix}"


def target_lines(results):
    """The issue's targets for shortline-lb with 1 worker, checked per payload."""
    lines = []
    for size in sorted({r["payload"] for r in results}):
        rows = {r["row"]: r for r in results if r["payload"] == size and "pps" in r}
        lb, relay, nginx = rows.get("lb1"), rows.get("relay"), rows.get("nginx")
        if not lb or not relay:
            lines.append(f"- {size} B: not checked (needs the shortline-lb 1 worker and relay rows)")
            continue
        checks = [("CPU/req ≤ relay", lb["cpu_us_per_req"], relay["cpu_us_per_req"], 1.0, "le"),
                  ("pps ≥ relay", lb["pps"], relay["pps"], 1.0, "ge"),
                  ("p99 @ light ≤ relay", lb["light_p99_us"], relay["light_p99_us"], 1.0, "le")]
        if nginx:
            checks.append(("CPU/req ≤ nginx/3", lb["cpu_us_per_req"], nginx["cpu_us_per_req"],
                           1 / 3, "le"))
        for name, a, b, factor, op in checks:
            ok = a is not None and b is not None and (a <= b * factor if op == "le" else a >= b)
            lines.append(f"- {size} B: {name}: {'PASS' if ok else 'FAIL'} "
                         f"({fmt(a, 2)} vs {fmt(None if b is None else b * factor, 2)})")
    return lines


def note_lines(results):
    """Flags what the table hides: loss in the light runs and duplicated replies."""
    notes = []
    for r in results:
        if "skipped" in r:
            continue
        runs = r["runs"]["saturation"] + r["runs"]["light"]
        duplicates = sum(run["duplicates"] for run in runs)
        if (r["light_loss_pct"] or 0) > 0.1 or duplicates:
            notes.append(f"- {r['title']}, {r['payload']} B: light-load loss "
                         f"{fmt(r['light_loss_pct'], 2)} %, duplicates {duplicates}")
    return ["", "Notes:"] + notes if notes else []


def fmt_load(values):
    return ", ".join(f"{v:.2f}" for v in values)


def markdown(meta, results):
    head = [f"# shortline end-to-end benchmark — {meta['time']}", "",
            f"{meta['host']}; {meta['cpus']} CPUs ({meta['cpu_model']}); kernel {meta['kernel']};"
            f" commit {meta['commit']}; {meta['nginx']}.", "",
            f"Pinning: {meta['pinning']}", "",
            f"Load average (1, 5, 15 min) before: {fmt_load(meta['loadavg_before'])}; after: "
            f"{fmt_load(meta['loadavg_after'])}. Other work on these CPUs shows up as latency and"
            " pps noise; CPU per request is the steadiest column.", "",
            f"Saturation: rate 0 with a window of {meta['window']} outstanding over {meta['flows']}"
            f" flows; light: {meta['light_rate']:,} req/s. {meta['duration_s']} s measured after "
            f"{meta['warmup_s']} s warm-up, median of {meta['repeats']} runs. CPU = the balancer's"
            " user+system time (all threads and processes) over the measured window ÷ answered.",
            "", "| row | payload | pps answered | loss % | p50 µs | p99 µs | p999 µs | p99 µs @light"
            " | CPU µs/req | CPU µs/req @light | pps ÷ relay | CPU ÷ relay | pps ÷ nginx |"
            " CPU ÷ nginx |", "|" + " --- |" * 14]
    body = []
    for r in results:
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
    tail = ["", "Targets (shortline-lb, 1 worker):"] + target_lines(results) + note_lines(results)
    return "\n".join(head + body + tail) + "\n"
