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


# What a learner reads describes the project as it is: no narration of when or in which round
# something was done, and every relative link and anchor leads somewhere.
PROSE = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
         ROOT / "minigan" / "weights" / "README.md"]
HISTORY_WORDS = re.compile(r"(?i)\bround \d|\btoday\b|\bof the day\b|\bfor time\b|"
                           r"\bissue \d|\blent\b|\bnot yet\b")


def prose_of(path):
    """A page's text without its code blocks; a notebook's markdown cells."""
    if path.suffix == ".ipynb":
        import json
        cells = json.loads(path.read_text())["cells"]
        return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return re.sub(r"```.*?```", "", path.read_text(), flags=re.S)


@pytest.mark.parametrize("path", PROSE + sorted((ROOT / "notebooks").glob("*.ipynb")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_the_prose_tells_no_history(path):
    found = [m.group(0) for m in HISTORY_WORDS.finditer(prose_of(path))]
    assert not found, f"{path.relative_to(ROOT)} narrates history: {found}"


def anchors_of(path):
    """The anchors of a Markdown page's headings, as GitHub makes them (lower case, spaces to
    hyphens, punctuation dropped, -1, -2 ... for repeats)."""
    anchors, seen = set(), {}
    for heading in re.findall(r"^#{1,6} (.+)$", prose_of(path), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.replace("`", "").strip().lower()).replace(" ", "-")
        anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


@pytest.mark.parametrize("path", PROSE, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_leads_somewhere(path):
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", prose_of(path)):
        if re.match(r"[a-z]+:", target):        # http:, https:, mailto:
            continue
        name, _, anchor = target.partition("#")
        dest = (path.parent / name).resolve() if name else path
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors_of(dest):
            broken.append(f"{target} (no heading with that anchor)")
    assert not broken, f"{path.relative_to(ROOT)}: {broken}"
