"""Browser helpers for tests: Debian's Chromium driven by Playwright, and axe-core checks.

Chromium is ``/usr/bin/chromium`` (``apt-get install chromium``), never a browser downloaded by
``playwright install``. axe-core comes from the npm registry into ``tests/browser-deps``
(``scripts/ensure-browser`` installs both). When either is missing the browser tests skip,
except with ``CI=true``, where they fail: nothing may skip in CI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("CHASER_CHROMIUM", "/usr/bin/chromium"))
AXE = Path(__file__).resolve().parent / "browser-deps" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: WCAG 2.0, 2.1 and 2.2, levels A and AA.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
HOWTO = "install with: apt-get install chromium; scripts/ensure-browser"


def _missing(what: str) -> None:
    message = f"{what} is missing; {HOWTO}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true but {message}")
    pytest.skip(message)


def require_browser() -> None:
    """Skip (fail in CI) unless Chromium, Playwright and axe-core are all here."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("the playwright Python package")
    if not CHROMIUM.exists():
        _missing(str(CHROMIUM))
    if not AXE.exists():
        _missing(f"axe-core ({AXE})")


@contextmanager
def chromium_page(*, trust_test_certificates: bool = False) -> Iterator[Any]:
    """A fresh headless Chromium page; its console errors are collected in ``page.errors``.

    ``trust_test_certificates`` lets it open the local fakes of Microsoft's servers, whose
    certificates come from the tests' own CA."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(
                viewport={"width": 1024, "height": 900},
                ignore_https_errors=trust_test_certificates,
            )
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.errors = errors  # type: ignore[attr-defined]
            yield page
        finally:
            browser.close()


def click_and_wait(page: Any, target: Any) -> None:
    """Click a link or a form's button and return once the page it leads to has loaded.

    A bare ``click()`` returns as soon as the navigation starts, so a check straight after it
    can look at the page being left, or at one half parsed, and fail at random."""
    with page.expect_navigation():
        target.click()


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.2 A and AA violations on the page as it is now (empty means none).

    The script is evaluated through the DevTools protocol, so the page's Content-Security-Policy
    (which allows no script) stays in force for the page itself.
    """
    require_browser()
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result: dict[str, Any] = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS
    )
    violations: list[dict[str, Any]] = result["violations"]
    return violations


def describe(violations: list[dict[str, Any]]) -> str:
    """Violations as readable lines for an assertion message."""
    return "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(n["target"]) for n in v["nodes"][:5])
        for v in violations
    )
