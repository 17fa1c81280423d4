"""Messages of an application other than the configured one are ignored."""

from __future__ import annotations

import pytest

from custom_components.csocket.network_servers import Ignored, Uplink, create_adapter
from tests.common import REPORT, cs3_uplink, cs4_uplink, tts_uplink

OTHER_UUID = "8d0e3f4a-1b2c-4d5e-9f60-718293a4b5c6"


@pytest.mark.parametrize(
    ("kind", "config", "message"),
    [
        ("chirpstack_v4", {"application_id": OTHER_UUID}, cs4_uplink(REPORT)),
        ("chirpstack_v3", {"application_id": "13"}, cs3_uplink(REPORT)),
        (
            "tts_v3",
            {"application_id": "other", "tenant_id": "ttn"},
            tts_uplink(REPORT),
        ),
    ],
)
def test_other_application_ignored(
    kind: str, config: dict[str, str], message: tuple[str, bytes]
) -> None:
    event = create_adapter(kind, config).parse(*message)
    assert isinstance(event, Ignored)
    assert event.reason.startswith("topic of application ")


@pytest.mark.parametrize(
    ("kind", "config", "message"),
    [
        ("chirpstack_v4", {"application_id": ""}, cs4_uplink(REPORT)),
        ("chirpstack_v3", {"application_id": "+"}, cs3_uplink(REPORT)),
        (
            "tts_v3",
            {"application_id": "sockets", "tenant_id": "ttn"},
            tts_uplink(REPORT),
        ),
    ],
)
def test_all_or_same_application_accepted(
    kind: str, config: dict[str, str], message: tuple[str, bytes]
) -> None:
    assert isinstance(create_adapter(kind, config).parse(*message), Uplink)
