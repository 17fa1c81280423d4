"""A Milesight / Linovision UG6x gateway's built-in network server.

Uplinks go to a user-set topic, here ``csocket/uplink/<devEUI>`` (what
csocket's default ``csocket/uplink/#`` expects); downlinks come on the topic
the gateway uses when its "Downlink data" topic is blank,
``application/<applicationID>/device/<devEUI>/tx`` (network-servers.md 4.2).
The gateway publishes no join, transmission, acknowledgement or failure
events, so a failed downlink is only logged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from .base import (
    APPLICATION_NAME,
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

UPLINK_PREFIX: Final = "csocket/uplink/"
HIGHEST_F_PORT: Final = 223


class MilesightGateway(NetworkServer):
    """The UG6x embedded network server (uplink JSON of the support article)."""

    kind = "milesight"
    title = "Milesight gateway"
    default_application_id = "1"
    reports_transmission = False

    @staticmethod
    def check_application_id(text: str) -> str:
        """A number."""
        return numeric_application_id(text, "Milesight")

    @property
    def command_filter(self) -> str:
        """The blank-topic default downlink topic of every device."""
        return f"application/{self.application_id}/device/+/tx"

    def parse_command(self, topic: str, payload: object) -> list[DownlinkRequest]:
        """Either "fport" (older firmware) or "fPort" (newer)."""
        parts = topic.split("/")
        if len(parts) != 5 or parts[4] != "tx":
            raise CommandRejected(f"not a downlink topic: {topic}")
        command = json_object(payload)
        f_port = command.get("fport", command.get("fPort"))
        return [
            DownlinkRequest(
                parts[3].lower(),
                f_port_field(f_port, HIGHEST_F_PORT),
                base64_field(command.get("data"), "data"),
                command.get("confirmed") is True,
                f"{parts[3].lower()}-{self.rng.getrandbits(32):08x}",
            )
        ]

    def join(self, sock: SimulatedSocket) -> None:
        """No join message (the join notification has no documented format)."""

    def uplink(self, sock: SimulatedSocket, frame: UplinkFrame) -> Message:
        """The gateway's uplink JSON."""
        return f"{UPLINK_PREFIX}{sock.dev_eui}", {
            "applicationID": self.application_id,
            "applicationName": APPLICATION_NAME,
            "data": b64(frame.payload),
            "devEUI": sock.dev_eui,
            "deviceName": sock.name,
            "fCnt": frame.f_cnt,
            "fPort": frame.f_port,
            "rxInfo": [
                {
                    "altitude": 0,
                    "latitude": 0,
                    "loRaSNR": rx.snr,
                    "longitude": 0,
                    "mac": rx.gateway_id,
                    "name": "Local Gateway",
                    "rssi": rx.rssi,
                    "time": now(),
                }
                for rx in frame.receptions
            ],
            "time": now(),
            "txInfo": {
                "adr": True,
                "codeRate": "4/5",
                "dataRate": {
                    "bandwidth": 125,
                    "modulation": "LORA",
                    "spreadFactor": frame.spreading_factor,
                },
                "frequency": frame.frequency,
            },
        }

    def sent(
        self, sock: SimulatedSocket, request: DownlinkRequest, gateway_id: str
    ) -> None:
        """Nothing: the gateway does not say when a downlink left."""

    def ack(self, sock: SimulatedSocket, request: DownlinkRequest) -> None:
        """Nothing."""

    def failed(
        self, sock: SimulatedSocket, request: DownlinkRequest, reason: str
    ) -> None:
        """Nothing."""
