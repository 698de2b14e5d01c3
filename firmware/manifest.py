# SPDX-License-Identifier: MIT
# Freeze the node package into a MicroPython ESP32 build (FROZEN_MANIFEST=.../manifest.py):
# bytecode then runs from flash and the heap keeps ~60 KB more free than with .py files.
# boot.py and main.py stay on the filesystem so safe mode and deploys keep working.
metadata(version="0.1.0", description="sednode acoustic street sensor firmware")
package("node", opt=3)
