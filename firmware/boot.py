# SPDX-License-Identifier: MIT
# boot.py: runs first after every reset.  Kept tiny: clock up and free the heap
# before main.py imports the app.
import gc
import sys

if sys.platform == "esp32":
    import machine

    machine.freq(240000000)
gc.collect()
