"""What the benchmarks' pictures share: drawing a run's JSON into a PNG with matplotlib
(Debian's python3-matplotlib, Agg backend), falling back to Debian's /usr/bin/python3 when
the running interpreter lacks it (a pyenv or venv python3), and the command line that
redraws a picture from any run. A picture that cannot be drawn prints a note: the JSON and
Markdown are already written, and a missing picture must not lose them."""

import json
import os
import subprocess
import sys

SYSTEM_PYTHON = "/usr/bin/python3"  # where Debian's python3-matplotlib is importable


def plot_file(json_path, png_path, draw, script, tag):
    """Draws the run in json_path into png_path with draw(run, png_path); returns png_path,
    or None with a note naming `tag`. `script` is the drawing module's file, run under the
    system python when matplotlib is missing here."""
    try:
        with open(json_path) as source:
            run = json.load(source)
        try:
            draw(run, png_path)
            return png_path
        except ImportError:
            if not os.access(SYSTEM_PYTHON, os.X_OK) or \
                    os.path.realpath(sys.executable) == os.path.realpath(SYSTEM_PYTHON):
                raise
        done = subprocess.run([SYSTEM_PYTHON, os.path.abspath(script), json_path, png_path],
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip()
                               else f"{SYSTEM_PYTHON} exited {done.returncode}")
        return png_path
    except Exception as error:  # noqa: BLE001 - the JSON and Markdown are what matter
        print(f"{tag}: no picture ({error}); python3-matplotlib installs it", flush=True)
        return None


def redraw_main(doc, draw):
    """`SCRIPT RUN.json [OUT.png]`: draws one run; here a failure is the caller's to see."""
    if len(sys.argv) not in (2, 3):
        sys.exit(doc.strip().splitlines()[-1].strip())
    json_path = sys.argv[1]
    png_path = sys.argv[2] if len(sys.argv) == 3 else os.path.splitext(json_path)[0] + ".png"
    with open(json_path) as source:
        draw(json.load(source), png_path)
    print(png_path)
