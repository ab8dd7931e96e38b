"""minigan lab: watch a GAN learn, live in the browser (`minigan lab`, `python examples/lab.py`).

    game.py      the 2-D toy GAN (minigan.toy_2d) stepped under the learner's controls, and the
                 frames drawn from it: the ring, G's points, D's surface, G's gradient arrows
    follow.py    an MNIST run folder read while a run writes it: history, grids, recipe; only
                 files inside the folder are served
    server.py    the web server (the standard library's ThreadingHTTPServer): the page, the
                 frames as Server-Sent Events, the controls, the run's files
    page.html    the page: plain HTML, JavaScript and canvas, nothing fetched from elsewhere
    command.py   the command line

docs/lab.md says what each panel shows and how to read it.
"""
