"""WebSocket authentication: a SimpleJWT access token checked at the handshake, its user read by the consumer.

The token comes from the query string (`?token=`, what a browser can send) or an
`Authorization: Bearer` header (other clients). The middleware checks only what the token
itself proves (signature, type, expiry): no database trip, so a connect costs none here.
It puts the validated token into `scope["token"]` (None when there is none or it is unusable),
its `exp` (Unix seconds) into `scope["token_expires_at"]`, so a consumer can close the
socket when the token runs out, and why there is no token into `scope["token_problem"]`
(`token_problem`: only a token we did not sign counts against the client's address).
The consumer reads the token's user together with what it reads anyway (the attempt, the exam's
proctors) in one trip, and refuses the socket unless `user_accepts_token` (what SimpleJWT's own
`get_user` checks, without its query).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

from channels.middleware import BaseMiddleware
from django.contrib.auth import get_user_model
from rest_framework.settings import api_settings as drf_settings
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import ExpiredTokenError, InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import get_md5_hash_password


@dataclass(frozen=True)
class Identity:
    user: object
    expires_at: int  # the token's `exp` claim, Unix seconds


def validated_token(raw_token: str | None) -> Token | None:
    """The access token of `raw_token` if its signature, type and expiry are good; None otherwise. No database."""
    if not raw_token:
        return None
    try:
        token = JWTAuthentication().get_validated_token(raw_token)
    except (InvalidToken, TokenError):
        return None
    return token if api_settings.USER_ID_CLAIM in token else None


# Why a connect has no usable token (`token_problem`).
TOKEN_MISSING = "missing"
TOKEN_EXPIRED = "expired"  # signed by us and well formed, only too old: a page back after an outage
TOKEN_INVALID = "invalid"  # a bad signature, malformed, not a token: what a guesser sends


def token_problem(raw_token: str | None) -> str:
    """Why `raw_token` is unusable (call it only when `validated_token` said None): missing, expired or invalid."""
    if not raw_token:
        return TOKEN_MISSING
    for token_class in api_settings.AUTH_TOKEN_CLASSES:
        try:
            token_class(raw_token)  # PyJWT checks the signature before the expiry: expired means signed by us
        except ExpiredTokenError:
            return TOKEN_EXPIRED
        except TokenError:
            continue
    return TOKEN_INVALID


def user_id_of(token: Token):
    """The user's primary key the token names (SimpleJWT writes it as a string), or None if it is not one."""
    field = get_user_model()._meta.get_field(api_settings.USER_ID_FIELD)
    try:
        return field.to_python(token[api_settings.USER_ID_CLAIM])
    except Exception:  # a token we signed never gets here; a malformed id is just no user
        return None


def user_accepts_token(user, token: Token) -> bool:
    """True if `user` (read from the database) may use `token`: active, and the password unchanged when
    SimpleJWT's CHECK_REVOKE_TOKEN is on."""
    if user is None or not user.is_active:  # also when SimpleJWT's CHECK_USER_IS_ACTIVE is turned off
        return False
    if api_settings.CHECK_REVOKE_TOKEN:
        return token.get(api_settings.REVOKE_TOKEN_CLAIM) == get_md5_hash_password(user.password)
    return True


def user_of(token: Token):
    """The user the token names, if the token may be used by them; None otherwise. One query."""
    user_id = user_id_of(token)
    if user_id is None:
        return None
    user = get_user_model().objects.filter(**{api_settings.USER_ID_FIELD: user_id}).first()
    return user if user_accepts_token(user, token) else None


def identity_for_token(raw_token: str) -> Identity | None:
    """The active user of a valid, unexpired access token and the token's expiry; None otherwise (a renewal)."""
    token = validated_token(raw_token)
    user = user_of(token) if token is not None else None
    if user is None:
        return None
    return Identity(user=user, expires_at=int(token["exp"]))


def token_from_scope(scope) -> str | None:
    """The raw token of a connection: `?token=` first, else `Authorization: Bearer`."""
    query = parse_qs(scope.get("query_string", b"").decode("latin1"))
    if query.get("token"):
        return query["token"][0]
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            scheme, _, credential = value.decode("latin1").partition(" ")
            if scheme.lower() == "bearer" and credential.strip():
                return credential.strip()
    return None


def client_address(scope) -> str:
    """The connection's client address as DRF's throttles read it: the socket's peer, or with NUM_PROXIES
    trusted proxies in front the address they put into `X-Forwarded-For` (never one the client wrote)."""
    peer = (scope.get("client") or ("",))[0] or ""
    forwarded = next((value for name, value in scope.get("headers", []) if name == b"x-forwarded-for"), None)
    proxies = drf_settings.NUM_PROXIES
    if proxies is None:  # DRF's own default: whatever the header says
        return "".join(forwarded.decode("latin1").split()) if forwarded else peer
    if proxies == 0 or forwarded is None:
        return peer
    hops = forwarded.decode("latin1").split(",")
    return hops[-min(proxies, len(hops))].strip()


class JWTAuthMiddleware(BaseMiddleware):
    """Puts the connection's validated access token (or None, and why) and its expiry into the scope; no database."""

    async def __call__(self, scope, receive, send):
        raw_token = token_from_scope(scope)
        token = validated_token(raw_token)
        scope = {
            **scope,
            "token": token,
            "token_expires_at": int(token["exp"]) if token is not None else None,
            "token_problem": token_problem(raw_token) if token is None else None,
        }
        return await self.inner(scope, receive, send)
