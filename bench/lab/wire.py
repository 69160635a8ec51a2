#!/usr/bin/env python3
"""Session milestones on the wire, from a tcpdump capture (pcap, Ethernet or Linux cooked; stdlib only).

Reassembles each TCP direction on port 179 (in sequence order, as bgpcap.py in the shared lab does)
and prints one JSON object with the capture time of:
  first_syn        the first SYN sent by --local (the speaker under test connecting out)
  sessions[RS_IP]  per remote address: open_tx / open_rx (first OPEN from / to --local),
                   ka_tx / ka_rx (first KEEPALIVE each way), established = max(ka_tx, ka_rx) when
                   both OPENs were seen (the moment both ends can be Established: the last of the
                   two KEEPALIVEs that complete the handshake), fin_rx / rst_rx (first FIN / RST from
                   the remote end), fin_tx / rst_tx (from --local)
  first_open_tx    min over sessions of open_tx
  all_established  max over sessions of established (null unless every session in --expect got there)
Times are the kernel's capture timestamps (CLOCK_REALTIME, microseconds), the same clock as
time.time() and bash's $EPOCHREALTIME.
Usage: wire.py FILE.pcap --local 10.1.2.4 [--expect "10.1.1.4 10.1.1.5"]
"""
import argparse
import ipaddress
import json
import struct

TYPES = {1: "OPEN", 2: "UPDATE", 3: "NOTIFICATION", 4: "KEEPALIVE", 5: "ROUTE-REFRESH"}


def packets(path):
    with open(path, "rb") as f:
        gh = f.read(24)
        if len(gh) < 24:
            return
        magic = struct.unpack("<I", gh[:4])[0]
        e = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
        linktype = struct.unpack(e + "I", gh[20:24])[0]
        while True:
            h = f.read(16)
            if len(h) < 16:
                return
            ts, tf, incl, _orig = struct.unpack(e + "IIII", h)
            data = f.read(incl)
            if len(data) < incl:
                return                                   # truncated last record (capture killed)
            yield ts + tf / (1e9 if nano else 1e6), linktype, data


def tcp_segments(path):
    """Yields (t, src, sport, dst, dport, seq, flags, payload) for IPv4 TCP on port 179."""
    for t, lt, d in packets(path):
        if lt == 1:                                      # Ethernet
            off, et = 14, struct.unpack("!H", d[12:14])[0]
            if et == 0x8100:
                off, et = 18, struct.unpack("!H", d[16:18])[0]
        elif lt == 113:                                  # Linux cooked v1
            off, et = 16, struct.unpack("!H", d[14:16])[0]
        elif lt == 276:                                  # Linux cooked v2
            off, et = 20, struct.unpack("!H", d[0:2])[0]
        else:
            continue
        if et != 0x0800:
            continue
        ip = d[off:]
        if len(ip) < 20 or ip[9] != 6:
            continue
        ihl = (ip[0] & 15) * 4
        src, dst = str(ipaddress.IPv4Address(ip[12:16])), str(ipaddress.IPv4Address(ip[16:20]))
        tot = struct.unpack("!H", ip[2:4])[0]
        tcp = ip[ihl:tot]
        if len(tcp) < 20:
            continue
        sport, dport, seq = struct.unpack("!HHI", tcp[:8])
        if 179 not in (sport, dport):
            continue
        doff = (tcp[12] >> 4) * 4
        yield t, src, sport, dst, dport, seq, tcp[13], tcp[doff:]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pcap")
    ap.add_argument("--local", required=True, help="address of the speaker under test")
    ap.add_argument("--expect", default="", help="remote addresses that must all be established")
    a = ap.parse_args()
    out = {"first_syn": None, "sessions": {}}
    streams = {}

    def sess(remote):
        return out["sessions"].setdefault(remote, {})

    def first(d, k, t):
        if d.get(k) is None:
            d[k] = round(t, 6)

    try:
        segs = list(tcp_segments(a.pcap))
    except FileNotFoundError:
        segs = []
    for t, src, sport, dst, dport, seq, flags, payload in segs:
        tx = src == a.local
        remote = dst if tx else src
        s = sess(remote)
        if flags & 0x02:                                 # SYN
            if tx and not flags & 0x10:
                first(out, "first_syn", t)
            streams[(src, sport, dst, dport)] = {"next": (seq + 1) & 0xFFFFFFFF, "buf": b""}
            continue
        if flags & 0x01:
            first(s, "fin_tx" if tx else "fin_rx", t)
        if flags & 0x04:
            first(s, "rst_tx" if tx else "rst_rx", t)
        st = streams.get((src, sport, dst, dport))
        if st is None or not payload:
            continue
        if seq != st["next"]:                            # retransmission: keep only new bytes
            delta = (st["next"] - seq) & 0xFFFFFFFF
            if delta >= len(payload):
                continue
            payload = payload[delta:]
        st["next"] = (st["next"] + len(payload)) & 0xFFFFFFFF
        buf = st["buf"] + payload
        while len(buf) >= 19:
            ln, ty = struct.unpack("!HB", buf[16:19])
            if ln < 19 or len(buf) < ln:
                break
            buf = buf[ln:]
            name = TYPES.get(ty)
            if name == "OPEN":
                first(s, "open_tx" if tx else "open_rx", t)
            elif name == "KEEPALIVE":
                first(s, "ka_tx" if tx else "ka_rx", t)
            elif name == "UPDATE":
                first(s, "update_tx" if tx else "update_rx", t)
        st["buf"] = buf
    for s in out["sessions"].values():
        if all(s.get(k) is not None for k in ("open_tx", "open_rx", "ka_tx", "ka_rx")):
            s["established"] = max(s["ka_tx"], s["ka_rx"])
    opens = [s["open_tx"] for s in out["sessions"].values() if s.get("open_tx") is not None]
    out["first_open_tx"] = min(opens) if opens else None
    expect = a.expect.split()
    est = [out["sessions"].get(r, {}).get("established") for r in expect]
    out["all_established"] = max(est) if expect and all(e is not None for e in est) else None
    print(json.dumps(out))


if __name__ == "__main__":
    main()
