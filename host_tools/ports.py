# SPDX-License-Identifier: MIT
"""Finding the node's serial port: a path, ``auto`` (the one connected board) or ``sim``."""
import contextlib

from serial.tools import list_ports

from host_tools.errors import NodeToolError, EXIT_PORT

# USB bridges found on ESP32 boards: (vid, pid or None for any), name
KNOWN_BRIDGES = (
    ((0x10C4, 0xEA60), "CP210x"),
    ((0x1A86, 0x7523), "CH340"),
    ((0x1A86, 0x55D4), "CH9102"),
    ((0x0403, 0x6001), "FT232R"),
    ((0x0403, 0x6015), "FT231X"),
    ((0x303A, None), "Espressif USB"),
)


def bridge_name(vid, pid):
    for (v, p), name in KNOWN_BRIDGES:
        if vid == v and (p is None or pid == p):
            return name
    return None


def candidates():
    """Serial ports that look like an ESP32 board: list of dicts (device, bridge, serial, description)."""
    out = []
    for p in list_ports.comports():
        name = bridge_name(p.vid, p.pid)
        if name:
            out.append({"device": p.device, "bridge": name, "serial": p.serial_number or "",
                        "description": p.description or ""})
    return out


def all_ports():
    """Every serial port pyserial sees, with a ``likely`` flag for ESP32 bridges."""
    return [{"device": p.device, "description": p.description or "", "hwid": p.hwid or "",
             "likely": bridge_name(p.vid, p.pid) is not None} for p in list_ports.comports()]


def resolve(port):
    """A concrete port path/URL for ``port`` (``auto`` picks the single candidate).

    Raises:
        NodeToolError: no board, or several boards and no --port.
    """
    if port not in (None, "auto"):
        return port
    c = candidates()
    if len(c) == 1:
        return c[0]["device"]
    if not c:
        raise NodeToolError("no board found (looked for USB serial bridges: %s); plug one in, "
                            "give --port PATH, or use --port sim for the virtual node"
                            % ", ".join(n for _, n in KNOWN_BRIDGES), EXIT_PORT)
    raise NodeToolError("several boards found, choose one with --port: %s"
                        % ", ".join("%s (%s)" % (x["device"], x["bridge"]) for x in c), EXIT_PORT)


@contextlib.contextmanager
def opened(port, **vnode_args):
    """Yield a port path/URL; ``sim`` starts a virtual node for the duration."""
    if port == "sim":
        from host_tools.vnode import VirtualNode
        with VirtualNode(**vnode_args) as vn:
            yield vn.port
    else:
        yield resolve(port)
