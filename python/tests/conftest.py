"""The package from this checkout (python/) unless an installed one is asked for
(FFTCONV_TEST_INSTALLED=1); libfftconv from $FFTCONV_LIB or the package's own copy."""
import os
import sys

if not os.environ.get("FFTCONV_TEST_INSTALLED"):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
