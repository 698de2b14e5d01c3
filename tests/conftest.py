# SPDX-License-Identifier: MIT
"""Shared pytest setup: --node-port, markers, one virtual node for the session.

By default every link/CLI/HIL test runs against a virtual node (the real firmware on
the MicroPython unix port behind a pseudo-terminal).  ``--node-port /dev/ttyUSB0``
runs the HIL suite against a real board; tests marked ``device`` need one and are
skipped without it.
"""
import pytest


def pytest_addoption(parser):
    parser.addoption("--node-port", default=None,
                     help="serial port of a real node for the HIL tests (default: the virtual node)")


def pytest_configure(config):
    config.addinivalue_line("markers", "host: runs on the host only (no node)")
    config.addinivalue_line("markers", "vnode: uses a virtual node")
    config.addinivalue_line("markers", "device: needs a real board (--node-port)")
    config.addinivalue_line("markers", "slow: long-running test")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--node-port"):
        return
    skip = pytest.mark.skip(reason="needs a real board: give --node-port PATH")
    for item in items:
        if "device" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def vnode():
    """One virtual node (pattern audio) shared by the session."""
    from host_tools.vnode import VirtualNode
    node = VirtualNode(audio="pattern").start()
    yield node
    node.stop()


@pytest.fixture(scope="session")
def node_port(request):
    """The port the HIL tests use: --node-port, or a virtual node of their own."""
    port = request.config.getoption("--node-port")
    if port:
        yield port
        return
    from host_tools.vnode import VirtualNode
    node = VirtualNode().start()
    yield node.port
    node.stop()


@pytest.fixture
def link(vnode):
    """A fresh session with the shared virtual node."""
    from host_tools.link import Link
    lk = Link.open(vnode.port)
    yield lk
    lk.close()


@pytest.fixture(scope="session")
def cut_street():
    """A generated street (seed 3001, babble, 10 dB, its first 12 s) where the babble holds a
    segment open to its 3 s maximum and a scream rises 0.27 s before that cut: (int16 samples
    at the node's rate, the scream's onset in s)."""
    from dsp_reference.scenes import make_scene
    from host_tools import audio_io, detect
    sc = make_scene(3001, seconds=30.0, background="babble", snr_db=10.0)
    onset = [l["onset_s"] for l in sc.labels if l["class"] == "scream"][0]
    return audio_io.to_int16(sc.audio[:12 * detect.default_cfg()["rate"]]), onset
