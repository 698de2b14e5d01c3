# SPDX-License-Identifier: MIT
# Board support for the MicroPython unix port: the virtual node.
#
# The virtual node (host_tools/vnode.py) starts `micropython -i` with a pseudo-
# terminal as stdin/stdout, the node's flash folder as the working directory and
# these environment variables:
#   SEDNODE_AUDIO    "pattern", "silence" or a path to a 16-bit mono WAV at the
#                    node's rate (default: silence)
#   SEDNODE_LOOP     "1": loop the WAV, "0": play it once, then silence
#   SEDNODE_REALTIME "1": produce audio in real time, also while streaming
#
# The terminal is raw with VMIN=0, VTIME=0, so a read returns what has arrived
# (possibly nothing) instead of waiting for a full buffer, and it has no ISIG, so
# Ctrl-C is a data byte.  The ESP32's UART driver turns Ctrl-C into
# KeyboardInterrupt while kbd_intr(3) is set; Port.readinto does the same here
# (reading byte by byte outside a session so whatever follows the Ctrl-C stays
# unread for the REPL, exactly as on the board).
import gc
import os
import sys
import time
import micropython

from node import audio

NAME = "unix"
REBOOT_FILE = ".reboot"       # the supervisor restarts the process when it exits
_CTRL_C = 3


def uid():
    # a random id made on first boot and kept in flash (like the ESP32's MAC)
    try:
        with open("uid") as f:
            return f.read().strip()
    except OSError:
        u = "".join("%02x" % b for b in os.urandom(6))
        with open("uid", "w") as f:
            f.write(u)
        return u


def free_heap():
    gc.collect()
    return gc.mem_free()


def safe_mode():
    # a file named SAFE in flash keeps the app from starting (REPL only)
    try:
        os.stat("SAFE")
        return True
    except OSError:
        return False


def reset():
    # The unix port has no machine.reset(): the supervisor (host_tools/vnode.py)
    # restarts the process when this file appears.  Like machine.reset() this does
    # not return; without a supervisor it gives up after 5 s.
    with open(REBOOT_FILE, "w") as f:
        f.write("1")
    for _ in range(50):
        time.sleep_ms(100)
    raise SystemExit(0)


def mic(cfg):
    # the node's "microphone": what the virtual node was started with
    what = os.getenv("SEDNODE_AUDIO") or "silence"
    loop = os.getenv("SEDNODE_LOOP") != "0"
    realtime = os.getenv("SEDNODE_REALTIME") == "1"
    if what == "pattern":
        return audio.PatternSource(cfg["rate"], realtime)
    if what == "silence":
        return audio.SilenceSource(cfg["rate"], realtime)
    return audio.WavSource(what, cfg["rate"], loop, realtime)


class Port:
    # the REPL serial port: stdin / stdout of the process
    def __init__(self):
        self.rx = sys.stdin.buffer
        self.tx = sys.stdout.buffer
        self.one = bytearray(1)
        self.intr = True

    def kbd_intr(self, on):
        # on: Ctrl-C interrupts the app (no host session); off: it is data
        self.intr = on
        micropython.kbd_intr(_CTRL_C if on else -1)

    def readinto(self, buf, n):
        # read up to n bytes that have already arrived into buf; never waits
        if not self.intr:
            return self.rx.readinto(buf, n) or 0
        i = 0
        one = self.one
        while i < n:
            if not self.rx.readinto(one):
                break
            c = one[0]
            if c == _CTRL_C:
                raise KeyboardInterrupt
            buf[i] = c
            i += 1
        return i

    def write(self, buf, n):
        self.tx.write(buf, n)
