"""The measurements of the knee benchmark: one shortline-replay --ramp, or one resperf ramp,
against 127.0.0.1:PORT, each reduced to the same kind of record (per-interval offered and
answered rates, loss, the knee). Both are called as commands (flags and output only)."""
import json
import os
import re
import subprocess
import sys
import time

SOCKET_BUFFER_KB = 4096  # resperf -b: what shortline-replay asks for (4 MiB, capped at rmem_max)
RESPERF_WAIT_S = 60  # resperf's own cap after the ramp (it stops early once nothing is out)
MAX_THROUGHPUT_RE = re.compile(r"Maximum throughput:\s+([\d.]+)")
LOST_AT_MAX_RE = re.compile(r"Lost at that point:\s+([\d.]+)%")
FELL_BEHIND_RE = re.compile(r"Fell behind by (\d+) queries, ending test at (\d+) qps")


def knee_interval(intervals, loss_max, p99_max_ms=None):
    """The knee rule of shortline-replay's --ramp: the interval with the highest offered rate
    among those with loss <= loss_max (and p99 <= p99_max_ms where intervals carry p99)."""
    good = [i for i in intervals if i["offered_pps"] > 0 and i["loss"] <= loss_max and
            (p99_max_ms is None or i.get("p99_us") is None or i["p99_us"] <= 1000 * p99_max_ms)]
    return max(good, key=lambda i: i["offered_pps"], default=None)


def knee_of(intervals, loss_max, p99_max_ms=None):
    """The knee's offered rate by that rule; None when no interval qualifies."""
    knee = knee_interval(intervals, loss_max, p99_max_ms)
    return knee["offered_pps"] if knee else None


def replay_ramp(replay, capture, port, dst_port, ramp, cfg):
    """One `shortline-replay --ramp` run; returns its record (the JSON summary kept whole)."""
    low, high, seconds = ramp
    argv = [replay, capture, "--target", f"127.0.0.1:{port}", "--port", str(dst_port),
            "--ramp", f"{low}:{high}:{seconds}", "--interval", str(cfg.interval),
            "--knee-loss", str(cfg.knee_loss), "--knee-p99-ms", str(cfg.knee_p99_ms),
            "--timeout-ms", str(cfg.timeout_ms), "--json", "--no-progress"]
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    wall_s = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
    summary = parse_json_object(done.stdout)
    knee = summary.get("knee") or {}
    intervals = summary.get("intervals", [])
    return {"tool": "shortline-replay", "argv": argv, "wall_s": wall_s,
            "knee_pps": knee.get("pps"), "knee_interval": knee.get("interval"),
            "knee_answered_pps": knee.get("answered_pps"),
            # The same rule applied here to its table: a check on the tool's own knee.
            "knee_pps_recomputed": knee_of(intervals, cfg.knee_loss, cfg.knee_p99_ms),
            # resperf's rule (the best answered rate before the first interval over a bound),
            # as shortline-replay reports it next to its knee.
            "max_throughput_pps": (summary.get("max_throughput") or {}).get("answered_pps"),
            "intervals": intervals, "summary": summary}


def parse_json_object(stdout):
    """The one JSON object shortline-replay --json prints (whole stdout, else its last line)."""
    try:
        return json.loads(stdout)
    except json.JSONDecodeError:
        return json.loads(stdout.strip().splitlines()[-1])


def resperf_ramp(query_file, port, high, seconds, cfg, tmp, tag):
    """One resperf ramp 0 -> high over `seconds` (no constant phase); returns its record with
    the plot file's buckets as intervals, resperf's Maximum throughput, and the knee by
    shortline-replay's rule (loss only: resperf's plot has mean latency, not p99)."""
    plot_path = os.path.join(tmp, f"resperf-{tag}.gnuplot")
    argv = ["resperf", "-s", "127.0.0.1", "-p", str(port), "-d", query_file, "-R",
            "-m", str(high), "-r", str(seconds), "-c", "0", "-i", str(cfg.interval),
            "-L", f"{100 * cfg.knee_loss:g}", "-t", f"{cfg.timeout_ms / 1000:g}",
            "-C", str(cfg.resperf_clients), "-q", str(cfg.resperf_outstanding),
            "-b", str(SOCKET_BUFFER_KB), "-F", "0", "-P", plot_path]
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True,
                          timeout=seconds + RESPERF_WAIT_S + 30)
    wall_s = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(argv)} exited {done.returncode}: "
                 f"{(done.stderr or done.stdout).strip()[-500:]}")
    intervals = read_resperf_plot(plot_path, cfg.interval)
    throughput = MAX_THROUGHPUT_RE.search(done.stdout)
    lost = LOST_AT_MAX_RE.search(done.stdout)
    status = [line for line in done.stdout.splitlines() if line.startswith("[Status]")]
    return {"tool": "resperf", "argv": argv, "wall_s": wall_s,
            "max_throughput_pps": float(throughput.group(1)) if throughput else None,
            "lost_at_max_pct": float(lost.group(1)) if lost else None,
            "knee_pps": knee_of(intervals, cfg.knee_loss),
            "knee_answered_pps": (knee_interval(intervals, cfg.knee_loss) or {}).get(
                "answered_pps"), "intervals": intervals,
            "status": status, "statistics": statistics_block(done.stdout)}


def read_resperf_plot(plot_path, interval_s):
    """resperf's plot buckets (by send time) as intervals: offered = queries sent per second,
    answered = responses to them per second, loss = the share of them never answered."""
    intervals = []
    with open(plot_path) as plot:
        for line in plot:
            fields = line.split()
            if line.startswith("#") or len(fields) < 6:
                continue
            time_s, target, sent, answered, failures, latency_s = map(float, fields[:6])
            loss = (sent - answered) / sent if sent > 0 else 0.0
            intervals.append({"start_s": time_s - interval_s / 2, "end_s": time_s + interval_s / 2,
                              "intended_pps": target, "offered_pps": sent,
                              "answered_pps": answered, "failures_pps": failures,
                              "loss": loss, "mean_latency_us": latency_s * 1e6})
    return intervals


def statistics_block(stdout):
    """resperf's 'Statistics:' lines, kept for the JSON (what it says it sent and got)."""
    block = stdout.split("Statistics:", 1)
    return [line.strip() for line in block[1].splitlines() if line.strip()] if len(block) > 1 \
        else []
