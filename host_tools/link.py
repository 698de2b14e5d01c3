# SPDX-License-Identifier: MIT
"""Host side of the serial link (protocol: docs/protocol.md, ids: node/proto.py).

A :class:`Link` wraps any pyserial port opened with ``serial_for_url`` (a device
path, a virtual node's pseudo-terminal, ``socket://``, ``rfc2217://``).  Requests
wait for the answer with the same seq; frames the node sends on its own are queued
and read with :meth:`Link.recv`.  Timeouts raise :class:`NodeToolError` naming what
was expected and showing what did arrive.
"""
import collections
import struct
import sys
import time
import zlib

import serial

from host_tools.errors import NodeToolError, EXIT_PORT, EXIT_PROTOCOL, EXIT_USAGE
from host_tools import messages
from node import proto

DEFAULT_BAUD = 921600
# how a board gets this checkout's firmware (run from the checkout's root; README, technicians)
INSTALL_ARGS = ("cp", "-r", "firmware/boot.py", "firmware/main.py", "firmware/node", ":./")


def install_hint(port):
    """The mpremote command line that copies this checkout's firmware onto the node at port."""
    return "mpremote connect %s %s" % (port, " ".join(INSTALL_ARGS))


def update_hint(port):
    """How to put this checkout's firmware on the node at port (for error messages)."""
    return "update its firmware from this checkout: sednode deploy --port %s (by hand, README: %s, then reset it)" \
        % (port, install_hint(port))


def cobs_encode(data):
    """COBS-encode ``data`` and append the 0x00 delimiter."""
    out = bytearray()
    for block in bytes(data).split(b"\x00"):
        while len(block) >= 254:
            out.append(255)
            out += block[:254]
            block = block[254:]
        out.append(len(block) + 1)
        out += block
    # a trailing full block (no zero after it) must not add a phantom zero: the
    # split above always yields a final block, whose code byte ends the frame
    out.append(0)
    return bytes(out)


def cobs_decode(data):
    """Decode one COBS frame (without delimiter); None if malformed."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        if code == 0 or i + code > n:
            return None
        out += data[i + 1:i + code]
        i += code
        if code != 255 and i < n:
            out.append(0)
    return bytes(out)


def build_frame(typ, seq, payload=b""):
    """A complete wire frame: COBS(type|seq|payload|crc32le) + 0x00."""
    raw = bytes([typ & 0xFF, seq & 0xFF]) + bytes(payload)
    return cobs_encode(raw + struct.pack("<I", zlib.crc32(raw)))


def hello_frame(seq):
    """A session-opening HELLO that holds no Ctrl-C byte.

    Outside a session the node treats 0x03 as Ctrl-C (the REPL's interrupt), so the
    first frame of a session is searched over its nonce until its wire bytes are
    free of it (``seq`` must not be 3 itself).
    """
    for nonce in range(1, 1 << 16):
        f = build_frame(proto.HELLO, seq, struct.pack("<HI", proto.PROTO_VERSION, nonce))
        if proto.INTR_CHAR not in f:
            return f
    raise AssertionError("no Ctrl-C free HELLO")


class Frame(collections.namedtuple("Frame", "type seq payload")):
    @property
    def name(self):
        return messages.name(self.type)


class NodeError(NodeToolError):
    """The node answered a request with ERROR."""

    def __init__(self, code, ref, text):
        self.err_code, self.ref = code, ref
        super().__init__("node rejected %s: %s (%s)" % (messages.name(ref), text, messages.ERRORS.get(code, code)),
                         EXIT_USAGE if code in (proto.E_CONFIG, proto.E_RANGE) else EXIT_PROTOCOL)
        self.reason = text


def open_serial(port, baud=DEFAULT_BAUD, timeout=0.05):
    """Open a port path or URL with ``serial_for_url``; NodeToolError with a hint on failure."""
    try:
        return serial.serial_for_url(port, baudrate=baud, timeout=timeout)
    except (serial.SerialException, OSError, ValueError) as e:
        raise NodeToolError("cannot open %s: %s (is the board plugged in and the port free? "
                            "`sednode ports` lists candidates)" % (port, e), EXIT_PORT)


def _print_log(text):
    sys.stderr.write("node: %s\n" % text)
    sys.stderr.flush()


class Link:
    """A session with one node.

    Args:
        ser: an open pyserial port (``serial_for_url``).
        timeout: default seconds to wait for an answer.
        name: port name used in messages.
    """

    def __init__(self, ser, timeout=3.0, name=None):
        self.ser = ser
        self.timeout = timeout
        self.name = name or getattr(ser, "port", "?")
        self.seq = 0
        self.queue = collections.deque()       # unsolicited frames, oldest first (not LOG)
        self.on_log = _print_log               # the node's LOG lines (a corrupt config.json, ...)
        self.rxbuf = bytearray()
        self.tail = bytearray()                # last raw bytes, for error messages
        self.rx_bytes = self.tx_bytes = 0
        self.bad_frames = 0
        self.last_tx = 0.0
        self.info = None
        self.closed = False

    @classmethod
    def open(cls, port, baud=DEFAULT_BAUD, timeout=3.0, hello=True, wake=True):
        """Open ``port`` and start a session (HELLO); returns the Link.

        With ``wake``, a node that does not answer HELLO (typically: sitting at the
        MicroPython REPL after mpremote, or after the app stopped) is soft-reset once
        (Ctrl-C, Ctrl-B, Ctrl-D at the REPL), which runs main.py again, and greeted again.
        """
        link = cls(open_serial(port, baud), timeout, port)
        try:
            link.ser.reset_input_buffer()
        except (serial.SerialException, OSError):
            pass
        if hello:
            try:
                link.hello()
            except NodeToolError as e:
                if not wake:
                    link.ser.close()
                    raise
                link.write(b"\r\x03\x03\x02\x04")
                time.sleep(1.5)
                link.ser.reset_input_buffer()
                del link.rxbuf[:]
                try:
                    link.hello()
                except NodeToolError:
                    link.ser.close()
                    raise e
        return link

    def at_repl(self):
        """True if the last bytes received look like the MicroPython REPL."""
        t = bytes(self.tail)
        return b">>>" in t or b"raw REPL" in t or b"Traceback" in t

    # ---- low level
    def _next_seq(self):
        # 1..255, skipping 3: a HELLO (which may arrive while Ctrl-C is still live
        # on the node) must not hold the Ctrl-C byte anywhere, its seq included
        self.seq = self.seq % 255 + 1
        if self.seq == proto.INTR_CHAR:
            self.seq += 1
        return self.seq

    def write(self, data):
        try:
            self.ser.write(data)
        except (serial.SerialException, OSError) as e:
            raise NodeToolError("%s: write failed, device gone? (%s)" % (self.name, e), EXIT_PORT)
        self.tx_bytes += len(data)
        self.last_tx = time.monotonic()

    def send(self, typ, payload=b"", seq=None):
        """Send one frame; returns its seq."""
        if seq is None:
            seq = self._next_seq()
        if time.monotonic() - self.last_tx > proto.SESSION_TIMEOUT_MS / 2000 and typ != proto.HELLO:
            self.write(hello_frame(self._next_seq()))    # the session may have lapsed
        self.write(build_frame(typ, seq, payload))
        return seq

    def _read_frames(self, wait):
        """Read what is there (waiting up to ``wait`` s for the first byte); yield frames."""
        try:
            n = self.ser.in_waiting
            data = self.ser.read(n if n else 1) if (n or wait > 0) else b""
            if data and not n:
                more = self.ser.in_waiting
                if more:
                    data += self.ser.read(more)
        except (serial.SerialException, OSError, TypeError) as e:
            raise NodeToolError("%s: read failed, device gone? (%s)" % (self.name, e), EXIT_PORT)
        if not data:
            return
        self.rx_bytes += len(data)
        self.tail = (self.tail + data)[-200:]
        self.rxbuf += data
        while True:
            k = self.rxbuf.find(0)
            if k < 0:
                if len(self.rxbuf) > 4 * proto.MAX_ENC:       # garbage without delimiters
                    self.bad_frames += 1
                    del self.rxbuf[:]
                return
            enc = bytes(self.rxbuf[:k])
            del self.rxbuf[:k + 1]
            if not enc:
                continue
            raw = cobs_decode(enc)
            if raw is None or len(raw) < 6 or zlib.crc32(raw[:-4]) != struct.unpack("<I", raw[-4:])[0]:
                self.bad_frames += 1
                continue
            yield Frame(raw[0], raw[1], raw[2:-4])

    def _describe_rx(self):
        t = bytes(self.tail)
        hint = ""
        if self.at_repl():
            hint = "; the node is at the MicroPython REPL (app not running): reset it or `mpremote exec 'import main'`"
        return "received %d bytes in all, last: %r%s" % (self.rx_bytes, t[-80:], hint)

    def request(self, typ, payload=b"", timeout=None, accept_error=False):
        """Send a request and wait for its answer.

        Returns:
            the response Frame.
        Raises:
            NodeError: the node answered ERROR.  NodeToolError: no answer in time.
        """
        timeout = self.timeout if timeout is None else timeout
        if typ == proto.HELLO:
            seq = self._next_seq()
            self.write(hello_frame(seq))
        else:
            seq = self.send(typ, payload)
        end = time.monotonic() + timeout
        while True:
            for f in self._read_frames(0.05):
                if f.seq == seq and (f.type & proto.RESPONSE or f.type == proto.ERROR):
                    if f.type == proto.ERROR:
                        e = NodeError(*messages.unpack_error(f.payload))
                        if accept_error:
                            return f
                        raise e
                    if f.type != typ | proto.RESPONSE:
                        raise NodeToolError("%s: answer to %s was %s" % (self.name, messages.name(typ), f.name),
                                            EXIT_PROTOCOL)
                    return f
                self._unsolicited(f)
            if time.monotonic() > end:
                raise NodeToolError("%s: no answer to %s (seq %d) within %.1f s; %s"
                                    % (self.name, messages.name(typ), seq, timeout, self._describe_rx()), EXIT_PORT)

    def _unsolicited(self, f):
        # LOG goes to on_log whichever command holds the session: the node says a thing once
        # (e.g. that it ignored its config.json at boot, right after the first HELLO)
        if f.type == proto.LOG:
            self.on_log(f.payload.decode("utf-8", "replace"))
        else:
            self.queue.append(f)

    def recv(self, timeout=0.1):
        """Next frame the node sent on its own, or None after ``timeout`` s."""
        end = time.monotonic() + timeout
        while not self.queue:
            for f in self._read_frames(0.02):
                self._unsolicited(f)
            if self.queue or time.monotonic() >= end:
                break
        return self.queue.popleft() if self.queue else None

    def keepalive(self):
        """PING (without waiting) when the host has been quiet for a second."""
        if time.monotonic() - self.last_tx > 1.0:
            self.send(proto.PING)

    # ---- requests
    def hello(self):
        """Start a session; returns the node's INFO dict."""
        f = self.request(proto.HELLO)
        self.info = messages.unpack_info(f.payload)
        if self.info["proto_version"] != proto.PROTO_VERSION:
            raise NodeToolError("%s speaks protocol %d, these tools %d: %s"
                                % (self.name, self.info["proto_version"], proto.PROTO_VERSION,
                                   update_hint(self.name)), EXIT_PROTOCOL)
        return self.info

    def get_info(self):
        """INFO: identity, uptime, free heap, config hash and counters."""
        return messages.unpack_info(self.request(proto.INFO).payload)

    def config_get(self):
        import json
        return json.loads(self.request(proto.CONFIG_GET).payload)

    def config_set(self, changes):
        """Change config keys; returns the full new config (NodeError if rejected)."""
        import json
        return json.loads(self.request(proto.CONFIG_SET, json.dumps(changes).encode()).payload)

    def ping(self):
        return struct.unpack("<I", self.request(proto.PING).payload)[0]

    def reboot(self):
        self.request(proto.REBOOT)

    def close(self, bye=True):
        """End the session (BYE, so Ctrl-C works again on the node) and close the port."""
        if self.closed:
            return
        self.closed = True
        try:
            if bye:
                self.request(proto.BYE, timeout=1.0)
        except NodeToolError:
            pass
        finally:
            try:
                self.ser.close()
            except (serial.SerialException, OSError):
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
