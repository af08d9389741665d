"""``python -m replicator.sandbox [--host H] [--port P] [--data DIR] [--seed demo]``.

The same as the planned ``replicator sandbox`` command: serve the sandbox in the
foreground until Ctrl-C or SIGTERM, printing its URL and where the credentials are.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .seed import SEEDS
from .server import run_sandbox


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m replicator.sandbox", description="Serve the Zoho CRM/Books sandbox."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument(
        "--data", default="sandbox-data", help="data folder (default ./sandbox-data)"
    )
    parser.add_argument("--seed", choices=sorted(SEEDS), default=None, help="seed the data once")
    args = parser.parse_args(argv)
    run_sandbox(host=args.host, port=args.port, data_dir=args.data, seed=args.seed)


if __name__ == "__main__":
    main()
