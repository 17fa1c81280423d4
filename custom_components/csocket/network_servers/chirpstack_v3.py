"""ChirpStack v3 Application Server MQTT integration (json_v3 or json marshaler)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Final

from ._common import (
    MISSING,
    WILDCARD,
    JsonAdapter,
    ack_status,
    application_of,
    configured_or_topic,
    is_downlink_error,
    json_loads,
    other_application,
)
from .models import (
    CONF_APPLICATION_ID,
    CONF_F_PORT,
    CONF_MARSHALER,
    CONF_TOPIC_STYLE,
    DEFAULT_F_PORT,
    DeviceRef,
    DownlinkResult,
    DownlinkStatus,
    Event,
    Ignored,
    ServerKind,
    Subscription,
)
from .topic_template import TopicTemplate
from .values import as_str, config_text, device_ref, dig, hex_eui, remember

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ._common import DownlinkFields

# >= 3.11: .../event/{type} and .../command/down; before: .../rx and .../tx.
TOPIC_STYLE_EVENT: Final = "event"
TOPIC_STYLE_LEGACY: Final = "legacy"
TOPIC_STYLES: Final = (TOPIC_STYLE_EVENT, TOPIC_STYLE_LEGACY)
# json_v3: hex devEUI and "object"; json: base64 devEUI and "objectJSON".
# Parsing accepts both whatever is configured; the setting documents the setup.
MARSHALER_JSON_V3: Final = "json_v3"
MARSHALER_JSON: Final = "json"
MARSHALERS: Final = (MARSHALER_JSON_V3, MARSHALER_JSON)

_VARIABLES: Final = ("application_id", "dev_eui", "event")
_DEVICE: Final = "application/{{application_id}}/device/{{dev_eui}}/"
_EVENT_TOPIC: Final = TopicTemplate(
    _DEVICE + "event/{{event}}", _VARIABLES, matchable=True
)
_LEGACY_TOPIC: Final = TopicTemplate(_DEVICE + "{{event}}", _VARIABLES, matchable=True)
_EVENT_MATCH: Final = _EVENT_TOPIC.regex.fullmatch
_LEGACY_MATCH: Final = _LEGACY_TOPIC.regex.fullmatch
_SUBSCRIBED: Final = {
    TOPIC_STYLE_EVENT: (_EVENT_TOPIC, ("up", "join", "ack", "txack", "error")),
    TOPIC_STYLE_LEGACY: (_LEGACY_TOPIC, ("rx", "join", "ack", "txack", "error")),
}
_DOWNLINK_TOPIC: Final = {
    TOPIC_STYLE_EVENT: TopicTemplate(_DEVICE + "command/down", _VARIABLES),
    TOPIC_STYLE_LEGACY: TopicTemplate(_DEVICE + "tx", _VARIABLES),
}
# Legacy topic names that differ from the event names.
_EVENT_ALIASES: Final = {"rx": "up"}

type _Handler = Callable[[ChirpStackV3Adapter, str, dict[str, Any], DeviceRef], Event]
# What a topic tells: the handler of its event, its DevEUI and application id.
type _Route = tuple[_Handler, str, str]


def _choice(config: Mapping[str, Any], key: str, choices: tuple[str, ...]) -> str:
    value = config_text(config, key, choices[0])
    if value not in choices:
        raise ValueError(f"{key} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _decoded(obj: dict[str, Any]) -> object:
    """The codec output: "object" (json_v3) or the "objectJSON" string (json)."""
    decoded = obj.get("object")
    text = obj.get("objectJSON")
    if decoded is None and isinstance(text, str) and text:
        try:
            decoded = json_loads(text)
        except ValueError:
            return None
    return decoded


class ChirpStackV3Adapter(JsonAdapter):
    """ChirpStack Application Server v3."""

    kind = ServerKind.CHIRPSTACK_V3
    defaults: ClassVar[Mapping[str, Any]] = {
        CONF_APPLICATION_ID: "",
        CONF_TOPIC_STYLE: TOPIC_STYLE_EVENT,
        CONF_MARSHALER: MARSHALER_JSON_V3,
        CONF_F_PORT: DEFAULT_F_PORT,
    }
    binary_hint = (
        'Protobuf? Set marshaler="json_v3" in the [application_server.integration]'
        " section of chirpstack-application-server.toml"
    )
    protobuf_issue = "chirpstack_v3_protobuf"
    eui_format = "16 hexadecimal digits (json_v3) or base64 of 8 bytes (json)"
    snr_key = "loRaSNR"
    gateway_path = ("gatewayID",)

    def __init__(self, config: Mapping[str, Any]) -> None:
        """Check the numeric application id, topic style and marshaler."""
        super().__init__(config)
        application_id = config_text(config, CONF_APPLICATION_ID, WILDCARD)
        if application_id != WILDCARD and not application_id.isdecimal():
            raise ValueError(
                f"ChirpStack v3 application ID must be a number, got {application_id!r}"
            )
        self.application_id = application_id
        self.topic_style = _choice(config, CONF_TOPIC_STYLE, TOPIC_STYLES)
        self.marshaler = _choice(config, CONF_MARSHALER, MARSHALERS)
        self._routes: dict[str, _Route | Ignored] = {}

    def subscriptions(self) -> list[Subscription]:
        """One filter per used event, in the configured topic style."""
        template, events = _SUBSCRIBED[self.topic_style]
        return [
            Subscription(
                template.filter(
                    {"application_id": self.application_id, "event": event}
                ),
                self.qos,
            )
            for event in events
        ]

    def parse_object(self, topic: str, obj: dict[str, Any]) -> Event:
        """Accept both topic styles so a server upgrade keeps working."""
        route = self._routes.get(topic) or self._route(topic)
        if isinstance(route, Ignored):
            return route
        handler, topic_eui, topic_application = route
        body_eui = obj.get("devEUI")
        application = configured_or_topic(self.application_id, topic_application)
        # The body's EUI is hex (json_v3) or base64 (json); the topic's is hex.
        device = (
            device_ref(body_eui, application, None, obj.get("deviceName"), base64=True)
            if body_eui
            else device_ref(topic_eui, application, None, obj.get("deviceName"))
        )
        if device is None:
            return self.no_device(topic, body_eui or topic_eui)
        body_application = obj.get("applicationID")
        if (body_eui != topic_eui and body_eui) or (
            body_application != application and body_application
        ):
            # Rare: compare what each names (base64 or hex, string or number).
            conflict = self.contradiction(
                topic,
                device,
                ("devEUI", device.dev_eui, hex_eui(topic_eui) or topic_eui),
                ("applicationID", as_str(body_application), application),
            )
            if conflict is not None:
                return conflict
        return handler(self, topic, obj, device)

    def _route(self, topic: str) -> _Route | Ignored:
        """Handler, DevEUI and application id of a topic; remembered per topic."""
        # Both topics: group 1 application_id, 2 dev_eui, 3 event.
        found = _EVENT_MATCH(topic) or _LEGACY_MATCH(topic)
        if found is None:
            route: _Route | Ignored = Ignored(
                "topic is not a ChirpStack v3 device topic", topic
            )
        else:
            event = _EVENT_ALIASES.get(found[3], found[3])
            handler = self._handlers.get(event)
            if handler is None:
                route = Ignored(f"ChirpStack {event!r} events are not used", topic)
            else:
                route = other_application(self.application_id, found[1], topic) or (
                    handler,
                    found[2],
                    found[1],
                )
        return remember(self._routes, topic, route)

    def _up(self, topic: str, obj: dict[str, Any], device: DeviceRef) -> Event:
        rx_info = obj.get("rxInfo")
        # json has publishedAt; json_v3 only the gateways' times.
        time = obj.get("publishedAt")
        if not time and isinstance(rx_info, list) and rx_info:
            time = dig(rx_info[0], "time")
        return self.uplink(
            topic,
            device,
            obj.get("fPort"),
            # json_v3 writes an empty payload as null; a missing key is an error.
            obj.get("data", MISSING),
            obj.get("fCnt"),
            rx_info,
            time,
            _decoded(obj),
        )

    def _join(self, topic: str, obj: dict[str, Any], device: DeviceRef) -> Event:
        return self.join(topic, device, obj.get("publishedAt"))

    # v3 echoes no downlink id: the hub matches results on the DevEUI.
    def _txack(self, _topic: str, _obj: dict[str, Any], device: DeviceRef) -> Event:
        return DownlinkResult(DownlinkStatus.SENT, device.dev_eui)

    def _ack(self, _topic: str, obj: dict[str, Any], device: DeviceRef) -> Event:
        return DownlinkResult(ack_status(obj), device.dev_eui)

    def _error(self, topic: str, obj: dict[str, Any], device: DeviceRef) -> Event:
        error_type, error = obj.get("type"), as_str(obj.get("error"))
        if is_downlink_error(error_type):
            return DownlinkResult(
                DownlinkStatus.FAILED, device.dev_eui, reason=error or str(error_type)
            )
        return Ignored(f"ChirpStack error {error_type}: {error}", topic, device.dev_eui)

    _handlers: ClassVar[Mapping[str, _Handler]] = {
        "up": _up,
        "join": _join,
        "ack": _ack,
        "txack": _txack,
        "error": _error,
    }

    def address_fields(self) -> tuple[str, ...]:
        """The device's application, for all applications."""
        return ("application_id",) if self.application_id == WILDCARD else ()

    def command_filter(self, dev_eui: str) -> str:
        """command/down (or tx) of dev_eui in the configured application(s)."""
        return _DOWNLINK_TOPIC[self.topic_style].filter(
            {"application_id": self.application_id, "dev_eui": dev_eui}
        )

    def downlink_message(
        self, device: DeviceRef, fields: DownlinkFields
    ) -> tuple[str, dict[str, Any]]:
        """command/down (or tx); the server takes the device from the topic."""
        topic = _DOWNLINK_TOPIC[self.topic_style].render(
            {
                "application_id": application_of(device, self.application_id),
                "dev_eui": fields.dev_eui,
            }
        )
        body = {
            "confirmed": fields.confirmed,
            "fPort": fields.f_port,
            "data": fields.data,
        }
        return topic, body
