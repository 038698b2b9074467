import sys

from sreconsole.cli import main

sys.exit(main())
