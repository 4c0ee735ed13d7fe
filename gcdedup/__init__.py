"""gcdedup: process each Genesys Cloud EventBridge event once.

The library is the product; the CLI (``gcdedup.cli``) and the Lambda entry point
(``gcdedup.aws_lambda``) are thin adapters over :func:`gcdedup.pipeline.process`.
"""

__version__ = "0.1.0"
