import pytest

from tests.support.nojar import NoJarServers


@pytest.fixture
async def serve():
    servers = NoJarServers()
    yield servers
    await servers.close()
