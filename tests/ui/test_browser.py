"""A new user sets csocket up in the real frontend and uses a simulated socket.

Chromium drives Home Assistant's UI only: log in, add the integration typing
just the broker's host and port, look at a socket's device page, switch it,
run an action, and change the options and the configuration. Screenshots of
every step go to .artifacts/ui/VERSION/ (Home Assistant's version).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Literal

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from .browser import CHROMIUM, CHROMIUM_ARGS, Steps, expect_text
from .environment import PASSWORD, ROOT, USERNAME, Environment

ARTIFACTS = ROOT / ".artifacts" / "ui"
SOCKET = "Kettle socket"  # the simulator's first socket; it starts switched off
ENTRY_TITLE = "ChirpStack v4 · 127.0.0.1"  # the entry the test creates
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


def sidebar(page: Page, name: str) -> Locator:
    """A sidebar entry: an option in 2025.4's sidebar, a link in 2026.11's.

    2026.11 counts what needs attention (repairs, updates) on either side of
    the name, e.g. "1 Settings 1".
    """
    return (
        page.get_by_role("option", name=name)
        .or_(page.get_by_role("link", name=re.compile(rf"^(\d+ )?{name}( \d+)?$")))
        .first
    )


def settings_item(page: Page, name: str) -> Locator:
    """An entry of the Settings page: a menu item in 2025.4, a link in 2026.11."""
    title = re.compile(f"^{re.escape(name)}")
    return (
        page.get_by_role("menuitem", name=title)
        .or_(page.get_by_role("link", name=title))
        .first
    )


def search_box(page: Page, name: str | re.Pattern[str]) -> Locator:
    """A search field: named in 2025.4, with only a placeholder in 2026.11.

    In 2025.4 the placeholder is also on the field's custom element, which
    takes no typing: only text boxes count.
    """
    textbox = page.get_by_role("textbox")
    return (
        page.get_by_role("textbox", name=name)
        .or_(textbox.and_(page.get_by_placeholder(name)))
        .first
    )


def page_tab(page: Page, name: str) -> Locator:
    """A tab of a page: a tab in 2025.4, a link in 2026.11."""
    return (
        page.get_by_role("tab", name=name)
        .or_(page.get_by_role("link", name=name, exact=True))
        .first
    )


def dialog_title(page: Page, title: str) -> Locator:
    """A dialog's title: a heading in 2025.4, the header's text in 2026.11.

    2026.11 slots the title into the dialog's header from outside the shadow
    root that holds the dialog role: a locator inside the dialog does not find
    it, the exact text does.
    """
    return (
        page.get_by_role("heading", name=title)
        .or_(page.get_by_text(title, exact=True))
        .first
    )


def dialogs(page: Page) -> Locator:
    """Open dialogs (2025.4's are alert dialogs)."""
    return page.get_by_role("alertdialog").or_(page.get_by_role("dialog"))


def form_field(
    page: Page, role: Literal["textbox", "spinbutton"], label: str
) -> Locator:
    """A form's field; 2026.11 marks a required one's label with "*"."""
    return page.get_by_role(role, name=re.compile(rf"^{re.escape(label)}\*?$"))


def open_developer_tools(page: Page) -> None:
    """2025.4's sidebar has Developer tools; 2026.11 has them as Settings → Tools."""
    if sidebar(page, "Developer tools").count():
        sidebar(page, "Developer tools").click()
        return
    sidebar(page, "Settings").click()
    settings_item(page, "Tools").click()


def open_device_page(page: Page) -> None:
    """Settings → Devices & services → Devices → the socket."""
    sidebar(page, "Settings").click()
    settings_item(page, "Devices & services").click()
    page_tab(page, "Devices").click()
    search_box(page, re.compile("^Search")).fill(SOCKET)
    page.get_by_text(SOCKET, exact=True).click()
    expect(page.get_by_role("heading", name="Device info")).to_be_visible()


def open_options(page: Page, timeout: str) -> None:
    """Open the entry's options and see `timeout` as the command timeout.

    Saving options reloads the entry: a click or a dialog opened while the page
    redraws its entry list can vanish, as it would for a user, who clicks again.
    """
    field = form_field(page, "spinbutton", "Command timeout")
    for _ in range(3):
        page.get_by_role("button", name="Configure").click()
        try:
            expect(dialog_title(page, "CSocket options")).to_be_visible(timeout=5000)
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
    expect(dialogs(page)).to_have_count(0)


def expect_section_defaults(page: Page) -> None:
    """The broker form's "TLS and client" section shows the real defaults."""
    use_tls = page.get_by_role("switch", name="Use TLS")
    expect(use_tls).to_be_visible()
    # Waits until the section has stopped opening (2026.11 animates it), so the
    # step's screenshot shows it open, as the user then sees it.
    use_tls.scroll_into_view_if_needed()
    expect(use_tls).not_to_be_checked()
    expect(
        page.get_by_role("switch", name="Verify the broker's hostname")
    ).to_be_checked()
    expect(form_field(page, "textbox", "Client ID")).to_have_value(
        re.compile(r"^csocket-\w+$")
    )


def test_new_user_sets_up_and_uses_a_socket(
    environment: Environment, page: Page
) -> None:
    """The whole first-time journey, through the UI only."""
    step = Steps(page, ARTIFACTS / environment.version)
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
        expect(sidebar(page, "Settings")).to_be_visible()

    with step("open add integration"):
        sidebar(page, "Settings").click()
        settings_item(page, "Devices & services").click()
        page.get_by_role("button", name="Add integration").click()
        search_box(page, "Search for a brand name").fill("csocket")
        page.get_by_text("CSocket LoRaWAN Smart Plug").click()
        expect(page.get_by_text("Network server").first).to_be_visible()

    with step("choose ChirpStack v4"):
        page.get_by_role("radio", name="ChirpStack v4").check()
        page.get_by_role("button", name="Submit").click()
        expect(dialog_title(page, "MQTT broker")).to_be_visible()

    with step("broker form shows its defaults"):
        page.get_by_text("TLS and client").click()
        expect_section_defaults(page)

    with step("type only host and port"):
        form_field(page, "textbox", "Host").fill("127.0.0.1")
        form_field(page, "spinbutton", "Port").fill(str(environment.broker.port))
        page.get_by_role("button", name="Submit").click()
        expect(dialog_title(page, "ChirpStack v4 application")).to_be_visible()

    with step("accept the application defaults"):
        page.get_by_role("button", name="Submit").click()
        # 2026.11 drops the exclamation mark.
        expect(
            page.get_by_role("heading", name="Success!").or_(
                page.get_by_text("Success", exact=True)
            )
        ).to_be_visible()
        expect(
            page.get_by_text(f"Created configuration for {ENTRY_TITLE}.")
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
        # "Toggle Kettle socket on" in 2025.4, without "on" in 2026.11, whose
        # switch draws its thumb over the input: a click at the input's place
        # lands on the thumb, as a user's does (playwright would wait for the
        # input itself to take the click).
        page.get_by_role(
            "switch", name=re.compile(f"^Toggle {re.escape(SOCKET)}( on)?$")
        ).click(force=True)
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
        open_developer_tools(page)
        page_tab(page, "Actions").click()
        # "Go to YAML mode" in 2025.4; 2026.11 has "UI mode" and "YAML mode".
        page.get_by_role("button", name=re.compile("^(Go to )?YAML mode$")).click()
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
        form_field(page, "spinbutton", "Command timeout").fill("45")
        page.get_by_role("button", name="Submit").click()
        expect(page.get_by_text("Options successfully saved.")).to_be_visible()
        page.get_by_role("button", name="Finish").click()
        # Opened again, the dialog shows the saved value.
        expect(dialogs(page)).to_have_count(0)
        open_options(page, "45")
        close_dialog(page)

    with step("reconfigure the broker"):
        # The entry's own menu, next to Configure (2026.11 lists the entry's
        # devices below it, each with a menu of its own).
        entry = (
            page.locator("*", has=page.get_by_text(ENTRY_TITLE, exact=True))
            .filter(has=page.get_by_role("button", name="Configure"))
            .last
        )
        entry.get_by_role("button", name="Menu").first.click()
        page.get_by_role("menuitem", name="Reconfigure").click()
        expect(dialog_title(page, "Reconfigure the MQTT broker")).to_be_visible()
        expect(form_field(page, "textbox", "Host")).to_have_value("127.0.0.1")
        page.get_by_text("TLS and client").click()
        expect_section_defaults(page)
        form_field(page, "textbox", "Client ID").fill("csocket-browser-test")
        page.get_by_role("button", name="Submit").click()
        expect(dialog_title(page, "ChirpStack v4 application")).to_be_visible()
        page.get_by_role("button", name="Submit").click()
        expect(
            page.get_by_text(
                # 2025.4's words, then 2026.11's
                re.compile(r"^Re-?configuration was successful\.?$")
            )
        ).to_be_visible()
