"""Which IP addresses are the public internet: where a callback URL may send the site's POSTs.

Decided by tables of our own, from IANA's special-purpose address registries (IPv4 and IPv6,
as of 2025), not by `ipaddress.is_global`, whose lists change with Python's version (3.11
knows neither 3fff::/20 nor 5f00::/16, and takes ::ffff:0:7f00:1 for global).

- IPv4: global unicast, none of `IPV4_NOT_PUBLIC` (private, shared, loopback, link-local,
  documentation, benchmarking, reserved, the IETF's 192.0.0.0/24, the old 6to4 relays,
  multicast, broadcast), and `ipaddress` must agree that it is global.
- IPv6: only global unicast, 2000::/3, less `IPV6_NOT_PUBLIC` (the IETF protocol assignments
  2001::/23 with ORCHIDv2 and drone tags in it, documentation 2001:db8::/32 and 3fff::/20).
  Everything outside 2000::/3 is refused: ::/8 (whatever an address there looks like, e.g.
  ::1:7f00:1), the deprecated IPv4-compatible ::a.b.c.d and SIIT ::ffff:0:a.b.c.d, 100::/64,
  SRv6's 5f00::/16, unique-local fc00::/7, site-local fec0::/10, link-local fe80::/10 and
  multicast ff00::/8.
- An IPv6 address that carries an IPv4 one reaches that IPv4 address, so the IPv4 one must be
  public too: 6to4 (2002::/16) and Teredo (2001::/32, its server and its client) inside
  2000::/3; and the two outside it that stand for an IPv4 host, IPv4-mapped ::ffff:a.b.c.d (a
  dual-stack socket connects over IPv4) and NAT64's 64:ff9b::/96 (what DNS64 answers on an
  IPv6-only network), which are judged by their IPv4 address alone. Local-use NAT64
  64:ff9b:1::/48 is never public.
"""

from __future__ import annotations

import ipaddress

_net = ipaddress.ip_network

IPV4_NOT_PUBLIC = tuple(
    _net(block)
    for block in (
        "0.0.0.0/8",  # this network
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # shared address space (carrier NAT)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, the cloud metadata services
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments (PCP and TURN anycast are no receivers)
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # the deprecated 6to4 relay anycast
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the limited broadcast 255.255.255.255
    )
)

GLOBAL_UNICAST = _net("2000::/3")
IPV6_NOT_PUBLIC = tuple(
    _net(block)
    for block in (
        # IETF protocol assignments: benchmarking, ORCHID and ORCHIDv2, drone remote ID tags,
        # AMT, AS112 and the anycast services; none is a receiver. (Teredo, 2001::/32, is in
        # it too and is judged by its IPv4 addresses before this table is read.)
        "2001::/23",
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation (RFC 9637)
    )
)
IPV4_MAPPED = _net("::ffff:0:0/96")
NAT64 = _net("64:ff9b::/96")
TEREDO = _net("2001::/32")
SIX_TO_FOUR = _net("2002::/16")


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether a connection to `address` goes out to the public internet (the module's rules)."""
    if address.version == 4:
        return _public_ipv4(address)
    if address in IPV4_MAPPED or address in NAT64:
        return _public_ipv4(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address not in GLOBAL_UNICAST:
        return False
    if address in TEREDO:
        server, client = address.teredo
        return _public_ipv4(server) and _public_ipv4(client)
    if address in SIX_TO_FOUR:
        return _public_ipv4(address.sixtofour)
    return not any(address in block for block in IPV6_NOT_PUBLIC)


def _public_ipv4(address):
    if any(address in block for block in IPV4_NOT_PUBLIC):
        return False
    return address.is_global
