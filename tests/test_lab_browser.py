"""minigan lab in a real browser: headless Chromium (Debian's chromium and chromium-driver, driven
by selenium; .ci/run installs them) opens the page, watches the 2-D game train live, turns its
controls and checks that they reach the server, shares a state through the URL, and follows a
run folder while examples/mnist_gan.py writes it. Screenshots go to $MINIGAN_LAB_SCREENSHOTS
(default: the test's temporary folder). Skipped, saying why, only where Chromium or its driver is
not installed."""
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from minigan.lab import server

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip "
                                "install selenium; the dev extra has it)")
if CHROMIUM is None or DRIVER is None:
    pytest.skip("headless Chromium is not installed (apt-get install chromium chromium-driver; "
                ".ci/run installs them)", allow_module_level=True)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1100,1050"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    yield driver
    driver.quit()


@pytest.fixture
def screenshots(tmp_path):
    folder = Path(os.environ.get("MINIGAN_LAB_SCREENSHOTS", tmp_path / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def serve(**settings):
    lab = server.start(**settings)
    threading.Thread(target=lab.serve_forever, daemon=True).start()
    return lab


def close(lab):
    lab.shutdown()
    server.stop(lab)


def until(browser, condition, seconds=30, what="the page"):
    return WebDriverWait(browser, seconds).until(lambda driver: condition(), message=what)


def number(browser, element_id):
    return int(browser.find_element(By.ID, element_id).text or 0)


def test_the_game_trains_live_and_the_controls_reach_the_server(browser, screenshots):
    lab = serve(playing=True)
    try:
        browser.get(lab.url())
        until(browser, lambda: number(browser, "step") > 0, what="a frame with steps")
        step, picture = number(browser, "step"), browser.execute_script(
            "return document.getElementById('plane').toDataURL()")
        points = browser.execute_script("return last.fake.slice(0, 5)")
        until(browser, lambda: number(browser, "step") > step + 20, what="20 more steps")
        assert browser.execute_script("return last.fake.slice(0, 5)") != points   # G moved
        assert browser.execute_script(
            "return document.getElementById('plane').toDataURL()") != picture     # redrawn
        assert browser.execute_script("return curve.length") > 2                  # curves grow

        browser.find_element(By.ID, "pause").click()
        until(browser, lambda: browser.find_element(By.ID, "status").text == "paused")
        paused = lab.player.game.steps
        time.sleep(0.5)
        assert lab.player.game.steps == paused and number(browser, "step") == paused

        browser.find_element(By.ID, "trick-label-smoothing").click()            # switch it off
        until(browser, lambda: lab.player.game.recipe.real_label == 1.0, what="the trick off")
        until(browser, lambda: "off=label+smoothing" in browser.current_url,
              what="the URL naming the state")
        browser.find_element(By.ID, "one-step").click()
        until(browser, lambda: number(browser, "step") == paused + 1, what="one step")
        assert lab.player.game.steps == paused + 1

        rate = browser.find_element(By.ID, "lr_d")
        rate.clear()
        rate.send_keys("-1")
        browser.find_element(By.ID, "seed").click()                            # change event
        until(browser, lambda: "lr_d must be" in browser.find_element(By.ID, "error").text,
              what="the refusal in the page")
        assert lab.player.game.recipe.lr_d > 0

        browser.find_element(By.ID, "play").click()
        until(browser, lambda: number(browser, "step") > paused + 100, what="playing again")

        # docs/lab.md's picture: the original recipe, seed 0, at step 1,000 (stepped here, so
        # that the picture is the same every time)
        browser.find_element(By.ID, "pause").click()
        browser.find_element(By.ID, "recipe-original").click()
        seed = browser.find_element(By.ID, "seed")
        seed.clear()
        seed.send_keys("0")
        browser.find_element(By.ID, "reset").click()
        until(browser, lambda: number(browser, "step") == 0 and lab.player.game.seed == 0
              and lab.player.game.recipe.minibatch_kernels == 0, what="the original recipe")
        with lab.player.lock:
            while lab.player.game.steps < 1000:
                lab.player.game.step()
                if lab.player.game.steps % 40 == 0:       # a frame every 40 steps, as playing
                    lab.player.publish()
        until(browser, lambda: number(browser, "step") == 1000, what="step 1,000")
        assert browser.execute_script("return curve.length") == 25      # none skipped
        browser.save_screenshot(str(screenshots / "lab_game.png"))

        browser.get(lab.url() + "?off=minibatch+discrimination&seed=7")          # a shared URL
        until(browser, lambda: lab.player.game.recipe.minibatch_kernels == 0
              and lab.player.game.seed == 7, what="the URL's state at the server")
        assert lab.player.game.recipe.real_label == 0.9      # the URL's tricks, all others on
    finally:
        close(lab)


def test_the_run_tab_follows_a_run_while_mnist_gan_writes_it(browser, screenshots, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    lab = serve(run=run, playing=False)
    training = None
    try:
        browser.get(lab.url() + "#run")
        until(browser, lambda: browser.find_element(By.ID, "run").is_displayed())
        until(browser, lambda: "0 epochs written" in browser.find_element(By.ID,
                                                                         "run-progress").text)
        training = subprocess.Popen(
            [sys.executable, str(ROOT / "examples" / "mnist_gan.py"), "--epochs", "2",
             "--limit", "6400", "--out", str(run), "--log-every", "20"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        label = lambda: browser.find_element(By.ID, "grid-label").text  # noqa: E731
        progress = lambda: browser.find_element(By.ID, "run-progress").text  # noqa: E731
        # while the run writes: epoch 1's grid and row, before epoch 2 (100 steps) is done
        until(browser, lambda: progress() == "running: 1 epoch written"
              and label() == "after epoch 1", 180, "epoch 1, while the run goes on")
        until(browser, lambda: browser.execute_script(
            "return document.getElementById('grid').naturalWidth") > 0, what="the grid drawn")
        assert len(browser.find_elements(By.CSS_SELECTOR, "#run-scores tr")) == 2
        until(browser, lambda: "finished: 2 epochs" in browser.find_element(
            By.ID, "run-progress").text, 180, "the finished run")
        assert training.wait(60) == 0, training.stderr.read()
        rows = browser.find_elements(By.CSS_SELECTOR, "#run-scores tr")
        assert [r.find_elements(By.TAG_NAME, "td")[0].text for r in rows[1:]] == ["1", "2"]
        until(browser, lambda: label() == "final grid", what="the final grid")
        slider = browser.find_element(By.ID, "grid-slider")
        assert slider.get_attribute("max") == "2"          # epochs 1, 2 and the final grid
        assert "model = mlp" in browser.find_element(By.ID, "run-recipe").text
        browser.save_screenshot(str(screenshots / "lab_run.png"))
    finally:
        if training is not None and training.poll() is None:
            training.kill()
        close(lab)
