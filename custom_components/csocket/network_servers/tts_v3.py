"""The Things Stack v3 (TTN, TTI, Open Source) MQTT server."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Final

from ._common import (
    EMPTY,
    WILDCARD,
    JsonAdapter,
    application_of,
    configured_or_topic,
    other_application,
)
from .models import (
    CONF_APPLICATION_ID,
    CONF_F_PORT,
    CONF_TENANT_ID,
    DEFAULT_F_PORT,
    DeviceRef,
    DownlinkError,
    DownlinkResult,
    DownlinkStatus,
    Event,
    Ignored,
    ServerKind,
    Subscription,
)
from .values import as_str, config_text, device_ref, dig, hex_eui

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._common import DownlinkFields

DEFAULT_TENANT_ID: Final = "ttn"
# Our entry in a downlink's correlation_ids, echoed in every down/* event.
CORRELATION_PREFIX: Final = "csocket:"

_DOWN_EVENTS: Final = {
    "down/queued": ("downlink_queued", DownlinkStatus.QUEUED),
    "down/sent": ("downlink_sent", DownlinkStatus.SENT),
    "down/ack": ("downlink_ack", DownlinkStatus.ACKNOWLEDGED),
    "down/nack": ("downlink_nack", DownlinkStatus.NOT_ACKNOWLEDGED),
    "down/failed": ("downlink_failed", DownlinkStatus.FAILED),
}
_EVENTS: Final = ("up", "join", *_DOWN_EVENTS)


def _correlation_id(obj: dict[str, Any], body: object) -> str | None:
    """Our id from any correlation_ids list of a down/* event."""
    for ids in (
        obj.get("correlation_ids"),
        dig(body, "correlation_ids"),
        dig(body, "downlink", "correlation_ids"),
    ):
        if isinstance(ids, list):
            for entry in ids:
                if isinstance(entry, str) and entry.startswith(CORRELATION_PREFIX):
                    return entry[len(CORRELATION_PREFIX) :]
    return None


class TtsV3Adapter(JsonAdapter):
    """The Things Stack: v3/{app}@{tenant}/devices/{device_id}/..."""

    kind = ServerKind.TTS_V3
    defaults: ClassVar[Mapping[str, Any]] = {
        CONF_APPLICATION_ID: "",
        CONF_TENANT_ID: DEFAULT_TENANT_ID,
        CONF_F_PORT: DEFAULT_F_PORT,
    }
    qos = 0  # the TTS MQTT server supports QoS 0 only
    # Its MQTT server is The Things Stack itself: clients may publish only
    # downlinks, and it never grants a subscription it does not serve.
    loopback_probe = False
    rssi_keys = ("rssi", "channel_rssi")
    gateway_path = ("gateway_ids", "gateway_id")

    def __init__(self, config: Mapping[str, Any]) -> None:
        """An empty tenant means The Things Stack Open Source (no "@tenant")."""
        super().__init__(config)
        self.application_id = config_text(config, CONF_APPLICATION_ID, WILDCARD)
        tenant = config.get(CONF_TENANT_ID, DEFAULT_TENANT_ID)
        self.tenant_id = str(tenant).strip() if tenant is not None else ""
        self._own_uid = self._app_uid(self.application_id)

    def _app_uid(self, application_id: str) -> str:
        if application_id == WILDCARD or not self.tenant_id:
            return application_id
        return f"{application_id}@{self.tenant_id}"

    def subscriptions(self) -> list[Subscription]:
        """Uplinks, joins and every downlink state, at QoS 0."""
        prefix = f"v3/{self._app_uid(self.application_id)}/devices/+/"
        return [Subscription(prefix + event, self.qos) for event in _EVENTS]

    def _topic_parts(self, topic: str) -> list[str] | Ignored:
        parts = topic.split("/", 4)
        if len(parts) != 5 or parts[0] != "v3" or parts[2] != "devices":
            return Ignored("topic is not a The Things Stack device topic", topic)
        return other_application(self._own_uid, parts[1], topic) or parts

    def parse_object(self, topic: str, obj: dict[str, Any]) -> Event:
        """The event is everything after the device id ("up", "down/ack")."""
        parts = self._topic_parts(topic)
        if isinstance(parts, Ignored):
            return parts
        event = parts[4]
        ids = obj.get("end_device_ids")
        if not isinstance(ids, dict):
            ids = EMPTY
        raw_eui = ids.get("dev_eui")
        # The topic names the device; the body may only agree with it.
        device_id = parts[3]
        if event in _DOWN_EVENTS:
            # down/failed carries no dev_eui: our correlation id is what counts.
            return self._down(topic, obj, event, hex_eui(raw_eui), device_id)
        if event not in ("up", "join"):
            return Ignored(f"The Things Stack {event!r} events are not used", topic)
        application = configured_or_topic(
            self.application_id, parts[1].partition("@")[0]
        )
        device = device_ref(raw_eui, application, device_id)
        if device is None:
            return self.no_device(topic, raw_eui)
        body_application = dig(ids, "application_ids", "application_id")
        return self.contradiction(
            topic,
            device,
            ("device_id", ids.get("device_id"), device_id),
            ("application_id", body_application, application),
        ) or (
            self.join(topic, device, obj.get("received_at"))
            if event == "join"
            else self._up(topic, obj, device)
        )

    def _up(self, topic: str, obj: dict[str, Any], device: DeviceRef) -> Event:
        message = obj.get("uplink_message")
        if not isinstance(message, dict):
            return Ignored("uplink without uplink_message", topic, device.dev_eui)
        # Zero and empty fields are omitted: no f_cnt is 0, no frm_payload is b"".
        return self.uplink(
            topic,
            device,
            message.get("f_port", 0),
            message.get("frm_payload"),
            message.get("f_cnt", 0),
            message.get("rx_metadata"),
            obj.get("received_at") or message.get("received_at"),
            message.get("decoded_payload"),
            obj.get("simulated") is True,
        )

    @staticmethod
    def _down(
        topic: str, obj: dict[str, Any], event: str, eui: str | None, device_id: str
    ) -> Event:
        key, status = _DOWN_EVENTS[event]
        body = obj.get(key)
        correlation_id = _correlation_id(obj, body)
        if correlation_id is None:
            return Ignored("downlink not sent by csocket", topic, eui)
        error = dig(body, "error")
        reason = as_str(dig(error, "message_format")) or as_str(dig(error, "name"))
        return DownlinkResult(status, eui, device_id, correlation_id, reason)

    def address_fields(self) -> tuple[str, ...]:
        """The device id; the device's application for all applications."""
        if self.application_id == WILDCARD:
            return ("application_id", "device_id")
        return ("device_id",)

    def command_filter(self, dev_eui: str) -> str:
        """down/push of any device of the configured application(s).

        TTS topics carry the device id, not the DevEUI; the device id checked
        as one level and fixed by the first uplink selects the device.
        """
        del dev_eui  # not part of TTS topics
        return f"v3/{self._app_uid(self.application_id)}/devices/+/down/push"

    def downlink_message(
        self, device: DeviceRef, fields: DownlinkFields
    ) -> tuple[str, dict[str, Any]]:
        """down/push, addressed by device id (not DevEUI)."""
        if not device.device_id:
            raise DownlinkError(
                f"The Things Stack downlink to {fields.dev_eui} needs the device ID "
                "(known after the first uplink)"
            )
        application_id = application_of(device, self.application_id)
        if not application_id:
            raise DownlinkError(
                f"The Things Stack downlink to {fields.dev_eui} needs the "
                "application ID"
            )
        topic = (
            f"v3/{self._app_uid(application_id)}/devices/{device.device_id}/down/push"
        )
        downlink = {
            "f_port": fields.f_port,
            "frm_payload": fields.data,
            "priority": "NORMAL",
            "confirmed": fields.confirmed,
            "correlation_ids": [CORRELATION_PREFIX + fields.correlation_id],
        }
        return topic, {"downlinks": [downlink]}
