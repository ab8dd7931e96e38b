"""The lab's web server, from the standard library: a ThreadingHTTPServer that serves the page, the
2-D game's frames as Server-Sent Events, the controls, and, when it follows a run, the run's state
and files. The game trains in one thread of its own (Player); each browser connection is a thread
of the server.

    GET  /                 the page (page.html)
    GET  /events           text/event-stream: "constants" and the curve so far ("history")
                           once, then the latest frame (game.Game.frame, as JSON) whenever
                           there is a new one, after the curve points added since ("curve"),
                           or the whole curve again after a reset ("history")
    POST /control          a JSON object of controls (game.CONTROLS); 200 with the settings, or
                           400 with {"error": one line}: nothing is applied
    GET  /run/state        the followed run's state (follow.RunFolder.state), 404 without a run
    GET  /run/file/NAME    one of the run's files (follow.RunFolder.file), 403 when refused
    GET  /docs/NAME.md     a page of the docs (DOCS), headings with GitHub's anchors, when the
                           source tree's docs/ folder is there

Why no web framework: the lab needs one page, one event stream and a few JSON routes. The
standard library's http.server has them, with nothing to install and nothing between the page and
the training loop; Server-Sent Events are plain HTTP, which EventSource reconnects by itself.
"""
import html
import json
import re
import sys
import threading
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import unquote, urlsplit

from minigan import threads
from minigan.lab.follow import Refused, RunFolder
from minigan.lab.game import ControlError, Game

FRAME_SECONDS = 0.08      # while playing: a frame at least this often (12.5 a second)
MAX_CURVE = 3000          # curve points kept for a page that connects late
MAX_BODY = 4096           # bytes of a /control request
KEEPALIVE_SECONDS = 15    # an event stream sends a comment this often when nothing happens
DOCS = ("lab.md", "gan-tricks.md", "gan-internals.md")
DOCS_FOLDER = Path(__file__).resolve().parents[2] / "docs"    # the source tree's, if any
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class FrameBus:
    """The latest frame, its number, and the game's curve so far; event streams wait on it. A
    stream may skip frames (it sends the latest), never curve points (curve_since)."""

    def __init__(self):
        self.changed = threading.Condition()
        self.number, self.latest, self.closed = 0, None, False
        self.curve, self.points, self.game = [], 0, 0   # points: ever added in this game

    def publish(self, frame):
        with self.changed:
            if frame.get("curve"):
                self.curve = (self.curve + [frame["curve"]])[-MAX_CURVE:]
                self.points += 1
            self.number += 1
            self.latest = json.dumps(frame, separators=(",", ":"))
            self.changed.notify_all()

    def restart(self):
        """A new game: its curve starts empty."""
        with self.changed:
            self.curve, self.points, self.game = [], 0, self.game + 1

    def curve_since(self, game, points):
        """(game, points, new curve points, restarted) for a stream that has sent `points`
        points of game `game`: the points added since, or, after a restart, the whole curve."""
        with self.changed:
            if game != self.game:
                return self.game, self.points, list(self.curve), True
            new = min(self.points - points, len(self.curve))
            return game, self.points, self.curve[len(self.curve) - new:] if new else [], False

    def wait(self, seen, timeout):
        """(number, frame JSON) of the latest frame after number `seen`, or (seen, None) after
        `timeout` seconds or once closed."""
        with self.changed:
            self.changed.wait_for(lambda: self.number > seen or self.closed, timeout)
            if self.closed or self.number <= seen:
                return seen, None
            return self.number, self.latest

    def close(self):
        with self.changed:
            self.closed = True
            self.changed.notify_all()


class Player(threading.Thread):
    """Runs the game: while playing, steps for FRAME_SECONDS less the last frame's own time, then
    publishes a frame; paused, waits for a control. Every call into the game holds `lock`.
    If a step or a frame fails, the error is kept (`failure`) and `on_failure` is called."""

    def __init__(self, game, on_failure=lambda error: None, playing=True):
        super().__init__(name="minigan-lab-game", daemon=True)
        self.game, self.on_failure = game, on_failure
        self.lock = threading.Condition()
        self.bus = FrameBus()
        self.game.playing, self.pending, self.stopping = playing, 0, False
        self.failure, self.frame_seconds = None, 0.0
        self.rate = {"steps": 0, "frames": 0, "since": time.perf_counter()}

    def control(self, changes):
        """Apply controls (game.Game.control) and publish a frame at once; ControlError (one
        line) when refused. Returns the settings."""
        with self.lock:
            if self.failure is not None:
                raise ControlError(f"the game stopped: {self.failure}")
            steps = self.game.steps
            action = self.game.control(changes)
            if self.game.steps < steps:
                self.bus.restart()
            if action == "play":
                self.game.playing = True
            elif action in ("pause", "step"):
                self.game.playing = False
                self.pending += action == "step"
            if not self.pending:
                self.publish()
            self.lock.notify_all()
            return self.game.settings()

    def publish(self):
        start = time.perf_counter()
        self.bus.publish(self.game.frame())
        self.frame_seconds = time.perf_counter() - start
        self.rate["frames"] += 1

    def run(self):
        try:
            with threads.limited(1):   # tiny arrays: a second thread costs more than it saves
                self.loop()
        except Exception as error:   # noqa: BLE001  any failure stops the lab, with its reason
            self.failure = f"{type(error).__name__}: {error}"
            traceback.print_exc()
            self.on_failure(self.failure)
        finally:
            self.bus.close()

    def loop(self):
        with self.lock:
            self.publish()
        while True:
            with self.lock:
                self.lock.wait_for(lambda: self.stopping or self.game.playing or self.pending)
                if self.stopping:
                    return
                # steps for what is left of FRAME_SECONDS once the frame is drawn
                deadline = time.perf_counter() + max(0.01, FRAME_SECONDS - self.frame_seconds)
                while (self.game.playing or self.pending) and time.perf_counter() < deadline:
                    self.game.step()
                    self.rate["steps"] += 1
                    self.pending = max(0, self.pending - 1)
                self.publish()
            time.sleep(0.001)   # outside the lock: a waiting control gets it between frames

    def stop(self):
        with self.lock:
            self.stopping = True
            self.lock.notify_all()
        self.bus.close()

    def measured(self):
        """Steps and frames a second since the last call."""
        now = time.perf_counter()
        with self.lock:
            seconds = now - self.rate["since"]
            result = {"steps_per_second": self.rate["steps"] / seconds,
                      "frames_per_second": self.rate["frames"] / seconds}
            self.rate = {"steps": 0, "frames": 0, "since": now}
        return result


def slug(heading):
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def render_doc(text, title):
    """A Markdown page as HTML for reading: headings as headings with GitHub's anchors, the rest
    as preformatted text (escaped)."""
    parts = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
             "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:52em;margin:2em auto;"
             "padding:0 1em}pre{white-space:pre-wrap;font:inherit}</style>"]
    block = []
    for line in text.splitlines():
        heading = re.match(r"^(#{1,6})\s+(.*)$", line)
        if heading:
            parts.append(f"<pre>{html.escape(chr(10).join(block))}</pre>")
            block = []
            level, words = len(heading.group(1)), heading.group(2)
            parts.append(f"<h{level} id='{slug(words)}'>{html.escape(words)}</h{level}>")
        else:
            block.append(line)
    parts.append(f"<pre>{html.escape(chr(10).join(block))}</pre>")
    return "".join(parts)


def docs_links(folder=DOCS_FOLDER):
    """{topic: URL} of the docs sections the page's help texts link to, for the sections found
    in the source tree's docs/ (none when minigan runs from an installed package alone)."""
    wanted = {"batchnorm generator": ("gan-tricks.md", "BatchNorm and LeakyReLU"),
              "adam lr 2e-4 and beta1 0.5": ("gan-tricks.md", "Adam with learning rate"),
              "label smoothing": ("gan-tricks.md", "One-sided label smoothing"),
              "instance noise": ("gan-tricks.md", "Instance noise"),
              "minibatch std": ("gan-tricks.md", "The minibatch standard-deviation"),
              "feature matching": ("gan-tricks.md", "Feature matching"),
              "minibatch discrimination": ("gan-tricks.md", "Minibatch discrimination"),
              "toy": ("gan-tricks.md", "The toy ablation"),
              "objective": ("gan-internals.md", "1. The objective"),
              "generator loss": ("gan-internals.md", "2. The non-saturating"),
              "curves": ("gan-internals.md", "5. What the curves"),
              "collapse": ("gan-internals.md", "6. Why GANs collapse"),
              "lab": ("lab.md", "")}
    links = {}
    for topic, (name, start) in wanted.items():
        path = folder / name
        if not path.is_file():
            continue
        headings = [h for h in re.findall(r"^#{1,6}\s+(.*)$", path.read_text(), re.M)
                    if h.startswith(start)]
        if headings:
            links[topic] = f"/docs/{name}" + (f"#{slug(headings[0])}" if start else "")
    return links


class LabServer(ThreadingHTTPServer):
    """The HTTP server, holding the Player and the followed run (or None)."""

    daemon_threads = True

    def __init__(self, address, player, run=None):
        super().__init__(address, Handler)
        self.player, self.run, self.links = player, run, docs_links()

    def url(self):
        host, port = self.server_address[:2]
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"


class Handler(BaseHTTPRequestHandler):
    """One request; the routes are in the module docstring."""

    server_version = "minigan-lab"

    def log_message(self, format, *args):   # quiet: the lab prints its own lines
        pass

    def do_GET(self):
        path = urlsplit(self.path).path
        if path == "/":
            page = resources.files("minigan.lab").joinpath("page.html").read_bytes()
            return self.send(HTTPStatus.OK, page, "text/html; charset=utf-8")
        if path == "/events":
            return self.events()
        if path == "/run/state":
            if self.server.run is None:
                return self.error(HTTPStatus.NOT_FOUND, "this lab follows no run: start it "
                                  "as `minigan lab runs/RUN`")
            return self.json(HTTPStatus.OK, self.server.run.state())
        if path.startswith("/run/file/"):
            return self.run_file(unquote(path[len("/run/file/"):]))
        if path.startswith("/docs/"):
            return self.doc(unquote(path[len("/docs/"):]))
        return self.error(HTTPStatus.NOT_FOUND, f"no page {path}")

    def do_POST(self):
        if urlsplit(self.path).path != "/control":
            return self.error(HTTPStatus.NOT_FOUND, "POST goes to /control")
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            return self.error(HTTPStatus.BAD_REQUEST, f"a control request is a JSON object of "
                              f"1 to {MAX_BODY} bytes")
        try:
            changes = json.loads(self.rfile.read(length))
        except ValueError:
            return self.error(HTTPStatus.BAD_REQUEST, "a control request is a JSON object, "
                              "e.g. {\"action\": \"play\"}")
        try:
            settings = self.server.player.control(changes)
        except ControlError as error:
            return self.error(HTTPStatus.BAD_REQUEST, str(error))
        return self.json(HTTPStatus.OK, {"settings": settings})

    def events(self):
        player = self.server.player
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        with player.lock:
            constants = dict(player.game.constants(), links=self.server.links,
                             follows=self.server.run is not None)
        try:
            self.event("constants", json.dumps(constants))
            game, points, curve, _ = player.bus.curve_since(-1, 0)
            self.event("history", json.dumps(curve))
            seen = 0
            while True:
                seen, frame = player.bus.wait(seen, KEEPALIVE_SECONDS)
                if player.bus.closed:
                    return
                if frame is None:
                    self.wfile.write(b": keep-alive\n\n")
                    self.wfile.flush()
                    continue
                game, points, curve, restarted = player.bus.curve_since(game, points)
                if restarted or curve:
                    self.event("history" if restarted else "curve", json.dumps(curve))
                self.event("frame", frame)
        except (BrokenPipeError, ConnectionResetError):
            return                                  # the page was closed

    def event(self, name, data):
        self.wfile.write(f"event: {name}\ndata: {data}\n\n".encode())
        self.wfile.flush()

    def run_file(self, name):
        if self.server.run is None:
            return self.error(HTTPStatus.NOT_FOUND, "this lab follows no run")
        try:
            data, kind = self.server.run.file(name)
        except Refused as error:
            return self.error(HTTPStatus.FORBIDDEN, str(error))
        except FileNotFoundError as error:
            return self.error(HTTPStatus.NOT_FOUND, str(error))
        return self.send(HTTPStatus.OK, data, kind)

    def doc(self, name):
        path = DOCS_FOLDER / name
        if name not in DOCS or not path.is_file():
            return self.error(HTTPStatus.NOT_FOUND, f"no doc {name!r} here (the lab serves "
                              f"{', '.join(DOCS)} from a source checkout)")
        page = render_doc(path.read_text(), name)
        return self.send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8")

    def json(self, status, value):
        return self.send(status, json.dumps(value).encode(), "application/json")

    def error(self, status, message):
        return self.json(status, {"error": message})

    def send(self, status, body, kind):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


def start(host="127.0.0.1", port=0, run=None, recipe="stable", seed=0, playing=True,
          on_failure=None):
    """A LabServer on host:port (0: a free port) with its Player started; the caller runs
    serve_forever() and, at the end, stop(server). run: a run folder to follow, or None."""
    game = Game(recipe, seed)
    player = Player(game, playing=playing)
    server = LabServer((host, port), player, RunFolder(run) if run is not None else None)

    def failed(reason):
        print(f"error: the lab's training thread failed ({reason}); stopping", file=sys.stderr)
        if on_failure is not None:
            on_failure(reason)
        threading.Thread(target=server.shutdown, daemon=True).start()
    player.on_failure = failed
    player.start()
    return server


def stop(server):
    """Stop the game and close the server's socket."""
    server.player.stop()
    server.server_close()


__all__ = ["FrameBus", "LabServer", "Player", "docs_links", "render_doc", "slug", "start",
           "stop"]
