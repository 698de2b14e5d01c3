# SPDX-License-Identifier: MIT
# Board support for the ESP32 (ESP32-WROOM-32 DevKit + INMP441 I2S microphone).
# The only module besides board/unix.py that touches machine.*.
#
# Pin maps: one constants class per board revision (mirrors hardware/boards/*.json;
# tests/test_proto.py checks they agree).  A /board.json in flash (a copy of one of
# hardware/boards/*.json, put there by deploy) selects and overrides the pins.
#
# INMP441: 24-bit two's complement, MSB first, left-justified in a 32-bit I2S slot
# (datasheet "I2S data interface"); L/R pin low = left slot.  We read 32-bit mono
# frames and keep bits 31..14, scale by the configured gain (Q6) and saturate to int16.
import gc
import json
import os
import sys

import micropython
from micropython import const

from node import audio

NAME = "esp32"
_CTRL_C = const(3)


class DevKitV1:
    # hardware/boards/devkit_v1.json
    NAME = "devkit_v1"
    I2S_ID = 0
    SCK = 14          # INMP441 SCK  (bit clock)
    WS = 15           # INMP441 WS   (word select / LR clock)
    SD = 32           # INMP441 SD   (data out of the mic)
    LED = 2
    BOOT = 0          # BOOT button: held low at reset -> safe mode


class PoleV1:
    # hardware/boards/pole_v1.json: the pole enclosure PCB
    NAME = "pole_v1"
    I2S_ID = 0
    SCK = 26
    WS = 25
    SD = 33
    LED = 2
    BOOT = 0


BOARDS = {DevKitV1.NAME: DevKitV1, PoleV1.NAME: PoleV1}


def pins():
    # the pin map in use: /board.json if present, else DevKitV1
    try:
        with open("/board.json") as f:
            d = json.load(f)
    except (OSError, ValueError):
        return DevKitV1
    base = BOARDS.get(d.get("name"), DevKitV1)

    class P(base):
        pass
    for k, v in d.get("pins", {}).items():
        setattr(P, k.upper(), v)
    return P


def uid():
    import machine
    return "".join("%02x" % b for b in machine.unique_id())


def free_heap():
    gc.collect()
    return gc.mem_free()


def safe_mode():
    # BOOT button held at reset, or a file /SAFE in flash
    import machine
    try:
        os.stat("/SAFE")
        return True
    except OSError:
        pass
    return machine.Pin(pins().BOOT, machine.Pin.IN, machine.Pin.PULL_UP).value() == 0


def reset():
    import machine
    machine.reset()


@micropython.viper
def _to_int16(src, dst, n: int, g: int):
    # src: array('i') 32-bit I2S slots, dst: array('h'); g: gain, Q6 (64 = 0 dB)
    s = ptr32(src)
    d = ptr16(dst)
    i = 0
    while i < n:
        v = ((s[i] >> 14) * g) >> 8       # (24-bit left-justified >> 14) * Q6 >> 8 = >> 16 at 0 dB
        if v > 32767:
            v = 32767
        elif v < -32768:
            v = -32768
        d[i] = v
        i += 1


class Mic:
    # I2S microphone read through asyncio (MicroPython's I2S supports StreamReader)
    def __init__(self, cfg):
        import asyncio
        from machine import I2S, Pin
        p = pins()
        self.rate = cfg["rate"]
        hop = cfg["hop"]
        self.i2s = I2S(p.I2S_ID, sck=Pin(p.SCK), ws=Pin(p.WS), sd=Pin(p.SD), mode=I2S.RX,
                       bits=32, format=I2S.MONO, rate=self.rate, ibuf=8 * 4 * hop)
        self.reader = asyncio.StreamReader(self.i2s)
        self.raw = bytearray(4 * hop)
        self.words = memoryview(self.raw)
        self.gain = int(64 * 10 ** (cfg["gain_db"] / 20) + 0.5)
        self.index = 0
        self.pacer = audio.Pacer(self.rate, True)     # the I2S clock paces; kept for `fast`
        self.dropped = 0

    async def read(self, hop):
        got = 0
        want = len(self.raw)
        while got < want:
            got += await self.reader.readinto(self.words[got:])   # once per short read only
        _to_int16(self.raw, hop, len(hop), self.gain)
        self.index += len(hop)
        return len(hop)


def mic(cfg):
    return Mic(cfg)


class Port:
    # The REPL UART (sys.stdin / sys.stdout).  The UART driver turns Ctrl-C into
    # KeyboardInterrupt while kbd_intr(3) is set.  sys.stdin.buffer.readinto blocks
    # until its buffer is full, so bytes are taken one at a time while poll() says
    # one is waiting.
    def __init__(self):
        import select
        self.rx = sys.stdin.buffer
        self.tx = sys.stdout.buffer
        self.poll = select.poll()
        self.poll.register(sys.stdin, select.POLLIN)
        self.one = bytearray(1)

    def kbd_intr(self, on):
        micropython.kbd_intr(_CTRL_C if on else -1)

    def readinto(self, buf, n):
        i = 0
        one = self.one
        while i < n and self.poll.poll(0):
            self.rx.readinto(one)
            buf[i] = one[0]
            i += 1
        return i

    def write(self, buf, n):
        self.tx.write(buf, n)
