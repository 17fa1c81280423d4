"""The typed socket state on its own."""

from __future__ import annotations

from custom_components.csocket import codec
from custom_components.csocket.state import SocketState, Threshold

from .common import BASIC_INFO, REPORT


def test_decoded_frames_map_onto_typed_state() -> None:
    """Measurements, settings and identity land in typed fields."""
    state = SocketState()
    state.apply(codec.decode_uplink(bytes.fromhex(BASIC_INFO)))
    state.apply(
        {
            k: v
            for k, v in codec.decode_uplink(bytes.fromhex(REPORT)).items()
            if k != "socket_changed"
        }
    )
    assert state.measurements.voltage == 229.3
    assert state.measurements.socket_status is True
    assert state.reported.overcurrent_alarm == Threshold(enabled=True, threshold=10)
    assert state.reported.button_lock is True
    assert state.info.sn == "6148b13783621055"
    assert state.info.other["protocol_version"] == 1


def test_last_of_reported_and_sent_wins() -> None:
    """A sent setting shows until the socket reports that setting again."""
    state = SocketState()
    state.apply({"overcurrent_protection": {"enabled": False, "threshold": 0}})
    state.record_sent("overcurrent_protection", {"enabled": True, "threshold": 16})
    assert state.setting("overcurrent_protection") == Threshold(True, 16)
    state.apply({"overcurrent_protection": {"enabled": True, "threshold": 12}})
    assert state.setting("overcurrent_protection") == Threshold(True, 12)
    assert state.sent.overcurrent_protection is None
    assert state.setting("led_enabled") is None


def test_storage_form_round_trips() -> None:
    """values()/as_dict() are the stored form, also of earlier versions."""
    state = SocketState()
    state.apply({"voltage": 230.0, "sn": "00", "button_lock_time": 0})
    state.record_sent("report_interval", 300)
    again = SocketState.restore(state.values(), state.sent.as_dict())
    assert again == state
    assert state.values() == {"voltage": 230.0, "sn": "00", "button_lock_time": 0}
