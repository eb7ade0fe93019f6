"""Ingest CLI: `python tools/prepare_data.py --help` (same as the `mmssl-prepare` console script)."""

import sys

from mmssl.data.prepare_cli import main

if __name__ == "__main__":
    sys.exit(main())
