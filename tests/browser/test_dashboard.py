"""The dashboard in a real Chromium against a real `ntrader serve` with a token: sign in,
start a backtest from the form and watch it complete, open its report, find it in the runs
table, open its run page and compare it with another run."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.api.server import (
    SMA_BODY,
    Server,
    running_server,
    store_with_sample_bars,
    wait_for_end,
)
from tests.browser.test_html_report import driver  # noqa: F401 (the headless Chromium fixture)

pytestmark = pytest.mark.slow

TOKEN = "dashboard-token-5d21"
WAIT_S = 60.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    url = f"sqlite:///{tmp_path / 'ntrader.db'}"
    store_with_sample_bars(url)
    with running_server(url, tmp_path, jobs=2, env={"NTRADER_API_TOKEN": TOKEN}) as running:
        yield running


def _until(condition: Callable[[], object], what: str) -> object:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def _start_from_the_form(chrome) -> str:  # type: ignore[no-untyped-def]
    """Fill the new-backtest form, submit, follow the live status to COMPLETED; the run id."""
    from selenium.webdriver.common.by import By

    chrome.find_element(By.LINK_TEXT, "New backtest").click()
    form = _until(lambda: chrome.find_elements(By.ID, "new-run"), "the form")
    assert form
    # Prefilled from the store: its first instrument and that one's range.
    assert str(chrome.find_element(By.ID, "instruments").get_attribute("value")).startswith("AAPL")
    for field, value in (("instruments", "AAPL"), ("start", "2020-01-01"), ("end", "2021-06-30")):
        chrome.execute_script(
            "document.getElementById(arguments[0]).value = arguments[1]", field, value
        )
    parameters = chrome.find_element(By.ID, "parameters")
    parameters.clear()
    parameters.send_keys('{"fast_period": 5, "slow_period": 30}')
    chrome.find_element(By.ID, "submit-run").click()
    _until(lambda: chrome.find_element(By.ID, "run-done").is_displayed(), "the run to end")
    assert chrome.find_element(By.ID, "run-status").text == "COMPLETED"
    href = chrome.find_element(By.ID, "run-link").get_attribute("href")
    return str(href).rsplit("id=", 1)[1]


def test_dashboard_start_follow_list_open_compare(driver, server: Server) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    chrome = driver
    # A second run to compare with, submitted over HTTP: it runs while the browser works.
    with server.client() as client:
        response = client.post("/api/v1/backtests", json={**SMA_BODY, "instruments": ["AAPL"]})
        assert response.status_code == 202, response.text
        second = response.json()["id"]
    chrome.get(server.url + "/")
    # The shell holds no data and asks for the token; it never goes into a URL.
    _until(lambda: chrome.find_element(By.ID, "login").is_displayed(), "the sign-in form")
    chrome.find_element(By.ID, "token").send_keys(TOKEN)
    chrome.find_element(By.CSS_SELECTOR, "#login button").click()
    _until(lambda: chrome.find_elements(By.ID, "filters"), "the runs table")
    # Reading the log empties it: before sign-in only the fragment was refused.
    refused = [entry["message"] for entry in chrome.get_log("browser")]
    assert all("/dashboard/runs" in text and "401" in text for text in refused), refused

    first = _start_from_the_form(chrome)
    chrome.find_element(By.ID, "run-report").click()
    _until(lambda: chrome.current_url.startswith("blob:"), "the report")
    drawn = _until(
        lambda: chrome.find_elements(By.CSS_SELECTOR, "div.chart .main-svg"), "report charts"
    )
    assert len(drawn) >= 5 and first[:8] in chrome.title + chrome.page_source

    with server.client() as client:
        assert wait_for_end(client, second)["status"] == "COMPLETED"
    chrome.get(server.url + "/")
    rows = _until(lambda: chrome.find_elements(By.CSS_SELECTOR, "#runs tbody tr"), "runs")
    assert [row.get_attribute("data-run") for row in rows] == [first, second]
    Select(chrome.find_element(By.NAME, "status")).select_by_visible_text("FAILED")
    _until(lambda: "No backtests match" in chrome.page_source, "the status filter")
    assert "status=FAILED" in chrome.current_url and TOKEN not in chrome.current_url
    Select(chrome.find_element(By.NAME, "status")).select_by_visible_text("COMPLETED")
    _until(lambda: len(chrome.find_elements(By.CSS_SELECTOR, "#runs tbody tr")) == 2, "rows")
    # Sorting is the report's own table script: oldest first after a click on Created.
    chrome.find_element(By.XPATH, "//table[@id='runs']//th[.='Created (UTC)']").click()
    rows = chrome.find_elements(By.CSS_SELECTOR, "#runs tbody tr")
    assert [row.get_attribute("data-run") for row in rows] == [second, first]

    for box in chrome.find_elements(By.CSS_SELECTOR, ".pick"):
        box.click()
    chrome.find_element(By.ID, "compare").click()
    frame = _until(lambda: chrome.find_elements(By.ID, "comparison"), "the comparison")
    chrome.switch_to.frame(frame[0])  # type: ignore[index]
    _until(lambda: chrome.find_elements(By.CSS_SELECTOR, ".main-svg"), "comparison charts")
    chrome.switch_to.default_content()

    chrome.get(server.url + "/")
    link = _until(lambda: chrome.find_elements(By.LINK_TEXT, first[:8]), "the first run")
    link[0].click()  # type: ignore[index]
    _until(lambda: chrome.find_elements(By.CSS_SELECTOR, "#fig-equity .main-svg"), "equity")
    assert chrome.find_elements(By.CSS_SELECTOR, "#fig-underwater .main-svg")
    assert "Sharpe ratio" in chrome.page_source
    assert len(chrome.find_elements(By.CSS_SELECTOR, "table.sortable tbody tr")) > 1
    severe = [entry for entry in chrome.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []
