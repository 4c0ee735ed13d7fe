"""Genesys Cloud: OAuth client credentials, a retrying API client, the conversation handler."""

from gcdedup.genesys.auth import ClientCredentialsAuth
from gcdedup.genesys.client import GenesysClient
from gcdedup.genesys.handlers import ConversationHandler, build_genesys_handler
from gcdedup.genesys.regions import Region, resolve_region, valid_regions
from gcdedup.genesys.secret import Secret
from gcdedup.genesys.settings import GenesysSettings
from gcdedup.genesys.transport import GenesysAPIError

__all__ = [
    "ClientCredentialsAuth",
    "ConversationHandler",
    "GenesysAPIError",
    "GenesysClient",
    "GenesysSettings",
    "Region",
    "Secret",
    "build_genesys_handler",
    "resolve_region",
    "valid_regions",
]
