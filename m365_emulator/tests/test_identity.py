"""The identity platform through real msal: discovery, tokens and every AADSTS row."""

from __future__ import annotations

import re
from typing import Any

import httpx
import jwt
import pytest

from m365_emulator.testing import msal_app

from .conftest import GRAPH_SCOPE, app_named, ca_context

SUFFIX = re.compile(r"\r\nTrace ID: [0-9a-f-]{36}\r\nCorrelation ID: [0-9a-f-]{36}\r\n"
                    r"Timestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$")


def acquire(config: dict[str, Any], client_id: str, secret: str, *,
            authority: str | None = None, scopes: list[str] = GRAPH_SCOPE) -> dict[str, Any]:
    return msal_app(config, client_id, secret, authority).acquire_token_for_client(scopes=scopes)


def claims_of(result: dict[str, Any]) -> dict[str, Any]:
    return jwt.decode(result["access_token"], options={"verify_signature": False})


def test_discovery_names_the_token_endpoint(config):
    answer = httpx.get(f"{config['authority']}/v2.0/.well-known/openid-configuration",
                       verify=ca_context(config))
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_endpoint"] == f"{config['authority']}/oauth2/v2.0/token"
    assert body["authorization_endpoint"].startswith(config["authority"])
    assert body["issuer"].endswith(f"/{config['tenant_id']}/v2.0")


def test_token_carries_consented_roles_tid_and_appid(config):
    app = app_named(config, "openrooms")
    result = acquire(config, app["client_id"], app["secret_value"])
    assert result["token_type"] == "Bearer"
    claims = claims_of(result)
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["tid"] == config["tenant_id"]
    assert claims["appid"] == app["client_id"]
    assert sorted(claims["roles"]) == sorted(app["permissions"])
    assert claims["exp"] > claims["iat"]


def test_token_signature_verifies_against_published_keys(config):
    app = app_named(config, "openrooms")
    token = acquire(config, app["client_id"], app["secret_value"])["access_token"]
    keys = httpx.get(f"{config['authority']}/discovery/v2.0/keys",
                     verify=ca_context(config)).json()["keys"]
    key = jwt.PyJWK(keys[0]).key
    assert jwt.decode(token, key, algorithms=["RS256"],
                      audience="https://graph.microsoft.com")["tid"] == config["tenant_id"]


def test_missing_consent_still_issues_a_token_without_that_role(config):
    app = app_named(config, "openrooms-no-calendar-consent")
    claims = claims_of(acquire(config, app["client_id"], app["secret_value"]))
    assert "Calendars.ReadWrite" not in claims["roles"]


def test_tenant_can_be_named_by_domain(config, emulator):
    app = app_named(config, "openrooms")
    result = acquire(config, app["client_id"], app["secret_value"],
                     authority=f"{emulator.base_url}/{config['tenant_domain']}")
    assert claims_of(result)["tid"] == config["tenant_id"]


def assert_aadsts(result: dict[str, Any], error: str, code: int, begins: str) -> None:
    assert result["error"] == error, result
    assert result["error_codes"] == [code]
    assert result["error_description"].startswith(f"AADSTS{code}: {begins}")
    assert SUFFIX.search(result["error_description"])
    assert result["trace_id"] and result["correlation_id"] and result["timestamp"]


def test_wrong_secret_is_7000215(config):
    app = app_named(config, "openrooms")
    result = acquire(config, app["client_id"], "not-the-secret")
    assert_aadsts(result, "invalid_client", 7000215, "Invalid client secret provided. Ensure "
                  "the secret being sent in the request is the client secret value, not the "
                  f"client secret ID, for a secret added to app '{app['client_id']}'.")


def test_secret_id_instead_of_value_is_7000215(config):
    app = app_named(config, "openrooms")
    result = acquire(config, app["client_id"], app["secret_id"])
    assert_aadsts(result, "invalid_client", 7000215, "Invalid client secret provided.")


def test_expired_secret_is_7000222(config):
    app = app_named(config, "openrooms-expired-secret")
    result = acquire(config, app["client_id"], app["secret_value"])
    assert_aadsts(result, "invalid_client", 7000222,
                  f"The provided client secret keys for app '{app['client_id']}' are expired.")


def test_expired_secret_and_wrong_secret_answer_401(config):
    app = app_named(config, "openrooms-expired-secret")
    answer = httpx.post(f"{config['authority']}/oauth2/v2.0/token", verify=ca_context(config),
                        data={"grant_type": "client_credentials", "client_id": app["client_id"],
                              "client_secret": app["secret_value"],
                              "scope": GRAPH_SCOPE[0]})
    assert answer.status_code == 401


def test_unknown_app_is_700016(config):
    client_id = "11111111-2222-3333-4444-555555555555"
    result = acquire(config, client_id, "whatever")
    assert_aadsts(result, "unauthorized_client", 700016,
                  f"Application with identifier '{client_id}' was not found in the directory")


def test_wrong_scope_is_1002012(config):
    app = app_named(config, "openrooms")
    result = acquire(config, app["client_id"], app["secret_value"],
                     scopes=["https://graph.microsoft.com/Calendars.ReadWrite"])
    assert_aadsts(result, "invalid_scope", 1002012, "The provided value for scope")


def test_unknown_tenant_fails_discovery_with_90002(config, emulator):
    tenant = "00000000-1111-2222-3333-444444444444"
    with pytest.raises(ValueError, match="Unable to get authority configuration"):
        acquire(config, "x", "y", authority=f"{emulator.base_url}/{tenant}")
    answer = httpx.get(f"{emulator.base_url}/{tenant}/v2.0/.well-known/openid-configuration",
                       verify=ca_context(config))
    assert answer.status_code == 400
    assert_aadsts(answer.json(), "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")


def test_malformed_tenant_is_900023(config, emulator):
    answer = httpx.get(f"{emulator.base_url}/not_a_tenant!/v2.0/.well-known/openid-configuration",
                       verify=ca_context(config))
    assert answer.status_code == 400
    assert_aadsts(answer.json(), "invalid_request", 900023, "Specified tenant identifier "
                  "'not_a_tenant!' is neither a valid DNS name, nor a valid external domain.")


def test_client_credentials_need_a_tenant_not_common(config, emulator):
    app = app_named(config, "openrooms")
    with pytest.warns(DeprecationWarning):
        result = acquire(config, app["client_id"], app["secret_value"],
                         authority=f"{emulator.base_url}/organizations")
    assert_aadsts(result, "invalid_request", 50059, "No tenant-identifying information")


def test_secret_may_come_as_http_basic_auth(config):
    app = app_named(config, "openrooms")
    answer = httpx.post(f"{config['authority']}/oauth2/v2.0/token", verify=ca_context(config),
                        auth=(app["client_id"], app["secret_value"]),
                        data={"grant_type": "client_credentials", "scope": GRAPH_SCOPE[0]})
    assert answer.status_code == 200
    assert answer.json()["token_type"] == "Bearer"
