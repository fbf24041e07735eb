#!/usr/bin/env python3
"""The balancing-quality picture: p99 latency against load, one line per balancer, policy and
mode, drawn from a run's JSON into a PNG beside it. Needs matplotlib (Debian's
python3-matplotlib; bench/run_quality.sh installs it), with the non-interactive Agg backend.
When the running interpreter lacks it (a pyenv or venv python3) it draws with Debian's
/usr/bin/python3 instead. Anything failing prints a note and returns None: the numbers are
already written, and a missing picture must not lose them.
    python3 bench/quality/quality_plot.py bench/results/quality-TIME.json [OUT.png]"""

import json
import os
import subprocess
import sys

from quality_report import effective_ms

SYSTEM_PYTHON = "/usr/bin/python3"  # where Debian's python3-matplotlib is importable
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
    try:
        with open(json_path) as source:
            results = json.load(source)
        try:
            draw(results, png_path)
            return png_path
        except ImportError:
            if not os.access(SYSTEM_PYTHON, os.X_OK) or \
                    os.path.realpath(sys.executable) == os.path.realpath(SYSTEM_PYTHON):
                raise
        done = subprocess.run([SYSTEM_PYTHON, os.path.abspath(__file__), json_path, png_path],
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip()
                               else f"{SYSTEM_PYTHON} exited {done.returncode}")
        return png_path
    except Exception as error:  # noqa: BLE001 - the JSON and Markdown are what matter
        print(f"run_quality: no picture ({error}); python3-matplotlib installs it", flush=True)
        return None


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    json_path = sys.argv[1]
    png_path = sys.argv[2] if len(sys.argv) == 3 else os.path.splitext(json_path)[0] + ".png"
    with open(json_path) as source:
        draw(json.load(source), png_path)  # here a failure is the caller's to see
    print(png_path)


if __name__ == "__main__":
    main()
