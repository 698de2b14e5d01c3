# SPDX-License-Identifier: MIT
# main.py: runs after boot.py.  Safe-mode check first (nothing else is imported, so
# a broken app cannot lock the board), then the app.  When the app ends (Ctrl-C
# outside a host session, or an uncaught error) the REPL takes over.
import sys

if sys.platform == "linux":
    from node.board import unix as board
else:
    from node.board import esp32 as board

if board.safe_mode():
    print("sednode: safe mode, app not started")
else:
    from node import app

    app.run()
