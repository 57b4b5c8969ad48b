"""Debian's Chromium driven by Playwright, for the web pages' tests.

Never ``playwright install``: it downloads a browser, and these machines have no
Internet.  ``.ci/run`` installs Debian's ``chromium`` when it is missing.
"""

import os
import shutil

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def launch(playwright):
    executable = shutil.which("chromium")
    if executable is None:
        raise RuntimeError("Chromium is not installed: apt-get install chromium (.ci/run does)")
    return playwright.chromium.launch(executable_path=executable, args=FLAGS, headless=True)


def sign_in(page, server, user):
    """Sign ``user`` in through the form, as a person would."""
    page.goto(server.url + "/")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(server.passwords[user])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/board" in url or url.rstrip("/") == server.url)


def screenshot(page, folder, name: str) -> str:
    """Save a full-page PNG under the test's tmp folder (to look at) and return its path."""
    path = os.path.join(str(folder), f"{name}.png")
    page.screenshot(path=path, full_page=True)
    return path
