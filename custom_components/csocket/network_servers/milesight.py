"""Milesight / Linovision UG6x gateway with its built-in network server.

The gateway publishes uplinks on a user-set topic and subscribes to a
user-set downlink topic. It publishes no downlink results we could parse.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar, Final

from ._address import filter_pattern
from ._common import MISSING, JsonAdapter
from .models import (
    CONF_DOWNLINK_TOPIC,
    CONF_F_PORT,
    CONF_UPLINK_TOPIC,
    DEFAULT_F_PORT,
    DeviceRef,
    Event,
    Ignored,
    ServerKind,
    Subscription,
)
from .topic_template import TopicTemplate
from .values import config_text, device_ref

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._common import DownlinkFields

# "#" also matches the bare parent, so the gateway's "Uplink data" topic can be
# csocket/uplink or a per-device csocket/uplink/$deveui.
DEFAULT_UPLINK_TOPIC: Final = "csocket/uplink/#"
# What the gateway uses when its "Downlink data" topic is left blank (Ursalink doc).
DEFAULT_DOWNLINK_TOPIC: Final = "application/$applicationID/device/$deveui/tx"

# The gateway's topic wildcards (Milesight "downlink data" guide, plus
# $applicationID from the blank-topic default).
_GATEWAY_PLACEHOLDERS: Final = re.compile(
    r"\$(applicationID|gatewaySN|deviceName|deviceID|devEUI|deveui|objectID)"
)
# The ones a downlink can fill from what uplinks told us.
_DOWNLINK_VARIABLES: Final = (
    "applicationID",
    "deviceName",
    "deviceID",
    "devEUI",
    "deveui",
)
_UPLINK_VARIABLES: Final = (*_DOWNLINK_VARIABLES, "gatewaySN", "objectID")
# The DeviceRef field each identity placeholder fills.
_ADDRESS_FIELDS: Final = {
    "applicationID": "application_id",
    "deviceName": "device_name",
    "deviceID": "device_id",
}


class MilesightAdapter(JsonAdapter):
    """Milesight/Linovision UG6x embedded network server."""

    kind = ServerKind.MILESIGHT
    # The gateway's built-in server publishes no downlink events at all.
    reports_transmission = False
    defaults: ClassVar[Mapping[str, Any]] = {
        CONF_UPLINK_TOPIC: DEFAULT_UPLINK_TOPIC,
        CONF_DOWNLINK_TOPIC: DEFAULT_DOWNLINK_TOPIC,
        CONF_F_PORT: DEFAULT_F_PORT,
    }
    snr_key = "loRaSNR"
    gateway_path = ("mac",)

    def __init__(self, config: Mapping[str, Any]) -> None:
        """The uplink topic may hold MQTT wildcards or gateway placeholders."""
        super().__init__(config)
        uplink = TopicTemplate(
            config_text(config, CONF_UPLINK_TOPIC, DEFAULT_UPLINK_TOPIC),
            _UPLINK_VARIABLES,
            syntax=_GATEWAY_PLACEHOLDERS,
        )
        self.uplink_topic = uplink.filter({})
        self._uplink_match = filter_pattern(self.uplink_topic.split("/")).fullmatch
        self._downlink_topic = TopicTemplate(
            config_text(config, CONF_DOWNLINK_TOPIC, DEFAULT_DOWNLINK_TOPIC),
            _DOWNLINK_VARIABLES,
            syntax=_GATEWAY_PLACEHOLDERS,
        )
        # Without the EUI in the topic the gateway reads devEUI from the body.
        self._eui_in_body = not self._downlink_topic.variables & {"devEUI", "deveui"}
        # Only values the downlink topic uses must be topic levels: a name
        # shown in Home Assistant may hold "#" when no topic has $deviceName.
        self._address_fields = tuple(
            field
            for variable, field in _ADDRESS_FIELDS.items()
            if variable in self._downlink_topic.variables
        )

    def subscriptions(self) -> list[Subscription]:
        """Only the uplink topic: the gateway reports no downlink results."""
        return [Subscription(self.uplink_topic, self.qos)]

    def parse_object(self, topic: str, obj: dict[str, Any]) -> Event:
        """The gateway's uplink JSON (ChirpStack v2-like field names)."""
        if self._uplink_match(topic) is None:
            return Ignored(f"topic does not match {self.uplink_topic!r}", topic)
        raw_eui = obj.get("devEUI")
        device = device_ref(
            raw_eui,
            obj.get("applicationID"),  # string or number by firmware
            obj.get("deviceID"),
            obj.get("deviceName"),
        )
        if device is None:
            if raw_eui:
                return self.no_device(topic, raw_eui)
            # A gateway Payload Codec can replace the whole JSON with its output.
            return Ignored(
                f"message without a valid devEUI ({raw_eui!r:.40}); "
                "is a payload codec rewriting the gateway's JSON?",
                topic,
            )
        return self.uplink(
            topic,
            device,
            obj.get("fPort"),
            obj.get("data", MISSING),
            obj.get("fCnt"),
            obj.get("rxInfo"),
            obj.get("time"),
            obj.get("object"),
        )

    def address_fields(self) -> tuple[str, ...]:
        """The identity placeholders of the downlink topic, as DeviceRef fields."""
        return self._address_fields

    def command_filter(self, dev_eui: str) -> str:
        """The downlink topic with dev_eui; other placeholders are wildcards."""
        return self._downlink_topic.filter({"devEUI": dev_eui, "deveui": dev_eui})

    def downlink_message(
        self, device: DeviceRef, fields: DownlinkFields
    ) -> tuple[str, dict[str, Any]]:
        """Both "fport" (Ursalink doc) and "fPort" (newer doc) for every firmware."""
        topic = self._downlink_topic.render(
            {
                "applicationID": device.application_id,
                "deviceName": device.device_name,
                "deviceID": device.device_id,
                "devEUI": fields.dev_eui,
                "deveui": fields.dev_eui,
            }
        )
        body: dict[str, Any] = {"devEUI": fields.dev_eui} if self._eui_in_body else {}
        body |= {
            "confirmed": fields.confirmed,
            "fport": fields.f_port,
            "fPort": fields.f_port,
            "data": fields.data,
        }
        return topic, body
