"""Run one command; print its wall time and peak resident memory as JSON.

Why a process of its own: ``getrusage(RUSAGE_CHILDREN)`` reports the largest
peak among *all* children a process has waited for, so it is only the
peak of one command when asked in a fresh process whose only child is that
command. The figure cannot go below this small wrapper's own resident size
(the child starts as a copy of it before exec), so throughput.py also
measures a bare interpreter the same way, as the floor.

    python bench/maxrss.py COMMAND [ARG ...]
    {"returncode": 0, "wall_s": 1.23, "maxrss_kib": 45678}

The command's stdout is discarded (this one's carries the JSON); its
stderr is passed through.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: maxrss.py COMMAND [ARG ...]", file=sys.stderr)
        return 2
    started = time.perf_counter()
    completed = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if sys.platform == "darwin":  # bytes there, KiB on Linux
        peak //= 1024
    print(json.dumps({"returncode": completed.returncode, "wall_s": wall, "maxrss_kib": peak}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
