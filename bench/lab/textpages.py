#!/usr/bin/env python3
"""Which pages of a running program's executable are resident, and whose code they hold.

VmRSS counts every resident page of the executable's mappings: code run at start-up, the code the
daemon keeps running, and the neighbours the kernel maps around each page fault (fault-around,
64 kB aligned windows). This reads /proc/PID/pagemap for the executable's mappings, then attributes
each resident page to the symbols of the (unstripped) binary that lie in it, summed by crate, so a
change in code size or code locality can be judged by where its resident pages go.

Usage: textpages.py PID [BINARY] [--windows]   (root, to read pagemap's frame numbers; presence
bits alone are readable by the owner).  BINARY: an unstripped copy with the same layout (default:
the process's executable). Needs `nm` (binutils) and `readelf`.
"""
import bisect
import collections
import os
import re
import struct
import subprocess
import sys

PAGE = os.sysconf("SC_PAGE_SIZE")


def mappings(pid, exe):
    out = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and parts[5].strip() == exe:
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                out.append((lo, hi, parts[1], int(parts[2], 16)))
    return out


def resident(pid, lo, hi):
    """Offsets (from lo) of the resident pages in [lo, hi)."""
    n = (hi - lo) // PAGE
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(lo // PAGE * 8)
        data = f.read(n * 8)
    return [i * PAGE for i in range(n) if struct.unpack_from("<Q", data, i * 8)[0] >> 63 & 1]


def segments(binary):
    """(vaddr, offset, filesz) of the LOAD segments: file offset -> virtual address."""
    out = subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True, check=True).stdout
    segs = []
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "LOAD":
            segs.append((int(f[2], 16), int(f[1], 16), int(f[4], 16)))
    return segs


CRATE = re.compile(r"^(?:&(?:mut )?)?(?:dyn )?([A-Za-z_][A-Za-z0-9_]*)")


def crate_of(name):
    """The crate a demangled symbol belongs to: the type's for `<T as Trait>::f`, the dropped
    type's for `drop_in_place<T>`."""
    for prefix in ("core::ptr::drop_in_place<", "<"):
        while name.startswith(prefix):
            name = name[len(prefix):]
    m = CRATE.match(name)
    return m.group(1) if m else "?"


def symbols(binary):
    out = subprocess.run(["nm", "-n", "-S", "-C", "--defined-only", binary],
                         capture_output=True, text=True, check=True).stdout
    syms = []
    for line in out.splitlines():
        f = line.split(" ", 3)
        if len(f) == 4 and f[2] in "tTwWrRdD":
            syms.append((int(f[0], 16), int(f[1], 16), f[3]))
    return syms


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    windows = "--windows" in sys.argv
    pid = int(args[0])
    exe = os.readlink(f"/proc/{pid}/exe")
    binary = args[1] if len(args) > 1 else exe
    segs = segments(binary)
    syms = symbols(binary)
    starts = [a for a, _, _ in syms]
    by_crate = collections.Counter()
    total = 0
    win = collections.Counter()
    for lo, hi, perm, off in mappings(pid, exe):
        pages = resident(pid, lo, hi)
        total += len(pages) * PAGE
        print(f"{lo:x}-{hi:x} {perm} off {off:#x}: {len(pages) * PAGE // 1024} kB resident of {(hi - lo) // 1024} kB")
        for p in pages:
            foff = off + p
            va = next((v + foff - o for v, o, sz in segs if o <= foff < o + max(sz, 1)), None)
            if va is None:
                continue
            win[(perm, va // 65536)] += 1
            if "x" not in perm:
                by_crate["(data: " + perm + ")"] += PAGE
                continue
            covered = 0
            i = max(bisect.bisect_right(starts, va) - 1, 0)
            while i > 0 and syms[i - 1][0] + syms[i - 1][1] > va:
                i -= 1
            for a, size, name in syms[i:]:
                if a >= va + PAGE:
                    break
                if a + size <= va or size == 0:
                    continue
                part = min(a + size, va + PAGE) - max(a, va)
                by_crate[crate_of(name)] += part
                covered += part
            if covered < PAGE:
                by_crate["(no symbol)"] += PAGE - covered
    print(f"total {total // 1024} kB")
    for c, b in by_crate.most_common(40):
        print(f"{b / 1024:9.1f} kB  {c}")
    if windows:
        for (perm, w), n in sorted(win.items()):
            print(f"{perm} {w * 65536:#x}: {n} pages")


if __name__ == "__main__":
    main()
