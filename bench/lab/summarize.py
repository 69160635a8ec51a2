#!/usr/bin/env python3
"""Markdown tables (median [min-max], n) from the CSVs of run-all.sh, with the run's header (command,
date, machine) and a verdict per target of the peer-session issue. Usage: summarize.py [RESULTS_DIR]
"""
import csv
import os
import statistics as st
import sys
from collections import defaultdict

RES = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "results")
NAMES = {"nvabgp": "nvabgp", "bird": "BIRD", "bird-nokernel": "BIRD, kernel export off",
         "frr": "FRR (bgpd+zebra)", "frr-nokernel": "FRR, bgpd --no_kernel", "gobgp": "GoBGP",
         "exabgp": "ExaBGP", "nvabgp-2rs": "nvabgp, 2 RS, same prefixes",
         "bird-nokernel-2rs": "BIRD, kernel export off, 2 RS, same prefixes", "bird-2rs": "BIRD, 2 RS, same prefixes"}


def rows(name):
    p = os.path.join(RES, name)
    return list(csv.DictReader(open(p))) if os.path.exists(p) else []


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def vals(rs, key, scale=1.0):
    return [x * scale for x in (num(r.get(key)) for r in rs) if x is not None]


def med(v):
    return st.median(v) if v else None


def agg(v, fmt="%.2f"):
    if not v:
        return "NA"
    if len(v) == 1:
        return fmt % v[0] + " (n=1)"
    return "%s [%s–%s] n=%d" % (fmt % st.median(v), fmt % min(v), fmt % max(v), len(v))


def ms(v):
    return agg([x * 1000 for x in v], "%.1f") if v else "NA"


def group(rs, *keys):
    g = defaultdict(list)
    for r in rs:
        g[tuple(r[k] for k in keys)].append(r)
    return g


def env():
    p = os.path.join(RES, "env.txt")
    out = {}
    if os.path.exists(p):
        for line in open(p):
            k, _, v = line.partition(":")
            out[k.strip()] = v.strip()
    return out


def verdict(value, limit, better="lower", unit="", fmt="%.3g", resolution=0.0):
    """'met', 'at the limit' (missed by less than the measurement's resolution) or 'missed by X'."""
    if value is None or limit is None:
        return "not measured"
    if (value <= limit) if better == "lower" else (value >= limit):
        return "**met** (%s%s vs limit %s%s)" % (fmt % value, unit, fmt % limit, unit)
    if abs(value - limit) < resolution:
        return "**at the limit**: over by %s%s, less than the %s%s resolution (%s%s vs limit %s%s)" % (
            fmt % abs(value - limit), unit, fmt % resolution, unit, fmt % value, unit, fmt % limit, unit)
    return "**missed** by %s%s (%.2f×): %s%s vs limit %s%s" % (
        fmt % (value - limit), unit, value / limit if limit else float("inf"), fmt % value, unit, fmt % limit, unit)


out = []
e = env()
out.append("Run: `%s`" % e.get("command", "?"))
out.append("")
out.append("Date %s; machine: %s × %s, %s, kernel %s; load average before %s, after %s; run took %s s." % (
    e.get("date", "?"), e.get("nproc", "?"), e.get("cpu", "?"), e.get("mem", "?"), e.get("kernel", "?"),
    e.get("loadavg_before", "?"), e.get("loadavg_after", "?"), e.get("elapsed_s", "?")))
out.append("nvabgp %s (%s); %s; %s; %s; %s." % (e.get("nvabgp", "?"), e.get("rustc", "?"), e.get("bird", "?"),
                                               e.get("frr", "?"), e.get("gobgp", "?"), e.get("exabgp", "?")))
out.append("")

m2 = rows("m2.csv")
m1 = rows("m1.csv")
m4 = rows("m4.csv")
g2 = group(m2, "impl", "n")
g1 = group(m1, "impl")

# ---- targets -------------------------------------------------------------------------------
t = []
for n, label in (("1000000", "1M"), ("100000", "100k")):
    nv, bd = g2.get(("nvabgp", n), []), g2.get(("bird-nokernel", n), [])
    tn, tb = med(vals(nv, "t_bgp_s")), med(vals(bd, "t_bgp_s"))
    t.append(("%s prefixes → Loc-RIB, time (median)" % label, "≤ ½ BIRD (kernel export off)",
              "%.3f s" % tn if tn is not None else "NA", "%.3f s" % tb if tb is not None else "NA",
              verdict(tn, tb / 2 if tb else None, unit=" s", resolution=0.005)))
    cn_, cb_ = med(vals(nv, "cpu_s")), med(vals(bd, "cpu_s"))
    t.append(("(evidence) %s prefixes: CPU time of the daemon (median)" % label, "(≤ ½ BIRD)",
              "%.3f s" % cn_ if cn_ is not None else "NA", "%.3f s" % cb_ if cb_ is not None else "NA",
              verdict(cn_, cb_ / 2 if cb_ else None, unit=" s")))
    hn, hb = med(vals(nv, "hwm_kb", 1 / 1024)), med(vals(bd, "hwm_kb", 1 / 1024))
    t.append(("%s prefixes, peak RSS (VmHWM)" % label, "≤ BIRD", "%.1f MiB" % hn if hn is not None else "NA",
              "%.1f MiB" % hb if hb is not None else "NA", verdict(hn, hb, unit=" MiB")))
rn, rb = med(vals(g1.get(("nvabgp",), []), "rss_kb", 1 / 1024)), med(vals(g1.get(("bird",), []), "rss_kb", 1 / 1024))
t.append(("idle, 2 sessions Established: VmRSS", "≤ 1.5 × BIRD", "%.2f MiB" % rn if rn is not None else "NA",
          "%.2f MiB" % rb if rb is not None else "NA", verdict(rn, rb * 1.5 if rb else None, unit=" MiB")))
wn, wb = med(vals(g1.get(("nvabgp",), []), "ws_kb", 1 / 1024)), med(vals(g1.get(("bird",), []), "ws_kb", 1 / 1024))
t.append(("(evidence) idle VmRSS once start-up code is paged out (working set)", "(≤ 1.5 × BIRD)",
          "%.2f MiB" % wn if wn is not None else "NA", "%.2f MiB" % wb if wb is not None else "NA",
          verdict(wn, wb * 1.5 if wb else None, unit=" MiB")))
nv1 = g1.get(("nvabgp",), [])
cn = max(vals(nv1, "cpu_ms"), default=None)
win = med(vals(nv1, "cpu_window_s"))
cb = med(vals(g1.get(("bird",), []), "cpu_ms"))
t.append(("idle: CPU over %.0f s (worst run)" % (win or 30), "none measurable (< 1 ms)",
          "%.3f ms" % cn if cn is not None else "NA", "%.3f ms" % cb if cb is not None else "NA",
          verdict(cn, 1.0, unit=" ms")))
te = max(vals(nv1, "t_est_log_s"), default=None)
tw = max(vals(nv1, "t_est_wire_s"), default=None)
t.append(("exec → both sessions Established (worst run; nvabgp's log)", "< 100 ms",
          "%.1f ms (wire: %s)" % (te * 1000, "%.1f ms" % (tw * 1000) if tw is not None else "NA") if te is not None else "NA",
          "%.2f s" % med(vals(g1.get(("bird",), []), "t_est_wire_s")) if g1.get(("bird",)) else "NA",
          verdict(te * 1000 if te is not None else None, 100, unit=" ms")))
to = max(vals(nv1, "t_open_s"), default=None)
t.append(("exec → first OPEN on the wire (worst run)", "< 20 ms", "%.1f ms" % (to * 1000) if to is not None else "NA",
          "%.2f s" % med(vals(g1.get(("bird",), []), "t_open_s")) if g1.get(("bird",)) else "NA",
          verdict(to * 1000 if to is not None else None, 20, unit=" ms")))
g4 = group(m4, "impl", "prefixes")
for nv_label, bird_label, what in (("nvabgp", "bird", ""), ("nvabgp-2rs", "bird-2rs", ", two RS")):
    for n in ("10", "100000", "1000000"):
        rs = g4.get((nv_label, n), [])
        if not rs:
            continue
        a = max(vals(rs, "gone_after_fin_s"), default=None)
        bv = vals(g4.get((bird_label, n), []), "gone_after_fin_s")
        t.append(("peer SIGKILLed%s, %s prefixes: FIN/RST → routes gone (worst run)" % (what, n), "≤ 20 ms",
                  "%.2f ms" % (a * 1000) if a is not None else "NA",
                  "%.1f ms" % (med(bv) * 1000) if bv else "–",
                  verdict(a * 1000 if a is not None else None, 20, unit=" ms")))
out.append("### Targets (nvabgp against the anchors measured in the same run)\n")
out.append("| metric | target | nvabgp | BIRD | verdict |")
out.append("|---|---|---|---|---|")
for row in t:
    out.append("| %s |" % " | ".join(row))
out.append("")

# ---- M2 -------------------------------------------------------------------------------------
if m2:
    out.append("### M2 ingest: feeder → RIB, no kernel (t0 = the feeder's first UPDATE write)\n")
    out.append("| impl | N | all N in the RIB (s) | how polled | peak RSS VmHWM (MiB) | VmRSS 1 s after (MiB) | CPU s (daemon, total) | waiting for a CPU (s) | feeder send (s) | processes, RSS breakdown (kB, last run) |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for (k, n), v in sorted(g2.items(), key=lambda a: (-int(a[0][1]), a[0][0] != "nvabgp", a[0][0])):
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s; %s |" % (
            NAMES.get(k, k), "{:,}".format(int(n)), agg(vals(v, "t_bgp_s"), "%.3f"), v[-1]["poll"],
            agg(vals(v, "hwm_kb", 1 / 1024), "%.1f"), agg(vals(v, "rss_kb", 1 / 1024), "%.1f"),
            agg(vals(v, "cpu_s"), "%.3f"), agg(vals(v, "runq_wait_s"), "%.3f"), agg(vals(v, "feeder_send_s"), "%.3f"),
            v[-1]["rss_detail"], v[-1]["breakdown"]))
    notes = [r for r in m2 if r.get("note")]
    for r in notes:
        out.append("\nnote: %s N=%s run %s: %s" % (r["impl"], r["n"], r["run"], r["note"]))
    out.append("")
r = rows("m2-sink.csv")
if r:
    g = group(r, "n")
    out.append("M2 control, feeder → python sink (parses every UPDATE, no RIB): " + "; ".join(
        "N=%s all received after %s s" % ("{:,}".format(int(n[0])), agg(vals(v, "t_all_received_s"), "%.3f"))
        for n, v in sorted(g.items())))
    out.append("")

# ---- M1 -------------------------------------------------------------------------------------
if m1:
    out.append("### M1 idle: two sessions to two RS stand-ins (BIRD, passive), default timers, no routes\n")
    out.append("t0 = nvabgp: its exec (inside the namespace); others: just before their start command. Wire times from tcpdump on the RS side; "
               "\"Established (wire)\" = the later session's last handshake KEEPALIVE.\n")
    out.append("| impl | → first SYN | → first OPEN | → both Established (wire) | → both Established (own log) | → 2 Established (50 ms poll) | VmRSS 10 s after (MiB) | working set (MiB) | CPU over idle window (ms) | processes (kB); breakdown of the first |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for (k,), v in sorted(g1.items(), key=lambda a: (a[0][0] != "nvabgp", a[0][0])):
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s per %s s | %s; %s |" % (
            NAMES.get(k, k), ms(vals(v, "t_syn_s")), ms(vals(v, "t_open_s")), ms(vals(v, "t_est_wire_s")),
            ms(vals(v, "t_est_log_s")), ms(vals(v, "t_est_poll_s")), agg(vals(v, "rss_kb", 1 / 1024), "%.2f"),
            agg(vals(v, "ws_kb", 1 / 1024), "%.2f"),
            agg(vals(v, "cpu_ms"), "%.3f"), "%.0f" % (med(vals(v, "cpu_window_s")) or 0),
            v[-1]["rss_detail"], v[-1]["breakdown"]))
    out.append("\n(times in ms; working set = VmRSS 3 s after the file-backed pages were paged out, pageout.py)\n")
    nv = g1.get(("nvabgp",), [])
    if nv:
        out.append("nvabgp start-up, ms from the exec (median [min–max]): first log line (runtime up, BGP "
                   "listener bound) %s → first session to Connect %s → SYN %s → OPEN %s → both Established %s. "
                   "Not included: `ip netns exec` and the shell before the exec, %s.\n" % (
                       ms(vals(nv, "t_log_first_s")), ms(vals(nv, "t_log_connect_s")), ms(vals(nv, "t_syn_s")),
                       ms(vals(nv, "t_open_s")), ms(vals(nv, "t_est_log_s")), ms(vals(nv, "t_wrap_s"))))

# ---- M4 -------------------------------------------------------------------------------------
if m4:
    out.append("### M4 peer SIGKILLed (hold 9 s): routes gone (times in ms from the kill)\n")
    out.append("| impl | prefixes | FIN/RST reaches the NVA | session down (50 ms poll) | routes gone (poll) | how polled | routes gone (own log) | FIN/RST → routes gone |")
    out.append("|---|---|---|---|---|---|---|---|")
    for (k, n), v in sorted(g4.items(), key=lambda a: (a[0][0] != "nvabgp", a[0][0], int(a[0][1]))):
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            NAMES.get(k, k), "{:,}".format(int(n)), ms(vals(v, "t_fin_wire_s")), ms(vals(v, "t_down_s")),
            ms(vals(v, "t_gone_s")), v[-1]["gone_poll"], ms(vals(v, "t_gone_log_s")), ms(vals(v, "gone_after_fin_s"))))
    out.append("")

s = rows("steps.csv")
if s:
    busy = [num(x["cores_busy_during_step"]) for x in s if num(x["cores_busy_during_step"]) is not None]
    out.append("Machine load during the steps (cores busy, all processes, of 2): median %.2f, max %.2f; "
               "skipped steps: %s." % (med(busy) or 0, max(busy, default=0),
                                       open(os.path.join(RES, "skipped.txt")).read().strip().replace("\n", "; ")
                                       if os.path.exists(os.path.join(RES, "skipped.txt")) else "none"))
print("\n".join(out))
