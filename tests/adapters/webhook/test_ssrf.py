"""The SSRF guard: every non-public address family refused, the allow-list, DNS answers."""

from __future__ import annotations

import ipaddress

import pytest
from yarl import URL

from adapters.webhook.ssrf import (
    BlockedAddressError,
    GuardedResolver,
    SsrfPolicy,
    blocked_reason,
    validate_url,
)
from tests.fake_platforms.webhook_receiver import FakeResolver

# (address, words the refusal must contain)
NON_PUBLIC = [
    ("10.0.0.1", "a private address 10.0.0.1"),
    ("172.16.5.4", "a private address"),
    ("192.168.1.1", "a private address"),
    ("127.0.0.1", "a loopback address 127.0.0.1"),
    ("127.8.9.10", "a loopback address"),
    ("::1", "a loopback address ::1"),
    ("169.254.169.254", "a link-local address"),
    ("fe80::1", "a link-local address"),
    ("fe80::1%2", "a link-local address"),
    ("fec0::1", "a site-local address"),
    ("224.0.0.1", "a multicast address"),
    ("239.255.255.250", "a multicast address"),
    ("ff02::1", "a multicast address"),
    ("240.0.0.1", "a reserved address"),
    ("255.255.255.255", "a reserved address"),
    ("0.0.0.0", "an unspecified address"),
    ("::", "an unspecified address"),
    ("100.64.0.1", "a shared (CGNAT) address"),
    ("100.127.255.254", "a shared (CGNAT) address"),
    ("fc00::1", "a private (unique-local) address"),
    ("fd12:3456::1", "a private (unique-local) address"),
    ("::ffff:127.0.0.1", "an IPv4-mapped address ::ffff:7f00:1 embedding loopback 127.0.0.1"),
    ("::ffff:10.1.2.3", "IPv4-mapped address ::ffff:a01:203 embedding private 10.1.2.3"),
    ("::ffff:169.254.169.254", "IPv4-mapped address ::ffff:a9fe:a9fe embedding link-local"),
    ("64:ff9b::127.0.0.1", "a NAT64 address 64:ff9b::7f00:1 embedding loopback 127.0.0.1"),
    ("64:ff9b::10.0.0.1", "a NAT64 address 64:ff9b::a00:1 embedding private 10.0.0.1"),
    ("64:ff9b:1::1", "a local-use NAT64 address"),
    ("2002:7f00:1::1", "a 6to4 address 2002:7f00:1::1 embedding loopback 127.0.0.1"),
    ("2002:c0a8:101::1", "a 6to4 address 2002:c0a8:101::1 embedding private 192.168.1.1"),
    ("2002:a9fe:a9fe::1", "embedding link-local 169.254.169.254"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "a Teredo tunnel address"),
    ("::127.0.0.1", "a reserved address"),  # deprecated IPv4-compatible form
    ("192.0.2.10", "a special-purpose address"),
    ("198.18.0.1", "a special-purpose address"),
    ("2001:db8::1", "a special-purpose address"),
]
PUBLIC = [
    "8.8.8.8",
    "93.184.216.34",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",  # reaches the public 8.8.8.8
    "64:ff9b::8.8.8.8",
    "2002:808:808::1",
]


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


@pytest.mark.parametrize(("address", "words"), NON_PUBLIC)
def test_non_public_address_is_refused_with_its_reason(address: str, words: str) -> None:
    refusal = SsrfPolicy().refusal(ip(address))

    assert refusal is not None
    assert words in refusal
    assert refusal.startswith("webhook URL resolves to ")
    assert refusal.endswith("allow it with HDT_WEBHOOK_ALLOW_HOSTS")


@pytest.mark.parametrize("address", PUBLIC)
def test_public_address_passes(address: str) -> None:
    assert blocked_reason(ip(address)) is None
    assert SsrfPolicy().refusal(ip(address)) is None


@pytest.mark.parametrize(("address", "_words"), NON_PUBLIC)
def test_allow_list_lets_only_the_listed_address_through(address: str, _words: str) -> None:
    policy = SsrfPolicy.parse([address.split("%")[0]])

    passing = [a for a, _ in NON_PUBLIC if policy.refusal(ip(a)) is None]

    listed = address.split("%")[0]  # a scope id does not change the address
    assert set(passing) == {a for a, _ in NON_PUBLIC if a.split("%")[0] == listed}
    assert policy.refusal(ip(address)) is None


def test_allow_list_cidr_and_the_test_loopback() -> None:
    policy = SsrfPolicy.parse(["10.0.0.0/8", " 127.0.0.1 ", "hooks.internal."])

    assert policy.refusal(ip("10.200.3.4")) is None
    assert policy.refusal(ip("127.0.0.1")) is None
    assert policy.refusal(ip("127.0.0.2")) is not None
    assert policy.refusal(ip("::ffff:127.0.0.1")) is not None  # only exactly as listed
    assert policy.refusal(ip("192.168.0.1")) is not None
    assert policy.allows_host("HOOKS.internal")
    assert not policy.allows_host("other.internal")


def test_bad_allow_list_entry_is_one_line_naming_the_setting() -> None:
    with pytest.raises(ValueError, match=r"^HDT_WEBHOOK_ALLOW_HOSTS: 'not a host!'") as info:
        SsrfPolicy.parse(["127.0.0.1", "not a host!"])
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/hook",
        "http://127.0.0.1:8080/hook",
        "https://[::1]/hook",
        "http://[::ffff:127.0.0.1]:8080/x",
        "http://[64:ff9b::a00:1]/x",
        "http://[2002:7f00:1::1]/x",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
def test_ip_literal_in_url_is_checked(url: str) -> None:
    with pytest.raises(BlockedAddressError, match="HDT_WEBHOOK_ALLOW_HOSTS"):
        SsrfPolicy().check_url(URL(url))


def test_ip_literal_allowed_when_listed() -> None:
    SsrfPolicy.parse(["127.0.0.1"]).check_url(URL("http://127.0.0.1:8080/hook"))
    SsrfPolicy().check_url(URL("https://hooks.example.com/x"))  # names go to the resolver


DNS = {
    "public.example.test": ["93.184.216.34", "2606:4700:4700::1111"],
    "private.example.test": ["10.0.0.1"],
    "rebind.example.test": ["93.184.216.34", "127.0.0.1"],
    "mapped.example.test": ["::ffff:192.168.0.10"],
    "metadata.example.test": ["169.254.169.254"],
}


async def test_resolver_passes_public_answers() -> None:
    resolver = GuardedResolver(SsrfPolicy(), FakeResolver(DNS))

    answer = await resolver.resolve("public.example.test", 443)

    assert [r["host"] for r in answer] == DNS["public.example.test"]


@pytest.mark.parametrize(
    ("host", "words"),
    [
        ("private.example.test", "a private address 10.0.0.1"),
        ("rebind.example.test", "a loopback address 127.0.0.1"),
        ("mapped.example.test", "IPv4-mapped address ::ffff:c0a8:a embedding private"),
        ("metadata.example.test", "a link-local address 169.254.169.254"),
    ],
)
async def test_resolver_refuses_an_answer_with_any_private_address(host: str, words: str) -> None:
    resolver = GuardedResolver(SsrfPolicy(), FakeResolver(DNS))

    with pytest.raises(BlockedAddressError) as info:
        await resolver.resolve(host, 443)

    assert words in str(info.value)
    assert str(info.value).endswith("allow it with HDT_WEBHOOK_ALLOW_HOSTS")


async def test_resolver_honours_allowed_names_and_networks() -> None:
    by_name = GuardedResolver(SsrfPolicy.parse(["private.example.test"]), FakeResolver(DNS))
    by_net = GuardedResolver(SsrfPolicy.parse(["10.0.0.0/24"]), FakeResolver(DNS))

    assert [r["host"] for r in await by_name.resolve("private.example.test")] == ["10.0.0.1"]
    assert [r["host"] for r in await by_net.resolve("private.example.test")] == ["10.0.0.1"]
    with pytest.raises(BlockedAddressError):
        await by_net.resolve("rebind.example.test")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://hooks.example.com/x", "must start with https:// or http://"),
        ("hooks.example.com/x", "must start with https:// or http://"),
        ("https://", "has no host"),
        ("http://10.0.0.1/x", "a private address 10.0.0.1"),
        ("http://[::1]/x", "a loopback address ::1"),
        ("http://2130706433/x", "is not a canonical IP address"),
        ("http://127.1/x", "is not a canonical IP address"),
        ("https://hooks.example.com/" + "a" * 600, "longer than 500 characters"),
        # Punycode that does not decode: yarl's codec error was the whole message.
        ("https://xn--/x", "host 'xn--' is not a valid host name; e.g. https://"),
        ("https://xn--a.example.com/x", "host 'xn--a.example.com' is not a valid host name"),
    ],
)
def test_validate_url_gives_one_line_reasons(url: str, words: str) -> None:
    with pytest.raises(ValueError) as info:
        validate_url(url, SsrfPolicy())

    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_validate_url_accepts_public_and_allowed() -> None:
    assert validate_url(" https://hooks.example.com/h?x=1 ", SsrfPolicy()) == (
        "https://hooks.example.com/h?x=1"
    )
    assert validate_url("http://127.0.0.1:9000/h", SsrfPolicy.parse(["127.0.0.1"])) == (
        "http://127.0.0.1:9000/h"
    )
