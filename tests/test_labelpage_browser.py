"""The labelling page in a real headless Chromium (Debian's chromium + chromium-driver, driven
by Selenium; no browser download): keys label the shown items, Backspace undoes, Space skips,
the progress panel follows, and a screenshot shows the page as drawn.

Skipped with the reason when Selenium, chromium or chromedriver is absent; ``.ci/run``
installs them (``apt-get install chromium chromium-driver``), so CI runs it."""

import io
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

pytest.importorskip("flask")


def _find(env, *names):
    for name in (os.environ.get(env), *names):
        if name and (path := shutil.which(name) or (Path(name).is_file() and name)):
            return str(path)
    return None


CHROMIUM = _find("ACTIVEKIT_CHROMIUM", "chromium", "chromium-browser")
CHROMEDRIVER = _find("ACTIVEKIT_CHROMEDRIVER", "chromedriver", "/usr/lib/chromium/chromedriver")
WHY = (
    "needs Selenium and Debian's chromium + chromium-driver (apt-get install chromium "
    "chromium-driver; or set ACTIVEKIT_CHROMIUM / ACTIVEKIT_CHROMEDRIVER); .ci/run installs them"
)
try:
    import selenium  # noqa: F401
except ImportError:
    MISSING = "selenium is not installed"
else:
    MISSING = next(
        (f"{name} not found" for name, path in [("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)] if path is None),
        None,
    )
# .ci/run sets ACTIVEKIT_REQUIRE_BROWSER: there a missing browser fails the test instead.
REQUIRED = bool(os.environ.get("ACTIVEKIT_REQUIRE_BROWSER"))
if MISSING and not REQUIRED:
    pytestmark = pytest.mark.skip(reason=f"{MISSING}: {WHY}")

from activekit.integrations import labelpage  # noqa: E402

N_POOL, N_TEST, BATCH = 200, 200, 5
WIDTH, HEIGHT = 1200, 820
NAVY, TEAL, ORANGE = (0x1D, 0x35, 0x57), (0x2A, 0x9D, 0x8F), (0xE7, 0x6F, 0x51)


@pytest.fixture
def served(tmp_path):
    """A campaign over 200 digits (as images and pixels) served on 127.0.0.1 by a real
    threaded server; yields (url, session, truth)."""
    X, y = load_digits(return_X_y=True)
    (tmp_path / "images").mkdir()
    pixels = [f"p{i}" for i in range(64)]
    lines, truth = [",".join(["id", "image", *pixels])], {}
    for i in range(N_POOL):
        key = f"d{i:03d}"
        truth[key] = int(y[i])
        ink = np.rint(255 - X[i].reshape(8, 8) * (255 / 16))
        image = np.kron(ink, np.ones((8, 8))).astype(np.uint8)
        (tmp_path / "images" / f"{key}.png").write_bytes(labelpage._png_gray(image))
        lines.append(",".join([key, f"images/{key}.png", *(str(int(v)) for v in X[i])]))
    (tmp_path / "pool.csv").write_text("\n".join(lines) + "\n")
    test = [",".join([*pixels, "label"])]
    test += [",".join([*(str(int(v)) for v in X[i]), str(y[i])]) for i in range(N_POOL, N_POOL + N_TEST)]
    (tmp_path / "test.csv").write_text("\n".join(test) + "\n")

    data = labelpage.DataTable(tmp_path / "pool.csv", id_column="id")
    held_out = labelpage.load_test_set(tmp_path / "test.csv", data.features)
    session = labelpage.open_session(
        tmp_path / "s.db",
        data,
        classes=list(range(10)),
        estimator=make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
        batch_size=BATCH,
    )
    app = labelpage.create_app(session, data, test=held_out, annotator="browser")
    server = labelpage.make_server(app, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/", session, truth
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()
        app.extensions["activekit_labelpage"].close()
        session.close()


@pytest.fixture
def browser():
    if MISSING:
        pytest.fail(f"ACTIVEKIT_REQUIRE_BROWSER is set but {MISSING}: {WHY}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--force-device-scale-factor=1",
        f"--window-size={WIDTH},{HEIGHT}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def test_label_by_keyboard_undo_skip_and_screenshot(served, browser, tmp_path):
    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    url, session, truth = served
    wait = WebDriverWait(browser, 20, poll_frequency=0.05)
    browser.get(url)

    def text(css):
        return browser.find_element(By.CSS_SELECTOR, css).text

    def shown():
        return browser.find_element(By.ID, "item").get_attribute("data-id")

    def press(key):
        browser.find_element(By.TAG_NAME, "body").send_keys(key)

    def ready():
        """The id on screen once the page is idle (it ignores keys while a request runs)."""
        idle = browser.find_element(By.TAG_NAME, "body").get_attribute("data-busy") == "false"
        return shown() if idle else None

    def label_shown():
        """Press the true class's key for the item on screen; wait for the page to settle."""
        key = wait.until(lambda d: ready())
        count = int(text("#n-labeled"))
        press(str(truth[key]))
        wait.until(lambda d: int(text("#n-labeled")) == count + 1 and ready() != key)
        return key

    # The page: a key per class, drawn from /api/config.
    buttons = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#classes button"))
    keys = [b.get_attribute("data-key") for b in buttons]
    assert keys == [str(c) for c in range(10)]
    wait.until(lambda d: ready())
    first = [str(i) for i in session.pending()]
    assert shown() == first[0]
    assert browser.find_element(By.CSS_SELECTOR, "#item img").get_attribute("src").endswith(f"/media/0/{first[0]}")

    # Two batches by keyboard: the first is random, the second comes from the model fitted on
    # it (the page waits for that fit), and the second fit is scored on the held-out set.
    labelled = [label_shown() for _ in range(2 * BATCH)]
    assert labelled[:BATCH] == first
    wait.until(lambda d: session.model_version == 2 and text("#fit-state") == "up to date")
    wait.until(lambda d: text("#model-version") == "2" and "%" in text("#accuracy"))
    assert text("#n-labeled") == str(2 * BATCH) and text("#n-pool") == str(N_POOL)
    current = session.labels()
    assert dict(zip(current["id"], current["label"], strict=True)) == {k: truth[k] for k in labelled}
    assert (current["lead_time"] > 0).all() and set(current["annotator"]) == {"browser"}
    polyline = browser.find_element(By.CSS_SELECTOR, "#sparkline svg polyline")
    assert len(polyline.get_attribute("points").split()) == 2
    accuracy = float(text("#accuracy").split("%")[0]) / 100
    curve = browser.execute_script("return fetch('/api/progress').then(r => r.json())")["curve"]
    assert accuracy == pytest.approx(curve[-1]["accuracy"], abs=0.0006)

    # Backspace undoes the last label: a deletion event, and the item is shown again.
    on_screen = wait.until(lambda d: ready())  # the third batch, from model 2
    assert on_screen == str(session.pending()[0]) and on_screen not in labelled
    press(Keys.BACKSPACE)
    wait.until(lambda d: text("#n-labeled") == str(2 * BATCH - 1) and ready() == labelled[-1])
    log = session.audit_log()
    assert list(log[log["kind"] == "delete"]["id"]) == [labelled[-1]]
    assert labelled[-1] not in set(session.labels()["id"])
    assert label_shown() == labelled[-1]
    assert session.n_labeled == 2 * BATCH and session.model_version == 2  # mid-batch: no fit
    wait.until(lambda d: ready() == on_screen)

    # Space skips: a skip event, and the next item comes.
    press(Keys.SPACE)
    wait.until(lambda d: ready() not in (None, on_screen))
    log = session.audit_log()
    assert list(log[log["kind"] == "skip"]["id"]) == [on_screen]
    assert on_screen not in [str(i) for i in session.pending()]
    assert "skipped" in text("#status")

    # The screenshot: the viewport's size, not blank, in the page's colours where they belong.
    png = browser.get_screenshot_as_png()
    (tmp_path / "labelpage.png").write_bytes(png)
    shot = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    inner = browser.execute_script("return [window.innerWidth, window.innerHeight]")
    assert shot.shape == (inner[1], inner[0], 3) and inner[0] > 800 and inner[1] > 600

    def share(colour, region=shot):
        return np.mean(np.all(np.abs(region - colour) <= 6, axis=-1))

    assert len(np.unique(shot.reshape(-1, 3), axis=0)) > 50
    header = browser.find_element(By.TAG_NAME, "header").rect
    band = shot[int(header["y"]) + 2 : int(header["y"] + header["height"]) - 2]
    assert share(NAVY, band) > 0.6  # the header is navy (white text aside)
    buttons = browser.find_element(By.ID, "classes").rect
    row = shot[int(buttons["y"]) : int(buttons["y"] + buttons["height"]), : WIDTH // 2]
    assert share(TEAL, row) > 0.2  # ten teal class buttons
    spark = browser.find_element(By.ID, "sparkline").rect
    box = shot[int(spark["y"]) : int(spark["y"] + spark["height"]), int(spark["x"]) : int(spark["x"] + spark["width"])]
    assert share(ORANGE, box) > 0.01  # the learning curve is drawn
    image = browser.find_element(By.CSS_SELECTOR, "#item img").rect
    digit = shot[int(image["y"]) + 4 : int(image["y"] + image["height"]) - 4, int(image["x"]) + 4 : int(image["x"] + image["width"]) - 4]
    assert digit.shape[0] > 100 and digit.min() < 60 and digit.max() > 200  # ink on paper
    assert share(NAVY) < 0.2 and share((255, 255, 255)) > 0.1

    # Nothing went wrong in the page (a blocked script or style would be logged here).
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
