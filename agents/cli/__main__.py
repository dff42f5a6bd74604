"""`python -m agents.cli` runs the `kintsugi` command line."""

from agents.cli import main

main()
