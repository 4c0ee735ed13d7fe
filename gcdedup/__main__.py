"""``python -m gcdedup``: the same CLI as the ``gcdedup`` console script."""

from gcdedup.cli.quick import main

if __name__ == "__main__":  # not when a spawned process imports this module
    main()
