"""WebSocket authentication: the user of a SimpleJWT access token into `scope["user"]`.

The token comes from the query string (`?token=`, what a browser can send) or an
`Authorization: Bearer` header (other clients). `scope["token_expires_at"]` holds the
token's `exp` (Unix seconds), so a consumer can close the socket when the token runs out.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError


@dataclass(frozen=True)
class Identity:
    user: object
    expires_at: int  # the token's `exp` claim, Unix seconds


def identity_for_token(raw_token: str) -> Identity | None:
    """The active user of a valid, unexpired access token and the token's expiry; None otherwise."""
    authentication = JWTAuthentication()
    try:
        validated = authentication.get_validated_token(raw_token)
        user = authentication.get_user(validated)
    except (InvalidToken, TokenError, AuthenticationFailed):
        return None
    if not user.is_active:  # also when SimpleJWT's CHECK_USER_IS_ACTIVE is turned off
        return None
    return Identity(user=user, expires_at=int(validated["exp"]))


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


class JWTAuthMiddleware(BaseMiddleware):
    """Puts the token's user (or AnonymousUser) and the token's expiry into the scope."""

    async def __call__(self, scope, receive, send):
        scope = dict(scope)
        raw_token = token_from_scope(scope)
        identity = await database_sync_to_async(identity_for_token)(raw_token) if raw_token else None
        scope["user"] = identity.user if identity else AnonymousUser()
        scope["token_expires_at"] = identity.expires_at if identity else None
        return await self.inner(scope, receive, send)
