#!/usr/bin/env python3
"""Which functions of a program run: a breakpoint on every function entry, removed when hit.

Runs PROGRAM ARGS under ptrace with an `int3` on the first byte of every function symbol of its
(unstripped, statically linked or PIE) executable. Each breakpoint is removed at its first hit, so
the program runs at nearly full speed after warm-up; the functions it entered are appended, in the
order first entered, to $HITS_OUT (mangled names, one per line), when the program exits. SIGTERM
and SIGINT sent to this tracer are passed on to the program. Threads are followed.

Used to make the linker's symbol ordering file (`bench/lab/symbol-order.sh`): functions that run
at start-up and in steady state are laid out together, so the pages of code the daemon keeps
mapped are few (see BENCHMARKS.md, "Peer sessions").

Usage: HITS_OUT=FILE funcs_hit.py PROGRAM [ARGS...]   (x86_64 Linux; needs nm and ptrace rights)
"""
import ctypes
import os
import signal
import subprocess
import sys

PTRACE_TRACEME, PTRACE_PEEKTEXT, PTRACE_POKETEXT = 0, 1, 4
PTRACE_CONT, PTRACE_GETREGS, PTRACE_SETREGS, PTRACE_SETOPTIONS = 7, 12, 13, 0x4200
PTRACE_O_TRACECLONE, PTRACE_O_EXITKILL = 0x8, 0x100000
WALL = 0x40000000
RIP = 16  # index of rip in struct user_regs_struct

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]


class Regs(ctypes.Structure):
    _fields_ = [("r", ctypes.c_ulonglong * 27)]


def ptrace(req, pid, addr=0, data=0):
    ctypes.set_errno(0)
    r = libc.ptrace(req, pid, ctypes.c_void_p(addr), ctypes.c_void_p(data))
    if r == -1 and ctypes.get_errno() != 0 and req != PTRACE_PEEKTEXT:
        raise OSError(ctypes.get_errno(), f"ptrace {req} pid {pid}")
    return r


def peek(pid, addr):
    return ptrace(PTRACE_PEEKTEXT, pid, addr) & 0xFFFFFFFFFFFFFFFF


def set_byte(pid, addr, value):
    word = peek(pid, addr)
    word = (word & ~0xFF) | value
    ptrace(PTRACE_POKETEXT, pid, addr, word)


def functions(binary):
    out = subprocess.run(["nm", "-S", "--defined-only", binary],
                         capture_output=True, text=True, check=True).stdout
    by_addr = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 4 and f[2] in "tTW" and int(f[1], 16) > 0:
            by_addr.setdefault(int(f[0], 16), f[3])
    return by_addr


def main():
    prog = sys.argv[1]
    out = os.environ.get("HITS_OUT", "hits.txt")
    funcs = functions(prog)
    pid = os.fork()
    if pid == 0:
        ptrace(PTRACE_TRACEME, 0)
        os.execv(prog, sys.argv[1:])
    _, status = os.waitpid(pid, 0)  # stopped at exec
    ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL)
    base = None
    real = os.path.realpath(prog)
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and parts[5].strip() == real and int(parts[2], 16) == 0:
                base = int(parts[0].split("-")[0], 16)
                break
    if base is None:
        sys.exit("executable mapping not found")
    # A non-PIE executable is mapped at its link addresses.
    if min(funcs) >= base:
        base = 0
    original = {}
    for a in sorted(funcs):
        addr = base + a
        original[addr] = peek(pid, addr) & 0xFF
        set_byte(pid, addr, 0xCC)
    hits = []

    def forward(sig, _frame):
        os.kill(pid, sig)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    ptrace(PTRACE_CONT, pid, 0, 0)
    regs = Regs()
    while True:
        try:
            tid, status = os.waitpid(-1, WALL)
        except InterruptedError:
            continue
        except ChildProcessError:
            break
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            if tid == pid:
                break
            continue
        if not os.WIFSTOPPED(status):
            continue
        sig = os.WSTOPSIG(status)
        deliver = 0
        if sig == signal.SIGTRAP and status >> 16 == 0:
            ptrace(PTRACE_GETREGS, tid, 0, ctypes.addressof(regs))
            at = regs.r[RIP] - 1
            if at in original:
                set_byte(tid, at, original.pop(at))
                regs.r[RIP] = at
                ptrace(PTRACE_SETREGS, tid, 0, ctypes.addressof(regs))
                hits.append(funcs[at - base])
            else:
                deliver = sig
        elif sig == signal.SIGTRAP or (sig == signal.SIGSTOP and status >> 16 == 0 and tid != pid):
            deliver = 0  # clone event, or a new thread's initial stop
        else:
            deliver = sig
        try:
            ptrace(PTRACE_CONT, tid, 0, deliver)
        except OSError:
            pass
    with open(out, "a") as f:
        for name in hits:
            f.write(name + "\n")
    print(f"funcs_hit: {len(hits)} of {len(funcs)} functions entered", file=sys.stderr)


if __name__ == "__main__":
    main()
