"""minigan lab without a browser: the game's controls (checked as --set checks them, all or
nothing), its steps (the toy's own), its frames (what they hold, and that taking one changes no
number), the server's routes, the follow mode's file serving against path traversal, a training
thread that fails, and the command line. tests/test_lab_browser.py drives the page in Chromium."""
import dataclasses
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import minigan as mg
from minigan import toy_2d
from minigan.lab import game as lab_game
from minigan.lab import server
from minigan.lab.follow import RunFolder
from minigan.recipes import RECIPES, TRICKS

ROOT = Path(__file__).resolve().parents[1]


def weights(module):
    return {name: t.data.copy() for name, t in module.named_tensors()}


@pytest.mark.parametrize("changes, message", [
    ({"lr_d": -1}, "recipe field lr_d must be a finite number > 0, got -1"),
    ({"lr_g": "fast"}, "lr_g must be of type float, got 'fast'"),
    ({"lr_d": "inf"}, "lr_d must be a finite number"),
    ({"lr_d": True}, "lr_d must be a number, got True"),
    ({"speed": 2}, "unknown control 'speed'"),
    ({"tricks": {"dropout": False}}, "unknown trick 'dropout'"),
    ({"tricks": {"label smoothing": "off"}}, "trick 'label smoothing' is true or false"),
    ({"tricks": ["label smoothing"]}, "tricks must be an object"),
    ({"seed": -1}, "seed must be a whole number from 0 to"),
    ({"seed": 1.5}, "seed must be a whole number"),
    ({"action": "jump"}, "action must be one of play, pause, step, reset"),
    ({"recipe": "dcgan"}, "recipe must be one of original, stable"),
    (["play"], "controls must be a JSON object"),
])
def test_a_bad_control_is_one_line_and_changes_nothing(changes, message):
    game = lab_game.Game("stable", seed=2)
    game.step()
    before, recipe = weights(game.G), game.recipe
    # a good change beside the bad one is not applied either: all or nothing
    mixed = dict(changes, tricks={"instance noise": False}) if isinstance(changes, dict) \
        and "tricks" not in changes else changes
    with pytest.raises(lab_game.ControlError, match=message) as caught:
        game.control(mixed)
    assert "\n" not in str(caught.value)
    assert game.recipe == recipe and game.steps == 1
    for name, value in weights(game.G).items():
        np.testing.assert_array_equal(value, before[name])


def test_a_trick_switches_exactly_its_fields_between_the_two_recipes():
    game = lab_game.Game("stable")
    for trick, fields in TRICKS.items():
        game.control({"recipe": "stable"})
        game.control({"tricks": {trick: False}})
        for field in dataclasses.fields(game.recipe):
            source = RECIPES["original"] if field.name in fields else RECIPES["stable"]
            if field.name not in ("name", "ema"):
                assert getattr(game.recipe, field.name) == getattr(source, field.name), field
        assert lab_game.tricks_of(game.recipe) == {t: t != trick for t in TRICKS}
    game.control({"recipe": "original"})
    assert lab_game.tricks_of(game.recipe) == dict.fromkeys(TRICKS, False)


def test_a_change_to_the_networks_starts_again_and_the_others_take_effect_at_the_next_step():
    game = lab_game.Game("stable", seed=4)
    for _ in range(3):
        game.step()
    game.control({"tricks": {"label smoothing": False}, "lr_g": 1e-3})
    assert game.steps == 3 and game.recipe.real_label == 1.0      # kept playing
    assert game.opt_g.hyper["lr"] == pytest.approx(1e-3 * toy_2d.LR_SCALE)
    game.step()
    assert game.steps == 4
    game.control({"tricks": {"minibatch discrimination": False}})   # D changes shape
    assert game.steps == 0 and game.recipe.minibatch_kernels == 0
    assert game.D.head[0].weight.shape == (1, toy_2d.WIDTH + 1)      # no closeness features


def test_the_game_steps_as_the_toy_trains(monkeypatch):
    """60 steps of the game are the toy's 60 steps: the same losses, summed in the same order
    (the game anneals instance noise over toy_2d.STEPS, a toy run over its own steps)."""
    monkeypatch.setattr(toy_2d, "STEPS", 60)
    result = toy_2d.train("stable", steps=60, seed=3)
    game = lab_game.Game("stable", seed=3)
    for _ in range(60):
        game.step()
    for i, key in enumerate(("loss_d", "loss_g", "d_real", "d_fake")):
        total = 0.0
        for value in result.losses[key]:
            total += value
        assert game.sums[i] == total, key


def test_taking_frames_changes_no_number_of_the_game():
    plain, watched = lab_game.Game("stable", seed=5), lab_game.Game("stable", seed=5)
    for step in range(12):
        plain.step()
        watched.step()
        if step % 3 == 0:
            watched.frame()
    for net in ("G", "D"):
        theirs = weights(getattr(watched, net))
        for name, value in weights(getattr(plain, net)).items():
            np.testing.assert_array_equal(theirs[name], value, err_msg=f"{net} {name}")


def test_a_frame_holds_the_points_the_surface_the_arrows_and_the_curve():
    import base64
    game = lab_game.Game("stable", seed=1)
    first = game.frame()
    assert first["curve"] is None and first["step"] == 0       # no step yet: no curve point
    for _ in range(5):
        game.step()
    frame = game.frame()
    assert len(frame["fake"]) == lab_game.SHOWN and len(frame["arrows"]) == lab_game.ARROWS
    surface = np.frombuffer(base64.b64decode(frame["surface"]), np.uint8)
    assert surface.size == lab_game.SURFACE_SIDE ** 2 and surface.max() > surface.min()
    assert frame["curve"]["step"] == 5 and set(frame["curve"]) == {
        "step", "loss_d", "loss_g", "d_real", "d_fake", "modes"}
    assert game.frame()["curve"] is None                          # the means start again
    assert len(json.dumps(frame)) < 12_000                        # a few kB a frame
    assert frame["settings"]["tricks"] == dict.fromkeys(TRICKS, True)


def test_the_arrows_are_minus_the_gradient_of_gs_loss_at_each_point():
    """The original recipe's D judges each point alone, so G's loss, the mean of -log D(x_i),
    has the gradient -1/N dlog D/dx_i at point i: against float64 central differences, with D
    in float64."""
    game = lab_game.Game("original", seed=1)
    for _ in range(20):
        game.step()
    for _, t in game.D.named_tensors():
        t.data = t.data.astype(np.float64)
    game.D.eval()
    fake = toy_2d.draw(game.G, game.noise)[:8].astype(np.float64)
    push = game.pushes(fake)

    def loss(points):
        with mg.no_grad():
            return float(np.mean(-np.log(game.D(mg.tensor(points, dtype=np.float64)).numpy())))
    h, numeric = 1e-6, np.zeros_like(fake)
    for i in range(len(fake)):
        for k in range(2):
            step = np.zeros_like(fake)
            step[i, k] = h
            numeric[i, k] = (loss(fake + step) - loss(fake - step)) / (2 * h)
    assert np.abs(push).max() > 1e-3
    np.testing.assert_allclose(push, -numeric, rtol=1e-5, atol=1e-9)


# The server, in this process, on a free port of 127.0.0.1.

@pytest.fixture
def run_folder(tmp_path):
    from minigan import visualize
    run = tmp_path / "run"
    run.mkdir()
    (run / "history.csv").write_text("epoch,loss_d,loss_g,d_real,d_fake,fid,digits,warning\n"
                                     "1,1.3,0.7,0.6,0.4,80.5,9,\n"
                                     "2,1.2,0.8,0.55,0.45,,,D(x) pinned\n")
    visualize.save_grid(run / "samples_epoch001.png", np.zeros((4, 28, 28), np.float32), 2, 2)
    (tmp_path / "secret.png").write_bytes(b"\x89PNG outside the run")
    os.symlink(tmp_path / "secret.png", run / "link.png")
    (run / "sub").mkdir()
    (run / "sub" / "inner.png").write_bytes(b"\x89PNG in a subfolder")
    (run / "checkpoint.tmp.npz").write_bytes(b"not served")
    return run


@pytest.fixture
def lab(run_folder):
    lab = server.start(run=run_folder, playing=False)
    thread = threading.Thread(target=lab.serve_forever, daemon=True)
    thread.start()
    yield lab
    lab.shutdown()
    server.stop(lab)


def request(lab, method, path, body=None):
    """(status, body) of a raw request: the path is sent as written, not normalised."""
    host, port = lab.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=10)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    return response.status, response.read()


def events(lab, count, timeout=20):
    """The first `count` (event, data) pairs of /events."""
    host, port = lab.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    connection.request("GET", "/events")
    response = connection.getresponse()
    assert response.getheader("Content-Type") == "text/event-stream"
    got, name = [], None
    while len(got) < count:
        line = response.readline().decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            got.append((name, json.loads(line[6:])))
    connection.close()
    return got


def control(lab, changes):
    status, body = request(lab, "POST", "/control", json.dumps(changes))
    return status, json.loads(body)


def test_the_server_serves_the_page_the_frames_and_the_controls(lab):
    status, page = request(lab, "GET", "/")
    assert status == 200 and b"<canvas id=\"plane\"" in page and b"http" not in page.split(
        b"<script>")[1]                                      # the script loads nothing else
    (constants_event, constants), (history_event, _), (frame_event, frame) = events(lab, 3)
    assert (constants_event, history_event, frame_event) == ("constants", "history", "frame")
    assert constants["follows"] and len(constants["real"]) == lab_game.SHOWN
    assert frame["step"] == 0 and not frame["playing"]
    assert control(lab, {"action": "step"})[0] == 200
    deadline = time.time() + 10
    while lab.player.game.steps < 1 and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    assert lab.player.game.steps == 1                       # one step, then paused
    status, answer = control(lab, {"lr_d": "0"})
    assert status == 400 and answer["error"].startswith("recipe field lr_d must be")
    assert control(lab, {"action": "play"})[0] == 200
    time.sleep(1.0)
    assert lab.player.game.steps > 20
    assert control(lab, {"action": "pause"})[0] == 200
    paused = lab.player.game.steps
    time.sleep(0.3)
    assert lab.player.game.steps == paused
    for body in ("{not json", json.dumps("x" * 5000)):
        status, answer = request(lab, "POST", "/control", body)
        assert status == 400 and "JSON object" in json.loads(answer)["error"]


def test_the_help_links_open_the_docs_at_their_sections(lab):
    links = server.docs_links()
    assert links["instance noise"] == \
        "/docs/gan-tricks.md#instance-noise-annealed-instance_noise--03"
    status, page = request(lab, "GET", "/docs/gan-tricks.md")
    assert status == 200 and b"id='instance-noise-annealed-instance_noise--03'" in page
    assert server.slug("2. The non-saturating generator loss") == \
        "2-the-non-saturating-generator-loss"


def test_the_follow_mode_reads_the_run_as_written(lab, run_folder):
    status, body = request(lab, "GET", "/run/state")
    state = json.loads(body)
    assert status == 200 and [row["epoch"] for row in state["history"]] == [1, 2]
    assert state["history"][0]["fid"] == 80.5 and state["history"][1]["fid"] is None
    assert state["warnings"] == [{"epoch": 2, "warning": "D(x) pinned"}]
    assert state["grids"] == [{"epoch": 1, "name": "samples_epoch001.png"}]
    assert state["recipe"] is None and not state["finished"]
    (run_folder / "recipe.json").write_text(json.dumps(dataclasses.asdict(RECIPES["stable"])))
    assert json.loads(request(lab, "GET", "/run/state")[1])["recipe"]["name"] == "stable"
    status, grid = request(lab, "GET", "/run/file/samples_epoch001.png")
    assert status == 200 and grid == (run_folder / "samples_epoch001.png").read_bytes()


@pytest.mark.parametrize("path", [
    "/run/file/../history.csv", "/run/file/..%2fhistory.csv", "/run/file/%2e%2e%2fsecret.png",
    "/run/file/%252e%252e%252fsecret.png", "/run/file//etc/passwd", "/run/file/%2fetc%2fpasswd",
    "/run/file/link.png", "/run/file/sub/inner.png", "/run/file/sub%2finner.png",
    "/run/file/checkpoint.tmp.npz", "/run/file/..", "/run/file/.hidden.png",
    "/run/file/history.csv%00.png", "/docs/..%2fREADME.md", "/docs/../setup.cfg",
])
def test_the_follow_mode_serves_nothing_outside_the_run_folder(lab, path):
    status, body = request(lab, "GET", path)
    assert status in (403, 404), (path, status)
    assert b"PNG outside" not in body and b"root:" not in body and b"[metadata]" not in body
    assert "error" in json.loads(body)


def test_run_folder_refuses_links_and_names_with_paths(run_folder):
    folder = RunFolder(run_folder)
    assert folder.file("history.csv")[1].startswith("text/csv")
    for name in ("link.png", "../secret.png", str(run_folder / "history.csv"), "sub/inner.png"):
        with pytest.raises(ValueError, match="not served|not a file the lab serves"):
            folder.file(name)
    with pytest.raises(FileNotFoundError, match="no file final_grid.png"):
        folder.file("final_grid.png")
    with pytest.raises(FileNotFoundError, match="no run folder"):
        RunFolder(run_folder / "missing")


def test_a_failing_training_thread_stops_the_server_with_its_reason(monkeypatch, capsys):
    lab = server.start(playing=True)
    monkeypatch.setattr(lab.player.game, "step", lambda: 1 / 0)
    served = threading.Thread(target=lab.serve_forever, daemon=True)
    served.start()
    served.join(20)
    assert not served.is_alive()                         # serve_forever returned: shut down
    server.stop(lab)
    assert lab.player.failure.startswith("ZeroDivisionError")
    assert "the lab's training thread failed (ZeroDivisionError" in capsys.readouterr().err
    with pytest.raises(lab_game.ControlError, match="the game stopped"):
        lab.player.control({"action": "play"})


def test_the_command_prints_its_url_serves_and_stops_on_ctrl_c(tmp_path):
    process = subprocess.Popen([sys.executable, str(ROOT / "examples" / "lab.py"), "--paused"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("minigan lab at http://127.0.0.1:"), line
        url = line.split()[3]
        host, port = url[len("http://"):].rstrip("/").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("GET", "/")
        assert connection.getresponse().status == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
        assert "minigan lab: stopped" in process.stderr.read()
    finally:
        process.kill()
    bad = subprocess.run([sys.executable, "-m", "minigan.cli", "lab", str(tmp_path / "none")],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and bad.stderr.strip().splitlines() == [
        f"error: no run folder {tmp_path / 'none'}: give the --out folder of a run (e.g. "
        "runs/2026-12-05_10-00-00)"]
    outside = subprocess.run([sys.executable, str(ROOT / "examples" / "lab.py"), "--port",
                              "70000"], capture_output=True, text=True, timeout=60)
    assert outside.returncode == 2 and "--port must be from 0 to 65535" in outside.stderr


def test_a_stream_that_skips_frames_still_gets_every_curve_point():
    bus = server.FrameBus()
    game, points, curve, _ = bus.curve_since(-1, 0)
    for step in range(1, 6):
        bus.publish({"step": step, "curve": {"step": step}})
    bus.publish({"step": 5, "curve": None})                   # a frame without steps
    seen, frame = bus.wait(0, 1)
    assert seen == 6 and json.loads(frame)["step"] == 5      # the latest frame only
    game, points, curve, restarted = bus.curve_since(game, points)
    assert [c["step"] for c in curve] == [1, 2, 3, 4, 5] and not restarted
    assert bus.curve_since(game, points)[2] == []
    bus.restart()
    bus.publish({"step": 1, "curve": {"step": 1}})
    game, points, curve, restarted = bus.curve_since(game, points)
    assert restarted and [c["step"] for c in curve] == [1]
    bus.close()
    assert bus.wait(seen, 5) == (seen, None)
