"""ChirpStack v4 MQTT integration (JSON encoding)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, ClassVar, Final

from ._common import (
    EMPTY,
    WILDCARD,
    JsonAdapter,
    ack_status,
    application_of,
    configured_or_topic,
    is_downlink_error,
    other_application,
)
from .models import (
    CONF_APPLICATION_ID,
    CONF_COMMAND_TOPIC,
    CONF_EVENT_TOPIC,
    CONF_F_PORT,
    DEFAULT_F_PORT,
    DOWNLINK_INVALID_REQUEST,
    DeviceRef,
    DownlinkError,
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

# chirpstack.toml [integration.mqtt] defaults.
DEFAULT_EVENT_TOPIC: Final = (
    "application/{{application_id}}/device/{{dev_eui}}/event/{{event}}"
)
DEFAULT_COMMAND_TOPIC: Final = (
    "application/{{application_id}}/device/{{dev_eui}}/command/{{command}}"
)

# Only these exist in ChirpStack's EventTopicContext / CommandTopicContext.
_EVENT_VARIABLES: Final = ("application_id", "dev_eui", "event")
_COMMAND_VARIABLES: Final = ("application_id", "dev_eui", "command")

# One filter per event keeps status/location/integration traffic away.
_EVENTS: Final = ("up", "join", "ack", "txack", "log")

type _Handler = Callable[[ChirpStackV4Adapter, str, dict[str, Any], DeviceRef], Event]
# What a topic tells: the handler of its event, its DevEUI and application id.
type _Route = tuple[_Handler, str | None, str | None]


def _application_filter(value: object) -> str:
    """Canonical application UUID, or "+" for all applications."""
    text = str(value).strip() if value is not None else ""
    if text in ("", WILDCARD):
        return WILDCARD
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise ValueError(
            f"ChirpStack v4 application ID must be a UUID, got {text!r}"
        ) from None


class ChirpStackV4Adapter(JsonAdapter):
    """ChirpStack v4: events on event_topic, downlinks on command_topic."""

    kind = ServerKind.CHIRPSTACK_V4
    defaults: ClassVar[Mapping[str, Any]] = {
        CONF_APPLICATION_ID: "",
        CONF_EVENT_TOPIC: DEFAULT_EVENT_TOPIC,
        CONF_COMMAND_TOPIC: DEFAULT_COMMAND_TOPIC,
        CONF_F_PORT: DEFAULT_F_PORT,
    }
    binary_hint = (
        "Protobuf? Set json=true in the [integration.mqtt] section of chirpstack.toml"
    )
    gateway_path = ("gatewayId",)

    def __init__(self, config: Mapping[str, Any]) -> None:
        """Parse the application id and both topic templates once."""
        super().__init__(config)
        self.application_id = _application_filter(config.get(CONF_APPLICATION_ID))
        self._event_topic = TopicTemplate(
            config_text(config, CONF_EVENT_TOPIC, DEFAULT_EVENT_TOPIC),
            _EVENT_VARIABLES,
            required=("event",),
            matchable=True,
        )
        # Regex group of each variable of the topic (0: not in the topic).
        self._topic_match = self._event_topic.regex.fullmatch
        group = {name: i for i, name in enumerate(self._event_topic.groups, 1)}
        self._event_group = group["event"]
        self._eui_group = group.get("dev_eui", 0)
        self._app_group = group.get("application_id", 0)
        self._routes: dict[str, _Route | Ignored] = {}
        self._command_topic = TopicTemplate(
            config_text(config, CONF_COMMAND_TOPIC, DEFAULT_COMMAND_TOPIC),
            _COMMAND_VARIABLES,
            required=("dev_eui",),
        )
        if (
            self.application_id == WILDCARD
            and "application_id" in self._command_topic.variables
            and not self._app_group
        ):
            # Message bodies never choose where downlinks go.
            raise ValueError(
                "For all applications, the event topic must contain "
                "{{application_id}}: the command topic needs it"
            )

    def subscriptions(self) -> list[Subscription]:
        """One QoS 1 filter per event csocket uses."""
        return [
            Subscription(
                self._event_topic.filter(
                    {"application_id": self.application_id, "event": event}
                ),
                self.qos,
            )
            for event in _EVENTS
        ]

    def parse_object(self, topic: str, obj: dict[str, Any]) -> Event:
        """Dispatch on the {{event}} part of the topic."""
        route = self._routes.get(topic) or self._route(topic)
        if isinstance(route, Ignored):
            return route
        handler, topic_eui, topic_application = route
        info = obj.get("deviceInfo")
        if not isinstance(info, dict):
            info = EMPTY
        body_eui = info.get("devEui")
        raw_eui = body_eui or topic_eui
        application = configured_or_topic(self.application_id, topic_application)
        # v4 EUIs are hex strings; base64 is some other (or forged) format.
        device = device_ref(raw_eui, application, None, info.get("deviceName"))
        if device is None:
            return self.no_device(topic, raw_eui)
        body_application = info.get("applicationId")
        if (body_eui != topic_eui and body_eui and topic_eui) or (
            body_application != application and body_application
        ):
            # Rare: compare what each names (the EUIs' case may differ).
            conflict = self.contradiction(
                topic,
                device,
                ("devEui", device.dev_eui, hex_eui(topic_eui) or topic_eui),
                ("applicationId", body_application, application),
            )
            if conflict is not None:
                return conflict
        return handler(self, topic, obj, device)

    def _route(self, topic: str) -> _Route | Ignored:
        """Handler, DevEUI and application id of a topic; remembered per topic."""
        found = self._topic_match(topic)
        if found is None:
            route: _Route | Ignored = Ignored(
                "topic does not match the ChirpStack event topic", topic
            )
        elif (handler := self._handlers.get(found[self._event_group])) is None:
            route = Ignored(
                f"ChirpStack {found[self._event_group]!r} events are not used", topic
            )
        else:
            application = found[self._app_group] if self._app_group else None
            route = other_application(self.application_id, application, topic) or (
                handler,
                found[self._eui_group] if self._eui_group else None,
                application,
            )
        return remember(self._routes, topic, route)

    def _up(self, topic: str, obj: dict[str, Any], device: DeviceRef) -> Event:
        # Builds before Nov 2022 omit zero values (fCnt 0, empty data).
        return self.uplink(
            topic,
            device,
            obj.get("fPort", 0),
            obj.get("data"),
            obj.get("fCnt", 0),
            obj.get("rxInfo"),
            obj.get("time"),
            obj.get("object"),
        )

    def _join(self, topic: str, obj: dict[str, Any], device: DeviceRef) -> Event:
        return self.join(topic, device, obj.get("time"))

    def _txack(self, _topic: str, obj: dict[str, Any], device: DeviceRef) -> Event:
        # The downlink "id" we sent comes back as queueItemId.
        return DownlinkResult(
            DownlinkStatus.SENT,
            device.dev_eui,
            correlation_id=as_str(obj.get("queueItemId")),
        )

    def _ack(self, _topic: str, obj: dict[str, Any], device: DeviceRef) -> Event:
        return DownlinkResult(
            ack_status(obj),
            device.dev_eui,
            correlation_id=as_str(obj.get("queueItemId")),
        )

    def _log(self, topic: str, obj: dict[str, Any], device: DeviceRef) -> Event:
        # Downlink errors are log events; the rest is noise for csocket.
        level, code = obj.get("level"), obj.get("code")
        description = as_str(obj.get("description"))
        if level == "ERROR" and is_downlink_error(code):
            return DownlinkResult(
                DownlinkStatus.FAILED,
                device.dev_eui,
                correlation_id=as_str(dig(obj, "context", "queue_item_id")),
                reason=description or str(code),
            )
        return Ignored(
            f"ChirpStack log {level} {code}: {description}", topic, device.dev_eui
        )

    _handlers: ClassVar[Mapping[str, _Handler]] = {
        "up": _up,
        "join": _join,
        "ack": _ack,
        "txack": _txack,
        "log": _log,
    }

    def address_fields(self) -> tuple[str, ...]:
        """The device's application, for all applications and when in the topic."""
        if (
            self.application_id == WILDCARD
            and "application_id" in self._command_topic.variables
        ):
            return ("application_id",)
        return ()

    def command_filter(self, dev_eui: str) -> str:
        """The command topic of dev_eui in the configured application(s)."""
        return self._command_topic.filter(
            {
                "application_id": self.application_id,
                "dev_eui": dev_eui,
                "command": "down",
            }
        )

    def downlink_message(
        self, device: DeviceRef, fields: DownlinkFields
    ) -> tuple[str, dict[str, Any]]:
        """command/down; devEui must equal the topic's EUI, id must be a UUID."""
        try:
            valid_id = str(uuid.UUID(fields.correlation_id)) == fields.correlation_id
        except ValueError:
            valid_id = False
        if not valid_id:
            raise DownlinkError(
                "ChirpStack v4 needs a lower-case UUID as correlation id, "
                f"got {fields.correlation_id!r}",
                DOWNLINK_INVALID_REQUEST,
            )
        topic = self._command_topic.render(
            {
                "application_id": application_of(device, self.application_id),
                "dev_eui": fields.dev_eui,
                "command": "down",
            }
        )
        body = {
            "id": fields.correlation_id,
            "devEui": fields.dev_eui,
            "confirmed": fields.confirmed,
            "fPort": fields.f_port,
            "data": fields.data,
        }
        return topic, body
