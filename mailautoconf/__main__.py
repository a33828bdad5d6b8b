"""``python -m mailautoconf``: the ``mailautoconf`` command, where only the interpreter is on PATH."""

from __future__ import annotations

import sys

from mailautoconf import cli

if __name__ == "__main__":
    # argparse would call it "__main__.py"
    sys.exit(cli.main(prog="python -m mailautoconf"))
