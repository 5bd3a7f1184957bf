import io
import locale
import sys

import pytest


@pytest.fixture
def c_locale():
    """The C locale (``LANG=C``) for the test's duration: its default text encoding is ASCII,
    so a file or stream opened without ``encoding=`` cannot hold an ``é``."""
    old = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    try:
        if sys.flags.utf8_mode or io.TextIOWrapper(io.BytesIO()).encoding.lower() == "utf-8":
            pytest.skip("the default text encoding is UTF-8 whatever the locale here")
        yield
    finally:
        locale.setlocale(locale.LC_CTYPE, old)
