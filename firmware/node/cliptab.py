# SPDX-License-Identifier: MIT
# Event audio clips: constants the node's clip coder (node/clip.py) and its reference
# (dsp_reference/clip_model.py) share.  Valid under MicroPython and CPython; a module of
# its own so that a node with clips off (config clip_ms 0) does not hold its tables.
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

# Event audio clips (node/clip.py; reference: dsp_reference/clip_model.py; file layout:
# proto.CLIP_HDR).  With config clip_ms > 0 the node keeps its recent audio at half its
# rate (a halfband low-pass, then every second sample) as 4-bit IMA ADPCM, in RAM, and
# writes a clip from clip_ms/2 before an event's onset to clip_ms/2 after it onto its
# flash: at 16 kHz and 2000 ms, 8 kHz audio from 1 s before to 1 s after, 8 KB.
CLIP_KEEP = const(16)         # clips kept on flash: clip.<seq % CLIP_KEEP>
CLIP_CHUNK = const(512)       # bytes written to flash per hop while saving (the mic's DMA
#                               buffer holds 8 hops: a whole clip at once could overrun it)
# halfband low-pass, Q15: centre tap 16384, then the taps at odd distances 1, 3, 5, ... from
# it (the even ones are zero); Kaiser window (beta 5), 31 taps: passband to 0.4 x the
# clip's Nyquist within 0.1 dB, -43 dB from 0.6.  |accumulator| <= 32768 * (16384 +
# 2 * sum |h|) + 16384 < 2**31 (dsp_reference/clip_model.py proves it).
CLIP_HB = (10327, -3177, 1617, -893, 481, -236, 96, -26)
# IMA ADPCM (the Interactive Multimedia Association's 4-bit code, as in WAV format 0x11)
IMA_STEP = (7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 19, 21, 23, 25, 28, 31, 34, 37, 41, 45, 50, 55,
            60, 66, 73, 80, 88, 97, 107, 118, 130, 143, 157, 173, 190, 209, 230, 253, 279, 307,
            337, 371, 408, 449, 494, 544, 598, 658, 724, 796, 876, 963, 1060, 1166, 1282, 1411,
            1552, 1707, 1878, 2066, 2272, 2499, 2749, 3024, 3327, 3660, 4026, 4428, 4871, 5358,
            5894, 6484, 7132, 7845, 8630, 9493, 10442, 11487, 12635, 13899, 15289, 16818, 18500,
            20350, 22385, 24623, 27086, 29794, 32767)
IMA_INDEX = (-1, -1, -1, -1, 2, 4, 6, 8)


def geometry(rate, hop, clip_ms):
    # (clip samples per hop -- a block --, bytes per block, blocks in a clip, input samples
    # before the onset, and after it): a clip is the whole blocks that cover both wherever
    # the onset falls in its block; the node's ring holds that many blocks
    bs = hop >> 1
    half = (clip_ms * rate // 2000 + 1) & ~1
    return bs, bs >> 1, (2 * half + hop - 1) // hop + 1, half, half
