"""Genesys Cloud regions: a domain, or the AWS-style name the Terraform provider accepts.

Every base URL gcdedup talks to is derived from this allow-list, so a typo in
``GENESYSCLOUD_REGION`` fails at start-up with the list of valid values instead
of sending credentials to a host that does not exist (or is not Genesys).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from gcdedup.errors import ConfigError

#: AWS region name -> Genesys Cloud domain, as the Genesys Terraform provider maps them.
AWS_REGIONS: MappingProxyType[str, str] = MappingProxyType(
    {
        "us-east-1": "mypurecloud.com",
        "us-east-2": "use2.us-gov-pure.cloud",
        "us-west-2": "usw2.pure.cloud",
        "ca-central-1": "cac1.pure.cloud",
        "sa-east-1": "sae1.pure.cloud",
        "mx-central-1": "mxc1.pure.cloud",
        "eu-west-1": "mypurecloud.ie",
        "eu-west-2": "euw2.pure.cloud",
        "eu-central-1": "mypurecloud.de",
        "eu-central-2": "euc2.pure.cloud",
        "me-central-1": "mec1.pure.cloud",
        "ap-south-1": "aps1.pure.cloud",
        "ap-northeast-1": "mypurecloud.jp",
        "ap-northeast-2": "apne2.pure.cloud",
        "ap-northeast-3": "apne3.pure.cloud",
        "ap-southeast-1": "apse1.pure.cloud",
        "ap-southeast-2": "mypurecloud.com.au",
    }
)

#: Every Genesys Cloud domain (one per region).
DOMAINS: frozenset[str] = frozenset(AWS_REGIONS.values())


@dataclass(frozen=True, slots=True)
class Region:
    """A resolved region: its domain and the two base URLs gcdedup needs."""

    domain: str

    @property
    def api_url(self) -> str:
        return f"https://api.{self.domain}"

    @property
    def login_url(self) -> str:
        return f"https://login.{self.domain}"


def valid_regions() -> list[str]:
    """Every accepted spelling, domains first, for error messages and ``--help``."""
    return sorted(DOMAINS) + sorted(AWS_REGIONS)


def resolve_region(value: str) -> Region:
    """Map a domain or AWS-style name (case and surrounding blanks ignored) to a Region."""
    name = value.strip().lower()
    if name in DOMAINS:
        return Region(name)
    if name in AWS_REGIONS:
        return Region(AWS_REGIONS[name])
    raise ConfigError(
        f"unknown Genesys Cloud region {value!r}; valid regions: {', '.join(valid_regions())}"
    )
