"""JSON documents read as data: a checkpoint's document, recipe.json, the pretrained generator's
JSON. Each is parsed within stated limits, so a crafted file can neither hang a reader (a 100 MB
name printed in every progress line) nor crash it (200k nested lists, RecursionError)."""
import json
import re

# Limits on a JSON document we read (a checkpoint's, recipe.json, the pretrained generator's):
# far above what minigan writes, far below what could hang a reader or flood a terminal.
MAX_DEPTH = 32             # objects and lists inside each other; minigan's nest 5 deep
MAX_ITEMS = 1_000_000      # entries in one list or object: the history holds one per epoch
MAX_NAME = 256             # characters in a key or a string: names, flags, devices
MAX_TEXT = 4096            # characters in the value of a TEXT_FIELDS key (Linux's PATH_MAX)
TEXT_FIELDS = ("out", "warning", "command", "machine")   # paths and sentences, not names
MAX_JSON_BYTES = 1 << 20   # a JSON file read on its own (recipe.json): minigan's are < 1 KiB
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # would break the one-line messages and logs


def has_control_characters(text):
    """Whether `text` holds a C0 or C1 control character (a newline, an escape sequence...)."""
    return _CONTROL.search(text) is not None


def parse_json(text):
    """The value of the JSON `text` (str or bytes) if it keeps within MAX_DEPTH, MAX_ITEMS,
    MAX_NAME and MAX_TEXT (a string under a TEXT_FIELDS key) and holds no control characters;
    otherwise ValueError saying what and where ("a string of 1,000,000 characters at
    recipe.name, ..."), never echoing the value."""
    try:
        value = json.loads(text)
    except RecursionError:  # json's own parser gives up near Python's recursion limit
        raise ValueError(f"objects or lists nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # also bad UTF-8, and integers beyond Python's digit limit
        raise ValueError(f"invalid JSON ({(str(exc).splitlines() or [''])[0][:200]})") from None
    problem = _limits_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def read_json(path):
    """parse_json of the file at `path`, which may hold at most MAX_JSON_BYTES (the rest is
    never read). OSError when it cannot be read; ValueError (one phrase) when it is refused."""
    with open(path, "rb") as f:
        raw = f.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise ValueError(f"more than {MAX_JSON_BYTES:,} bytes")
    return parse_json(raw)


def _limits_problem(value, at="", key="", depth=1):
    """Why a parsed JSON value breaks a limit of parse_json, or None. `at` names where it sits
    ("recipe.name", "epochs[3]"); `key` is the key it is stored under."""
    where = f" at {at if len(at) <= 120 else at[:60] + '...' + at[-50:]}" if at else ""
    if depth > MAX_DEPTH and isinstance(value, (dict, list)):
        return f"objects or lists nested deeper than {MAX_DEPTH} levels"
    if isinstance(value, str):
        limit, kind = (MAX_TEXT, "text") if key in TEXT_FIELDS else (MAX_NAME, "name")
        if len(value) > limit:
            return (f"a string of {len(value):,} characters{where}, where a {kind} holds at "
                    f"most {limit:,}")
        return f"control characters in the string{where}" if has_control_characters(value) else None
    if not isinstance(value, (dict, list)):
        return None
    if len(value) > MAX_ITEMS:
        kind = "an object" if isinstance(value, dict) else "a list"
        return f"{kind} of {len(value):,} items{where}, where at most {MAX_ITEMS:,}"
    for name, item in value.items() if isinstance(value, dict) else enumerate(value):
        if isinstance(name, str):
            if len(name) > MAX_NAME:
                return (f"a key of {len(name):,} characters{where}, where a name holds at most "
                        f"{MAX_NAME}")
            if has_control_characters(name):
                return f"control characters in a key{where}"
        inner = (f"{at}.{name}" if at else name) if isinstance(name, str) else f"{at}[{name}]"
        problem = _limits_problem(item, inner, name, depth + 1)
        if problem:
            return problem
    return None
