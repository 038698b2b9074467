"""The ``sreconsole`` command line: ``main`` parses and dispatches; one module per command group.

``main`` is re-exported here because the installed ``sreconsole`` script and
``python -m sreconsole`` call ``sreconsole.cli:main``. Keep this file to that one import:
every command module loads what it needs inside its functions, so start-up stays light.
"""

from sreconsole.cli.main import main

__all__ = ["main"]
