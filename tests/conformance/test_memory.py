import pytest

from interlink.testing import TransportConformance, unique


class TestMemory(TransportConformance):
    @pytest.fixture
    def broker_url(self) -> str:
        return f"memory://{unique('conf')}"
