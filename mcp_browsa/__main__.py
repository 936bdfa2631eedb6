"""`python -m mcp_browsa` is the same as the `mcp-browsa` command."""

from mcp_browsa.cli import main

# Guarded: a process started with multiprocessing's spawn loads the parent's main module under another name.
if __name__ == "__main__":
    raise SystemExit(main())
