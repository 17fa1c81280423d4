"""Chromium helpers: named steps with screenshots, and checks of every page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

# Debian's chromium; Playwright's own browsers are never downloaded.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Text of the page including every open shadow root (the frontend is made of them).
_DEEP_TEXT = """() => {
  const texts = [];
  const visit = (node) => {
    if (node.nodeType === Node.TEXT_NODE) { texts.push(node.data); return; }
    if (node.shadowRoot) visit(node.shadowRoot);
    for (const child of node.childNodes) visit(child);
  };
  visit(document.body);
  return texts.join(" ").replace(/\\s+/g, " ");
}"""

# ha-icon elements whose icon has no drawing: the name is not in the icon set.
_BLANK_ICONS = """() => {
  const blank = [];
  const visit = (node) => {
    if (node.localName === "ha-icon" && node.icon) {
      const svg = node.shadowRoot && node.shadowRoot.querySelector("ha-svg-icon");
      if (!svg || !svg.path) blank.push(node.icon);
    }
    if (node.shadowRoot) visit(node.shadowRoot);
    for (const child of node.children) visit(child);
  };
  visit(document.body);
  return blank;
}"""

# What the frontend shows as an error: alerts, form errors, toasts.
_ERRORS = """() => {
  const found = [];
  const visit = (node) => {
    const name = node.localName;
    if (name === "ha-alert" || name === "ha-toast" || name === "hui-error-card"
        || (node.classList && node.classList.contains("error"))) {
      const text = (node.innerText || node.textContent || "").trim();
      if (text) found.push(text);
    }
    if (node.shadowRoot) visit(node.shadowRoot);
    for (const child of node.children) visit(child);
  };
  visit(document.body);
  return found;
}"""

_RAW_KEY = re.compile(r"component\.csocket\.\S+|\[%key:[^\]]*\]")


def deep_text(page: Page) -> str:
    """Everything the page shows as text, shadow roots included."""
    return str(page.evaluate(_DEEP_TEXT))


def expect_text(page: Page, text: str, *, pattern: bool = False) -> None:
    """Wait until the page shows `text` (a regular expression if `pattern`)."""
    regex = text if pattern else re.escape(text)
    try:
        page.wait_for_function(
            f"(regex) => new RegExp(regex).test(({_DEEP_TEXT})())", arg=regex
        )
    except PlaywrightError:
        raise AssertionError(f"the page does not show {text!r}") from None


def errors_on_screen(page: Page) -> list[str]:
    """Error texts the frontend shows."""
    try:
        return [str(text) for text in page.evaluate(_ERRORS)]
    except PlaywrightError as err:
        return [f"(could not read the page: {err})"]


def check_page(page: Page) -> None:
    """No raw translation key and no blank icon on the page."""
    raw = _RAW_KEY.findall(deep_text(page))
    assert not raw, f"untranslated keys on the page: {sorted(set(raw))}"
    try:
        page.wait_for_function(f"() => ({_BLANK_ICONS})().length === 0", timeout=5000)
    except PlaywrightError:
        blank = page.evaluate(_BLANK_ICONS)
        raise AssertionError(f"blank icons on the page: {blank}") from None


class Steps:
    """Named steps: a screenshot after each, the failing one and its error text."""

    def __init__(self, page: Page, folder: Path) -> None:
        """Screenshots go to `folder` (emptied first)."""
        self.page = page
        self.folder = folder
        self.number = 0
        folder.mkdir(parents=True, exist_ok=True)
        for old in [*folder.glob("*.png"), *folder.glob("*.yaml")]:
            old.unlink()

    @contextmanager
    def __call__(self, name: str, *, check: bool = True) -> Iterator[None]:
        """Run one step; `check` the page afterwards."""
        self.number += 1
        label = (
            f"{self.number:02d}-{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}"
        )
        try:
            yield
            if check:
                check_page(self.page)
        except Exception as err:
            shot = self.folder / f"{label}-FAILED.png"
            self.page.screenshot(path=shot)
            # The accessibility tree tells what was there instead.
            with suppress(PlaywrightError):
                (self.folder / f"{label}-FAILED.aria.yaml").write_text(
                    self.page.locator("body").aria_snapshot(), encoding="utf-8"
                )
            raise AssertionError(
                f"UI step {self.number} '{name}' failed: {err}\n"
                f"On screen: {errors_on_screen(self.page) or 'no error shown'}\n"
                f"Screenshot: {shot}"
            ) from err
        self.page.screenshot(path=self.folder / f"{label}.png")
