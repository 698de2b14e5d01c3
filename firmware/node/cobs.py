# SPDX-License-Identifier: MIT
# COBS framing and CRC-32 kernels for the serial link (viper, allocation-free).
# All functions take explicit lengths and offsets so the caller never slices
# (a memoryview slice is a heap allocation).  Buffers: bytearray or memoryview.
# Viper ints are 32-bit on the ESP32 and 64-bit on the unix port; every value
# here stays below 2**32 and is only shifted right, so both give the same bytes.
import micropython
from array import array

MASK32 = 0xFFFFFFFF           # a long int on the ESP32: created once, passed in


def make_table():
    # CRC-32/ISO-HDLC (reflected 0xEDB88320) lookup table, array('I', 256)
    t = array("I", bytes(1024))
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        t[i] = c
    return t


TABLE = make_table()


@micropython.viper
def crc_put(buf, n: int, table, mask: uint):
    # buf[n:n+4] = crc32(buf[0:n]), little-endian.  table: array('I') from make_table
    b = ptr8(buf)
    t = ptr32(table)
    c = mask
    i = 0
    while i < n:
        c = uint(t[(c ^ uint(b[i])) & 0xFF]) ^ (c >> 8)
        i += 1
    c = c ^ mask
    b[n] = c & 0xFF
    b[n + 1] = (c >> 8) & 0xFF
    b[n + 2] = (c >> 16) & 0xFF
    b[n + 3] = (c >> 24) & 0xFF


@micropython.viper
def crc_ok(buf, n: int, table, mask: uint) -> int:
    # 1 if the last 4 of the n bytes in buf are the crc32 of the bytes before them
    b = ptr8(buf)
    t = ptr32(table)
    c = mask
    i = 0
    k = n - 4
    while i < k:
        c = uint(t[(c ^ uint(b[i])) & 0xFF]) ^ (c >> 8)
        i += 1
    c = c ^ mask
    if uint(b[k]) != (c & 0xFF) or uint(b[k + 1]) != ((c >> 8) & 0xFF):
        return 0
    if uint(b[k + 2]) != ((c >> 16) & 0xFF) or uint(b[k + 3]) != ((c >> 24) & 0xFF):
        return 0
    return 1


@micropython.viper
def encode(src, n: int, dst) -> int:
    # COBS-encode src[0:n] into dst and append the 0x00 delimiter; returns the
    # encoded length including the delimiter.  dst needs n + n // 254 + 2 bytes.
    s = ptr8(src)
    d = ptr8(dst)
    ci = 0                    # where the current block's code byte goes
    o = 1
    code = 1
    i = 0
    while i < n:
        v = s[i]
        if v == 0:
            d[ci] = code
            ci = o
            o += 1
            code = 1
        else:
            d[o] = v
            o += 1
            code += 1
            if code == 0xFF:  # a full block of 254 non-zero bytes
                d[ci] = code
                ci = o
                o += 1
                code = 1
        i += 1
    d[ci] = code
    d[o] = 0
    return o + 1


@micropython.viper
def decode(buf, n: int) -> int:
    # COBS-decode buf[0:n] in place (output never overtakes input); returns the
    # decoded length or -1 when a code byte is zero or points past the end.
    b = ptr8(buf)
    i = 0
    o = 0
    while i < n:
        code = b[i]
        if code == 0:
            return -1
        i += 1
        end = i + code - 1
        if end > n:
            return -1
        while i < end:
            b[o] = b[i]
            o += 1
            i += 1
        if code != 0xFF and i < n:
            b[o] = 0
            o += 1
    return o


@micropython.viper
def find0(buf, start: int, n: int) -> int:
    # index of the first 0x00 in buf[start:n], or n
    b = ptr8(buf)
    i = start
    while i < n:
        if b[i] == 0:
            return i
        i += 1
    return n


@micropython.viper
def copy(dst, doff: int, src, soff: int, n: int):
    # dst[doff:doff+n] = src[soff:soff+n] (bytes; the regions must not overlap)
    d = ptr8(dst)
    s = ptr8(src)
    i = 0
    while i < n:
        d[doff + i] = s[soff + i]
        i += 1
