"""sreconsole: a terminal dashboard for on-call operators."""

__version__ = "0.1.0"
