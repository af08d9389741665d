"""``python -m replicator``: the command line, as the ``replicator`` script runs it."""

from replicator.cli.main import main

if __name__ == "__main__":
    main()
