#!/usr/bin/env python3
"""Quantiles of one Prometheus histogram between two /metrics scrapes.

usage: histogram_quantiles.py NAME BEFORE AFTER Q [Q ...]

Subtracts the BEFORE scrape from AFTER bucket by bucket (so only observations made between
the two count), then estimates each quantile Q (0..1) the way Prometheus' histogram_quantile
does: find the first bucket whose cumulative count reaches Q*count and interpolate linearly
inside it, from the previous bound (0 for the first bucket) to its own. A quantile that lands
in the +Inf bucket is reported as ">LAST" (the largest finite bound): the histogram cannot
say more. Prints `count N`, `mean S` and one `pQ S` line per quantile, in seconds.
"""
import math
import re
import sys


def read(path, name):
    buckets, total_sum, count = {}, 0.0, 0
    line_re = re.compile(r"^" + re.escape(name) + r'_(bucket|sum|count)(\{[^}]*\})? (\S+)$')
    for line in open(path, encoding="utf-8"):
        m = line_re.match(line.rstrip("\n"))
        if not m:
            continue
        kind, labels, value = m.groups()
        if kind == "bucket":
            le = re.search(r'le="([^"]*)"', labels).group(1)
            bound = math.inf if le == "+Inf" else float(le)
            buckets[bound] = buckets.get(bound, 0) + int(float(value))
        elif kind == "sum":
            total_sum += float(value)
        else:
            count += int(float(value))
    if not buckets:
        sys.exit(f"{path}: no {name}_bucket lines")
    return buckets, total_sum, count


def quantile(q, bounds, cumulative):
    count = cumulative[-1]
    rank = q * count
    for i, (bound, cum) in enumerate(zip(bounds, cumulative)):
        if cum >= rank:
            if math.isinf(bound):
                return f">{bounds[-2]:g}" if len(bounds) > 1 else "+Inf"
            lower = bounds[i - 1] if i > 0 else 0.0
            prev = cumulative[i - 1] if i > 0 else 0
            inside = cum - prev
            frac = (rank - prev) / inside if inside else 1.0
            return f"{lower + (bound - lower) * frac:.6f}"
    return "nan"


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    name, before_path, after_path = sys.argv[1:4]
    qs = [float(q) for q in sys.argv[4:]]
    before, before_sum, before_count = read(before_path, name)
    after, after_sum, after_count = read(after_path, name)
    bounds = sorted(after)
    cumulative = [after[b] - before.get(b, 0) for b in bounds]
    count = after_count - before_count
    print(f"count {count}")
    if count <= 0:
        return
    print(f"mean {(after_sum - before_sum) / count:.6f}")
    for q in qs:
        print(f"p{q * 100:g} {quantile(q, bounds, cumulative)}")


if __name__ == "__main__":
    main()
