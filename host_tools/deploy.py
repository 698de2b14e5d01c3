# SPDX-License-Identifier: MIT
"""Putting software on a node: `sednode flash` writes the MicroPython image with esptool,
`sednode deploy` copies this checkout's firmware with mpremote, checks every file on the
node byte for byte (SHA-256 computed on the node) and restarts the app.

The copy is made from a staging folder that holds only the firmware's .py files, so CPython's
bytecode caches in `firmware/` never reach the board.  mpremote is run with `resume` (no soft
reset before the copy): it interrupts the app, which is what the virtual node needs too."""
import hashlib
import os
import subprocess
import sys
import tempfile

from host_tools.errors import NodeToolError, EXIT_FAIL, EXIT_PORT, EXIT_USAGE

FIRMWARE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "firmware")
# where MicroPython's image goes, per chip (micropython.org's instructions for each port)
IMAGE_OFFSET = {"esp32": 0x1000, "esp32s2": 0x1000, "esp32s3": 0x0, "esp32c3": 0x0, "esp32c6": 0x0}
ESP_IMAGE_MAGIC = 0xE9
FLASH_BAUD = 460800
COPY_TIMEOUT_S = 600


def firmware_files(firmware=FIRMWARE):
    """The files a node needs, relative to the firmware folder: boot.py, main.py and every
    .py under node/ (no caches, no other files)."""
    out = [n for n in ("boot.py", "main.py") if os.path.isfile(os.path.join(firmware, n))]
    for dirpath, dirs, names in os.walk(os.path.join(firmware, "node")):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        out += sorted(os.path.relpath(os.path.join(dirpath, n), firmware).replace(os.sep, "/")
                      for n in names if n.endswith(".py"))
    if "main.py" not in out or "node/app.py" not in out:
        raise NodeToolError("%s does not look like the firmware folder (no main.py or node/app.py)" % firmware,
                            EXIT_USAGE)
    return out


def _mpremote(port, args, timeout, cwd=None):
    cmd = [sys.executable, "-m", "mpremote", "connect", os.path.realpath(port), "resume"] + list(args)
    try:
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise NodeToolError("%s: mpremote %s took more than %d s" % (port, args[0], timeout), EXIT_PORT)
    if r.returncode != 0:
        why = (r.stderr.strip() or r.stdout.strip() or "exit code %d" % r.returncode).splitlines()[-1]
        raise NodeToolError("%s: mpremote %s failed: %s" % (port, args[0], why), EXIT_PORT)
    return r.stdout


_HASH_SCRIPT = """
import hashlib, binascii
def _h(p):
    s = hashlib.sha256()
    try:
        f = open(p, 'rb')
    except OSError:
        return '-'
    with f:
        while True:
            b = f.read(512)
            if not b:
                break
            s.update(b)
    return binascii.hexlify(s.digest()).decode()
for _p in %r:
    print(_p, _h(_p))
"""


def node_hashes(port, files):
    """SHA-256 (hex) of each file as the node reads it ('-' when missing)."""
    out = _mpremote(port, ["exec", _HASH_SCRIPT % (list(files),)], timeout=120)
    got = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    return {f: got.get(f, "?").strip() for f in files}


def deploy(port, firmware=FIRMWARE, log=None):
    """Copy the firmware onto the node at ``port``, check it byte for byte, restart the app.

    Returns:
        dict: files (count), bytes, port, firmware (version the node reports), proto_version.
    Raises:
        NodeToolError: the copy failed (EXIT_PORT), a file differs on the node (EXIT_FAIL),
        the app does not come back (EXIT_PORT).
    """
    from host_tools.link import Link
    files = firmware_files(firmware)
    want = {}                                  # what each file's hash must be on the node
    size = 0
    with tempfile.TemporaryDirectory(prefix="sednode-deploy-") as stage:
        for f in files:
            with open(os.path.join(firmware, f), "rb") as fh:
                data = fh.read()
            os.makedirs(os.path.dirname(os.path.join(stage, f)), exist_ok=True)
            with open(os.path.join(stage, f), "wb") as fh:
                fh.write(data)
            size += len(data)
            want[f] = hashlib.sha256(data).hexdigest()
        if log:
            log("copying %d files to %s" % (len(files), port))
        _mpremote(port, ["cp", "-r", "boot.py", "main.py", "node", ":./"], COPY_TIMEOUT_S, cwd=stage)
    got = node_hashes(port, files)
    bad = [f for f in files if got[f] != want[f]]
    if bad:
        raise NodeToolError("%s: %d of %d files differ on the node after the copy (%s); run deploy again"
                            % (port, len(bad), len(files), ", ".join(bad[:5])), EXIT_FAIL)
    if log:
        log("%d files (%d bytes) on the node, identical; restarting the app" % (len(files), size))
    link = Link.open(port)                     # the node is at the REPL: this soft-resets it
    try:
        info = link.info
    finally:
        link.close()
    return {"port": port, "files": len(files), "bytes": size, "firmware": info["firmware"],
            "proto_version": info["proto_version"], "uptime_ms": info["uptime_ms"]}


def check_image(path, chip):
    """Refuse what is not an ESP image before esptool touches the board; returns its size."""
    if chip not in IMAGE_OFFSET:
        raise NodeToolError("flash: chip %r is not one of %s" % (chip, ", ".join(sorted(IMAGE_OFFSET))), EXIT_USAGE)
    try:
        with open(path, "rb") as f:
            head = f.read(1)
            size = os.fstat(f.fileno()).st_size
    except OSError as e:
        raise NodeToolError("flash: cannot read the image %s: %s" % (path, e.strerror or e), EXIT_USAGE)
    if not head or head[0] != ESP_IMAGE_MAGIC:
        raise NodeToolError("flash: %s is not an ESP firmware image (first byte 0x%02x, expected 0x%02x); download "
                            "MicroPython's .bin for %s from micropython.org"
                            % (path, head[0] if head else 0, ESP_IMAGE_MAGIC, chip.upper()), EXIT_USAGE)
    return size


def esptool_args(port, image, chip="esp32", baud=FLASH_BAUD, erase=False):
    """The esptool command lines (argument lists) that put MicroPython's image on a board."""
    base = ["--chip", chip, "--port", port, "--baud", str(baud)]
    runs = [base + ["erase-flash"]] if erase else []
    return runs + [base + ["write-flash", "-z", "0x%x" % IMAGE_OFFSET[chip], image]]


def flash(port, image, chip="esp32", baud=FLASH_BAUD, erase=False, log=None):
    """Write MicroPython's image with esptool (its Python API, esptool.main; what it prints
    goes to stderr)."""
    import contextlib
    import esptool
    check_image(image, chip)
    for argv in esptool_args(port, image, chip, baud, erase):
        if log:
            log("esptool " + " ".join(argv))
        try:
            with contextlib.redirect_stdout(sys.stderr):     # its progress is no data: stdout stays clean
                esptool.main(argv)
        except esptool.FatalError as e:
            raise NodeToolError("flash: esptool failed on %s: %s" % (port, str(e).strip().splitlines()[0]),
                                EXIT_PORT)
        except SystemExit as e:                # esptool's command line ends with sys.exit on some errors
            if e.code not in (0, None):
                raise NodeToolError("flash: esptool stopped on %s (exit code %s)" % (port, e.code), EXIT_PORT)
        except OSError as e:
            raise NodeToolError("flash: %s: %s" % (port, e.strerror or e), EXIT_PORT)
