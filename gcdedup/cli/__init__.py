"""The ``gcdedup`` command line: thin Typer commands over the library."""
