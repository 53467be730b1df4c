"""The command line: bad input gets one clear message and exit code 2 (no traceback); run, compare, params and schema do what they say.

Bad inputs go through ``sim.cli.main`` in this process (fast, stderr captured);
a few also go through the installed ``mandate-sim`` console script as a
subprocess, so the real entry point is covered too.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from conftest import PYTHON, REPO, run_cli

import sim
from sim import cli
from sim.model.metrics import METRICS

TINY = ["-r", "2", "-n", "30", "-w", "6", "-s", "3"]


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def bad_files(d: Path) -> dict[str, Path]:
    """A set of broken scenario and organisation files."""
    return {
        "malformed": write(d / "malformed.yaml", "policy:\n  usage_target: [0.3\n"),
        "unknown_key": write(d / "unknown_key.yaml", "policy:\n  usage_targt: 0.3\n"),
        "out_of_range": write(d / "out_of_range.yaml", "policy:\n  usage_target: 1.7\n"),
        "wrong_type": write(d / "wrong_type.yaml", "policy:\n  usage_target: lots\n"),
        "wrong_type_int": write(d / "wrong_type_int.yaml", "policy:\n  training_weeks: 2.5\n"),
        "empty": write(d / "empty.yaml", ""),
        "only_comments": write(d / "only_comments.yaml", "# nothing here\n"),
        "binary": write(d / "binary.yaml", bytes(range(256)) * 4),
        "latin1": write(d / "latin1.yaml", "title: caf\xe9\n".encode("latin-1")),
        "a_list": write(d / "a_list.yaml", "- policy\n- organisation\n"),
        "shares": write(d / "shares.yaml", "organisation:\n  seniority:\n    junior: {share: 0.9}\n"),
        "unknown_tool": write(d / "unknown_tool.yaml", "policy:\n  allowed_tools: [copilot]\n"),
        "bad_extends": write(d / "bad_extends.yaml", "extends: mandate_singel_tool\n"),
        "org_with_policy": write(d / "org_with_policy.yaml", "policy:\n  usage_target: 0.5\n"),
    }


# (case, argv builder, substrings the one message must contain). Each message names the file or flag, the field, the value and what is allowed.
CASES = [
    ("malformed yaml", lambda f: ["run", str(f["malformed"])], ["malformed.yaml", "YAML", "line 3"]),
    ("unknown key", lambda f: ["run", str(f["unknown_key"])], ["unknown_key.yaml", "policy.usage_targt", "unknown", "usage_target"]),
    ("out of range", lambda f: ["run", str(f["out_of_range"])], ["out_of_range.yaml", "policy.usage_target", "1.7", "from 0 to 1"]),
    ("wrong type", lambda f: ["run", str(f["wrong_type"])], ["wrong_type.yaml", "policy.usage_target", "lots", "a number"]),
    ("wrong type (integer)", lambda f: ["run", str(f["wrong_type_int"])], ["wrong_type_int.yaml", "policy.training_weeks", "2.5", "whole number"]),
    ("missing file", lambda f: ["run", str(f["malformed"].parent / "missing.yaml")], ["missing.yaml", "not found"]),
    ("empty file", lambda f: ["run", str(f["empty"])], ["empty.yaml", "empty"]),
    ("only comments", lambda f: ["run", str(f["only_comments"])], ["only_comments.yaml", "empty"]),
    ("binary file", lambda f: ["run", str(f["binary"])], ["binary.yaml", "binary"]),
    ("not utf-8", lambda f: ["run", str(f["latin1"])], ["latin1.yaml", "UTF-8"]),
    ("a list, not a mapping", lambda f: ["run", str(f["a_list"])], ["a_list.yaml", "mapping"]),
    ("shares not summing", lambda f: ["run", str(f["shares"])], ["shares.yaml", "organisation", "sum to 1"]),
    ("unknown tool", lambda f: ["run", str(f["unknown_tool"])], ["unknown_tool.yaml", "policy.allowed_tools", "copilot", "inhouse"]),
    ("bad extends", lambda f: ["run", str(f["bad_extends"])], ["bad_extends.yaml", "extends", "mandate_singel_tool", "mandate_single_tool"]),
    ("unknown scenario", lambda f: ["run", "mandate_singel_tool"], ["mandate_singel_tool", "mandate_single_tool"]),
    ("unknown --set path", lambda f: ["run", "free_choice", "--set", "policy.nope=1"], ["--set", "policy.nope", "mandate-sim params"]),
    ("--set out of range", lambda f: ["run", "free_choice", "--set", "policy.usage_target=2"], ["--set", "policy.usage_target", "2", "from 0 to 1"]),
    ("--set wrong type", lambda f: ["run", "free_choice", "--set", "behaviour.people.hiring_delay_weeks=soon"], ["--set", "behaviour.people.hiring_delay_weeks", "soon", "whole number"]),
    ("--set without =", lambda f: ["run", "free_choice", "--set", "policy.usage_target"], ["--set", "policy.usage_target", "PATH=VALUE"]),
    ("--engineers out of range", lambda f: ["run", "free_choice", "--engineers", "5"], ["--engineers", "5", "from 10 to 100000"]),
    ("--engineers absurd", lambda f: ["run", "free_choice", "--engineers", "10000000000"], ["--engineers", "10000000000", "from 10 to 100000"]),
    ("--weeks out of range", lambda f: ["run", "free_choice", "--weeks", "0"], ["--weeks", "0", "from 1 to 260"]),
    ("--replicates out of range", lambda f: ["run", "free_choice", "--replicates", "0"], ["--replicates", "0", "from 1"]),
    ("bad --out extension", lambda f: ["run", "free_choice", "--out", "results.txt"], ["--out", "results.txt", ".parquet", ".csv"]),
    ("bad --html extension", lambda f: ["compare", "free_choice", "no_ai", "--html", "report.pdf"], ["--html", "report.pdf", ".html"]),
    ("unknown --org", lambda f: ["run", "free_choice", "--org", "no_such_org"], ["no_such_org", "organisation profile", "default", "junior_boilerplate"]),
    ("--org file with scenario keys", lambda f: ["run", "free_choice", "--org", str(f["org_with_policy"])], ["org_with_policy.yaml", "policy", "unknown"]),
]


@pytest.fixture
def files(tmp_path):
    return bad_files(tmp_path)


def check_one_message(code: int, out: str, err: str, expected: list[str], case: str) -> None:
    text = out + err
    assert code == 2, f"{case}: exit code {code}, output: {text}"
    assert "Traceback" not in text, f"{case}: traceback printed:\n{text}"
    assert err.count("error:") == 1, f"{case}: expected one message on stderr, got:\n{err}"
    missing = [s for s in expected if s not in err]
    assert not missing, f"{case}: message lacks {missing}:\n{err}"


@pytest.mark.parametrize("case,argv,expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_one_clear_message_and_exit_code_2(case, argv, expected, files, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    code = cli.main(argv(files))
    out, err = capsys.readouterr()
    check_one_message(code, out, err, expected, case)


@pytest.mark.parametrize("case", ["malformed yaml", "out of range", "unknown --set path", "--engineers out of range", "binary file"])
def test_bad_input_through_the_installed_command(case, files, tmp_path):
    _, argv, expected = next(c for c in CASES if c[0] == case)
    proc = run_cli(*argv(files), cwd=tmp_path)
    check_one_message(proc.returncode, proc.stdout, proc.stderr, expected, case)


def test_no_output_file_is_left_behind_by_a_failed_run(files, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "never.parquet"
    assert cli.main(["run", str(files["out_of_range"]), "--out", str(out)]) == 2
    assert not out.exists()


# --- What the commands do -------------------------------------------------------------------


def _read(path: Path) -> pd.DataFrame:
    df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    for c in ("scenario", "metric", "group"):
        df[c] = df[c].astype(str)
    return df.reset_index(drop=True)


def _api(*args, **kwargs) -> pd.DataFrame:
    df = sim.run(*args, **kwargs)
    for c in ("scenario", "metric", "group"):
        df[c] = df[c].astype(str)
    return df.reset_index(drop=True)


def test_run_out_parquet_reads_back_equal_to_the_python_api(tmp_path, capsys):
    out = tmp_path / "runs.parquet"
    assert cli.main(["run", "mandate_single_tool", *TINY, "--out", str(out)]) == 0
    assert out.exists() and out.read_bytes()[:4] == b"PAR1"
    expected = _api("mandate_single_tool", replicates=2, engineers=30, weeks=6, seed=3)
    pd.testing.assert_frame_equal(_read(out), expected, check_exact=True, check_dtype=False)
    printed = capsys.readouterr().out
    assert "mandate_single_tool" in printed
    # the summary names metrics by label with unit, never by id (the file keeps the ids)
    assert METRICS["cycle_time"].title in printed and METRICS["true_gain"].title in printed
    assert not raw_metric_ids(printed)
    assert "weekly_active_share" in set(_read(out)["metric"])


def raw_metric_ids(text: str) -> list[str]:
    """Metric ids (the ones with an underscore, which no label has) that appear as words in ``text``."""
    return [m for m in METRICS if "_" in m and re.search(rf"(?<![\w.]){m}(?![\w])", text)]


def test_run_out_csv_has_the_tidy_columns(tmp_path):
    out = tmp_path / "runs.csv"
    assert cli.main(["run", "free_choice", *TINY, "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert list(df.columns) == ["scenario", "replicate", "week", "metric", "group", "value"]
    expected = _api("free_choice", replicates=2, engineers=30, weeks=6, seed=3)
    assert len(df) == len(expected)
    pd.testing.assert_series_equal(df["value"], expected["value"], check_exact=False, rtol=1e-12)


def test_set_and_org_and_extends_apply_through_the_cli(tmp_path):
    out = tmp_path / "set.parquet"
    assert cli.main(["run", "free_choice", *TINY, "--set", "policy.feedback_safety=0.9", "--set", "policy.allowed_tools=[inhouse]", "--out", str(out)]) == 0
    expected = _api("free_choice", replicates=2, engineers=30, weeks=6, seed=3, overrides={"policy.feedback_safety": 0.9, "policy.allowed_tools": ["inhouse"]})
    pd.testing.assert_frame_equal(_read(out), expected, check_exact=True, check_dtype=False)
    plain = _api("free_choice", replicates=2, engineers=30, weeks=6, seed=3)
    assert not _read(out)["value"].equals(plain["value"]), "--set changed the results"

    out = tmp_path / "org.parquet"
    assert cli.main(["run", "mandate_single_tool", *TINY, "--org", "junior_boilerplate", "--out", str(out)]) == 0
    expected = _api("mandate_single_tool", replicates=2, engineers=30, weeks=6, seed=3, org="junior_boilerplate")
    pd.testing.assert_frame_equal(_read(out), expected, check_exact=True, check_dtype=False)

    mine = write(tmp_path / "my_policy.yaml", "extends: mandate_single_tool\npolicy:\n  training_hours: 16\n")
    out = tmp_path / "ext.parquet"
    assert cli.main(["run", str(mine), *TINY, "--out", str(out)]) == 0
    expected = _api("mandate_single_tool", replicates=2, engineers=30, weeks=6, seed=3, overrides={"policy.training_hours": 16})
    got = _read(out)
    assert set(got["scenario"]) == {"my_policy"}
    pd.testing.assert_series_equal(got["value"], expected["value"], check_exact=True)


def test_compare_html_writes_the_plotly_charts(tmp_path, capsys):
    from sim.analysis.figures import standard_figures

    report = tmp_path / "report.html"
    data = tmp_path / "cmp.parquet"
    assert cli.main(["compare", "mandate_single_tool", "free_choice", "outcome_goals", *TINY, "--html", str(report), "--out", str(data)]) == 0
    html = report.read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html>")
    n_charts = len(standard_figures(_read(data)))
    assert n_charts > 0
    assert len(re.findall(r"Plotly\.newPlot\(", html)) == n_charts, "one plotly chart per standard figure"
    assert html.count('class="plotly-graph-div"') == n_charts
    for name in ("mandate_single_tool", "free_choice", "outcome_goals"):
        assert name in html
    assert "plotly.js" in html.lower() or "plotly" in html  # the library is inlined (works offline)
    assert "<script src=\"http" not in html, "the report needs no network"
    printed = capsys.readouterr().out
    assert "free_choice" in printed and not raw_metric_ids(printed)
    assert not raw_metric_ids(re.sub(r"<script\b.*?</script>", "", html, flags=re.S)), "the report's tables name metrics by label"
    assert METRICS["trust_leadership"].title in html


def test_params_json_lists_every_parameter_with_exactly_the_documented_keys(capsys):
    assert cli.main(["params", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert isinstance(rows, list) and rows
    assert all(isinstance(r, dict) and set(r) == {"path", "value", "unit", "min", "max", "description"} for r in rows)
    paths = {r["path"] for r in rows}
    assert {r.path for r in sim.parameter_paths()} == paths
    assert {"policy.usage_target", "behaviour.people.annual_attrition", "organisation.size"} <= paths
    target = next(r for r in rows if r["path"] == "policy.usage_target")
    assert target["min"] == 0 and target["max"] == 1 and target["unit"] and target["description"]


def test_params_json_shows_a_scenario_s_values(capsys):
    assert cli.main(["params", "mandate_single_tool", "--json"]) == 0
    rows = {r["path"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["policy.usage_target"]["value"] == 0.8
    assert rows["policy.allowed_tools"]["value"] == ["inhouse"]


def test_params_json_through_the_installed_command():
    proc = run_cli("params", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert all(set(r) == {"path", "value", "unit", "min", "max", "description"} for r in rows)


def test_schema_is_valid_json_with_the_policy_section(capsys, tmp_path):
    assert cli.main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "policy" in schema["properties"]
    assert "organisation" in schema["properties"] and "extends" in schema["properties"]
    out = tmp_path / "scenario.schema.json"
    assert cli.main(["schema", "--out", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8")) == schema


# --- How the command line is put together ---------------------------------------------------------


COMMANDS = ["scenarios", "run", "compare", "params", "schema", "validate", "calibrate", "sweep", "analyze", "app"]


def test_help_lists_every_command_in_order(capsys):
    import typer

    assert isinstance(cli.app, typer.Typer) and callable(cli.main)
    assert cli.main(["--help"]) == 0
    text = capsys.readouterr().out
    listed = [line.split()[1] for line in text.splitlines() if line.startswith("│ ") and len(line.split()) > 2 and line.split()[1] in COMMANDS]
    assert listed == COMMANDS


def test_python_dash_m_runs_the_same_command_line_without_loading_the_app():
    proc = subprocess.run([PYTHON, "-m", "sim.cli", "schema"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "policy" in json.loads(proc.stdout)["properties"]
    code = "import sys, sim.cli; print(sorted(m for m in sys.modules if m == 'dash' or m.startswith(('dashboards', 'dash.'))))"
    proc = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", "the command line imports the app only inside `mandate-sim app`"


HEAVY = ("mesa", "numba", "plotly", "pandas", "scipy", "dash")


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["run", "free_choice", "--set", "nope=1"], ["compare", "free_choice", "nope"],
                                  ["validate", "missing.yaml"], ["analyze", "missing-folder"]], ids=" ".join)
def test_help_and_a_bad_input_answer_without_loading_the_model_or_plotting(argv, tmp_path):
    """A user's typo is answered in about a second: the model (Mesa, numba), pandas and plotly load only for real work."""
    code = ("import sys, sim.cli\ntry:\n    code = sim.cli.main(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
            f"print('LOADED', sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})), code, file=sys.stderr)")
    proc = subprocess.run([PYTHON, "-c", code, *argv], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    loaded = [line for line in proc.stderr.splitlines() if line.startswith("LOADED")]
    assert loaded, proc.stderr
    assert loaded[-1].startswith("LOADED [] "), loaded[-1]
    assert loaded[-1].split()[-1] == ("0" if argv[-1] == "--help" else "2"), proc.stderr


ENDING = """
import atexit, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
import pyarrow as pa, pyarrow.parquet as pq
import sim.cli

class Teardown:
    def __init__(self, path):
        self.path, self.open = path, open  # kept: the builtins may be gone when this is deleted

    def __del__(self):
        with self.open(self.path, "w") as f:
            f.write("the interpreter's teardown ran")

keep = Teardown(sys.argv[1])  # deleted only when the interpreter tears its modules down
sink = pa.BufferOutputStream()
pq.write_table(pa.table({"a": list(range(1000))}), sink)
pq.read_table(pa.BufferReader(sink.getvalue()))  # pyarrow's thread pools are running
atexit.register(lambda: print("exit handler ran"))
threading.Thread(target=lambda: (time.sleep(0.3), print("thread finished"))).start()
pool = ThreadPoolExecutor(2)
pool.submit(time.sleep, 0.01).result()  # its workers wait for work: the exit must wake them, not wait for them for ever
sys.argv = ["mandate-sim", *sys.argv[2:]]
sim.cli.entry()
"""


@pytest.mark.parametrize("argv, code", [(["scenarios"], 0), (["run", "nope"], 2)], ids=["a command", "a bad input"])
def test_the_command_ends_after_its_exit_work_without_the_native_teardown(argv, code, tmp_path):
    """``mandate-sim`` waits for its threads, runs the exit handlers and flushes its piped output like any Python program,
    then ends without tearing the native libraries down: pyarrow's thread pools sometimes abort there (status -6) after
    a command has succeeded (4 of 87 small sweeps under load did). The exit status is the command's."""
    marker = tmp_path / "teardown.txt"
    proc = subprocess.run([PYTHON, "-c", ENDING, str(marker), *argv], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"})
    assert proc.returncode == code, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-2:] == ["thread finished", "exit handler ran"], proc.stdout[-2000:]
    if code == 0:
        assert "free_choice" in proc.stdout  # the command's own output, written before, is not lost
    else:
        assert proc.stderr.startswith("error:") and "Traceback" not in proc.stderr, proc.stderr
    assert not marker.exists(), "the interpreter tore its modules down after the command"


@pytest.mark.parametrize("code", [None, 0, 2, 130, -6, 300, True, False, "a message"])
def test_the_exit_status_is_the_one_sys_exit_gives(code):
    """``exit_now(code)`` ends with the status ``sys.exit(code)`` would (the app returns its web server's)."""
    from sim.exiting import exit_status

    proc = subprocess.run([PYTHON, "-c", f"import sys; sys.exit({code!r})"], capture_output=True, timeout=60)
    assert exit_status(code) == proc.returncode


def test_an_old_policy_key_runs_with_a_one_line_warning_through_the_installed_command(tmp_path):
    old = tmp_path / "old.yaml"
    old.write_text("extends: mandate_single_tool\npolicy:\n  enforcement: 0.4\n")
    out = subprocess.run([str(Path(PYTHON).parent / "mandate-sim"), "run", str(old), "-r", "1", "-n", "20", "--weeks", "2"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    warning_lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(warning_lines) == 1 and warning_lines[0].startswith("warning: ") and "policy.usage_enforcement" in warning_lines[0]
    assert "Traceback" not in out.stderr and ".py:" not in out.stderr


def test_compare_names_a_scenario_file_by_its_own_title_in_the_takeaways_and_the_report(tmp_path, capsys):
    mine = tmp_path / "mine.yaml"
    mine.write_text("extends: outcome_goals\ntitle: Our [own] goals\n", encoding="utf-8")
    report = tmp_path / "report.html"
    assert cli.main(["compare", "mandate_single_tool", str(mine), *TINY, "--html", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "“Our [own] goals”" in printed, printed  # printed as written (no rich markup), quoted as every title is
    html = report.read_text(encoding="utf-8")
    assert "Our [own] goals" in html and "Our own goals" not in html
