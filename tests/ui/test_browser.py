"""A new user sets csocket up in the real frontend and uses a simulated socket.

Chromium drives Home Assistant's UI only: log in, add the integration typing
just the broker's host and port, look at a socket's device page, switch it,
run an action, and change the options and the configuration. Screenshots of
every step go to .artifacts/ui/.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from .browser import CHROMIUM, CHROMIUM_ARGS, Steps, expect_text
from .environment import PASSWORD, ROOT, USERNAME, Environment

ARTIFACTS = ROOT / ".artifacts" / "ui"
SOCKET = "Kettle socket"  # the simulator's first socket; it starts switched off
TIMEOUT_MS = 20_000
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture
def environment(tmp_path: Path) -> Iterator[Environment]:
    """Mosquitto and Home Assistant running; stopped afterwards."""
    env = Environment(tmp_path)
    try:
        env.start()
        yield env
    finally:
        env.stop()


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """One tab, large enough for the device page's cards side by side."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    context.close()


def open_device_page(page: Page) -> None:
    """Settings → Devices & services → Devices → the socket."""
    page.get_by_role("option", name="Settings").first.click()
    page.get_by_role("menuitem", name=re.compile("^Devices & services")).click()
    page.get_by_role("tab", name="Devices").click()
    page.get_by_role("textbox", name="Search").fill(SOCKET)
    page.get_by_text(SOCKET, exact=True).click()
    expect(page.get_by_role("heading", name="Device info")).to_be_visible()


def open_options(page: Page, timeout: str) -> None:
    """Open the entry's options and see `timeout` as the command timeout.

    Saving options reloads the entry: a click or a dialog opened while the page
    redraws its entry list can vanish, as it would for a user, who clicks again.
    """
    field = page.get_by_role("spinbutton", name="Command timeout")
    for _ in range(3):
        page.get_by_role("button", name="Configure").click()
        try:
            expect(page.get_by_role("heading", name="CSocket options")).to_be_visible(
                timeout=5000
            )
            expect(field).to_have_value(timeout, timeout=5000)
        except AssertionError:
            page.keyboard.press("Escape")
            continue
        return
    expect(field).to_have_value(timeout)


def close_dialog(page: Page) -> None:
    """Close the open dialog; the reload that saving started may close it first.

    The entry's reload redraws the entry list, which takes a dialog opened
    from it along, at any moment, also after `open_options` saw it.
    """
    # Gone with the redraw, the click times out; the check below says so.
    with suppress(PlaywrightTimeoutError):
        page.get_by_role("button", name="Close").click(timeout=5000)
    expect(page.get_by_role("alertdialog")).to_have_count(0)


def expect_section_defaults(page: Page) -> None:
    """The broker form's "TLS and client" section shows the real defaults."""
    expect(page.get_by_role("switch", name="Use TLS")).to_be_visible()
    expect(page.get_by_role("switch", name="Use TLS")).not_to_be_checked()
    expect(
        page.get_by_role("switch", name="Verify the broker's hostname")
    ).to_be_checked()
    expect(page.get_by_role("textbox", name="Client ID")).to_have_value(
        re.compile(r"^csocket-\w+$")
    )


def test_new_user_sets_up_and_uses_a_socket(
    environment: Environment, page: Page
) -> None:
    """The whole first-time journey, through the UI only."""
    step = Steps(page, ARTIFACTS)
    add_integration(page, environment, step)
    environment.start_simulator()
    use_socket(page, environment, step)
    change_settings(page, step)
    assert not environment.home_assistant_errors()


def add_integration(page: Page, environment: Environment, step: Steps) -> None:
    """Log in, then add csocket typing only the broker's host and port."""
    with step("log in"):
        page.goto(environment.url)
        page.get_by_role("textbox", name="Username").fill(USERNAME)
        page.get_by_role("textbox", name="Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("option", name="Settings").first).to_be_visible()

    with step("open add integration"):
        page.get_by_role("option", name="Settings").first.click()
        page.get_by_role("menuitem", name=re.compile("^Devices & services")).click()
        page.get_by_role("button", name="Add integration").click()
        page.get_by_role("textbox", name="Search for a brand name").fill("csocket")
        page.get_by_text("CSocket LoRaWAN Smart Plug").click()
        expect(page.get_by_text("Network server").first).to_be_visible()

    with step("choose ChirpStack v4"):
        page.get_by_role("radio", name="ChirpStack v4").check()
        page.get_by_role("button", name="Submit").click()
        expect(page.get_by_role("heading", name="MQTT broker")).to_be_visible()

    with step("broker form shows its defaults"):
        page.get_by_text("TLS and client").click()
        expect_section_defaults(page)

    with step("type only host and port"):
        page.get_by_role("textbox", name="Host").fill("127.0.0.1")
        page.get_by_role("spinbutton", name="Port").fill(str(environment.broker.port))
        page.get_by_role("button", name="Submit").click()
        expect(
            page.get_by_role("heading", name="ChirpStack v4 application")
        ).to_be_visible()

    with step("accept the application defaults"):
        page.get_by_role("button", name="Submit").click()
        expect(page.get_by_role("heading", name="Success!")).to_be_visible()
        expect(
            page.get_by_text("Created configuration for ChirpStack v4 · 127.0.0.1.")
        ).to_be_visible()
        page.get_by_role("button", name="Finish").click()


def use_socket(page: Page, environment: Environment, step: Steps) -> None:
    """Values with units, the switch, and an action from Developer tools."""
    reading = environment.wait_for_reading(SOCKET)

    with step("open the socket's device page"):
        open_device_page(page)
        expect(page.get_by_role("heading", name="Device info")).to_be_visible()
        expect(
            page.get_by_text("IOT-CSOCKET LoRaWAN smart plug (WS523)")
        ).to_be_visible()
        expect_text(page, f"Voltage {reading.voltage:.1f} V")
        expect_text(page, f"Power {reading.power:,} W")
        expect_text(page, f"Energy {reading.energy / 1000:,.3f} kWh")
    device_id = page.url.rstrip("/").rsplit("/", 1)[-1]

    with step("switch the socket on"):
        clicked = time.time()
        page.get_by_role("switch", name=f"Toggle {SOCKET} on").click()
        # When the frontend first holds the new state (the toggle itself moves
        # at once: the frontend is optimistic, the integration is not).
        changed = page.wait_for_function(
            """(id) => {
              const state = document.querySelector("home-assistant").hass.states[id];
              return state && state.state === "on" ? Date.now() / 1000 : false;
            }""",
            arg="switch.kettle_socket",
            polling="raf",
        ).json_value()
        report = next(r for r in environment.readings(SOCKET) if r.on)
        assert clicked < report.at <= changed, (clicked, report.at, changed)
        expect_text(page, f"Power {report.power:,} W")

    with step("add a delay task in developer tools"):
        page.get_by_role("option", name="Developer tools").first.click()
        page.get_by_role("tab", name="Actions").click()
        page.get_by_role("button", name="Go to YAML mode").click()
        editor = page.locator("ha-code-editor .cm-content")
        editor.click()
        page.keyboard.press("ControlOrMeta+a")
        # insert_text: typing would add the editor's auto-indentation.
        page.keyboard.insert_text(
            "action: csocket.add_delay_task\n"
            "data:\n"
            f"  device_id: {device_id}\n"
            '  delay: "00:30:00"\n'
            '  action: "off"\n'
        )
        page.get_by_role("button", name="Perform action").click()

    with step("see the delay task on the device page"):
        open_device_page(page)
        # The socket confirms the task; the sensor shows when it fires.
        expect_text(page, r"Delay task [Ii]n (29|30) minutes", pattern=True)


def change_settings(page: Page, step: Steps) -> None:
    """The options dialog and the reconfigure dialog save a changed value."""

    with step("change an option"):
        page.get_by_role("link", name="CSocket LoRaWAN Smart Plug").click()
        open_options(page, "30")
        page.get_by_role("spinbutton", name="Command timeout").fill("45")
        page.get_by_role("button", name="Submit").click()
        expect(page.get_by_text("Options successfully saved.")).to_be_visible()
        page.get_by_role("button", name="Finish").click()
        # Opened again, the dialog shows the saved value.
        expect(page.get_by_role("alertdialog")).to_have_count(0)
        open_options(page, "45")
        close_dialog(page)

    with step("reconfigure the broker"):
        page.get_by_role("button", name="Menu").last.click()
        page.get_by_role("menuitem", name="Reconfigure").click()
        expect(
            page.get_by_role("heading", name="Reconfigure the MQTT broker")
        ).to_be_visible()
        expect(page.get_by_role("textbox", name="Host")).to_have_value("127.0.0.1")
        page.get_by_text("TLS and client").click()
        expect_section_defaults(page)
        page.get_by_role("textbox", name="Client ID").fill("csocket-browser-test")
        page.get_by_role("button", name="Submit").click()
        expect(
            page.get_by_role("heading", name="ChirpStack v4 application")
        ).to_be_visible()
        page.get_by_role("button", name="Submit").click()
        expect(page.get_by_text("Re-configuration was successful.")).to_be_visible()
