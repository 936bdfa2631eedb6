"""`python -m bench [name]`: run one benchmark (default: foundation). Prints a table, writes bench/results/NAME.json."""

from __future__ import annotations

import importlib
import sys

BENCHES = {
    "foundation": "bench.foundation",
    "identities": "bench.identities",
    "observation": "bench.observation",
    "reliability": "bench.reliability",
    "steploop": "bench.steploop",
}


def main() -> int:
    args = sys.argv[1:]
    name = args[0] if args and not args[0].startswith("-") else "foundation"
    if name not in BENCHES:
        print(f"unknown benchmark {name!r}; choose from {', '.join(BENCHES)}", file=sys.stderr)
        return 2
    module = importlib.import_module(BENCHES[name])
    return int(module.main(args[1:] if args else []))


if __name__ == "__main__":
    sys.exit(main())
