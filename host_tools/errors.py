# SPDX-License-Identifier: MIT
"""Expected failures of the host tools.

Anything the user can cause (bad file, missing port, unplugged device, bad config value)
raises NodeToolError; the CLI prints its message on one line and exits with its code.
"""

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
