#!/usr/bin/env python3
"""Minimal raw BGP-4 speaker for the lab (stdlib only).

Roles:
  feeder : OPEN/KEEPALIVE handshake (caps: multiprotocol IPv4 unicast, 4-byte ASN), then sends
           N pre-encoded IPv4 prefixes packed into UPDATE messages of up to --max-msg bytes
           (one attribute set per message, as real routers do), then End-of-RIB, then stays up
           sending KEEPALIVEs every hold/3 s until --lifetime expires or the peer closes.
  idle   : same with --prefixes 0 (an idle peer that just keeps the session up).
  sink   : --sink: never announces anything; counts received NLRI/withdrawals, reports the time
           when --expect prefixes have arrived (used to show the feeder is not the bottleneck).

Transport: --listen ADDR (repeatable; passive, one session per address at a time, re-accepts
after a session ends) or --connect PEER --bind ADDR (active, bounded retries).

nvabgp's copy of /work/shared/lab/feeder.py; it adds the events "accepted" (TCP connection
accepted) and "rx_open" (the peer's OPEN read), used to time the receiver's start-up.

Events are appended as JSON lines to --status (timestamps are time.time(), i.e. the same clock
as `date +%s.%N` and tcpdump).  Everything is bounded by --lifetime.
"""
import argparse
import ipaddress
import json
import os
import signal
import socket
import struct
import sys
import threading
import time

MARKER = b"\xff" * 16
OPEN, UPDATE, NOTIFICATION, KEEPALIVE = 1, 2, 3, 4

STATUS_LOCK = threading.Lock()
STATUS_F = None


def ev(name, **kw):
    rec = {"t": time.time(), "ev": name}
    rec.update(kw)
    line = json.dumps(rec)
    with STATUS_LOCK:
        if STATUS_F:
            STATUS_F.write(line + "\n")
            STATUS_F.flush()
    if ARGS and ARGS.verbose:
        print(line, file=sys.stderr, flush=True)


def bgp_msg(mtype, body):
    return MARKER + struct.pack("!HB", 19 + len(body), mtype) + body


def open_msg(asn, hold, rid):
    caps = bytes([1, 4]) + struct.pack("!HBB", 1, 0, 1)      # MP-BGP: AFI 1 / SAFI 1
    caps += bytes([65, 4]) + struct.pack("!I", asn)           # 4-octet AS number
    opt = bytes([2, len(caps)]) + caps                        # one "capabilities" optional param
    my_as = asn if asn < 65536 else 23456
    body = struct.pack("!BHH", 4, my_as, hold) + socket.inet_aton(rid) + bytes([len(opt)]) + opt
    return bgp_msg(OPEN, body)


KEEPALIVE_MSG = bgp_msg(KEEPALIVE, b"")
EOR_MSG = bgp_msg(UPDATE, b"\x00\x00\x00\x00")                # End-of-RIB for IPv4 unicast


def path_attrs(as_path, nexthop):
    origin = bytes([0x40, 1, 1, 0])                           # ORIGIN IGP
    seg = bytes([2, len(as_path)]) + b"".join(struct.pack("!I", a) for a in as_path)
    aspath = bytes([0x40, 2, len(seg)]) + seg                 # AS_PATH (4-octet ASNs)
    nh = bytes([0x40, 3, 4]) + socket.inet_aton(nexthop)      # NEXT_HOP
    return origin + aspath + nh


def gen_prefixes(n, first, mixed):
    """Distinct IPv4 prefixes, encoded as NLRI (len byte + significant octets)."""
    out = []
    base = int(ipaddress.IPv4Address(first))
    if not mixed:                                            # n consecutive /24s
        start = base >> 8
        pack = struct.pack
        for i in range(n):
            out.append(b"\x18" + pack("!I", (start + i) << 8)[:3])
        return out
    # mixed lengths /22../28 in disjoint regions (round-robin over lengths)
    lens = [22, 23, 24, 24, 24, 25, 26, 28]
    per = {L: 0 for L in lens}
    for i in range(n):
        per[lens[i % len(lens)]] += 1
    region = base
    for L in sorted(set(lens)):
        size = 1 << (32 - L)
        octs = (L + 7) // 8
        for j in range(per[L]):
            a = region + j * size
            out.append(bytes([L]) + struct.pack("!I", a)[:octs])
        region += per[L] * size
        if region >= (224 << 24):
            raise SystemExit("prefix space exhausted")
    return out          # grouped by length (each length in its own disjoint region)


def build_updates(nlris, attrs, max_msg):
    room = max_msg - 19 - 4 - len(attrs)
    msgs = []
    cur = []
    cur_len = 0
    for p in nlris:
        if cur_len + len(p) > room:
            msgs.append(b"".join(cur))
            cur, cur_len = [], 0
        cur.append(p)
        cur_len += len(p)
    if cur:
        msgs.append(b"".join(cur))
    head = struct.pack("!H", 0) + struct.pack("!H", len(attrs)) + attrs
    return [bgp_msg(UPDATE, head + nl) for nl in msgs]


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed")
        buf += chunk
    return bytes(buf)


def read_msg(sock):
    hdr = recv_exact(sock, 19)
    if hdr[:16] != MARKER:
        raise ConnectionError("bad marker")
    length, mtype = struct.unpack("!HB", hdr[16:19])
    body = recv_exact(sock, length - 19) if length > 19 else b""
    return mtype, body


def count_nlri(buf):
    i, n, L = 0, 0, len(buf)
    while i < L:
        i += 1 + (buf[i] + 7) // 8
        n += 1
    return n


class Session:
    def __init__(self, sock, local, peer, args, updates):
        self.sock, self.local, self.peer, self.args, self.updates = sock, local, peer, args, updates
        self.wlock = threading.Lock()
        self.alive = True
        self.rx_nlri = 0
        self.rx_wd = 0
        self.rx_updates = 0

    def send(self, data):
        with self.wlock:
            self.sock.sendall(data)

    def handshake(self):
        a = self.args
        self.send(open_msg(a.asn, a.hold, a.router_id or self.local))
        self.sock.settimeout(30)
        mtype, body = read_msg(self.sock)
        if mtype != OPEN:
            raise ConnectionError("expected OPEN, got %d" % mtype)
        ev("rx_open", local=self.local, peer=self.peer)
        ver, peer_as2, peer_hold = struct.unpack("!BHH", body[:5])
        peer_as = peer_as2
        opt = body[10:10 + body[9]]
        i = 0
        while i + 2 <= len(opt):
            ptype, plen = opt[i], opt[i + 1]
            pv = opt[i + 2:i + 2 + plen]
            if ptype == 2:
                j = 0
                while j + 2 <= len(pv):
                    ct, cl = pv[j], pv[j + 1]
                    if ct == 65 and cl == 4:
                        peer_as = struct.unpack("!I", pv[j + 2:j + 6])[0]
                    j += 2 + cl
            i += 2 + plen
        self.hold = min(a.hold, peer_hold)
        self.send(KEEPALIVE_MSG)
        while True:
            mtype, body = read_msg(self.sock)
            if mtype == KEEPALIVE:
                break
            if mtype == NOTIFICATION:
                raise ConnectionError("NOTIFICATION %s" % body[:2].hex())
        self.sock.settimeout(None)
        ev("established", local=self.local, peer=self.peer, peer_as=peer_as, hold=self.hold)

    def keepalive_loop(self):
        if self.hold == 0:
            return
        iv = max(self.hold / 3.0, 0.2)
        while self.alive:
            time.sleep(iv)
            if not self.alive:
                break
            try:
                self.send(KEEPALIVE_MSG)
            except OSError:
                break

    def reader_loop(self):
        a = self.args
        reached = False
        try:
            while self.alive:
                mtype, body = read_msg(self.sock)
                if mtype == UPDATE:
                    self.rx_updates += 1
                    wl = struct.unpack("!H", body[:2])[0]
                    self.rx_wd += count_nlri(body[2:2 + wl])
                    al = struct.unpack("!H", body[2 + wl:4 + wl])[0]
                    n = count_nlri(body[4 + wl + al:])
                    if self.rx_nlri == 0 and n:
                        ev("rx_first_update", local=self.local)
                    self.rx_nlri += n
                    if a.expect and not reached and self.rx_nlri >= a.expect:
                        reached = True
                        ev("rx_expected", local=self.local, nlri=self.rx_nlri)
                elif mtype == NOTIFICATION:
                    ev("rx_notification", local=self.local, code=body[:2].hex(), data=body[2:].hex())
                    break
        except (ConnectionError, OSError) as e:
            ev("closed", local=self.local, peer=self.peer, why=str(e))
        finally:
            self.alive = False

    def run(self):
        self.handshake()
        threading.Thread(target=self.keepalive_loop, daemon=True).start()
        rd = threading.Thread(target=self.reader_loop, daemon=True)
        rd.start()
        if self.updates:
            time.sleep(self.args.send_delay)
            chunks, cur, cur_len = [], [], 0
            for m in self.updates:
                cur.append(m)
                cur_len += len(m)
                if cur_len >= 65536:
                    chunks.append(b"".join(cur))
                    cur, cur_len = [], 0
            if cur:
                chunks.append(b"".join(cur))
            t0 = time.time()
            ev("first_update", local=self.local, t_first=t0)
            try:
                for c in chunks:
                    self.send(c)
                t1 = time.time()
                if not self.args.no_eor:
                    self.send(EOR_MSG)
                nb = sum(len(c) for c in chunks)
                ev("sent_all", local=self.local, t_first=t0, t_last=t1, send_s=t1 - t0,
                   msgs=len(self.updates), bytes=nb, prefixes=self.args.prefixes)
            except OSError as e:
                ev("send_failed", local=self.local, why=str(e))
        rd.join()
        try:
            self.sock.close()
        except OSError:
            pass


def serve_listen(addr, args, updates, deadline):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, args.port))
    ls.listen(4)
    ev("listening", local=addr)
    while time.time() < deadline:
        ls.settimeout(max(0.1, deadline - time.time()))
        try:
            s, (peer, _) = ls.accept()
        except socket.timeout:
            break
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ev("accepted", local=addr, peer=peer)
        try:
            Session(s, addr, peer, args, updates).run()
        except (ConnectionError, OSError) as e:
            ev("session_error", local=addr, peer=peer, why=str(e))
        if args.once:
            break


def serve_connect(args, updates, deadline):
    tries = 0
    while time.time() < deadline and tries < args.connect_tries:
        tries += 1
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((args.bind, 0))
        s.settimeout(3)
        try:
            s.connect((args.connect, args.port))
        except OSError:
            s.close()
            time.sleep(0.2)
            continue
        s.settimeout(None)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            Session(s, args.bind, args.connect, args, updates).run()
        except (ConnectionError, OSError) as e:
            ev("session_error", local=args.bind, peer=args.connect, why=str(e))
        break


ARGS = None


def main():
    global STATUS_F, ARGS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", action="append", default=[], help="passive: local address to listen on (repeatable)")
    ap.add_argument("--connect", help="active: peer address")
    ap.add_argument("--bind", help="active: local source address")
    ap.add_argument("--connect-tries", type=int, default=100)
    ap.add_argument("--port", type=int, default=179)
    ap.add_argument("--asn", type=int, default=65515)
    ap.add_argument("--router-id")
    ap.add_argument("--hold", type=int, default=90)
    ap.add_argument("--prefixes", type=int, default=0)
    ap.add_argument("--mixed", action="store_true", help="mixed /22../28 instead of consecutive /24s")
    ap.add_argument("--first-prefix", default="11.0.0.0")
    ap.add_argument("--nexthop", help="NEXT_HOP (default: our local address)")
    ap.add_argument("--as-path", default="", help="space separated, default: our ASN")
    ap.add_argument("--max-msg", type=int, default=4096)
    ap.add_argument("--send-delay", type=float, default=0.0)
    ap.add_argument("--no-eor", action="store_true")
    ap.add_argument("--sink", action="store_true")
    ap.add_argument("--expect", type=int, default=0)
    ap.add_argument("--once", action="store_true", help="exit after the first session ends")
    ap.add_argument("--status", help="append JSON events here")
    ap.add_argument("--lifetime", type=float, default=900.0)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    ARGS = args
    if args.status:
        STATUS_F = open(args.status, "a")
    deadline = time.time() + args.lifetime
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    updates = []
    if args.prefixes and not args.sink:
        local0 = args.listen[0] if args.listen else args.bind
        nh = args.nexthop or local0
        as_path = [int(x) for x in args.as_path.split()] or [args.asn]
        t0 = time.time()
        nl = gen_prefixes(args.prefixes, args.first_prefix, args.mixed)
        updates = build_updates(nl, path_attrs(as_path, nh), args.max_msg)
        del nl
        ev("encoded", prefixes=args.prefixes, msgs=len(updates), bytes=sum(map(len, updates)),
           encode_s=time.time() - t0)

    threads = []
    if args.connect:
        threads.append(threading.Thread(target=serve_connect, args=(args, updates, deadline), daemon=True))
    for a in args.listen:
        threads.append(threading.Thread(target=serve_listen, args=(a, args, updates, deadline), daemon=True))
    if not threads:
        ap.error("need --listen or --connect/--bind")
    for t in threads:
        t.start()
    ev("ready")
    for t in threads:
        t.join(max(0.0, deadline - time.time()) + 1)
    ev("exit")
    os._exit(0)


if __name__ == "__main__":
    main()
