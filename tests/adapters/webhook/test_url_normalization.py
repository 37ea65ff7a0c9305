"""Webhook URLs are stored normalized, within the length the outbox holds, on a real port.

`validate_url` returns one form per receiver (no fragment, no trailing dot on the host,
no default port, lower-case host), so the duplicate check cannot be bypassed by writing
the same receiver differently. Its length limit applies to that stored, percent-encoded
form: `notifications.address` holds 512 characters, and a URL typed short that grows past
it made every outbox insert for the endpoint fail on PostgreSQL.
"""

from __future__ import annotations

import pytest

from adapters.webhook.ssrf import MAX_URL_CHARS, SsrfPolicy, canonical_url, validate_url

LOOPBACK = SsrfPolicy.parse(["127.0.0.1"])


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("http://127.0.0.1:9/hook#a", "http://127.0.0.1:9/hook"),
        ("https://hooks.example.com./in", "https://hooks.example.com/in"),
        ("https://HOOKS.Example.com:443/in", "https://hooks.example.com/in"),
        ("http://hooks.example.com:80/in?x=1#top", "http://hooks.example.com/in?x=1"),
        ("https://hooks.example.com:8443/in", "https://hooks.example.com:8443/in"),
        ("https://bücher.example./ä", "https://xn--bcher-kva.example/%C3%A4"),
    ],
)
def test_one_receiver_is_stored_in_one_form(given: str, stored: str) -> None:
    assert validate_url(given, LOOPBACK) == stored
    assert canonical_url(given) == stored


def test_a_url_stored_before_normalization_compares_equal() -> None:
    assert canonical_url("https://hooks.example.com.:443/in#x") == canonical_url(
        "https://hooks.example.com/in"
    )


@pytest.mark.parametrize("url", ["http://127.0.0.1:0/hook", "https://hooks.example.com:0/x"])
def test_port_zero_is_refused_with_one_line(url: str) -> None:
    with pytest.raises(ValueError) as info:
        validate_url(url, LOOPBACK)

    message = str(info.value)
    assert "port 0 cannot be connected to" in message and "e.g. https://" in message
    assert "\n" not in message


def test_a_url_that_grows_past_the_limit_when_encoded_is_refused() -> None:
    typed = "http://127.0.0.1:9/" + "é" * 200  # 219 characters as typed, 1219 encoded

    with pytest.raises(ValueError) as info:
        validate_url(typed, LOOPBACK)

    message = str(info.value)
    assert "1219 characters once percent-encoded" in message
    assert f"longer than {MAX_URL_CHARS}" in message and "e.g. https://" in message
    assert "\n" not in message


def test_an_encoded_url_of_exactly_the_limit_is_accepted() -> None:
    base = "http://127.0.0.1:9/"
    room = MAX_URL_CHARS - len(base)
    typed = base + "é" * (room // 6) + "a" * (room % 6)  # é is 6 characters encoded

    assert len(validate_url(typed, LOOPBACK)) == MAX_URL_CHARS
