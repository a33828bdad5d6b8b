"""The settings page in a real headless Chromium (Debian's chromium and chromium-driver, driven by selenium).

Chromium talks to the real service on 127.0.0.1 only: every host name is
mapped there (--host-resolver-rules), and the tests run in the loopback-only
namespace anyway. The QR code on the screenshot is decoded with zbarimg
(zbar-tools). Screenshots of both languages, phone and desktop sized, are
saved under tests/artifacts/page/ (ignored by git) for a person to look at.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from support.configs import PAGE as CONFIG
from support.isolation import requires_isolation
from support.paths import ROOT
from support.service import Service

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
ZBARIMG = shutil.which("zbarimg")
ARTIFACTS = ROOT / "tests" / "artifacts" / "page"
VIEWPORTS = {"phone": (390, 844), "desktop": (1280, 900)}

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (requirements-test.txt)")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402 - after the skip
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

pytestmark = [
    requires_isolation,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"),
    pytest.mark.skipif(CHROMEDRIVER is None, reason="chromedriver is not installed (apt-get install chromium-driver)"),
]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    running = Service(tmp_path_factory.mktemp("page-browser"), CONFIG).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tmp_path_factory.mktemp("chromium-profile")
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root inside the test namespace
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * 127.0.0.1",  # every name is this machine: nothing else is asked
        "--no-proxy-server",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"download.default_directory": str(profile / "downloads")})
    log = tmp_path_factory.mktemp("chromedriver") / "chromedriver.log"
    driver = webdriver.Chrome(
        options=options, service=DriverService(executable_path=str(CHROMEDRIVER), log_output=str(log))
    )
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def url(service: Service, host: str, path: str = "/") -> str:
    return f"http://{host}:{service.port}{path}"


def screenshot(driver: webdriver.Chrome, name: str, width: int, height: int) -> Path:
    """The whole page at ``width``, as a person would scroll through it."""
    driver.set_window_size(width, height)
    full = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, max(height, int(full)))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(width, height)
    print(f"screenshot: {path}")
    return path


def test_the_page_renders_for_a_hosted_domain(service: Service, browser: webdriver.Chrome) -> None:
    from selenium.webdriver.common.by import By

    browser.get(url(service, "autoconfig.example.org"))
    assert browser.title == "Set up mail for example.org"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Set up mail for example.org"
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "imap.example.org" in body and "SSL/TLS" in body and "https://dav.example.org/" in body
    # The inline style applied (the CSP hash matched): the submit button is coloured.
    button = browser.find_element(By.CSS_SELECTOR, "button.primary")
    assert button.value_of_css_property("background-color") == "rgba(11, 87, 208, 1)"
    assert not browser.execute_script("return document.scripts.length")
    # The language switch.
    before = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.LINK_TEXT, "Deutsch").click()
    wait_for_the_next_page(browser, before)
    assert browser.find_element(By.TAG_NAME, "h1").text == "E-Mail einrichten für example.org"
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "de"


def wait_for_the_next_page(browser: webdriver.Chrome, before: WebElement) -> None:
    """Until ``before`` (the old page's root) is gone and the new page has loaded.

    Mid-navigation chromedriver may answer a question about the old
    element with "Node with given id does not belong to the document"
    instead of a stale-element error: that element is gone as well.
    """

    def replaced(_: object) -> bool:
        try:
            before.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc):
                return True
            raise
        return False

    WebDriverWait(browser, 10).until(replaced)
    WebDriverWait(browser, 10).until(lambda driver: driver.execute_script("return document.readyState") == "complete")


def submit_address(service: Service, browser: webdriver.Chrome, address: str, lang: str = "en") -> None:
    from selenium.webdriver.common.by import By

    browser.get(url(service, "autoconfig.example.org", f"/?lang={lang}"))
    field = browser.find_element(By.ID, "emailaddress")
    field.clear()
    field.send_keys(address)
    before = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.CSS_SELECTOR, "button.primary").click()
    wait_for_the_next_page(browser, before)


def test_the_form_leads_to_the_profile_link(service: Service, browser: webdriver.Chrome) -> None:
    from selenium.webdriver.common.by import By

    submit_address(service, browser, "fred@example.org")
    assert browser.current_url == url(service, "autoconfig.example.org", "/?emailaddress=fred%40example.org&lang=en")
    link = browser.find_element(By.LINK_TEXT, "Download the profile")
    assert link.get_attribute("href") == url(
        service, "autoconfig.example.org", "/email.mobileconfig?emailaddress=fred@example.org"
    )
    assert browser.find_element(By.ID, "emailaddress").get_attribute("value") == "fred@example.org"


def test_a_hostile_address_is_shown_as_text(service: Service, browser: webdriver.Chrome) -> None:
    from selenium.webdriver.common.by import By

    hostile = '"><script>document.title="owned"</script>@example.org'
    submit_address(service, browser, hostile)
    assert browser.title == "Set up mail for example.org"
    assert browser.find_element(By.CSS_SELECTOR, ".address").text == hostile
    assert not browser.execute_script("return document.scripts.length")
    submit_address(service, browser, "no address")
    assert "That is not a mail address" in browser.find_element(By.CSS_SELECTOR, ".error").text


def test_the_profile_link_downloads_an_apple_profile(service: Service, browser: webdriver.Chrome) -> None:
    from selenium.webdriver.common.by import By

    submit_address(service, browser, "fred@example.org")
    href = browser.find_element(By.LINK_TEXT, "Download the profile").get_attribute("href")
    assert href is not None
    # What the link downloads, asked the way the browser asks it (same Host, same path).
    link = urlsplit(href)
    assert link.path == "/email.mobileconfig"
    answer = service.get(f"{link.path}?{link.query}", host=link.netloc)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/x-apple-aspen-config")


@pytest.mark.skipif(ZBARIMG is None, reason="zbarimg is not installed (apt-get install zbar-tools)")
def test_the_qr_code_decodes_to_the_profile_url(service: Service, browser: webdriver.Chrome) -> None:
    from selenium.webdriver.common.by import By

    submit_address(service, browser, "jürgen@example.org")
    browser.set_window_size(*VIEWPORTS["desktop"])
    code = browser.find_element(By.CSS_SELECTOR, "svg.qr")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    image = ARTIFACTS / "qr.png"
    code.screenshot(str(image))
    decoded = subprocess.run(
        [str(ZBARIMG), "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", str(image)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert decoded.returncode == 0, decoded.stderr
    expected = f"https://autoconfig.example.org:{service.port}/email.mobileconfig?emailaddress=j%C3%BCrgen@example.org"
    assert decoded.stdout.strip() == expected


@pytest.mark.parametrize("lang", ["en", "de"])
@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_screenshots(service: Service, browser: webdriver.Chrome, lang: str, viewport: str) -> None:
    """Both languages on a phone and a desktop, the per-address block shown: saved for a person to look at."""
    width, height = VIEWPORTS[viewport]
    browser.set_window_size(width, height)
    browser.get(url(service, "autoconfig.example.org", f"/?lang={lang}&emailaddress=fred%40example.org"))
    page_width = browser.execute_script("return document.documentElement.scrollWidth")
    assert page_width <= width, "the page scrolls sideways"
    path = screenshot(browser, f"{lang}-{viewport}", width, height)
    assert path.stat().st_size > 10_000


def test_an_unhosted_domain_gets_the_404_page(service: Service, browser: webdriver.Chrome) -> None:
    from selenium.webdriver.common.by import By

    browser.get(url(service, "autoconfig.other.test"))
    assert browser.title == "No mail settings here"
    assert "example" not in browser.page_source
    assert browser.find_element(By.TAG_NAME, "h1").text == "No mail settings here"
