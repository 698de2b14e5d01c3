# SPDX-License-Identifier: MIT
"""features / demo commands (filled in by the DSP work)."""


def register(sub):
    pass
