#!/usr/bin/env python3
"""ExaBGP API helper for the nvabgp lab (run by exabgp as `process lab { run ...; encoder json; }`).

exabgp -> us (stdin):  JSON events: neighbor state changes and parsed received UPDATEs.
us -> exabgp (stdout): API commands, first those of --initial (one per line), then every line
                       written to the FIFO --fifo (e.g. `announce route 10.1.0.0/16 next-hop 10.1.1.4`).
We keep an Adj-RIB-In per neighbor (ExaBGP has none) and write it, with the session states, as
one JSON document to --status (atomically: temporary file, then rename):
  {"pid": 123, "commands": 4, "acks": 4,
   "peers": {"10.1.2.4": {"state": "up", "updates": 3, "refresh": {"query": 0, "begin": 1, "end": 1},
             "routes": {"0.0.0.0/0": {"next_hop": "10.1.2.4", "as_path": [65001],
                        "communities": [[65001, 100]], "large_communities": []}}}}}
("updates" and "refresh" count the UPDATE and ROUTE-REFRESH messages received since the start.)
Bounded: exits on stdin EOF (exabgp gone) or after --lifetime seconds.
"""
import argparse
import json
import os
import sys
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("--fifo", required=True)
ap.add_argument("--status", required=True)
ap.add_argument("--initial", required=True)
ap.add_argument("--lifetime", type=float, default=86400)
args = ap.parse_args()

lock = threading.Lock()
peers = {}
counters = {"commands": 0, "acks": 0, "errors": 0}
dirty = threading.Event()


def write_status():
    with lock:
        doc = {"pid": os.getpid(), "peers": peers}
        doc.update(counters)
        text = json.dumps(doc)
    tmp = args.status + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, args.status)


def flatten(path):
    out = []
    for x in path:
        if isinstance(x, list):
            out.extend(flatten(x))
        elif isinstance(x, int):
            out.append(x)
        elif isinstance(x, str) and x.isdigit():
            out.append(int(x))
    return out


def peer_entry(ip):
    return peers.setdefault(
        ip, {"state": "down", "routes": {}, "updates": 0, "refresh": {"query": 0, "begin": 0, "end": 0}}
    )


def on_refresh(neighbor):
    ip = neighbor.get("address", {}).get("peer", "")
    refresh = neighbor.get("route-refresh") or neighbor.get("message", {}).get("route-refresh", {})
    subtype = refresh.get("subtype", "invalid")
    with lock:
        counts = peer_entry(ip)["refresh"]
        counts[subtype] = counts.get(subtype, 0) + 1
    dirty.set()


def on_update(neighbor):
    ip = neighbor.get("address", {}).get("peer", "")
    update = neighbor.get("message", {}).get("update", {})
    attribute = update.get("attribute", {})
    base = {
        "as_path": flatten(attribute.get("as-path", [])),
        "communities": attribute.get("community", []),
        "large_communities": attribute.get("large-community", []),
    }
    with lock:
        entry = peer_entry(ip)
        entry["updates"] += 1
        routes = entry["routes"]
        for family, nlris in update.get("withdraw", {}).items():
            if not family.startswith("ipv4"):
                continue
            for n in nlris:
                routes.pop(n.get("nlri", ""), None)
        for family, by_next_hop in update.get("announce", {}).items():
            if not family.startswith("ipv4") or not isinstance(by_next_hop, dict):
                continue
            for next_hop, nlris in by_next_hop.items():
                for n in nlris:
                    route = dict(base)
                    route["next_hop"] = next_hop
                    routes[n.get("nlri", "")] = route
    dirty.set()


def from_exabgp():
    # Every event as received, next to the status, for post-mortems.
    events = open(os.path.join(os.path.dirname(args.status), "events.jsonl"), "a", buffering=1)
    for line in sys.stdin:
        line = line.strip()
        events.write(line + "\n")
        if line in ("done", "error", "shutdown"):
            with lock:
                counters["acks" if line == "done" else "errors"] += 1
            dirty.set()
            continue
        try:
            event = json.loads(line)
        except ValueError:
            # ExaBGP 4.2 quotes the values of ROUTE-REFRESH events twice
            # ("afi": ""ipv4""): undo that, nothing else.
            try:
                event = json.loads(line.replace('""', '"'))
            except ValueError:
                continue
        kind = event.get("type")
        neighbor = event.get("neighbor", {})
        if kind == "state":
            ip = neighbor.get("address", {}).get("peer", "")
            with lock:
                entry = peer_entry(ip)
                entry["state"] = neighbor.get("state", "down")
                if entry["state"] != "up":
                    entry["routes"] = {}
            dirty.set()
        elif kind == "update":
            on_update(neighbor)
        elif kind == "refresh":
            on_refresh(neighbor)
    write_status()
    os._exit(0)


def send(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    with lock:
        counters["commands"] += 1
    dirty.set()


def to_exabgp():
    with open(args.initial) as f:
        for line in f:
            if line.strip():
                send(line.strip())
    fd = os.open(args.fifo, os.O_RDWR)  # O_RDWR: no EOF when writers come and go
    with os.fdopen(fd, "r", buffering=1) as f:
        for line in f:
            if line.strip():
                send(line.strip())


write_status()
threading.Thread(target=from_exabgp, daemon=True).start()
threading.Thread(target=to_exabgp, daemon=True).start()
deadline = time.time() + args.lifetime
while time.time() < deadline:
    if dirty.wait(0.5):
        dirty.clear()
        write_status()
        time.sleep(0.02)
os._exit(0)
