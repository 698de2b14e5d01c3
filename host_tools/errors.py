# SPDX-License-Identifier: MIT
"""Expected failures of the host tools.

Anything the user can cause (bad file, missing port, unplugged device, bad config value)
raises NodeToolError; the CLI prints its message on one line and exits with its code.
The output-path checks below run before a command starts its work, so that a path it cannot
write is refused at once, not after minutes of streaming or evaluation.
"""
import os
import sys

EXIT_OK = 0
EXIT_FAIL = 1        # the check ran and found a problem (HIL mismatch, eval target missed)
EXIT_USAGE = 2       # bad input: malformed WAV, bad argument, bad config value
EXIT_PORT = 3        # no port / port vanished / device not answering
EXIT_PROTOCOL = 4    # device answered with something we cannot accept


class NodeToolError(Exception):
    """An expected failure with a one-line message and an exit code."""

    def __init__(self, message, code=EXIT_USAGE):
        super().__init__(message)
        self.code = code

    def report(self):
        """Print the one line the CLI shows for this error on stderr; returns its exit code."""
        print("sednode: error: %s" % self, file=sys.stderr, flush=True)
        return self.code


def writable_dir(path, what="output folder"):
    """Make the folder path (and its parents) or raise NodeToolError saying why it cannot be."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise NodeToolError("cannot use %s as the %s: it is a file" % (path, what))
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise NodeToolError("cannot use %s as the %s: %s" % (path, what, e.strerror or e))
    if not os.access(path, os.W_OK | os.X_OK):
        raise NodeToolError("cannot use %s as the %s: not writable" % (path, what))


def writable_file(path, what="output file"):
    """Raise NodeToolError unless a file can be written at path (its folder exists and is
    writable, and path is not a folder).  Creates nothing."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise NodeToolError("cannot write the %s %s: it is a folder" % (what, path))
    if not os.path.isdir(folder):
        raise NodeToolError("cannot write the %s %s: no folder %s" % (what, path, folder))
    if not os.access(folder, os.W_OK | os.X_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise NodeToolError("cannot write the %s %s: not writable" % (what, path))
