"""The read rows of `bench/run.py` alone (this script's old name and command line, kept working):
list endpoints against a bare Starlette + orjson ceiling, same server software, worker count,
machine and run. See `bench/run.py --help`.

    .venv/bin/python bench/list_bench.py --devices 100000 --workers 2 --duration 10"""

from __future__ import annotations

import sys

from run import main

if __name__ == "__main__":
    # Its old default size; a --devices given on the command line comes later and wins.
    main(["--lists-only", "--devices", "100000", *sys.argv[1:]])
