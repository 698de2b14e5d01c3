# SPDX-License-Identifier: MIT
# main.py: runs after boot.py.  Safe-mode check first (nothing else is imported, so
# a broken app cannot lock the board), then the app.  When the app ends (Ctrl-C
# outside a host session, or an uncaught error) the REPL takes over, with the app's
# modules dropped.
import sys

if sys.platform == "linux":
    from node.board import unix as board
else:
    from node.board import esp32 as board


def drop_app():
    # The REPL, and mpremote after it, get the heap back: the app's modules (the detector's
    # table alone is ~30 KB) are dropped once it has ended (app.run lets go of the app's
    # objects).  An mpremote copy onto a node whose app it interrupted (`resume`, no soft
    # reset, as `sednode deploy` does) ran out of heap in a fresh clone without this.
    # Each module's globals are emptied too: the GC scans the C stack conservatively, and
    # one stale word there that points at any function of the app keeps its module, and
    # through it every module it imported, alive (~72 KB in CI's clone, whose path gave the
    # heap another layout).
    globals().pop("app", None)
    for k in list(sys.modules):
        if k.startswith("node"):
            sys.modules.pop(k).__dict__.clear()
    import gc

    gc.collect()


if board.safe_mode():
    print("sednode: safe mode, app not started")
else:
    from node import app

    try:
        app.run()
    finally:
        drop_app()
