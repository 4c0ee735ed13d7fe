"""Regions, settings and the Secret wrapper: no network."""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gcdedup.errors import ConfigError
from gcdedup.genesys import GenesysSettings, Secret, resolve_region, valid_regions
from gcdedup.genesys.regions import AWS_REGIONS, DOMAINS

SECRET = "tOp-s3cret-value-42"

EXPECTED_AWS = {
    "us-east-1": "mypurecloud.com",
    "us-east-2": "use2.us-gov-pure.cloud",
    "us-west-2": "usw2.pure.cloud",
    "ca-central-1": "cac1.pure.cloud",
    "eu-west-1": "mypurecloud.ie",
    "eu-west-2": "euw2.pure.cloud",
    "eu-central-1": "mypurecloud.de",
    "eu-central-2": "euc2.pure.cloud",
    "ap-south-1": "aps1.pure.cloud",
    "ap-northeast-1": "mypurecloud.jp",
    "ap-northeast-2": "apne2.pure.cloud",
    "ap-northeast-3": "apne3.pure.cloud",
    "ap-southeast-1": "apse1.pure.cloud",
    "ap-southeast-2": "mypurecloud.com.au",
    "sa-east-1": "sae1.pure.cloud",
    "me-central-1": "mec1.pure.cloud",
    "mx-central-1": "mxc1.pure.cloud",
}
EXPECTED_DOMAINS = {
    "mypurecloud.com",
    "mypurecloud.ie",
    "mypurecloud.de",
    "mypurecloud.jp",
    "mypurecloud.com.au",
    "usw2.pure.cloud",
    "cac1.pure.cloud",
    "euw2.pure.cloud",
    "aps1.pure.cloud",
    "apne2.pure.cloud",
    "sae1.pure.cloud",
    "mec1.pure.cloud",
    "apne3.pure.cloud",
    "euc2.pure.cloud",
    "mxc1.pure.cloud",
    "apse1.pure.cloud",
    "use2.us-gov-pure.cloud",
}


def env(**extra: str) -> dict[str, str]:
    base = {
        "GENESYSCLOUD_OAUTHCLIENT_ID": "client-1",
        "GENESYSCLOUD_OAUTHCLIENT_SECRET": SECRET,
        "GENESYSCLOUD_REGION": "eu-west-1",
    }
    base.update(extra)
    return base


def test_region_tables_are_exactly_the_documented_ones() -> None:
    assert dict(AWS_REGIONS) == EXPECTED_AWS
    assert DOMAINS == EXPECTED_DOMAINS


@pytest.mark.parametrize(("name", "domain"), sorted(EXPECTED_AWS.items()))
def test_aws_region_names_map_to_their_domain(name: str, domain: str) -> None:
    region = resolve_region(name)
    assert region.domain == domain
    assert region.api_url == f"https://api.{domain}"
    assert region.login_url == f"https://login.{domain}"


@pytest.mark.parametrize("domain", sorted(EXPECTED_DOMAINS))
def test_domains_are_accepted_as_given(domain: str) -> None:
    region = resolve_region(f"  {domain.upper()} ")
    assert (region.api_url, region.login_url) == (
        f"https://api.{domain}",
        f"https://login.{domain}",
    )


@given(st.text(max_size=30).filter(lambda s: s.strip().lower() not in set(valid_regions())))
def test_anything_else_is_a_config_error(name: str) -> None:
    with pytest.raises(ConfigError, match="unknown Genesys Cloud region"):
        resolve_region(name)


def test_unknown_region_message_lists_every_valid_region() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_region("mars-north-1")
    message = str(info.value)
    assert "'mars-north-1'" in message
    for name in [*EXPECTED_DOMAINS, *EXPECTED_AWS]:
        assert name in message


def test_settings_from_env_derive_urls_from_the_region() -> None:
    settings = GenesysSettings.from_env(env())
    assert settings.client_id == "client-1"
    assert settings.client_secret.reveal() == SECRET
    assert settings.region == "mypurecloud.ie"
    assert settings.api_url == "https://api.mypurecloud.ie"
    assert settings.token_url == "https://login.mypurecloud.ie/oauth/token"


@pytest.mark.parametrize(
    "variable",
    ["GENESYSCLOUD_OAUTHCLIENT_ID", "GENESYSCLOUD_OAUTHCLIENT_SECRET", "GENESYSCLOUD_REGION"],
)
@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_required_variable_is_named(variable: str, value: str | None) -> None:
    values = env()
    if value is None:
        del values[variable]
    else:
        values[variable] = value
    with pytest.raises(ConfigError, match=f"^{variable} is not set"):
        GenesysSettings.from_env(values)


def test_url_overrides_replace_derived_urls_and_make_the_region_optional() -> None:
    values = env(
        GENESYSCLOUD_API_URL="http://127.0.0.1:8080/",
        GENESYSCLOUD_LOGIN_URL="https://proxy.example.com/login",
    )
    settings = GenesysSettings.from_env(values)
    assert settings.api_url == "http://127.0.0.1:8080"
    assert settings.token_url == "https://proxy.example.com/login/oauth/token"
    del values["GENESYSCLOUD_REGION"]
    assert GenesysSettings.from_env(values).region is None


def test_only_one_url_override_still_needs_the_region() -> None:
    values = env(GENESYSCLOUD_API_URL="http://127.0.0.1:8080")
    del values["GENESYSCLOUD_REGION"]
    with pytest.raises(ConfigError, match="GENESYSCLOUD_REGION is not set"):
        GenesysSettings.from_env(values)


@pytest.mark.parametrize("url", ["api.mypurecloud.com", "ftp://x", "https://x/?a=1", "http://"])
def test_bad_url_override_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="GENESYSCLOUD_API_URL="):
        GenesysSettings.from_env(env(GENESYSCLOUD_API_URL=url))


def test_plain_http_to_a_remote_host_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="gcdedup.genesys"):
        GenesysSettings.from_env(env(GENESYSCLOUD_LOGIN_URL="http://proxy.example.com"))
    assert [r.getMessage() for r in caplog.records] == [
        "plain-http Genesys URL: credentials and tokens travel unencrypted"
    ]


def test_overrides_win_and_none_means_not_given() -> None:
    settings = GenesysSettings.from_env(
        env(GCDEDUP_GENESYS_READ_TIMEOUT="7.5", GCDEDUP_GENESYS_POOL_SIZE="3"),
        client_id="from-flag",
        client_secret=None,
        region="us-west-2",
        read_timeout=None,
        max_retries=0,
        pool_size=16,
    )
    assert settings.client_id == "from-flag"
    assert settings.client_secret.reveal() == SECRET
    assert settings.api_url == "https://api.usw2.pure.cloud"
    assert (settings.read_timeout, settings.max_retries, settings.pool_size) == (7.5, 0, 16)


def test_limits_from_env_are_validated() -> None:
    with pytest.raises(ConfigError, match="GCDEDUP_GENESYS_MAX_RETRIES='many'"):
        GenesysSettings.from_env(env(GCDEDUP_GENESYS_MAX_RETRIES="many"))
    with pytest.raises(ConfigError, match="read_timeout must be positive"):
        GenesysSettings.from_env(env(GCDEDUP_GENESYS_READ_TIMEOUT="0"))
    with pytest.raises(ConfigError, match="pool_size must be at least 1"):
        GenesysSettings.from_env(env(), pool_size=0)


def test_unknown_override_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="secret"):
        GenesysSettings.from_env(env(), secret="x")


def test_the_secret_never_shows() -> None:
    settings = GenesysSettings.from_env(env())
    secret = settings.client_secret
    assert repr(secret) == str(secret) == f"{secret}" == f"{secret!r}" == "***"
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    assert "client_secret=***" in repr(settings)
    dumped = json.dumps(settings.to_dict())
    assert SECRET not in dumped
    assert settings.to_dict()["client_secret"] == "***"


def test_secret_compares_by_value() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert hash(Secret("a")) == hash(Secret("a"))
    assert not Secret("")


def test_settings_refuse_a_plain_string_secret() -> None:
    with pytest.raises(ConfigError, match="must be a Secret"):
        GenesysSettings(
            client_id="x",
            client_secret=SECRET,  # type: ignore[arg-type]
            api_url="https://api.mypurecloud.com",
            login_url="https://login.mypurecloud.com",
        )
