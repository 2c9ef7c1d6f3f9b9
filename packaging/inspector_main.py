"""The bundle's entry point: `inspector` with no command opens the window, with one runs the CLI."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # torch/DataLoader workers re-enter the frozen executable
    from inspector.cli import main

    sys.exit(main())
