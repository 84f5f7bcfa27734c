"""The HTML report in a real browser: headless Chromium renders every chart, offline, with
no console errors. Needs the Debian packages ``chromium`` and ``chromium-driver``."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from ntrader.db.database import Database
from ntrader.models.backtest import BacktestConfig
from ntrader.services.backtest_service import BacktestService
from ntrader.services.data_service import DataService, ImportRequest
from ntrader.services.reports.service import ReportService
from tests.conftest import IN_CI, REPO_ROOT

pytestmark = pytest.mark.slow

SCREENSHOTS = REPO_ROOT / "reports" / "screenshots"
CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)


def _binaries() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    reason = "headless Chromium is not installed (apt-get install chromium chromium-driver)"
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: the browser test must run)")
    pytest.skip(reason)


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[object]:
    browser, driver_path = _binaries()
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chrome-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(service=Service(driver_path), options=options)
    yield chrome
    chrome.quit()


def _report(tmp_path: Path, sample_dir: Path, **config: object) -> Path:
    database = Database(f"sqlite:///{tmp_path / 'ntrader.db'}")
    data = DataService(database)
    for name, symbol in (("AAPL_daily.csv", "AAPL"), ("SPY_daily.csv", "SPY")):
        data.import_csv(ImportRequest(file=sample_dir / name, instrument=symbol))
    settings: dict[str, object] = {
        "strategy_type": "sma",
        "instruments": ("AAPL", "SPY"),
        "start": date(2019, 1, 1),
        "end": date(2024, 12, 31),
        "parameters": {"fast_period": 5, "slow_period": 20},
    }
    settings.update(config)
    run = BacktestService(database).run(BacktestConfig(**settings)).run
    record = ReportService(database).generate(run.id, "html", tmp_path / "report.html")
    database.dispose()
    return Path(record.file_path)


def _wait_for_charts(chrome, expected: int) -> list[object]:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + 20
    while True:
        charts = chrome.find_elements(By.CSS_SELECTOR, "div.chart")
        drawn = [c for c in charts if c.find_elements(By.CSS_SELECTOR, ".main-svg")]
        if len(drawn) >= expected or time.monotonic() > deadline:
            return drawn
        time.sleep(0.1)


def test_every_chart_renders_offline_without_console_errors(
    driver, tmp_path: Path, sample_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    path = _report(tmp_path, sample_dir)
    driver.get(path.as_uri())
    # Equity, drawdown, monthly, yearly, distribution, 3 rolling, 2 price charts, trade PnL.
    drawn = _wait_for_charts(driver, 11)
    assert len(drawn) == 11, "some charts did not render"
    severe = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []
    # The candlesticks and markers were drawn, not just empty axes.
    price = driver.find_element(By.ID, "fig-price-0")
    assert price.find_elements(By.CSS_SELECTOR, "g.trace.boxes, g.cartesianlayer path")

    # The trade table sorts on a header click: PnL ascending puts the worst trade first.
    header = driver.find_element(By.XPATH, "//table[contains(@class,'sortable')]//th[.='PnL']")
    header.click()
    first = driver.find_element(By.CSS_SELECTOR, "table.sortable tbody tr td:nth-child(11)")
    values = [
        float(cell.get_attribute("data-v"))
        for cell in driver.find_elements(By.CSS_SELECTOR, "table.sortable tbody td:nth-child(11)")
        if cell.get_attribute("data-v")
    ]
    assert float(first.get_attribute("data-v")) == min(values)
    assert header.get_attribute("aria-sort") == "ascending"

    driver.execute_script("window.scrollTo(0, 0)")
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1400, height)
    screenshot = tmp_path / "html_report.png"
    assert driver.save_screenshot(str(screenshot))
    # A copy where people look for it; reports/ is in .gitignore, never committed.
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(screenshot, SCREENSHOTS / screenshot.name)
    print(f"screenshot: {screenshot} (copy: {SCREENSHOTS / screenshot.name})")


def test_a_report_without_benchmark_renders_too(driver, tmp_path: Path, sample_dir: Path) -> None:  # type: ignore[no-untyped-def]
    path = _report(
        tmp_path, sample_dir, instruments=("AAPL",), benchmark="QQQ", end=date(2020, 12, 31)
    )
    driver.get(path.as_uri())
    # No rolling beta without a benchmark; one price chart.
    assert len(_wait_for_charts(driver, 9)) == 9
    assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    assert "No daily bars of the benchmark QQQ" in driver.page_source
