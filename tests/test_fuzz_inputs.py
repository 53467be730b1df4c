"""Fuzzing the readers: any text in a scenario, organisation profile, study or sweep spec gives a valid object or one
bounded InputError, never another exception, in bounded time.

Texts are the bundled files with random edits (a slice deleted, text inserted, a span swapped for YAML punctuation,
random bytes) and random YAML documents built from the files' own keys. The suite runs a few hundred examples,
derandomized; ``make fuzz`` many more, fresh each run (``fuzz_settings`` in conftest.py).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import time
from pathlib import Path

import yaml
from conftest import REPO, fuzz_settings
from hypothesis import assume, given
from hypothesis import strategies as st

import sim
from sim.errors import InputError
from sim.experiments.studies import load_study
from sim.experiments.sweeps.plan import load_spec
from sim.model.scenarios import load_text

#: Where studies and specs are written to be read (one folder for the module; each example overwrites its file).
WORK = Path(tempfile.mkdtemp(prefix="mandate-sim-fuzz-"))
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
SCENARIOS = sorted((REPO / "scenarios").glob("*.yaml"))
ORGS = sorted((REPO / "scenarios" / "orgs").glob("*.yaml"))
STUDIES = sorted((REPO / "studies").glob("*.yaml"))
SPEC = """\
scenario: mandate_single_tool
design: lhs
samples: 4
replicates: 1
seed: 42
engineers: 20
weeks: 4
parameters:
  policy.usage_enforcement: [0.0, 1.0]
  policy.feedback_safety: bounds
fixed:
  policy.training_hours: 8
outputs: [true_gain, weekly_active_share]
keep: final
"""
TEXTS = {p.name: p.read_text() for p in SCENARIOS + ORGS + STUDIES} | {"spec.yaml": SPEC}
KIND = {p.name: "scenario" for p in SCENARIOS} | {p.name: "org" for p in ORGS} | {p.name: "study" for p in STUDIES} | {"spec.yaml": "spec"}
PUNCTUATION = [":", "- ", "[", "]", "{", "}", "&a ", "*a", "!!", "<<: ", "'", '"', "#", "\n  ", "\t", "|", ">", "%", "@", "---\n", "~", ".nan", "1e999", "-", "?"]
#: The most characters a refusal may have (the message names file, field, value excerpt and what is allowed).
MAX_MESSAGE = 3000
#: The most seconds one text may take to accept or refuse.
MAX_SECONDS = 2.0


@st.composite
def edited_text(draw) -> tuple[str, str]:
    """A bundled file's name and its text with one to three random edits."""
    name = draw(st.sampled_from(sorted(TEXTS)))
    text = TEXTS[name]
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        j = min(len(text), i + draw(st.integers(0, 40)))
        edit = draw(st.sampled_from(["delete", "insert", "punctuate", "bytes"]))
        if edit == "delete":
            text = text[:i] + text[j:]
        elif edit == "insert":
            text = text[:i] + draw(st.text(max_size=20)) + text[i:]
        elif edit == "punctuate":
            text = text[:i] + draw(st.sampled_from(PUNCTUATION)) + text[j:]
        else:
            text = text[:i] + draw(st.binary(max_size=8)).decode("latin-1") + text[i:]
    return name, text


def _keys(text: str) -> list[str]:
    """Every mapping key of a YAML text (to build random documents a reader half-recognises)."""
    keys: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                keys.add(str(k))
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(yaml.safe_load(text))
    return sorted(keys)


KEYS = sorted({k for text in TEXTS.values() for k in _keys(text)})
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=12), st.sampled_from(["inhouse", "thirdparty", "bounds", "lhs", "boilerplate", "senior"]))
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), inner, max_size=5)),
    max_leaves=25,
)


def read(name: str, text: str) -> object:
    """What the reader for ``name``'s kind makes of ``text`` (no file is read)."""
    kind = KIND[name]
    if kind in ("scenario", "org"):
        mapping = load_text(text, name, kind, where="in this test")
        return sim.load_scenario(mapping, source=name) if kind == "scenario" else mapping
    path = WORK / name  # studies and specs are read from files, as the command line reads them
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    return load_study(path) if kind == "study" else load_spec(path)


def accepts_or_refuses(name: str, text: str) -> None:
    start = time.monotonic()
    try:
        read(name, text)
    except InputError as e:
        message = str(e)
        assert message and len(message) <= MAX_MESSAGE, f"{name}: a message of {len(message)} characters"
        assert "Traceback" not in message
    except Exception as e:  # noqa: BLE001 - any other exception is the failure this test looks for
        raise AssertionError(f"{name}: {type(e).__name__} instead of an InputError for:\n{text!r}") from e
    assert time.monotonic() - start < MAX_SECONDS, f"{name}: took {time.monotonic() - start:.1f} s"


def test_the_bundled_texts_are_accepted():
    for name, text in TEXTS.items():
        read(name, text)


@fuzz_settings(150)
@given(edited=edited_text())
def test_an_edited_file_is_accepted_or_refused_with_one_message(edited):
    accepts_or_refuses(*edited)


@fuzz_settings(100)
@given(name=st.sampled_from(sorted(TEXTS)), document=DOCUMENTS)
def test_a_random_document_is_accepted_or_refused_with_one_message(name, document):
    try:
        text = yaml.safe_dump(document, allow_unicode=True)
    except (yaml.YAMLError, UnicodeEncodeError):
        assume(False)
    accepts_or_refuses(name, text)
