#!/usr/bin/env python3
"""Timestamps of nvabgp log lines.

nvabgp logs through tracing-subscriber's fmt layer: every line starts with an RFC 3339 UTC
timestamp with microseconds (`2026-11-22T01:16:19.651472Z  INFO session established peer=rs1 ...`),
taken from the system clock when the event is recorded, i.e. the same clock as time.time().

  logtimes.py LOG TEXT [--nth N] [--since T] [--abs]
prints the time of the N-th line (default 1) containing TEXT whose timestamp is >= T, relative to
T (seconds, 4 decimals) or, with --abs, as an absolute time.time() value; NA when there is none.
"""
import argparse
import datetime
import re

TS = re.compile(r"^(?:\x1b\[[0-9;]*m)?(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z")


def stamp(line):
    m = TS.match(line)
    if not m:
        return None
    s = m.group(1)
    base, _, frac = s.partition(".")
    t = datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return t.timestamp() + (float("0." + frac) if frac else 0.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log")
    ap.add_argument("text")
    ap.add_argument("--nth", type=int, default=1)
    ap.add_argument("--since", type=float, default=0.0)
    ap.add_argument("--abs", action="store_true")
    a = ap.parse_args()
    n = 0
    try:
        with open(a.log, errors="replace") as f:
            for line in f:
                if a.text not in line:
                    continue
                t = stamp(line)
                if t is None or t < a.since:
                    continue
                n += 1
                if n == a.nth:
                    print("%.6f" % t if a.abs else "%.4f" % (t - a.since))
                    return
    except FileNotFoundError:
        pass
    print("NA")


if __name__ == "__main__":
    main()
