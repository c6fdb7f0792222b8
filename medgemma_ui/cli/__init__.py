"""Command-line subcommands. Each module exposes `register(subparsers)`; the parser it adds carries
`func=run` where `run(args) -> int` returns the exit status."""
