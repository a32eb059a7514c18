"""``python -m dicomweb_conformance``: the ``dicomweb-conformance`` command."""
import sys

from dicomweb_conformance.cli import main

sys.exit(main())
