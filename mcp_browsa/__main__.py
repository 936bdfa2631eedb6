"""`python -m mcp_browsa` is the same as the `mcp-browsa` command."""

from mcp_browsa.cli import main

raise SystemExit(main())
