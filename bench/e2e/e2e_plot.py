#!/usr/bin/env python3
"""The end-to-end benchmark's picture: pps answered and the balancer's CPU µs per request for
each measured row (steady and churn; bars grouped by payload size), drawn from a run's JSON
into a PNG beside it. Needs matplotlib (Debian's python3-matplotlib; bench/run_e2e.sh
installs it), with the non-interactive Agg backend. When the running interpreter lacks it
(a pyenv or venv python3) it draws with Debian's /usr/bin/python3 instead. Anything failing
prints a note and returns None: the numbers are already written.
    python3 bench/e2e/e2e_plot.py bench/results/e2e-TIME.json [OUT.png]"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from plot_common import plot_file, redraw_main  # noqa: E402 (bench/ is on the path above)

PANELS = (("pps", "pps answered (saturation)"),
          ("cpu_us_per_req", "balancer CPU µs per request (saturation)"))


def bars(results, key):
    """[(row title, {payload: value})] in the run's order, rows with a value only."""
    order, values = [], {}
    for r in results:
        if r.get("kind", "steady") not in ("steady", "churn") or r.get(key) is None:
            continue
        if r["title"] not in values:
            order.append(r["title"])
            values[r["title"]] = {}
        values[r["title"]][r["payload"]] = r[key]
    return [(title, values[title]) for title in order]


def draw(run, png_path):
    """Draws the picture of one run's JSON object; raises when matplotlib is missing."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    results = run["results"]
    sizes = sorted({r["payload"] for r in results})
    figure, panels = plt.subplots(len(PANELS), 1, figsize=(11, 8.5))
    width = 0.8 / max(1, len(sizes))
    for axes, (key, label) in zip(panels, PANELS):
        data = bars(results, key)
        for k, size in enumerate(sizes):
            xs = [i + (k - (len(sizes) - 1) / 2) * width for i in range(len(data))]
            axes.bar(xs, [v.get(size, 0) for _, v in data], width, label=f"{size} B")
        axes.set_xticks(range(len(data)))
        axes.set_xticklabels([t for t, _ in data], rotation=20, ha="right", fontsize="small")
        axes.set_ylabel(label, fontsize="small")
        axes.grid(True, axis="y", alpha=0.3)
        axes.legend(fontsize="small")
    panels[0].set_title(f"shortline end-to-end, {run['meta']['time']}")
    figure.tight_layout()
    figure.savefig(png_path, dpi=110)
    plt.close(figure)


def plot_e2e(json_path, png_path):
    """Draws the run in json_path into png_path; returns png_path, or None with a note."""
    return plot_file(json_path, png_path, draw, __file__, "e2e")


if __name__ == "__main__":
    redraw_main(__doc__, draw)
