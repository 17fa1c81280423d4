"""The Things Stack v3 MQTT server (network-servers.md section 3).

Topics use the device ID, here The Things Stack console's default
``eui-<dev_eui>``. Zero, empty and false fields are left out, as the server
does (a first uplink has no ``f_cnt``).
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any, Final

from .base import (
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
)

if TYPE_CHECKING:
    import random

    from simulator.device import SimulatedSocket

DEFAULT_TENANT_ID: Final = "ttn"
DEVICE_ID_PREFIX: Final = "eui-"
JOIN_EUI: Final = "24E124C0002A0001"
HIGHEST_F_PORT: Final = 233
# A TTS application or tenant id: lower-case letters, digits, dashes.
_ID: Final = re.compile(r"[a-z0-9](?:[-]?[a-z0-9]){1,35}")


def _ulid(rng: random.Random) -> str:
    """A ULID-shaped id (26 Crockford base32 characters) for correlation ids."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    return "".join(rng.choice(alphabet) for _ in range(26))


class TheThingsStack(NetworkServer):
    """v3/{application}@{tenant}/devices/{device_id}/..."""

    kind = "tts_v3"
    title = "The Things Stack v3"
    default_application_id = "csocket-simulator"

    def __init__(
        self,
        application_id: str,
        rng: random.Random,
        tenant_id: str = DEFAULT_TENANT_ID,
    ) -> None:
        """An empty tenant is The Things Stack Open Source (no "@tenant")."""
        super().__init__(application_id, rng)
        if tenant_id and not _ID.fullmatch(tenant_id):
            raise ValueError(f"invalid tenant id {tenant_id!r}")
        self.tenant_id = tenant_id
        self.app_uid = (
            f"{self.application_id}@{tenant_id}" if tenant_id else (self.application_id)
        )

    @staticmethod
    def check_application_id(text: str) -> str:
        """Lower-case letters, digits and single dashes, 2-36 characters."""
        if not _ID.fullmatch(text):
            raise ValueError(
                "a The Things Stack application id is 2-36 lower-case letters, "
                f"digits and dashes, got {text!r}"
            )
        return text

    @property
    def command_filter(self) -> str:
        """down/push of every device (down/replace is not simulated)."""
        return f"v3/{self.app_uid}/devices/+/down/push"

    def topic(self, sock: SimulatedSocket, event: str) -> str:
        """The topic of event (up, join, down/sent, ...) of a socket."""
        return f"v3/{self.app_uid}/devices/{DEVICE_ID_PREFIX}{sock.dev_eui}/{event}"

    def parse_command(self, topic: str, payload: object) -> list[DownlinkRequest]:
        """{"downlinks": [...]}; each one needs frm_payload (no formatter here)."""
        parts = topic.split("/")
        if len(parts) != 6 or parts[2] != "devices" or parts[4:] != ["down", "push"]:
            raise CommandRejected(f"not a down/push topic: {topic}")
        device_id = parts[3]
        if not device_id.startswith(DEVICE_ID_PREFIX):
            raise CommandRejected(f"unknown device {device_id!r}")
        dev_eui = device_id.removeprefix(DEVICE_ID_PREFIX)
        downlinks = json_object(payload).get("downlinks")
        if not isinstance(downlinks, list) or not downlinks:
            raise CommandRejected("no downlinks")
        requests = []
        for downlink in downlinks:
            if not isinstance(downlink, dict):
                raise CommandRejected("a downlink is not an object")
            ids = downlink.get("correlation_ids") or []
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise CommandRejected("correlation_ids is not a list of strings")
            own = f"as:downlink:{_ulid(self.rng)}"
            requests.append(
                DownlinkRequest(
                    dev_eui,
                    f_port_field(downlink.get("f_port"), HIGHEST_F_PORT),
                    base64_field(downlink.get("frm_payload"), "frm_payload"),
                    downlink.get("confirmed") is True,
                    own,
                    (own, *ids),
                )
            )
        return requests

    def device_ids(self, sock: SimulatedSocket, *, full: bool = True) -> dict[str, Any]:
        """end_device_ids; down/failed carries only the ids (no EUIs)."""
        ids: dict[str, Any] = {
            "device_id": DEVICE_ID_PREFIX + sock.dev_eui,
            "application_ids": {"application_id": self.application_id},
        }
        if full:
            ids |= {
                "dev_eui": sock.dev_eui.upper(),
                "join_eui": JOIN_EUI,
                "dev_addr": sock.dev_addr.upper(),
            }
        return ids

    def join(self, sock: SimulatedSocket) -> Message:
        """join (join_accept)."""
        return self.topic(sock, "join"), {
            "end_device_ids": self.device_ids(sock),
            "correlation_ids": [f"as:up:{_ulid(self.rng)}"],
            "received_at": now(),
            "join_accept": {
                "session_key_id": self.random_id(16),
                "received_at": now(),
            },
        }

    def uplink(self, sock: SimulatedSocket, frame: UplinkFrame) -> Message:
        """up (uplink_message)."""
        message: dict[str, Any] = {
            "session_key_id": self.random_id(16),
            "f_port": frame.f_port,
            "f_cnt": frame.f_cnt,
            "frm_payload": b64(frame.payload),
            "rx_metadata": [
                {
                    "gateway_ids": {
                        "gateway_id": f"gateway-{rx.gateway_number}",
                        "eui": rx.gateway_id.upper(),
                    },
                    "time": now(),
                    "timestamp": self.rng.getrandbits(32),
                    "rssi": rx.rssi,
                    "channel_rssi": rx.rssi,
                    "snr": rx.snr,
                    "uplink_token": self.random_id(16),
                    "channel_index": 2,
                    "received_at": now(),
                }
                for rx in frame.receptions
            ],
            "settings": {
                "data_rate": {
                    "lora": {
                        "bandwidth": 125000,
                        "spreading_factor": frame.spreading_factor,
                        "coding_rate": "4/5",
                    }
                },
                "frequency": str(frame.frequency),
            },
            "received_at": now(),
            "network_ids": {
                "net_id": "000013",
                "tenant_id": self.tenant_id,
                "cluster_id": "eu1",
            },
        }
        return self.topic(sock, "up"), {
            "end_device_ids": self.device_ids(sock),
            "correlation_ids": [f"as:up:{_ulid(self.rng)}"],
            "received_at": now(),
            "uplink_message": _omit_empty(message),
        }

    def _downlink(self, request: DownlinkRequest, f_cnt: int = 0) -> dict[str, Any]:
        return _omit_empty(
            {
                "f_port": request.f_port,
                "f_cnt": f_cnt,
                "frm_payload": b64(request.data),
                "confirmed": request.confirmed,
                "priority": "NORMAL",
                "correlation_ids": list(request.correlation_ids),
            }
        )

    def _event(
        self, sock: SimulatedSocket, request: DownlinkRequest, key: str, body: object
    ) -> dict[str, Any]:
        return {
            "end_device_ids": self.device_ids(sock),
            "correlation_ids": list(request.correlation_ids),
            "received_at": now(),
            key: body,
        }

    def queued(self, sock: SimulatedSocket, request: DownlinkRequest) -> Message:
        """down/queued, as soon as the push is accepted."""
        return self.topic(sock, "down/queued"), self._event(
            sock, request, "downlink_queued", self._downlink(request)
        )

    def sent(
        self, sock: SimulatedSocket, request: DownlinkRequest, gateway_id: str
    ) -> Message:
        """down/sent, when the frame leaves the gateway."""
        body = self._downlink(request, sock.f_cnt_down)
        body["session_key_id"] = self.random_id(16)
        return self.topic(sock, "down/sent"), self._event(
            sock, request, "downlink_sent", body
        )

    def ack(self, sock: SimulatedSocket, request: DownlinkRequest) -> Message:
        """down/ack."""
        return self.topic(sock, "down/ack"), self._event(
            sock, request, "downlink_ack", self._downlink(request, sock.f_cnt_down)
        )

    def failed(
        self, sock: SimulatedSocket, request: DownlinkRequest, reason: str
    ) -> Message:
        """down/failed with the error (shape of the docs' example)."""
        return self.topic(sock, "down/failed"), {
            "end_device_ids": self.device_ids(sock, full=False),
            "correlation_ids": [request.item],
            "downlink_failed": {
                "downlink": self._downlink(request),
                "error": {
                    "namespace": "pkg/networkserver",
                    "name": "schedule_downlink",
                    "message_format": reason,
                    "correlation_id": uuid.UUID(int=self.rng.getrandbits(128)).hex,
                    "code": 10,
                },
            },
        }


def _omit_empty(obj: dict[str, Any]) -> dict[str, Any]:
    """Without "", 0 and False values, as The Things Stack writes JSON."""
    return {k: v for k, v in obj.items() if v not in ("", 0)}  # False == 0
