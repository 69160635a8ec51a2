#!/usr/bin/env python3
"""Ask the kernel to reclaim a process's resident file-backed pages (process_madvise MADV_PAGEOUT).

VmRSS counts every page of the binary and its libraries that was ever touched, including code run
once at start-up (argument and config parsing, logging set-up), plus the neighbours the kernel maps
around each fault (fault-around, 64 kB). Paging those out and measuring VmRSS again a few seconds
later shows the pages the idle daemon really uses (its working set): whatever it touches again
faults back in from the page cache. Anonymous memory stays (no swap), and pages mapped by other
processes too (shared libc pages): the kernel skips them.

Usage: pageout.py PID...     (root; Linux >= 5.10). Prints the number of bytes advised per PID.
"""
import ctypes
import os
import sys

SYS_PIDFD_OPEN = 434
SYS_PROCESS_MADVISE = 440
MADV_PAGEOUT = 21
IOV_MAX = 1024


class Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def file_mappings(pid):
    out = []
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 6 or not parts[5].startswith("/"):
                continue                                   # anonymous, [heap], [stack], [vdso]
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            out.append((lo, hi - lo))
    return out


def pageout(pid):
    fd = libc.syscall(SYS_PIDFD_OPEN, ctypes.c_int(pid), ctypes.c_uint(0))
    if fd < 0:
        raise OSError(ctypes.get_errno(), "pidfd_open(%d)" % pid)
    done = 0
    try:
        maps = file_mappings(pid)
        for i in range(0, len(maps), IOV_MAX):
            chunk = maps[i:i + IOV_MAX]
            iov = (Iovec * len(chunk))(*[Iovec(lo, ln) for lo, ln in chunk])
            r = libc.syscall(SYS_PROCESS_MADVISE, ctypes.c_int(fd), iov, ctypes.c_size_t(len(chunk)),
                             ctypes.c_int(MADV_PAGEOUT), ctypes.c_uint(0))
            if r < 0:
                raise OSError(ctypes.get_errno(), "process_madvise(%d)" % pid)
            done += r
    finally:
        os.close(fd)
    return done


def main():
    rc = 0
    for p in sys.argv[1:]:
        try:
            print("%s %d" % (p, pageout(int(p))))
        except OSError as e:
            print("%s error %s" % (p, e), file=sys.stderr)
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
