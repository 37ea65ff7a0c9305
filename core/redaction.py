"""Credentials cut out of text before people see it (CLI output, REST answers).

A webhook URL stored before user names and passwords in URLs were refused may still hold
one, as an endpoint's URL, a send's address, or quoted in an error or an audit entry.
"""

from __future__ import annotations

import re

# "scheme://user:password@" or "scheme://user@" anywhere in a text (a URL stored before
# such URLs were refused, or an HTTP error quoting one).
_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^\s/@:]*)(:[^\s/@]*)?@")


def hide_credentials(text: str) -> str:
    """Mask the credentials of every URL in a text.

    The password is shown as *** and so is a bare user name, which is often a token.
    Masking twice gives the same text.

    Args:
        text: any text, e.g. a URL or an error message quoting one.

    Returns:
        `text` with e.g. "https://ada:pw@hooks.example.com/x" shown as
        "https://ada:***@hooks.example.com/x".
    """

    def mask(match: re.Match[str]) -> str:
        scheme, user, password = match.group(1), match.group(2), match.group(3)
        return f"{scheme}{user}:***@" if password is not None else f"{scheme}***@"

    return _CREDENTIALS.sub(mask, text)
