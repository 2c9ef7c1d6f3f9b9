"""CLI subcommands; each module has `register(subparsers)` adding its commands."""
