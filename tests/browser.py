"""Headless Chromium for the widget tests: serve a built book on localhost, read the explorer
panel on show, press a slider, list every URL a page asked for."""
import contextlib
import functools
import http.server
import json
import threading
from pathlib import Path
from urllib.parse import urlparse

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@contextlib.contextmanager
def serve(html: Path):
    """The built book on a free localhost port; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def chromium(profile: Path):
    """Headless Chromium that logs every network request it makes."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync",
                 "--window-size=1000,900"):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


# The panel on show (the Stack view renders only its selected child), read as
# the centre pixel of its image, so the test sees pixels, not just a new URL.
VISIBLE = """
const shown = e => e.offsetParent !== null;
const img = [...document.querySelectorAll('img.widget-image')].filter(shown);
const cap = [...document.querySelectorAll('.widget-html-content')].filter(shown);
const centre = e => {
  if (!e.complete || !e.naturalWidth) return null;
  const c = document.createElement('canvas');
  c.width = e.naturalWidth; c.height = e.naturalHeight;
  const g = c.getContext('2d');
  g.drawImage(e, 0, 0);
  return Array.from(g.getImageData(c.width >> 1, c.height >> 1, 1, 1).data.slice(0, 3));
};
return [img.map(centre), cap.map(e => e.textContent.trim())];
"""


def visible(driver):
    """(centre RGB, caption) of the panel on show; waits until it has loaded."""
    from selenium.webdriver.support.ui import WebDriverWait

    def one_loaded(d):
        pixels, caps = d.execute_script(VISIBLE)
        return (pixels[0], caps[0]) if len(pixels) == len(caps) == 1 and pixels[0] else None

    return WebDriverWait(driver, 30).until(one_loaded)


def press_right(driver, slider_index: int, before):
    """Arrow-right on a slider handle; wait for the panel on show (pixels, caption) to change."""
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    handles = driver.find_elements("css selector", ".widget-slider .noUi-handle")
    handles[slider_index].click()
    handles[slider_index].send_keys(Keys.ARROW_RIGHT)
    WebDriverWait(driver, 10).until(lambda d: visible(d) != before)
    return visible(driver)


def requested_urls(driver) -> set[str]:
    """Every URL the page asked for: DevTools log plus resource timing."""
    urls = set(driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)"))
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.add(message["params"]["request"]["url"])
    return urls


def is_local(url: str) -> bool:
    parts = urlparse(url)
    # chrome:// pages are browser-internal resources, never network requests.
    return parts.scheme in ("data", "blob", "file", "chrome") or parts.hostname in ("127.0.0.1", "localhost")
