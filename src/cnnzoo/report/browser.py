"""The site checked in a real browser: Debian's headless Chromium, driven through its
ChromeDriver by selenium.

:func:`open_browser` starts one headless session (no network: the pages are files);
:func:`load_page` opens a page and returns what a reader would meet: its title, its console
messages of level warning or worse (uncaught errors, failed loads), and the rendered text of any
table by id; :func:`screenshot` writes a PNG of the whole page.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cnnzoo.files import write_atomic

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
CHROMEDRIVER = ("chromedriver",)
INSTALL = "apt-get install chromium chromium-driver"
WINDOW = (1400, 1000)  # pixels: the screenshots' width, and the height a page starts from
SEVERITIES = ("SEVERE", "WARNING")  # console levels counted as a page's problems


@dataclass(frozen=True)
class PageLoad:
    """What a page showed.

    Args:
        path: the file opened.
        title: the document's title.
        console: console messages at a level of :data:`SEVERITIES`, as ``"LEVEL message"``.
        broken_images: sources of ``<img>`` elements that did not decode.
    """

    path: str
    title: str
    console: tuple[str, ...]
    broken_images: tuple[str, ...]


def find_programs() -> tuple[str, str]:
    """The Chromium and ChromeDriver executables.

    Raises:
        ValueError: either is missing (the line says what to install).
    """
    browser = next((p for p in map(shutil.which, CHROMIUM) if p), None)
    driver = next((p for p in map(shutil.which, CHROMEDRIVER) if p), None)
    if browser is None or driver is None:
        missing = " and ".join(
            n for n, p in (("chromium", browser), ("chromedriver", driver)) if p is None
        )
        raise ValueError(f"the browser check needs {missing}: run `{INSTALL}` as root")
    return browser, driver


# Chromium's own traffic (updates, sync, field trials) off: an offline page must not meet it.
QUIET = (
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-default-browser-check",
)
NO_PROXY = "127.0.0.1:9"  # a proxy on the discard port: any request the page makes fails


@contextmanager
def open_browser(
    width: int = WINDOW[0],
    height: int = WINDOW[1],
    *,
    offline: bool = False,
    fake_camera: bool = False,
) -> Iterator:
    """A headless Chromium session (selenium ``WebDriver``), closed on exit.

    Args:
        width, height: the window.
        offline: networking off (every request goes to a dead proxy, and the DevTools network
            emulation is offline), pages opened from files get no more access to other files
            than a reader's browser gives them, and the requests made are logged
            (:func:`requested_urls`).
        fake_camera: pages get Chromium's test camera (moving frames) without being asked.

    Raises:
        ValueError: selenium, Chromium or ChromeDriver is missing.
    """
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise ValueError(
            "the browser check needs selenium: pip install 'cnnzoo[browser]'"
        ) from None
    browser, driver_path = find_programs()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    flags = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
        *QUIET,
    ]
    flags += [f"--proxy-server={NO_PROXY}"] if offline else ["--allow-file-access-from-files"]
    if fake_camera:
        flags += ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    for flag in flags:
        options.add_argument(flag)
    logs = {"browser": "ALL", **({"performance": "ALL"} if offline else {})}  # + requests made
    options.set_capability("goog:loggingPrefs", logs)
    # an explicit driver path: selenium then never tries to download one
    session = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        if offline:
            session.execute_cdp_cmd("Network.enable", {})
            session.execute_cdp_cmd(
                "Network.emulateNetworkConditions",
                {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
            )
        yield session
    finally:
        session.quit()


def load_page(session, path: str | Path) -> PageLoad:
    """Open ``path`` and wait for it to load; its title, console problems and broken images."""
    path = Path(path).resolve()
    session.get_log("browser")  # drop what an earlier page left
    session.get(path.as_uri())
    # wait until every image has loaded or failed (a busy machine may still be decoding one)
    broken = session.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const images = Array.from(document.images);"
        "Promise.all(images.map(i => i.decode().catch(() => null))).then(() => done(images"
        ".filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src'))));"
    )
    console = tuple(
        f"{e['level']} {e['message']}"
        for e in session.get_log("browser")
        if e.get("level") in SEVERITIES
    )
    return PageLoad(str(path), session.title, console, tuple(broken))


def requested_urls(session) -> list[str]:
    """The URLs the pages of an ``offline`` session asked for since the last call (DevTools'
    ``Network.requestWillBeSent`` events, from the performance log)."""
    urls = []
    for entry in session.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def table_text(session, table_id: str) -> list[list[str]]:
    """The rendered text of each body cell of the table with id ``table_id``, row by row."""
    return session.execute_script(
        "const t = document.getElementById(arguments[0]);"
        "return t ? Array.from(t.tBodies[0].rows)"
        ".map(r => Array.from(r.cells).map(c => c.innerText.trim())) : null;",
        table_id,
    )


def screenshot(session, path: str | Path, *, full_page: bool = True) -> Path:
    """A PNG of the page open in ``session``: the whole page, or the window's part of it."""
    if full_page:
        shot = session.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
        )
        data = base64.b64decode(shot["data"])
    else:
        data = session.get_screenshot_as_png()
    return write_atomic(path, lambda tmp: tmp.write_bytes(data))


def check_site(
    site: str | Path, pages: list[str], screenshots: str | Path | None = None
) -> list[PageLoad]:
    """Load every page of a written site in one headless session.

    Args:
        site: the site's folder.
        pages: page names relative to it.
        screenshots: a folder for one PNG of each page's first screen (none if ``None``).

    Returns:
        One :class:`PageLoad` per page, in order.
    """
    loads = []
    with open_browser() as session:
        for name in pages:
            loads.append(load_page(session, Path(site) / name))
            if screenshots is not None:
                screenshot(session, Path(screenshots) / f"{Path(name).stem}.png", full_page=False)
    return loads
