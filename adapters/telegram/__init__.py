"""Telegram: the PTB Application under our lifecycle, inbound updates, rendering, errors."""

import os

# Opt in to PTB 22's timedelta periods (RetryAfter.retry_after and friends); without it
# PTB emits a deprecation warning on every 429 it parses.
os.environ.setdefault("PTB_TIMEDELTA", "true")
