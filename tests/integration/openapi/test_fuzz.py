"""Schemathesis against the live service: every documented operation, generated
requests (bounded), as an anonymous caller and as a signed-in admin. Zero server
errors and zero replies that break the document (status, content type, schema)."""
from __future__ import annotations

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings as hsettings
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_schema_conformance,
                                 status_code_conformance)

from app.http.appkeys import SERVICES
from app.mfa.secretbox import new_data_key
from app.sessions.manager import ClientInfo
from tests.integration.openapi.live import LiveServer
from tests.support.browser import STRONG_PASSWORD, new_email

# Bounded so the suite stays fast: signed in is where the handlers' logic runs;
# anonymous callers mostly meet the authentication gate.
EXAMPLES_SIGNED_IN = 20
EXAMPLES_ANONYMOUS = 6
CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance)


class AdminSession:
    """A signed-in admin, logged in again whenever a generated request ended the session."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.email = new_email()
        accounts_register = server.app[SERVICES].accounts.register
        server.run(accounts_register(self.email, STRONG_PASSWORD, ClientInfo(), roles=("admin",)))
        self.cookie_name = server.settings.cookie.name
        self.headers: dict[str, str] = {}
        self.login()

    def login(self) -> None:
        reply = requests.post(f"{self.server.url}/auth/login", json={"email": self.email, "password": STRONG_PASSWORD},
                              timeout=10)
        assert reply.status_code == 200, reply.text
        sid = reply.cookies[self.cookie_name]
        self.headers = {"Cookie": f"{self.cookie_name}={sid}", "X-CSRF-Token": reply.json()["csrf_token"]}

    def after(self, response) -> None:
        if response.status_code == 401 and "Cookie" in response.request.headers:
            self.login()  # logout, password change and friends end the session; carry on


def fuzz_settings(make_settings):
    return make_settings(
        password={"time_cost": 1, "memory_kib": 1024},
        cookie={"name": "sid", "secure": False},
        security={"data_key": new_data_key(), "reauth_window_s": 3600},
        # The throttle has its own tests; here it would only turn most cases into 429s.
        throttle={"account_free_failures": 10**6, "ip_free_failures": 10**6})


def test_schemathesis_finds_no_server_error_and_no_schema_violation(make_settings):
    schemathesis.experimental.OPEN_API_3_1.enable()
    with LiveServer(fuzz_settings(make_settings)) as server:
        # Credentials come from AdminSession (or none); generated ones would only be header
        # bytes aiohttp's parser refuses before the app runs (tests/integration/attacks covers those).
        schema = schemathesis.from_uri(
            f"{server.url}/openapi.json", base_url=server.url, validate_schema=True,
            generation_config=schemathesis.GenerationConfig(with_security_parameters=False))
        admin = AdminSession(server)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 35
        failures: list[str] = []
        for operation in operations:
            for signed_in in (False, True):
                try:
                    _run(operation, admin if signed_in else None, server.url)
                except Exception as exc:  # collect them all, then report
                    failures.append(f"{operation.method.upper()} {operation.path} "
                                    f"({'admin' if signed_in else 'anonymous'}): {type(exc).__name__}: {exc}"[:2000])
        assert not failures, "\n\n".join(failures)


def _run(operation, admin: AdminSession | None, base_url: str) -> None:
    @hsettings(max_examples=EXAMPLES_SIGNED_IN if admin is not None else EXAMPLES_ANONYMOUS, deadline=None, database=None, derandomize=True,
               phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def run(case) -> None:
        headers = dict(admin.headers) if admin is not None else {}
        response = case.call(base_url=base_url, headers=headers, timeout=15)
        if admin is not None:
            admin.after(response)
        case.validate_response(response, checks=CHECKS)

    run()
