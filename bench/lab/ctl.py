#!/usr/bin/env python3
"""Fast, persistent route-count pollers for nvabgp and BIRD (stdlib only).

Spawning a CLI per poll (birdc, `nvabgp status`) costs milliseconds of CPU each time and puts the
poll interval's floor at the CLI's start-up time. This helper keeps ONE connection to the daemon's
control socket and asks again every --interval seconds, so a 5 ms interval costs little CPU.

  ctl.py nvabgp SOCKET status              print the `status` result (JSON) once
  ctl.py nvabgp SOCKET count|established   print loc_rib_prefixes | peers_established once
  ctl.py bird   SOCKET count|established   the same for BIRD (sum of "Routes: N imported" over the
                                           protocols "rsp*", number of Established BGP protocols)
        --table   count BIRD's routes in its table instead (`show route protocol rsp1 count`): the
                  protocol's counter drops to 0 the moment the session goes down, while the routes
                  are still being pruned from the table; a table walk costs ~0.2 s at 1M routes
  ctl.py KIND SOCKET until-count N --timeout S [--interval S] [--timeline FILE] [--t0 T]
        poll until count >= N; prints the time.time() of the first poll that saw it (or NA)
  ctl.py KIND SOCKET until-zero --timeout S [--interval S] [--timeline FILE]
        poll until count == 0 (routes gone); prints the time (or NA)
  ctl.py KIND SOCKET until-le N ...   poll until count <= N
        --paths   count paths, not prefixes: nvabgp, the sum of prefixes_accepted over its neighbors
                  (`neighbors`); BIRD, its "Routes: N imported" sum already counts every path

nvabgp's control API: one JSON object per line each way, {"command":"status"} ->
{"ok":true,"result":{..., "peers_established":N, "loc_rib_prefixes":N, ...}} (README.md "Control API").
BIRD's: the birdc text protocol on its control socket (reply lines "NNNN-..." / " ..." continue,
"NNNN ..." ends; 0000 = OK).
Timestamps: time.time() taken right after the answer is read (same clock as the shell's
$EPOCHREALTIME and tcpdump). Every loop is bounded by --timeout.
"""
import argparse
import json
import re
import socket
import sys
import time


class Nvabgp:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect(path)
        self.f = self.s.makefile("rb")

    def status(self):
        self.s.sendall(b'{"command":"status"}\n')
        line = self.f.readline()
        if not line:
            raise ConnectionError("nvabgp closed the control connection")
        r = json.loads(line)
        if not r.get("ok"):
            raise RuntimeError("nvabgp status failed: %r" % r)
        return r["result"]

    def count(self):
        return int(self.status()["loc_rib_prefixes"])

    def established(self):
        return int(self.status()["peers_established"])

    def paths(self):
        self.s.sendall(b'{"command":"neighbors"}\n')
        line = self.f.readline()
        if not line:
            raise ConnectionError("nvabgp closed the control connection")
        r = json.loads(line)
        if not r.get("ok"):
            raise RuntimeError("nvabgp neighbors failed: %r" % r)
        return sum(int(n.get("prefixes_accepted", 0)) for n in r["result"])


class Bird:
    ROUTES = re.compile(rb"^\s*Routes:\s+(\d+) imported")
    TOTAL = re.compile(rb"Total:\s+(\d+) of")
    TABLE = re.compile(rb"^\d{4}[- ](\d+) of \d+ routes for")

    def __init__(self, path, table=False):
        self.table = table
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect(path)
        self.f = self.s.makefile("rb")
        self._reply()                                  # "0001 BIRD x.y ready."

    def _reply(self):
        lines = []
        while True:
            line = self.f.readline()
            if not line:
                raise ConnectionError("bird closed the control connection")
            lines.append(line)
            # A final line is 4 digits then a space; "NNNN-" and " ..." continue the reply.
            if len(line) >= 5 and line[:4].isdigit() and line[4:5] == b" ":
                return lines

    def cmd(self, c):
        self.s.sendall(c.encode() + b"\n")
        return self._reply()

    def count(self):
        if self.table:
            # "1007-10 of 11 routes for 11 networks in table master4" per table (the first number
            # is the filter's), plus "Total: N of ..." when there are several tables.
            n, found = 0, False
            for line in self.cmd("show route protocol rsp1 count"):
                m = self.TOTAL.search(line)
                if m:
                    return int(m.group(1))
                m = self.TABLE.match(line)
                if m:
                    n += int(m.group(1))
                    found = True
            if not found:
                raise RuntimeError("no route count in BIRD's answer")
            return n
        n = 0
        for line in self.cmd('show protocols all "rsp*"'):
            m = self.ROUTES.match(line[5:] if line[:4].isdigit() else line)
            if m:
                n += int(m.group(1))
        return n

    def established(self):
        return sum(1 for line in self.cmd("show protocols") if b" BGP " in line and b"Established" in line)

    def paths(self):
        return self.count()


def connect(kind, path, table=False):
    return Nvabgp(path) if kind == "nvabgp" else Bird(path, table)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=["nvabgp", "bird"])
    ap.add_argument("socket")
    ap.add_argument("what", choices=["status", "count", "paths", "established", "until-count", "until-zero", "until-le"])
    ap.add_argument("n", nargs="?", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--interval", type=float, default=0.005)
    ap.add_argument("--timeline", help="append 't_rel count' per poll")
    ap.add_argument("--t0", type=float, default=None, help="timeline origin (default: start)")
    ap.add_argument("--table", action="store_true", help="bird: count routes in the table")
    ap.add_argument("--paths", action="store_true", help="count paths (all peers), not prefixes")
    a = ap.parse_args()
    end = time.time() + a.timeout
    c = None
    while c is None:                                   # the socket may not exist yet: bounded retry
        try:
            c = connect(a.kind, a.socket, a.table)
        except OSError:
            if time.time() >= end:
                print("NA")
                return 1
            time.sleep(0.02)
    if a.what == "status":
        print(json.dumps(c.status() if a.kind == "nvabgp" else {"count": c.count(), "established": c.established()}))
        return 0
    if a.what == "count":
        print(c.count())
        return 0
    if a.what == "paths":
        print(c.paths())
        return 0
    if a.what == "established":
        print(c.established())
        return 0
    t0 = a.t0 if a.t0 is not None else time.time()
    tl = open(a.timeline, "a") if a.timeline else None
    found = None
    polls = 0
    while time.time() < end:
        n = c.paths() if a.paths else c.count()
        t = time.time()
        polls += 1
        if tl:
            tl.write("%.4f %d\n" % (t - t0, n))
        if ((a.what == "until-count" and n >= a.n) or (a.what == "until-zero" and n == 0)
                or (a.what == "until-le" and n <= a.n)):
            found = t
            break
        time.sleep(a.interval)
    if tl:
        tl.write("# polls=%d\n" % polls)
        tl.close()
    print("%.6f" % found if found else "NA")
    return 0 if found else 1


if __name__ == "__main__":
    sys.exit(main())
