"""The Microsoft identity platform as a client-credentials daemon sees it.

OpenID discovery, the v2.0 token endpoint (client credentials with a client secret), the JWKS,
and the AADSTS error answers. Access tokens are v1.0-shaped like real Graph app tokens
(aud https://graph.microsoft.com, iss sts.windows.net/{tid}/, appid, roles).
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote_plus

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .errors import GraphError
from .fixture import App, Tenant
from .messages import Request, Response

GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
TOKEN_LIFETIME = 3599
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_DNS = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", re.I)
# Tenant-less aliases: fine for discovery, not for an app-only token (see below).
_ALIASES = ("common", "organizations")


class AadError(Exception):
    """An AADSTS answer: status, OAuth error, AADSTS code and the message's first sentence(s)."""

    def __init__(self, status: int, error: str, code: int, message: str) -> None:
        super().__init__(f"AADSTS{code}: {message}")
        self.status, self.error, self.code, self.message = status, error, code, message

    def response(self, request: Request, base_url: str) -> Response:
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        trace_id = str(uuid.uuid4())
        correlation_id = request.headers.get("client-request-id") or str(uuid.uuid4())
        # error_description carries the diagnostics suffix with CRLF separators, as AAD does.
        description = (
            f"AADSTS{self.code}: {self.message}\r\nTrace ID: {trace_id}\r\n"
            f"Correlation ID: {correlation_id}\r\nTimestamp: {now}"
        )
        return Response.json(self.status, {
            "error": self.error,
            "error_description": description,
            "error_codes": [self.code],
            "timestamp": now,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"{base_url}/error?code={self.code}",
        })


@dataclass(frozen=True)
class Caller:
    """Who a verified Graph token says is calling."""

    app: App
    roles: frozenset[str]


def _load_signing_key(state_dir: Path) -> rsa.RSAPrivateKey:
    path = state_dir / "token-signing-key.pem"
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.touch(mode=0o600)
    path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return key


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Identity:
    def __init__(self, tenant: Tenant, state_dir: Path, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.tenant = tenant
        self.clock = clock
        self._key = _load_signing_key(state_dir)
        public = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self._kid = base64.urlsafe_b64encode(hashlib.sha256(public).digest()).rstrip(b"=").decode()

    # -- tenant resolution -------------------------------------------------------------------
    def check_tenant(self, segment: str, *, for_token: bool) -> None:
        t = self.tenant
        if segment.lower() == t.id.lower() or segment.lower() in (d.lower() for d in t.domains):
            return
        if segment.lower() in _ALIASES:
            if for_token:
                # An app-only token needs a tenant: AAD answers AADSTS50059 (reported in
                # MicrosoftDocs/azure-docs#24064); msal itself warns against /common here.
                raise AadError(400, "invalid_request", 50059,
                               "No tenant-identifying information found in either the request "
                               "or implied by any provided credentials.")
            return
        if _GUID.match(segment) or _DNS.match(segment):
            raise AadError(400, "invalid_tenant", 90002,
                           f"Tenant '{segment}' not found. Check to make sure you have the "
                           "correct tenant ID and are signing into the correct cloud. Check "
                           "with your subscription administrator, this may happen if there are "
                           "no active subscriptions for the tenant.")
        raise AadError(400, "invalid_request", 900023,
                       f"Specified tenant identifier '{segment}' is neither a valid DNS name, "
                       "nor a valid external domain.")

    # -- endpoints ---------------------------------------------------------------------------
    def openid_configuration(self, segment: str, base_url: str) -> dict[str, Any]:
        """The v2.0 discovery document; msal reads token_endpoint and authorization_endpoint."""
        self.check_tenant(segment, for_token=False)
        tid = "{tenantid}" if segment.lower() in _ALIASES else self.tenant.id
        root = f"{base_url}/{segment}"
        return {
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base_url}/{tid if tid != '{tenantid}' else segment}"
                        "/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base_url}/{tid}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base_url}/oidc/userinfo",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "ver"],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
        }

    def jwks(self, segment: str) -> dict[str, Any]:
        self.check_tenant(segment, for_token=False)
        numbers = self._key.public_key().public_numbers()
        return {"keys": [{"kty": "RSA", "use": "sig", "kid": self._kid, "alg": "RS256",
                          "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}]}

    def token(self, segment: str, request: Request) -> dict[str, Any]:
        """POST /{tenant}/oauth2/v2.0/token, client credentials with a client secret."""
        self.check_tenant(segment, for_token=True)
        form = {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            # client_secret_basic (RFC 6749 2.3.1): msal posts the secret, other clients don't.
            decoded = base64.b64decode(basic[6:].strip() + "==").decode(errors="replace")
            user, _, password = decoded.partition(":")
            form.setdefault("client_id", unquote_plus(user))
            form.setdefault("client_secret", unquote_plus(password))
        if form.get("grant_type") != "client_credentials":
            raise AadError(400, "unsupported_grant_type", 70003,
                           "The app requested an unsupported grant type "
                           f"'{form.get('grant_type', '')}'.")
        client_id = form.get("client_id", "")
        if not client_id:
            raise AadError(400, "invalid_request", 900144,
                           "The request body must contain the following parameter: 'client_id'.")
        app = self.tenant.app(client_id)
        if app is None:
            raise AadError(400, "unauthorized_client", 700016,
                           f"Application with identifier '{client_id}' was not found in the "
                           f"directory '{self.tenant.display_name}'. This can happen if the "
                           "application has not been installed by the administrator of the "
                           "tenant or consented to by any user in the tenant. You may have sent "
                           "your authentication request to the wrong tenant.")
        self._check_secret(app, form.get("client_secret"))
        self._check_scope(form.get("scope", ""))
        return {"token_type": "Bearer", "expires_in": TOKEN_LIFETIME,
                "ext_expires_in": TOKEN_LIFETIME, "access_token": self.issue_token(app)}

    def _check_secret(self, app: App, secret: str | None) -> None:
        if not secret:
            raise AadError(401, "invalid_client", 7000218,
                           "The request body must contain the following parameter: "
                           "'client_assertion' or 'client_secret'.")
        now = datetime.now(UTC)
        match = next((s for s in app.secrets if s.value == secret), None)
        all_expired = bool(app.secrets) and all(s.expires <= now for s in app.secrets)
        if (match and match.expires <= now) or (match is None and all_expired):
            raise AadError(401, "invalid_client", 7000222,
                           f"The provided client secret keys for app '{app.client_id}' are "
                           "expired. Visit the Azure portal to create new keys for your app: "
                           "https://aka.ms/NewClientSecret, or consider using certificate "
                           "credentials for added security: https://aka.ms/certCreds.")
        if match is None:
            # Pasting the secret's ID instead of its value is the classic mistake; AAD gives the
            # same 7000215 for both, with a message that names the confusion.
            raise AadError(401, "invalid_client", 7000215,
                           "Invalid client secret provided. Ensure the secret being sent in the "
                           "request is the client secret value, not the client secret ID, for a "
                           f"secret added to app '{app.client_id}'.")

    def _check_scope(self, scope: str) -> None:
        scopes = scope.split()
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            raise AadError(400, "invalid_scope", 1002012,
                           f"The provided value for scope {scope} is not valid. Client credential "
                           "flows must have a scope value with /.default suffixed to the "
                           "resource identifier (application ID URI).")
        resource = scopes[0].removesuffix("/.default").rstrip("/")
        if resource not in (GRAPH_RESOURCE, GRAPH_APP_ID):
            raise AadError(400, "invalid_resource", 500011,
                           f"The resource principal named {resource} was not found in the "
                           f"tenant named {self.tenant.display_name}. This can happen if the "
                           "application has not been installed by the administrator of the "
                           "tenant or consented to by any user in the tenant. You might have "
                           "sent your authentication request to the wrong tenant.")

    def issue_token(self, app: App, *, lifetime: int = TOKEN_LIFETIME) -> str:
        now = int(self.clock())
        sp_id = str(uuid.uuid5(uuid.NAMESPACE_OID, app.client_id))
        claims: dict[str, Any] = {
            "aud": GRAPH_RESOURCE, "iss": f"https://sts.windows.net/{self.tenant.id}/",
            "iat": now, "nbf": now, "exp": now + lifetime, "appid": app.client_id,
            "app_displayname": app.name, "appidacr": "1", "idtyp": "app", "oid": sp_id,
            "sub": sp_id, "tid": self.tenant.id, "uti": uuid.uuid4().hex, "ver": "1.0",
        }
        # Without admin consent the token is still issued, only the roles claim lacks it.
        if app.permissions:
            claims["roles"] = list(app.permissions)
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self._kid})

    def verify(self, authorization: str | None) -> Caller:
        """Check a Graph bearer token; raise Graph's 401 InvalidAuthenticationToken otherwise."""
        token = (authorization or "").removeprefix("Bearer ").removeprefix("bearer ").strip()
        if not token:
            raise _unauthorized("Access token is empty.")
        if token.count(".") != 2:
            raise _unauthorized("IDX14100: JWT is not well formed, there are no dots (.).")
        try:
            claims = jwt.decode(token, self._key.public_key(), algorithms=["RS256"],
                                audience=GRAPH_RESOURCE, leeway=0)
        except jwt.ExpiredSignatureError:
            raise _unauthorized("Lifetime validation failed, the token is expired.") from None
        except jwt.InvalidAudienceError:
            raise _unauthorized("Access token validation failure. Invalid audience.") from None
        except jwt.PyJWTError:
            raise _unauthorized("Access token validation failure.") from None
        app = self.tenant.app(claims.get("appid", ""))
        if app is None or claims.get("tid") != self.tenant.id:
            raise _unauthorized("Access token validation failure.")
        return Caller(app, frozenset(claims.get("roles", [])))


def _unauthorized(message: str) -> GraphError:
    return GraphError(401, "InvalidAuthenticationToken", message, headers={
        "WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline.'
                            f'com/common/oauth2/authorize", client_id="{GRAPH_APP_ID}"'})
