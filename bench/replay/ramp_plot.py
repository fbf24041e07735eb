#!/usr/bin/env python3
"""The knee benchmark's picture: answered rate (top) and latency (bottom) against offered
rate, a line per run of each ramp row, the knees marked; resperf's buckets from its plot file
(mean latency: resperf keeps no p99). Needs matplotlib (Debian's python3-matplotlib, Agg);
under a python3 without it, Debian's /usr/bin/python3 draws it (bench/plot_common.py).
    /usr/bin/python3 bench/replay/ramp_plot.py bench/results/knee-TIME.json [OUT.png]"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from plot_common import plot_file, redraw_main  # noqa: E402 (bench/ is on the path above)

COLOURS = {"replay-lb": "tab:blue", "resperf-lb": "tab:orange", "replay-direct": "tab:green",
           "resperf-direct": "tab:red"}


def latency_ms(interval):
    """p99 for shortline-replay's intervals, mean for resperf's; None when unanswered."""
    value = interval.get("p99_us", interval.get("mean_latency_us"))
    return None if not value or interval.get("answered_pps", 0) <= 0 else value / 1000


def draw_run(axes, record, colour, first):
    intervals = [i for i in record["intervals"] if i.get("offered_pps", 0) > 0]
    offered = [i["offered_pps"] for i in intervals]
    label = record["row"] + (" (mean latency)" if record["tool"] == "resperf" else "")
    axes[0].plot(offered, [i["answered_pps"] for i in intervals], ".-", color=colour,
                 alpha=0.7, label=label if first else None)
    points = [(x, latency_ms(i)) for x, i in zip(offered, intervals) if latency_ms(i)]
    if points:
        axes[1].plot(*zip(*points), ".-" if record["tool"] != "resperf" else ".--",
                     color=colour, alpha=0.7, label=label if first else None)
    if record.get("knee_pps"):
        for axis in axes:
            axis.axvline(record["knee_pps"], color=colour, alpha=0.35, linewidth=1)


def draw(run, png_path):
    """Draws one run's JSON object; raises ImportError when matplotlib is missing."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(2, 1, figsize=(10, 8), sharex=True)
    seen = set()
    top = 0
    for record in run["runs"]:
        draw_run(axes, record, COLOURS.get(record["row"], "tab:gray"), record["row"] not in seen)
        seen.add(record["row"])
        top = max([top] + [i.get("offered_pps", 0) for i in record["intervals"]])
    axes[0].plot([0, top], [0, top], ":", color="black", linewidth=1, label="answered = offered")
    axes[0].set_ylabel("answered, datagrams/s")
    args = run["meta"]["args"]
    axes[0].set_title(f"Ramps to knotd (vertical lines: knees, loss <= "
                      f"{100 * args['knee_loss']:g} %, p99 <= {args['knee_p99_ms']:g} ms), "
                      f"{run['meta']['time']}", fontsize="medium")
    axes[1].set_yscale("log")
    axes[1].axhline(args["knee_p99_ms"], color="black", linestyle=":", linewidth=1)
    axes[1].set_ylabel("p99 latency, ms (resperf: mean), log")
    axes[1].set_xlabel("offered, datagrams/s (per interval)")
    for axis in axes:
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize="small", loc="upper left")
    figure.tight_layout()
    figure.savefig(png_path, dpi=110)
    plt.close(figure)


def plot_ramps(json_path, png_path):
    """Draws the run in json_path into png_path; returns png_path, or None with a note."""
    return plot_file(json_path, png_path, draw, __file__, "run_knee_bench")


if __name__ == "__main__":
    redraw_main(__doc__, draw)
