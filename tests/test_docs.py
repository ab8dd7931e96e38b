"""The README and docs/*.md as tests: every ```python block runs (a page's blocks in order, in
one namespace), each line marked `# -> text` must print exactly `text`, and every command in a
```bash block names a script that exists and flags that its --help lists."""
import contextlib
import io
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
EXPECTED = re.compile(r"#\s*->\s?(.*)$")


def blocks(page, language):
    return [body for lang, body in FENCE.findall(page.read_text()) if lang == language]


def expected_output(code):
    """The text after each `# -> ` marker, in order: one printed line per marker."""
    return [m.group(1).rstrip() for line in code.splitlines()
            if (m := EXPECTED.search(line)) is not None]


def test_the_marker_reader_finds_each_expected_line():
    code = 'print(1)  # -> 1\nx = 2\nprint(x, "a")   # -> 2 a\n'
    assert expected_output(code) == ["1", "2 a"]


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p, "python")],
                         ids=lambda p: p.relative_to(ROOT).as_posix())
def test_python_blocks_run_and_print_what_they_say(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)          # snippets that write files write them here
    namespace = {"__name__": "__docs__"}
    for number, code in enumerate(blocks(page, "python"), 1):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"{page.name} block {number}", "exec"), namespace)
        printed = [line.rstrip() for line in out.getvalue().splitlines()]
        assert printed == expected_output(code), (
            f"{page.name} block {number} printed {printed}, its comments say "
            f"{expected_output(code)}")


def commands(page):
    """(script, flags) for each `python examples/X.py ...`, `python benchmarks/X.py ...` or
    `python -m minigan.X ...` line of a page's bash blocks."""
    found = []
    for body in blocks(page, "bash"):
        for line in body.splitlines():
            words = shlex.split(line.split("#")[0].split("&&")[-1])
            if len(words) < 2 or words[0] != "python":
                continue
            if words[1] == "-m" and words[2].startswith("minigan."):
                script = words[2]
            elif words[1].startswith(("examples/", "benchmarks/", "docs/")):
                script = words[1]
            else:
                continue
            found.append((script, sorted({w.split("=")[0] for w in words if w.startswith("--")})))
    return found


ALL_COMMANDS = sorted({(s, tuple(f)) for page in PAGES for s, f in commands(page)})


@pytest.mark.parametrize("script,flags", ALL_COMMANDS, ids=[s for s, _ in ALL_COMMANDS])
def test_bash_commands_name_real_scripts_and_flags(script, flags):
    if script.startswith("minigan."):
        argv = [sys.executable, "-m", script, "--help"]
    else:
        assert (ROOT / script).is_file(), f"the docs run {script}, which does not exist"
        argv = [sys.executable, str(ROOT / script), "--help"]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    missing = [flag for flag in flags if flag not in done.stdout]
    assert not missing, f"{script} --help does not list {missing}"
