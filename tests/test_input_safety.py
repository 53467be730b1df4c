"""Input files are read safely and bounded, YAML is loaded bounded, and numbers are strict: through the Python API and
through the installed command.

* Files: only regular files are read (a device such as /dev/zero, a FIFO, a socket, a directory is refused with a clear
  message naming the file and what it is), never more than MAX_FILE_BYTES + 1 bytes, and a FIFO never blocks.
* YAML: aliases, the values they expand to, nesting and numbers are bounded; a key given twice and any tag but the
  plain ones are refused; messages show bounded excerpts.
* Numbers: true/false and text are not numbers, in files, mappings and ``--set``; a whole number is a number.

The cases that made the first edition hang or grow without end run in a child process with a timeout and a memory
cap, so they fail instead of hanging (or eating the machine).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
from pathlib import Path

import pytest
from pydantic import ValidationError

from sim.errors import InputError
from sim.files import MAX_FILE_BYTES, MAX_YAML_DEPTH, parse_yaml, read_file, read_text, read_yaml
from sim.model.scenarios import load_org, load_scenario, parse_override

#: The console script installed beside the interpreter running the tests.
MANDATE_SIM = str(Path(sys.executable).with_name("mandate-sim"))
REPO = Path(__file__).resolve().parent.parent
#: Address space a child may use (a safety net: the first edition's read of /dev/zero stops here with a MemoryError).
CAP_BYTES = 3 << 30
#: Peak memory a refused input may cost the command, all its imports included (MB).
PEAK_MB = 600

#: A billion laughs: nine levels of nine aliases each (9^9 values), 342 bytes.
BOMB = "a: &a [" + ",".join(['"lol"'] * 9) + "]\n" + "".join(
    f"{c}: &{c} [" + ",".join([f"*{p}"] * 9) + "]\n" for p, c in zip("abcdefgh", "bcdefghi"))


# -- running the command in a measured, capped child ---------------------------------------------------------------

WRAPPER = textwrap.dedent('''
    import json, os, resource, subprocess, sys, time
    timeout, cap, argv = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (cap, cap)))
    try:
        out, err = p.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        timed_out = True
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the command is this wrapper's only child
    print(json.dumps({"rc": p.returncode, "out": out[-4000:], "err": err[-4000:], "seconds": time.perf_counter() - t0,
                      "peak_mb": usage.ru_maxrss / 1024, "timed_out": timed_out}))
''')


def measured(argv: list[str], *, timeout: float = 60, cwd: Path | None = None) -> dict:
    """Run ``argv`` with a memory cap and a timeout; its exit code, output, seconds and peak memory (MB).

    A small wrapper process starts it, so the peak is the command's own (a child forked straight from this test
    process would start with this process's memory counted in its peak).
    """
    import json

    r = subprocess.run([sys.executable, "-c", WRAPPER, str(timeout), str(CAP_BYTES), *argv], capture_output=True, text=True,
                       timeout=timeout + 30, cwd=cwd, env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def python(code: str, *, timeout: float = 60) -> dict:
    """Run Python code (in this checkout) in a measured, capped child."""
    return measured([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(REPO)!r})\n" + textwrap.dedent(code)], timeout=timeout)


def refused_cleanly(r: dict, *expected: str) -> None:
    """The command ended at once with exit code 2 and one clear message, no traceback, little memory."""
    assert not r["timed_out"], f"hung: {r['err'][-300:]}"
    assert r["rc"] == 2, (r["rc"], r["err"][-1500:])
    assert "Traceback" not in r["err"] and "MemoryError" not in r["err"], r["err"][-1500:]
    for text in expected:
        assert text in r["err"], (text, r["err"][-500:])
    assert r["peak_mb"] < PEAK_MB, r["peak_mb"]


# -- special files -----------------------------------------------------------------------------------------------------


@pytest.fixture()
def specials(tmp_path):
    """A FIFO, a directory and a socket named like scenario files, and a scenario that extends the FIFO."""
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    (tmp_path / "folder.yaml").mkdir()
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock.yaml"))
    (tmp_path / "extends_fifo.yaml").write_text("extends: fifo.yaml\n")
    yield tmp_path
    sock.close()


@pytest.mark.parametrize("name, expected", [
    ("/dev/zero", "is a character device"),
    ("fifo.yaml", "is a named pipe (FIFO)"),
    ("extends_fifo.yaml", "is a named pipe (FIFO)"),
    ("sock.yaml", "is a socket"),
])
def test_the_command_refuses_what_is_not_a_regular_file(specials, name, expected):
    r = measured([MANDATE_SIM, "run", name, "-r", "1"], cwd=specials)
    refused_cleanly(r, f"error: {'fifo.yaml' if name == 'extends_fifo.yaml' else name}: {expected}, not a regular file (a scenario must be a regular file)")


def _with_timeout(fn, fifo: Path, seconds: float = 10.0):
    """``fn()`` in a thread; if it is still blocked after ``seconds`` (on the FIFO), unblock it and fail."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            box["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # a writer: the blocked reader gets end-of-file
        os.close(fd)
        t.join(5)
        pytest.fail(f"blocked on the FIFO for {seconds:.0f} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def test_the_python_api_refuses_special_files_at_once(specials):
    from sim.experiments.studies import load_study
    from sim.experiments.sweeps.spec import read_spec

    fifo = specials / "fifo.yaml"
    readers = [
        ("read_yaml", lambda: read_yaml(fifo, "scenario")),
        ("read_file", lambda: read_file(fifo, "file")),
        ("read_text", lambda: read_text(fifo, "manifest")),
        ("load_scenario", lambda: load_scenario(str(fifo))),
        ("extends", lambda: load_scenario(str(specials / "extends_fifo.yaml"))),
        ("load_org", lambda: load_org(str(fifo))),
        ("load_study", lambda: load_study(fifo)),
        ("read_spec", lambda: read_spec(fifo)),
    ]
    for name, fn in readers:
        t0 = time.perf_counter()
        with pytest.raises(InputError, match=r"fifo\.yaml: is a named pipe \(FIFO\)"):
            _with_timeout(fn, fifo)
        assert time.perf_counter() - t0 < 2, name
    with pytest.raises(InputError, match=r"sock\.yaml: is a socket, not a regular file \(a scenario must be a regular file\)"):
        load_scenario(str(specials / "sock.yaml"))
    with pytest.raises(InputError, match=r"folder\.yaml: is a directory, not a sweep spec"):
        read_spec(specials / "folder.yaml")


def test_the_python_api_refuses_dev_zero_without_reading_it():
    r = python("""
        from sim.errors import InputError
        from sim.files import read_file
        from sim.model.scenarios import load_scenario
        for fn in (lambda: read_file("/dev/zero"), lambda: load_scenario("/dev/zero"), lambda: load_scenario({"extends": "/dev/zero"})):
            try:
                fn()
            except InputError as e:
                print(e)
                assert "/dev/zero: is a character device" in str(e), e
            else:
                raise SystemExit("not refused")
    """)
    assert r["rc"] == 0 and not r["timed_out"], r["err"][-1500:]
    assert r["peak_mb"] < PEAK_MB and r["seconds"] < 30


def test_a_file_is_read_up_to_its_limit_only(tmp_path):
    """A regular file over the limit is refused by its size, and the reader never takes more than the limit + 1 bytes."""
    big = tmp_path / "big.yaml"
    with open(big, "wb") as f:
        f.truncate(50 * MAX_FILE_BYTES)  # sparse: 50 MB that cost nothing to make
    tracemalloc.start()
    with pytest.raises(InputError, match=r"big\.yaml: is 50,000,000 bytes; a scenario may be at most 1,000,000 bytes"):
        read_yaml(big, "scenario")
    assert tracemalloc.get_traced_memory()[1] < 4 * MAX_FILE_BYTES
    tracemalloc.stop()
    with pytest.raises(InputError, match="big.yaml: is 50,000,000 bytes; a sweep manifest may be at most 100 bytes"):
        read_file(big, "sweep manifest", limit=100)  # a reader with its own limit
    # a regular file that says it is empty (as /proc's do) is still read only up to the limit + 1 byte
    assert os.stat("/proc/self/status").st_size == 0
    with pytest.raises(InputError, match=r"/proc/self/status: is more than 100 bytes; a sweep manifest may be at most 100 bytes"):
        read_file("/proc/self/status", "sweep manifest", limit=100)
    (tmp_path / "ok.yaml").write_text("title: fine\n")
    assert read_text(tmp_path / "ok.yaml", "manifest", limit=100) == "title: fine\n"


# -- YAML, bounded --------------------------------------------------------------------------------------------------------


def test_a_billion_laughs_is_refused_at_once_and_small(tmp_path):
    assert len(BOMB) < 360
    p = tmp_path / "laughs.yaml"
    p.write_text(BOMB)
    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(InputError, match=r"laughs\.yaml: is refused at line \d+, column \d+: it holds more than [\d,]+ values once its aliases are expanded"):
        load_scenario(str(p))
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert seconds < 0.25, seconds
    assert peak < 5_000_000, peak
    # the same through the command, and in a value the declarations check (where the first edition built its repr)
    (tmp_path / "laughs_in_a_value.yaml").write_text(BOMB.replace("i: &i", "policy:\n  feedback_safety:"))
    for name in ("laughs.yaml", "laughs_in_a_value.yaml"):
        refused_cleanly(measured([MANDATE_SIM, "run", name, "-r", "1"], cwd=tmp_path, timeout=30), "aliases are expanded")


def test_too_many_aliases_are_refused():
    text = "a: &a 1\nb: [" + ", ".join(["*a"] * 1_001) + "]\n"
    with pytest.raises(InputError, match="uses more than 1,000 aliases"):
        parse_yaml(text, "aliases.yaml")
    assert parse_yaml("a: &a 1\nb: [" + ", ".join(["*a"] * 1_000) + "]\n", "ok.yaml")["b"] == [1] * 1_000


def test_an_alias_to_a_value_that_contains_it_is_refused():
    with pytest.raises(InputError, match=r"the alias \*a refers to a value that contains it"):
        parse_yaml("policy: &a\n  allowed_tools: [*a]\n", "cycle.yaml")


@pytest.mark.parametrize("text", [
    "a: " + "[" * 20_000 + "]" * 20_000 + "\n",            # flow
    "a: " + "{a: " * 20_000 + "1" + "}" * 20_000 + "\n",    # flow mappings
    "a:\n" + "- " * 20_000 + "x\n",                         # block sequences on one line
])
def test_deep_nesting_is_refused_clearly(tmp_path, text):
    p = tmp_path / "deep.yaml"
    p.write_text(text)
    t0 = time.perf_counter()
    with pytest.raises(InputError, match=rf"deep\.yaml: is refused at line \d+, column \d+: it nests lists and mappings more than {MAX_YAML_DEPTH} levels deep"):
        load_scenario(str(p))
    assert time.perf_counter() - t0 < 1
    refused_cleanly(measured([MANDATE_SIM, "run", "deep.yaml", "-r", "1"], cwd=tmp_path), "levels deep")


def test_a_key_given_twice_is_refused(tmp_path):
    p = tmp_path / "twice.yaml"
    p.write_text("policy:\n  usage_target: 0.2\n  feedback_safety: 0.5\n  usage_target: 0.9\n")
    with pytest.raises(InputError, match=r"twice\.yaml: is refused at line 4, column 3: the key 'usage_target' is given twice in one mapping \(a duplicate key\)"):
        load_scenario(str(p))
    with pytest.raises(InputError, match="the key 'name' is given twice"):
        parse_yaml("name: a\nname: b\n", "top.yaml")


@pytest.mark.parametrize("value, tag", [
    ("!!binary aGVsbG8=", "!!binary"),
    ("!!set {a, b}", "!!set"),
    ("!!timestamp 2001-12-14", "!!timestamp"),
    ("!!omap [a: 1]", "!!omap"),
    ("!!python/object/apply:os.getcwd []", "!!python/object/apply:os.getcwd"),
    ("!!python/name:os.system", "!!python/name:os.system"),
    ("!custom x", "!custom"),
])
def test_tags_beyond_the_plain_ones_are_refused_by_name(tmp_path, value, tag):
    p = tmp_path / "tagged.yaml"
    p.write_text(f"description: {value}\n")
    with pytest.raises(InputError, match=r"tagged\.yaml: is refused at line 1, column 14: the tag " + "(.*)" + " is not allowed") as e:
        load_scenario(str(p))
    assert tag in str(e.value)


@pytest.mark.parametrize("loader", ["libyaml", "python"])
def test_both_parsers_keep_the_same_bounds(loader):
    """The bounds hold with libyaml's parser (used when PyYAML has it) and with PyYAML's own (the fallback)."""
    import yaml

    from sim import files

    cls = files.CBoundedSafeLoader if loader == "libyaml" else files.PyBoundedSafeLoader
    if cls is None:
        pytest.skip("PyYAML without libyaml")
    cases = [
        (BOMB, "aliases are expanded"),
        ("a: &a 1\nb: [" + ", ".join(["*a"] * 1_001) + "]\n", "more than 1,000 aliases"),
        ("a: " + "[" * 20_000 + "]" * 20_000 + "\n", "levels deep"),
        ("a:\n" + "- " * 20_000 + "x\n", "levels deep"),
        ("k: 1\nk: 2\n", "given twice"),
        ("a: !!binary aGVsbG8=\n", "the tag !!binary"),
        ("a: &a [*a]\n", "contains it"),
        ("a: " + "9" * 200 + "\n", "longer than 100 characters"),
    ]
    for text, expected in cases:
        t0 = time.perf_counter()
        with pytest.raises(yaml.YAMLError) as e:
            files.load_yaml(text, cls)
        assert expected in str(e.value) or "maximum nesting depth" in str(e.value), (expected, str(e.value)[:200])
        assert time.perf_counter() - t0 < 1
    assert files.load_yaml("a: [1, x, {b: 2001-01-01}]\n", cls) == {"a": [1, "x", {"b": "2001-01-01"}]}


def test_plain_values_still_load_and_a_date_is_text():
    data = parse_yaml("a: [1, 2.5, true, null, text, {b: c}]\nd: 2001-12-14\ne: !!str 5\nf: !!float 1\nk: &k {x: 1}\nl: *k\n", "plain.yaml")
    assert data == {"a": [1, 2.5, True, None, "text", {"b": "c"}], "d": "2001-12-14", "e": "5", "f": 1.0, "k": {"x": 1}, "l": {"x": 1}}
    depth = MAX_YAML_DEPTH - 1  # nesting up to the limit loads
    value = parse_yaml("a: " + "[" * depth + "]" * depth + "\n", "ok.yaml")["a"]
    for _ in range(depth - 1):
        value = value[0]
    assert value == []


def test_merge_keys_and_absurd_numbers_are_refused():
    with pytest.raises(InputError, match=r"merge keys \(<<\) are not supported"):
        parse_yaml("a: &a {x: 1}\nb:\n  <<: *a\n  y: 2\n", "merge.yaml")
    for text in ("weeks: " + "1" * 5_000 + "\n", "weeks: 1" + ":59" * 100_000 + "\n"):  # the first edition: a ValueError traceback; quadratic time
        t0 = time.perf_counter()
        with pytest.raises(InputError, match="a number is longer than 100 characters"):
            parse_yaml(text, "numbers.yaml")
        assert time.perf_counter() - t0 < 1
    with pytest.raises(InputError, match=r"'abc' is not a valid !!int value"):
        parse_yaml("weeks: !!int abc\n", "numbers.yaml")


def test_messages_show_bounded_excerpts_and_a_bounded_number_of_problems(tmp_path):
    p = tmp_path / "noisy.yaml"
    p.write_text("".join(f"key_{i}: {i}\n" for i in range(5_000)) + "policy:\n  feedback_safety: '" + "z" * 500_000 + "'\n")
    t0 = time.perf_counter()
    with pytest.raises(InputError) as e:
        load_scenario(str(p))
    message = str(e.value)
    assert time.perf_counter() - t0 < 3
    assert len(message.splitlines()) <= 21 and len(message) < 8_000, (len(message.splitlines()), len(message))
    assert "more problems" in message
    big = {"policy": {"feedback_safety": [[["x" * 10] * 100] * 100] * 1_000}}  # ten million strings shared: a repr of 140 MB
    t0 = time.perf_counter()
    with pytest.raises(InputError, match="field 'policy.feedback_safety' value") as e:
        load_scenario(big)
    assert time.perf_counter() - t0 < 1 and len(str(e.value)) < 400


# -- strict numbers ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("section, expected", [
    ("policy:\n  feedback_safety: true\n", "field 'policy.feedback_safety' value True is true or false, not a number (allowed: a number from 0 to 1"),
    ("policy:\n  feedback_safety: '0.5'\n", "field 'policy.feedback_safety' value '0.5' is text, not a number"),
    ("weeks: '52'\n", "field 'weeks' value '52' is text, not a whole number"),
    ("organisation:\n  size: yes\n", "field 'organisation.size' value True is true or false, not a whole number"),
    ("behaviour:\n  work:\n    focus_hours: false\n", "field 'behaviour.work.focus_hours' value False is true or false, not a number"),
    ("organisation:\n  seniority:\n    junior:\n      task_mix: {boilerplate: '0.35', tests_docs: 0.25, debugging: 0.2, complex_change: 0.1, design_review: 0.1}\n",
     "the entry 'boilerplate' is text, not a number"),
])
def test_booleans_and_text_are_not_numbers(tmp_path, section, expected):
    p = tmp_path / "typed.yaml"
    p.write_text(section)
    with pytest.raises(InputError) as e:
        load_scenario(str(p))
    assert str(e.value).startswith(f"{p}: ") and expected in str(e.value), str(e.value)


def test_whole_numbers_are_numbers_and_numbers_are_not_whole_numbers():
    sc = load_scenario({"weeks": 52, "behaviour": {"work": {"focus_hours": 28}}, "policy": {"feedback_safety": 1}})
    assert sc.weeks == 52 and sc.behaviour.work.focus_hours == 28.0 and isinstance(sc.behaviour.work.focus_hours, float)
    assert sc.policy.feedback_safety == 1.0
    with pytest.raises(InputError, match="field 'policy.training_weeks' value 2.5 is not a whole number"):
        load_scenario({"policy": {"training_weeks": 2.5}})
    with pytest.raises(ValidationError, match="is true or false, not a number"):
        sc.policy.feedback_safety = True  # assignment is checked too


def test_set_refuses_booleans_and_text_for_numbers(tmp_path):
    for text, expected in [
        ("policy.feedback_safety=true", "value True is true or false, not a number"),
        ("policy.feedback_safety='0.5'", "value '0.5' is text, not a number"),
        ("organisation.team_size=on", "value True is true or false, not a whole number"),
    ]:
        path, value = parse_override(text)
        with pytest.raises(InputError, match="with --set .*" + expected.replace("(", r"\(").replace(")", r"\)")):
            load_scenario("free_choice", overrides={path: value})
    r = measured([MANDATE_SIM, "run", "free_choice", "-r", "1", "--engineers", "20", "--weeks", "2", "--set", "policy.feedback_safety=true"], cwd=tmp_path)
    refused_cleanly(r, "error: ", "--set policy.feedback_safety=True", "field 'policy.feedback_safety' value True is true or false, not a number",
                    "(allowed: a number from 0 to 1")
