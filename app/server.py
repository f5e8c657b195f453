"""create_app(settings) -> web.Application: middlewares, routes, and resources
built in cleanup_ctx so startup and shutdown mirror each other."""
from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from app.http import auth_routes, health_routes
from app.http import admin_authz_routes, authz_routes
from app.http import admin_user_routes
from app.http import admin_client_routes
from app.http import mfa_routes, stepup_routes
from app.http import openapi_routes
from app.http import token_routes
from app.http.basic import basic_authenticator
from app.http.bearer import bearer_authenticator
from app.http.token_cookies import TokenCookies
from app.http.appkeys import AUTHENTICATORS, ME_REPLIES, SERVICES, SESSION_REPLIES, SETTINGS
from app.http.authn import cookie_authenticator
from app.http.cookies import CookieTransport
from app.http.headers import SECURITY_HEADERS, SecurityHeaders
from app.http.pipeline import request_pipeline
from app.http.views import EncodedReplies
from app.http import metrics
from app.services import build_services
from app.settings import Settings, load_settings


def _services_ctx(app: web.Application):
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        services = build_services(app[SETTINGS], web=True)
        app[SERVICES] = services
        if services.bus is not None:
            await services.bus.start()
        if services.tokens is not None:
            await services.tokens.start()  # the first signing key, and the published set
        yield
        await services.close()
    return ctx


def create_app(settings: Settings | None = None) -> web.Application:
    settings = settings or load_settings()
    app = web.Application(
        middlewares=[request_pipeline],
        client_max_size=settings.http.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[SECURITY_HEADERS] = SecurityHeaders(settings)
    app[SESSION_REPLIES] = EncodedReplies(max_entries=settings.session.cache_size)
    app[ME_REPLIES] = EncodedReplies(max_entries=settings.tokens.cache_size)
    app[AUTHENTICATORS] = [bearer_authenticator(TokenCookies(settings.tokens)),
                           cookie_authenticator(CookieTransport(settings.cookie), settings.session.cache_size),
                           basic_authenticator()]
    app.cleanup_ctx.append(_services_ctx(app))
    app.add_routes(health_routes.routes)
    app.add_routes(metrics.routes)
    app.add_routes(auth_routes.routes)
    app.add_routes(authz_routes.routes)
    app.add_routes(admin_authz_routes.routes)
    app.add_routes(admin_user_routes.routes)
    app.add_routes(admin_client_routes.routes)
    app.add_routes(mfa_routes.routes)
    app.add_routes(stepup_routes.routes)
    app.add_routes(openapi_routes.routes)
    app.add_routes(token_routes.routes)
    app[openapi_routes.OPENAPI_BODY] = openapi_routes.encoded_document(settings)
    return app
