# SPDX-License-Identifier: MIT
"""sednode: one console script, subcommands registered by modules in host_tools.commands.

Each command module exposes ``register(subparsers)`` which adds its sub-parsers and sets
``func`` (called with the parsed args, returns an exit code).  The CLI only parses and
dispatches; the work is done by library modules.
"""
import argparse
import importlib
import sys

from host_tools.errors import NodeToolError

# command modules, in the order their commands appear in --help
COMMAND_MODULES = [
    "host_tools.commands.dsp_cmds",      # features, demo
    "host_tools.commands.detect_cmds",   # detect, eval
    "host_tools.commands.link_cmds",     # ports, info, config, stream, inject, monitor, hil, sim
]


def build_parser():
    p = argparse.ArgumentParser(prog="sednode", description="Acoustic street sensor node tools")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc = args.func(args)
    except NodeToolError as e:
        return e.report()
    except KeyboardInterrupt:
        print("sednode: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return rc or 0


if __name__ == "__main__":
    sys.exit(main())
