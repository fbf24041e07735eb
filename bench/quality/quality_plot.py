#!/usr/bin/env python3
"""The balancing-quality picture: p99 latency against load, one line per balancer, policy and
mode, drawn from a run's JSON into a PNG beside it. Needs matplotlib (Debian's
python3-matplotlib; bench/run_quality.sh installs it), with the non-interactive Agg backend.
When the running interpreter lacks it (a pyenv or venv python3) it draws with Debian's
/usr/bin/python3 instead. Anything failing prints a note and returns None: the numbers are
already written, and a missing picture must not lose them.
    python3 bench/quality/quality_plot.py bench/results/quality-TIME.json [OUT.png]"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from plot_common import plot_file, redraw_main  # noqa: E402 (bench/ is on the path above)

from quality_report import effective_ms

LINE_STYLES = {"static": "-", "weighted": "--", "reports": "-.", "plain": ":",
               "plain-equal": ":"}


def series(rows, timeout_ms):
    """{(target, mode): [(load, p99 ms, is_lower_bound)]}, loads ascending."""
    lines = {}
    for row in rows:
        value, bound = effective_ms(row, "p99_ms", timeout_ms)
        lines.setdefault((row["target"], row["mode"]), []).append((row["load"], value, bound))
    return {key: sorted(points) for key, points in lines.items()}


def draw(results, png_path):
    """Draws the picture of one run's JSON object; raises when matplotlib is missing."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    meta = results["meta"]
    figure, axes = plt.subplots(figsize=(10, 6.5))
    for (target, mode), points in series(results["rows"], meta["client_timeout_ms"]).items():
        loads = [100 * load for load, _, _ in points]
        values = [max(value, 0.01) for _, value, _ in points]  # log scale: no zeros
        line, = axes.plot(loads, values, LINE_STYLES.get(mode, "-"),
                          marker="s" if mode == "plain-equal" else "o",
                          label=f"{target} ({mode})")
        bounds = [(x, y) for x, y, (_, _, bound) in zip(loads, values, points) if bound]
        if bounds:  # a lower bound only: more requests failed than the percentile allows
            axes.plot(*zip(*bounds), "^", color=line.get_color(), markersize=10)
    axes.set_yscale("log")
    axes.set_xlabel("load, % of the measured capacity")
    axes.set_ylabel("p99 latency, ms (log; ^ = at least: too many failed)")
    axes.set_title(f"Balancing quality, {meta['time']}")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    figure.savefig(png_path, dpi=110)
    plt.close(figure)


def plot_p99(json_path, png_path):
    """Draws the run in json_path into png_path; returns png_path, or None with a note."""
    return plot_file(json_path, png_path, draw, __file__, "run_quality")


if __name__ == "__main__":
    redraw_main(__doc__, draw)
