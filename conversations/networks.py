"""IP addresses and ranges, as a ban names them (CIDR form) and a socket's peer gives them."""

import ipaddress

from django.core.exceptions import ValidationError

# What a console ban covers besides the visitor (conversations/bans.py): nothing, their address, or
# the usual size of one customer's network (an IPv4 /24, an IPv6 /64), as prefix lengths.
BAN_SCOPES = {"visitor": None, "address": {4: 32, 6: 128}, "network": {4: 24, 6: 64}}
# The widest range a ban may name: wider ones would shut out whole providers' customers.
WIDEST_PREFIX = {4: 16, 6: 32}


def parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """ "203.0.113.0/24" or one address; raises ValueError if it is neither, or too wide."""
    network = ipaddress.ip_network(text.strip(), strict=False)
    if network.prefixlen < WIDEST_PREFIX[network.version]:
        raise ValueError(f"a range wider than /{WIDEST_PREFIX[network.version]} is not allowed")
    return network


def validate_network(value: str) -> None:
    if not value:
        return
    try:
        parse_network(value)
    except ValueError as error:
        raise ValidationError(f"not an IP address or range: {error}") from None


def network_of(address: str, prefixes: dict[int, int]) -> str:
    """The range around an address, of the prefix length for its IP version
    ("203.0.113.7", {4: 24, 6: 64} → "203.0.113.0/24")."""
    ip = ipaddress.ip_address(address)
    return str(ipaddress.ip_network(f"{ip}/{prefixes[ip.version]}", strict=False))


def contains(network: str, address: str | None) -> bool:
    if not address:
        return False
    try:
        return ipaddress.ip_address(address) in parse_network(network)
    except ValueError:
        return False


def peer_address(scope: dict) -> str | None:
    """The client's IP address as the ASGI server saw it (behind a proxy, daphne --proxy-headers
    puts the forwarded one there); None when the scope has none."""
    client = scope.get("client")
    if not client:
        return None
    try:
        return str(ipaddress.ip_address(client[0]))
    except ValueError:
        return None
