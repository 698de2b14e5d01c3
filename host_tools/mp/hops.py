# SPDX-License-Identifier: MIT
# The firmware runners' input: int16 little-endian samples from a file, one hop at a time
# into one preallocated buffer, as the node's audio task reads its microphone.
import gc


def hops(path, buf):
    # yields once per whole hop read into buf (array('h')); stops at the file's end.  The
    # garbage collector is off meanwhile, so that the runners' gc.mem_alloc() differences
    # count every byte allocated (a runner that allocates on purpose collects by hand).
    mv = memoryview(buf)
    with open(path, "rb") as f:
        gc.collect()
        gc.disable()
        try:
            while True:
                got = f.readinto(mv)
                if got is None or got < 2 * len(buf):
                    return
                yield
        finally:
            gc.enable()
