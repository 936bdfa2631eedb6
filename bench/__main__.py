"""`python -m bench [name]`: run one benchmark (default: foundation). Prints a table, writes bench/results/NAME.json.

`python -m bench agent` runs the agent's two in one go: observation size against Playwright MCP, then the step
loop's overhead.
"""

from __future__ import annotations

import importlib
import sys

BENCHES = {
    "coldstart": "bench.coldstart",
    "content": "bench.content",
    "foundation": "bench.foundation",
    "identities": "bench.identities",
    "live": "bench.live",
    "observation": "bench.observation",
    "reliability": "bench.reliability",
    "scale": "bench.scale",
    "sessions": "bench.sessions",
    "steploop": "bench.steploop",
    "surface": "bench.surface",
    "tunnel": "bench.tunnel",
}
GROUPS = {"agent": ("observation", "steploop")}


def main() -> int:
    args = sys.argv[1:]
    if args[:1] in (["-h"], ["--help"]):
        print(__doc__.strip())
        print(f"\nbenchmarks: {', '.join(BENCHES)}; groups: {', '.join(GROUPS)}")
        return 0
    name = args[0] if args and not args[0].startswith("-") else "foundation"
    if name not in BENCHES and name not in GROUPS:
        print(f"unknown benchmark {name!r}; choose from {', '.join([*BENCHES, *GROUPS])}", file=sys.stderr)
        return 2
    rest = args[1:] if args and not args[0].startswith("-") else args
    worst = 0
    for part in GROUPS.get(name, (name,)):
        module = importlib.import_module(BENCHES[part])
        worst = max(worst, int(module.main(rest)))
    return worst


if __name__ == "__main__":
    sys.exit(main())
