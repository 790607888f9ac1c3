"""Callback URLs reach the public internet only: a table of addresses, each through
`check_callback_url` as an API request's callback URL is checked (imagegen.public_addresses
has the rules). 93.184.215.14 is a public IPv4 address; 2606:2800:21f:cb07:6820:80da:af6b:8b2c
a public IPv6 one."""

import ipaddress

import pytest
from django.core.exceptions import ValidationError

from imagegen import public_addresses, webhooks

PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"


def teredo(server: str, client: str) -> str:
    """The Teredo address of a client behind `client` (its NAT's address) using `server`."""
    server_bits = int(ipaddress.IPv4Address(server))
    client_bits = int(ipaddress.IPv4Address(client)) ^ 0xFFFFFFFF  # Teredo obfuscates it
    return str(ipaddress.IPv6Address((0x2001 << 112) | (server_bits << 64) | client_bits))


REFUSED = [
    # ::/8, whatever its addresses look like
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("::1:7f00:1", "::/8 with 127.0.0.1 in its last bits"),
    ("::ffff:0:7f00:1", "SIIT IPv4-translated 127.0.0.1"),
    ("::ffff:0:5db8:d70e", "SIIT, deprecated even for a public IPv4 address"),
    ("::7f00:1", "IPv4-compatible 127.0.0.1"),
    ("::5db8:d70e", "IPv4-compatible, deprecated even for a public IPv4 address"),
    ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
    ("::ffff:10.0.0.1", "IPv4-mapped private"),
    ("::ffff:169.254.169.254", "IPv4-mapped cloud metadata"),
    # NAT64
    ("64:ff9b::7f00:1", "NAT64 of 127.0.0.1"),
    ("64:ff9b::c0a8:101", "NAT64 of 192.168.1.1"),
    ("64:ff9b:1::5db8:d70e", "local-use NAT64 (RFC 8215)"),
    # outside 2000::/3
    ("100::1", "discard-only"),
    ("5f00::1", "SRv6 segment identifiers (RFC 9602)"),
    ("fc00::1", "unique local"),
    ("fd12:3456::1", "unique local"),
    ("fe80::1", "link-local"),
    ("fec0::1", "deprecated site-local"),
    ("ff02::1", "multicast"),
    ("ff0e::1", "global-scope multicast"),
    ("4000::1", "unassigned, outside 2000::/3"),
    # inside 2000::/3 but special
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation (RFC 9637)"),
    ("3fff:fff::1", "documentation, the /20's last block"),
    ("2001:2::1", "benchmarking"),
    ("2001:10::1", "ORCHID"),
    ("2001:20::1", "ORCHIDv2"),
    ("2001:30::1", "drone remote ID entity tags"),
    ("2001:1::1", "PCP anycast"),
    ("2001:3::1", "AMT"),
    # 6to4 and Teredo carry an IPv4 address: it decides too
    ("2002:7f00:1::1", "6to4 of 127.0.0.1"),
    ("2002:a9fe:a9fe::1", "6to4 of the cloud metadata address"),
    ("2002:c000:201::1", "6to4 of a documentation address"),
    (teredo(PUBLIC_V4, "127.0.0.1"), "Teredo, client 127.0.0.1"),
    (teredo(PUBLIC_V4, "10.1.2.3"), "Teredo, private client"),
    (teredo("192.168.0.1", PUBLIC_V4), "Teredo, private server"),
    # IPv4
    ("127.0.0.1", "loopback"),
    ("10.1.2.3", "private"),
    ("100.64.0.1", "shared, carrier NAT"),
    ("169.254.169.254", "link-local, cloud metadata"),
    ("172.16.0.5", "private"),
    ("192.0.0.9", "IETF protocol assignments (PCP anycast)"),
    ("192.0.2.1", "documentation"),
    ("192.88.99.1", "deprecated 6to4 relay anycast"),
    ("192.168.1.1", "private"),
    ("198.18.0.1", "benchmarking"),
    ("198.51.100.1", "documentation"),
    ("203.0.113.1", "documentation"),
    ("224.0.0.1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "broadcast"),
    ("0.0.0.0", "this network"),
]

ACCEPTED = [
    (PUBLIC_V4, "a public IPv4 address"),
    (PUBLIC_V6, "a public IPv6 address"),
    ("2a00:1450:4001:81b::200e", "a public IPv6 address"),
    ("3ffe::1", "just below 3fff::/20"),
    ("3fff:1000::1", "just above 3fff::/20"),
    ("2001:200::1", "just above the IETF's 2001::/23"),
    ("::ffff:93.184.215.14", "IPv4-mapped public"),
    ("64:ff9b::5db8:d70e", "NAT64 of a public IPv4 address (DNS64)"),
    ("2002:5db8:d70e::1", "6to4 of a public IPv4 address"),
    (teredo("65.54.227.120", PUBLIC_V4), "Teredo between public addresses"),
]


def url_of(address):
    host = f"[{address}]" if ":" in address else address
    return f"https://{host}/hook"


@pytest.mark.parametrize(("address", "what"), REFUSED)
def test_a_callback_to_an_address_off_the_public_internet_is_refused(settings, address, what):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    with pytest.raises(ValidationError) as refused:
        webhooks.check_callback_url(url_of(address))
    assert refused.value.code == "callback_url_not_public", what
    assert not public_addresses.is_public(ipaddress.ip_address(address)), what


@pytest.mark.parametrize(("address", "what"), ACCEPTED)
def test_a_callback_to_a_public_address_is_accepted(settings, address, what):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    url = url_of(address)
    assert webhooks.check_callback_url(url) == url, what


def test_the_teredo_helper_builds_what_ipaddress_reads_back():
    address = ipaddress.IPv6Address(teredo("65.54.227.120", "192.0.2.45"))
    assert address.teredo == (
        ipaddress.IPv4Address("65.54.227.120"),
        ipaddress.IPv4Address("192.0.2.45"),
    )
