"""A forced logout whose queue cannot be used is never a 500 (invariant 5). A broker URL of
no transport cannot work at all, so it is refused at load, naming the setting; a broker
that is merely unreachable is a 503 problem, the user logged out all the same (README:
"503 service_unavailable if the queue is unreachable - the user is already logged out")."""
import pytest
from pydantic import ValidationError

from app.settings import describe_errors
from tests.integration.authz.helpers import user

FAST = {"password": {"time_cost": 1, "memory_kib": 1024}}


@pytest.mark.parametrize("broker", ["foo://127.0.0.1:1/", "amqp://guest:guest@127.0.0.1:99999//"])
def test_a_broker_url_of_no_usable_transport_is_refused_at_load(make_settings, broker):
    # foo:// passed the load, then every forced logout and password change answered 500.
    with pytest.raises(ValidationError) as caught:
        make_settings(broker={"url": broker}, **FAST)
    [line] = describe_errors(caught.value)
    assert line.startswith("AUTH_BROKER__URL: ")


@pytest.mark.parametrize("broker", ["amqp://guest:guest@127.0.0.1:1//", "redis://127.0.0.1:1/0"])
async def test_forced_logout_with_an_unreachable_broker_is_503(serve, make_settings, broker):
    client = await serve(make_settings(broker={"url": broker}, **FAST))
    admin, _ = await user(client, "admin")
    victim, victim_id = await user(client)
    r = await admin.request("POST", f"/admin/users/{victim_id}/logout")
    assert r.status == 503, (r.status, await r.text())
    assert r.content_type == "application/problem+json"
    assert (await r.json())["code"] == "service_unavailable"
    assert (await victim.request("GET", "/auth/session")).status == 401
