"""A new user sets csocket up in the real frontend and uses a simulated socket.

Chromium drives Home Assistant's UI only: log in, add the integration typing
just the broker's host and port, look at a socket's device page, switch it,
run an action, and change the options and the configuration. Screenshots of
every step go to .artifacts/ui/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from .browser import CHROMIUM, CHROMIUM_ARGS, Steps
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


def test_new_user_sets_up_and_uses_a_socket(
    environment: Environment, page: Page
) -> None:
    """The whole first-time journey, through the UI only."""
    step = Steps(page, ARTIFACTS)

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

    with step("type only host and port"):
        page.get_by_role("textbox", name="Host").fill("127.0.0.1")
        page.get_by_role("spinbutton", name="Port").fill(str(environment.broker.port))
        page.get_by_role("button", name="Submit").click()
        expect(
            page.get_by_role("heading", name="ChirpStack v4 application")
        ).to_be_visible()

    with step("accept the application defaults"):
        page.get_by_role("button", name="Submit").click()
        expect(page.get_by_text("Success")).to_be_visible()
