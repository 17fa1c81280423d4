"""ChirpStack v4 (JSON) and ChirpStack Application Server v3 (json_v3), on MQTT.

Payloads follow network-servers.md sections 1 and 2 and the fixtures in
tests/network_servers/fixtures/.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Final

from .base import (
    APPLICATION_NAME,
    RX2_FREQUENCY,
    CommandRejected,
    DownlinkRequest,
    Message,
    NetworkServer,
    UplinkFrame,
    b64,
    base64_field,
    f_port_field,
    json_object,
    now,
    numeric_application_id,
)

if TYPE_CHECKING:
    from simulator.device import SimulatedSocket

TENANT_ID: Final = "52f14cd4-c6f1-4fbd-8f87-4025e1d49242"
DEVICE_PROFILE_ID: Final = "14855bf7-d10d-4aee-b618-ebfcb64dc7ad"
# ChirpStack's log code / v3 error type of a downlink the gateway refused.
DOWNLINK_GATEWAY: Final = "DOWNLINK_GATEWAY"


class _ChirpStack(NetworkServer):
    """application/{application}/device/{dev_eui}/event/{event} and command/down."""

    highest_f_port = 224

    @property
    def command_filter(self) -> str:
        """command/down of every device of the application."""
        return f"application/{self.application_id}/device/+/command/down"

    def event_topic(self, sock: SimulatedSocket, event: str) -> str:
        """ChirpStack's default event topic."""
        return f"application/{self.application_id}/device/{sock.dev_eui}/event/{event}"

    def _topic_eui(self, topic: str) -> str:
        parts = topic.split("/")
        if len(parts) != 6 or parts[4:] != ["command", "down"]:
            raise CommandRejected(f"not a command topic: {topic}")
        return parts[3]


class ChirpStackV4(_ChirpStack):
    """ChirpStack v4's MQTT integration with json=true."""

    kind = "chirpstack_v4"
    title = "ChirpStack v4"
    default_application_id = "5c0f8d2a-3e4b-4f6a-9b1c-7d2e8f0a1b3c"
    highest_f_port = 255  # v4 only checks fPort > 0

    @staticmethod
    def check_application_id(text: str) -> str:
        """A UUID."""
        try:
            return str(uuid.UUID(text))
        except ValueError:
            raise ValueError(
                f"a ChirpStack v4 application id is a UUID, got {text!r}"
            ) from None

    def parse_command(self, topic: str, payload: object) -> list[DownlinkRequest]:
        """devEui must equal the topic's; the id becomes the queue item id."""
        dev_eui = self._topic_eui(topic)
        command = json_object(payload)
        if command.get("devEui") != dev_eui:
            raise CommandRejected(
                f"payload devEui {command.get('devEui')!r} "
                f"does not match topic dev_eui {dev_eui!r}"
            )
        f_port = f_port_field(command.get("fPort"), self.highest_f_port)
        data = base64_field(command.get("data"), "data")
        try:
            item = str(uuid.UUID(str(command.get("id") or uuid.uuid4())))
        except ValueError:
            raise CommandRejected(f"id is not a UUID: {command.get('id')!r}") from None
        confirmed = bool(command.get("confirmed", False))
        return [DownlinkRequest(dev_eui, f_port, data, confirmed, item)]

    def device_info(self, sock: SimulatedSocket) -> dict[str, Any]:
        """The deviceInfo object of every event."""
        return {
            "tenantId": TENANT_ID,
            "tenantName": "ChirpStack",
            "applicationId": self.application_id,
            "applicationName": APPLICATION_NAME,
            "deviceProfileId": DEVICE_PROFILE_ID,
            "deviceProfileName": "Milesight WS523",
            "deviceName": sock.name,
            "devEui": sock.dev_eui,
            "deviceClassEnabled": "CLASS_C",
            "tags": {},
        }

    def join(self, sock: SimulatedSocket) -> Message:
        """event/join."""
        return self.event_topic(sock, "join"), {
            "deduplicationId": str(uuid.uuid4()),
            "time": now(),
            "deviceInfo": self.device_info(sock),
            "devAddr": sock.dev_addr,
        }

    def uplink(self, sock: SimulatedSocket, frame: UplinkFrame) -> Message:
        """event/up with one rxInfo entry per receiving gateway."""
        return self.event_topic(sock, "up"), {
            "deduplicationId": str(uuid.uuid4()),
            "time": now(),
            "deviceInfo": self.device_info(sock),
            "devAddr": sock.dev_addr,
            "adr": True,
            "dr": 12 - frame.spreading_factor,
            "fCnt": frame.f_cnt,
            "fPort": frame.f_port,
            "confirmed": False,
            "data": b64(frame.payload),
            "rxInfo": [
                {
                    "gatewayId": rx.gateway_id,
                    "uplinkId": self.rng.getrandbits(32),
                    "time": now(),
                    "rssi": rx.rssi,
                    "snr": rx.snr,
                    "context": self.random_id(),
                    "metadata": {"region_common_name": "EU868", "region_name": "eu868"},
                    "crcStatus": "CRC_OK",
                }
                for rx in frame.receptions
            ],
            "txInfo": {
                "frequency": frame.frequency,
                "modulation": {
                    "lora": {
                        "bandwidth": 125000,
                        "spreadingFactor": frame.spreading_factor,
                        "codeRate": "CR_4_5",
                    }
                },
            },
        }

    def sent(
        self, sock: SimulatedSocket, request: DownlinkRequest, gateway_id: str
    ) -> Message:
        """event/txack: queueItemId is the command's id."""
        return self.event_topic(sock, "txack"), {
            "downlinkId": self.rng.getrandbits(32),
            "time": now(),
            "deviceInfo": self.device_info(sock),
            "queueItemId": request.item,
            "fCntDown": sock.f_cnt_down,
            "gatewayId": gateway_id,
            "txInfo": {
                "frequency": RX2_FREQUENCY,
                "power": 27,
                "modulation": {
                    "lora": {
                        "bandwidth": 125000,
                        "spreadingFactor": 12,
                        "codeRate": "CR_4_5",
                        "polarizationInversion": True,
                    }
                },
                "timing": {"immediately": {}},
                "context": self.random_id(),
            },
        }

    def ack(self, sock: SimulatedSocket, request: DownlinkRequest) -> Message:
        """event/ack."""
        return self.event_topic(sock, "ack"), {
            "deduplicationId": str(uuid.uuid4()),
            "time": now(),
            "deviceInfo": self.device_info(sock),
            "queueItemId": request.item,
            "acknowledged": True,
            "fCntDown": sock.f_cnt_down,
        }

    def failed(
        self, sock: SimulatedSocket, request: DownlinkRequest, reason: str
    ) -> Message:
        """event/log, level ERROR, as ChirpStack's tx_ack.rs writes it.

        Like ChirpStack, no queue item id: csocket matches it by DevEUI.
        """
        return self.event_topic(sock, "log"), {
            "time": now(),
            "deviceInfo": self.device_info(sock),
            "level": "ERROR",
            "code": DOWNLINK_GATEWAY,
            "description": reason,
            "context": {},
        }


class ChirpStackV3(_ChirpStack):
    """ChirpStack Application Server >= 3.11, event topics, json_v3 marshaler."""

    kind = "chirpstack_v3"
    title = "ChirpStack v3"
    default_application_id = "1"

    @staticmethod
    def check_application_id(text: str) -> str:
        """A number."""
        return numeric_application_id(text, "ChirpStack v3")

    def parse_command(self, topic: str, payload: object) -> list[DownlinkRequest]:
        """The device comes from the topic; a devEUI in the body is ignored."""
        dev_eui = self._topic_eui(topic)
        command = json_object(payload)
        f_port = f_port_field(command.get("fPort"), self.highest_f_port)
        data = base64_field(command.get("data"), "data")
        confirmed = bool(command.get("confirmed", False))
        # v3 keeps a queue item id of its own and never publishes it.
        return [DownlinkRequest(dev_eui, f_port, data, confirmed, str(uuid.uuid4()))]

    def _common(self, sock: SimulatedSocket) -> dict[str, Any]:
        return {
            "applicationID": self.application_id,
            "applicationName": APPLICATION_NAME,
            "deviceName": sock.name,
            "devEUI": sock.dev_eui,
        }

    def join(self, sock: SimulatedSocket) -> Message:
        """event/join."""
        return self.event_topic(sock, "join"), {
            **self._common(sock),
            "devAddr": sock.dev_addr,
            "tags": {},
        }

    def uplink(self, sock: SimulatedSocket, frame: UplinkFrame) -> Message:
        """event/up (json_v3 DataUpPayload)."""
        return self.event_topic(sock, "up"), {
            **self._common(sock),
            "rxInfo": [
                {
                    "gatewayID": rx.gateway_id,
                    "uplinkID": str(uuid.uuid4()),
                    "name": f"gateway-{rx.gateway_number}",
                    "time": now(),
                    "rssi": rx.rssi,
                    "loRaSNR": rx.snr,
                    "location": {"latitude": 0, "longitude": 0, "altitude": 0},
                }
                for rx in frame.receptions
            ],
            "txInfo": {"frequency": frame.frequency, "dr": 12 - frame.spreading_factor},
            "adr": True,
            "fCnt": frame.f_cnt,
            "fPort": frame.f_port,
            "data": b64(frame.payload),
            "tags": {},
        }

    def sent(
        self, sock: SimulatedSocket, request: DownlinkRequest, gateway_id: str
    ) -> Message:
        """event/txack (TxAckNotification: no queue item id, the downlink fCnt)."""
        return self.event_topic(sock, "txack"), {
            **self._common(sock),
            "fCnt": sock.f_cnt_down,
            "tags": {},
        }

    def ack(self, sock: SimulatedSocket, request: DownlinkRequest) -> Message:
        """event/ack."""
        return self.event_topic(sock, "ack"), {
            **self._common(sock),
            "acknowledged": True,
            "fCnt": sock.f_cnt_down,
            "tags": {},
        }

    def failed(
        self, sock: SimulatedSocket, request: DownlinkRequest, reason: str
    ) -> Message:
        """event/error of type DOWNLINK_GATEWAY."""
        return self.event_topic(sock, "error"), {
            **self._common(sock),
            "type": DOWNLINK_GATEWAY,
            "error": reason,
            "fCnt": sock.f_cnt_down,
            "tags": {},
        }
