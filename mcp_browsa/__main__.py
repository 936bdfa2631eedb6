"""`python -m mcp_browsa` is the same as the `mcp-browsa` command."""

from mcp_browsa.cli import main

# Guarded: worker processes (the markdown conversion's) load the parent's main module under another name.
if __name__ == "__main__":
    raise SystemExit(main())
