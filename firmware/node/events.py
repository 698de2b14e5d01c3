# SPDX-License-Identifier: MIT
# Sound event classes and the detector's event record layout.  Valid under MicroPython
# and CPython: the host tools, the reference detector and the link import it from here.
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

# class ids (0 = no event; the classifier's "none" output)
NONE = const(0)
GUNSHOT = const(1)
SCREAM = const(2)
GLASS_BREAK = const(3)
NCLASSES = const(4)                  # including NONE
CLASS_NAMES = ("none", "gunshot", "scream", "glass_break")
# not a sound: the node's microphone failing (app.py), logged and sent like an event; its
# record's shots field says how (below), update 1 is its end
MIC_FAULT = const(15)
FAULTS = ("", "no signal", "level pinned")    # every sample 0; above -15 dBFS before the gain, all the time

# Event record: a tuple returned by Detector.update() (the reference model returns
# the same tuples).  Fields, by index:
E_CLASS = const(0)       # class id, 1..3
E_ONSET = const(1)       # onset frame index since reset (frame t covers samples
                         # [t*hop, t*hop + frame)); onset sample = t*hop + frame - hop
E_DUR = const(2)         # duration in frames, onset frame to last active frame
E_PEAK = const(3)        # largest sample peak over the event, cdB (1/100 dBFS)
E_CONF = const(4)        # confidence 0..100 (the classifier's softmax share of the class)
E_SHOTS = const(5)       # impulses counted (gunshot bursts); 0 for other classes
E_UPDATE = const(6)      # 0: a new event; 1: revision of the last event of this class
                         # (same onset; longer duration / more shots), see docs/detector.md
E_FRAME = const(7)       # frame index at which the record was emitted (latency)
NFIELDS = const(8)

FIELD_NAMES = ("class", "onset_frame", "dur_frames", "peak_cdb", "confidence", "shots",
               "update", "emit_frame")


def class_id(name):
    return CLASS_NAMES.index(name)


def onset_sample(onset_frame, frame, hop):
    # first sample that is new in the onset frame: where the rise was seen
    return onset_frame * hop + frame - hop
