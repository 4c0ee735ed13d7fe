"""``python -m gcdedup``: the same CLI as the ``gcdedup`` console script."""

from gcdedup.cli.app import main

main()
