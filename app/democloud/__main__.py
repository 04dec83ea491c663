"""`python -m app.democloud [options]`: the demo cloud on its own, without the monitor."""

import argparse
import sys

from app.democloud import cli

parser = argparse.ArgumentParser(prog="python -m app.democloud")
sub = parser.add_subparsers(dest="command")
cli.register(sub)
args = parser.parse_args(["demo-cloud", *sys.argv[1:]])
sys.exit(args.func(args))
