#!/usr/bin/python3
"""Parses a Prometheus text exposition (the file named, or stdin) with the official client's
parser and prints what it read as JSON, for metrics_test: {"families": [{"name", "type",
"samples": [{"name", "labels", "value"}]}]}. A text the parser rejects exits 1 with its
error; a machine without python3-prometheus-client exits 2 saying so."""
import json
import math
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    print("python3-prometheus-client is missing (tools/setup.sh installs it)", file=sys.stderr)
    sys.exit(2)


def finite(value):
    # JSON has no Inf or NaN; the checks only need to know they were there.
    return value if math.isfinite(value) else str(value)


def main():
    text = open(sys.argv[1]).read() if len(sys.argv) > 1 else sys.stdin.read()
    try:
        families = [{"name": f.name, "type": f.type,
                     "samples": [{"name": s.name, "labels": s.labels, "value": finite(s.value)}
                                 for s in f.samples]}
                    for f in text_string_to_metric_families(text)]
    except Exception as error:  # the parser raises ValueError and friends on bad lines
        print(f"parse error: {error}", file=sys.stderr)
        sys.exit(1)
    json.dump({"families": families}, sys.stdout)


if __name__ == "__main__":
    main()
