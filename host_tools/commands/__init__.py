# SPDX-License-Identifier: MIT
"""The CLI's subcommands, one module per group; each has register(sub).  number() is the
argparse type of their numeric options: a value out of range is a usage error (exit code 2)
with the allowed range, not a traceback from deep inside the command."""
import argparse
import math


def number(kind, lo=None, hi=None, lo_open=False):
    """argparse type: kind(text) within [lo, hi] ((lo, hi] with lo_open)."""
    bounds = ([("more than %s" if lo_open else "at least %s") % lo] if lo is not None else []) + \
        (["at most %s" % hi] if hi is not None else [])

    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            v = None
        if v is None or not math.isfinite(v):                 # nan, inf: no number either
            raise argparse.ArgumentTypeError("%r is not %s" % (text, "an integer" if kind is int else "a number"))
        if lo is not None and (v <= lo if lo_open else v < lo) or hi is not None and v > hi:
            raise argparse.ArgumentTypeError("%s is out of range (%s)" % (text, ", ".join(bounds)))
        return v
    return parse
