"""The Dash app without a browser: layouts build, controls come from the declarations, links round-trip, uploads get
the CLI's messages, requests are bounded, and runs are cached and fail safely (the browser tests are test_app_browser.py)."""

from __future__ import annotations

import ast
import io
import socket
import zipfile
from pathlib import Path
from urllib.parse import parse_qs

import dash
import pytest

import sim
from sim.errors import InputError
from sim.model.metrics import METRICS
from sim.model.scenarios import field_at, load_scenario, parameter_paths

from dashboards import controls
from dashboards.app import AppConfig, create_app
from dashboards.compute import compare_task
from dashboards.inputs import CompareRequest, UploadFolder, build_specs, check_upload, decode_contents
from dashboards.jobs import JobManager, check_work, request_key
from dashboards.pages import compare as compare_page
from dashboards.pages.model import parameter_rows, parse_model
from dashboards.pages.sweeps import resolve_inside
from dashboards.state import compare_query, compare_request, lab_query, lab_state

TINY = dict(engineers=20, weeks=6)


@pytest.fixture(scope="module")
def app():
    """An app whose runs go to a background thread (the browser tests use worker processes)."""
    a = create_app(AppConfig(workers=0))
    yield a
    a.server.config["MANDATE_SIM"].jobs.close()


def _walk(component):
    """Every component in a layout tree."""
    yield component
    children = getattr(component, "children", None)
    if isinstance(children, (list, tuple)):
        for c in children:
            yield from _walk(c)
    elif children is not None and hasattr(children, "to_plotly_json"):
        yield from _walk(children)


def _ids(layout) -> dict:
    out = {}
    for c in _walk(layout):
        cid = getattr(c, "id", None)
        if cid is not None:
            out[str(cid) if not isinstance(cid, dict) else tuple(sorted(cid.items()))] = c
    return out


def _query_dict(query: str) -> dict:
    """The keyword arguments Dash pages hand a layout for this query string."""
    parsed = parse_qs(query.lstrip("?"), keep_blank_values=True)
    return {k: v[0] if len(v) == 1 else v for k, v in parsed.items()}


# -- layouts and serving ---------------------------------------------------------------------------


def test_every_page_builds_from_a_bare_link_and_from_a_full_one(app):
    links = {
        "/compare": "?p=mandate_single_tool,free_choice&org=junior_boilerplate&n=50&w=10&r=2&seed=3&set=organisation.team_size=10",
        "/lab": "?base=outcome_goals&n=50&w=10&r=2&seed=1&set=policy.feedback_safety=0.9&pin=free_choice",
        "/classroom": "?step=4&week=20&org=junior_boilerplate",
        "/model": "?scenario=mandate_single_tool",
        "/sweeps": "",
        "/info": "",
        "/": "",
    }
    with app.server.test_request_context("/"):
        for page in dash.page_registry.values():
            assert page["layout"]() is not None
            q = links[page["path"]]
            assert page["layout"](**_query_dict(q)) is not None, page["path"]


def test_the_shell_is_served_with_local_assets_only(app):
    client = app.server.test_client()
    html = client.get("/compare").get_data(as_text=True)
    assert "bootstrap.min.css" in html
    for marker in ('href="http', 'src="http', "cdn.", "//unpkg", "jsdelivr"):
        assert marker not in html
    assert client.get("/_dash-layout").status_code == 200
    assert client.get("/assets/bootstrap.min.css").status_code == 200


def test_a_server_worker_is_ready_before_it_serves_so_a_class_opening_the_page_at_once_gets_no_error():
    """gunicorn's workers serve the app from ``ready_server``: Dash's first-request setup is done before any request, so
    first requests arriving together (16 threads per worker) all succeed."""
    import threading

    from dashboards.server import ready_server

    dash_app = create_app(AppConfig(workers=0))
    try:
        server = ready_server(dash_app)
        assert server is dash_app.server
        codes: list[int] = []
        paths = ["/", "/classroom", "/assets/bootstrap.min.css", "/_dash-layout", "/_dash-dependencies"] * 4
        start = threading.Barrier(len(paths))

        def first_request(path: str) -> None:
            client = server.test_client()
            start.wait()
            codes.append(client.get(path).status_code)

        threads = [threading.Thread(target=first_request, args=(p,)) for p in paths]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert codes == [200] * len(paths)
    finally:
        dash_app.server.config["MANDATE_SIM"].jobs.close()


def test_the_server_is_safe_by_default(app):
    assert app.server.config["MAX_CONTENT_LENGTH"] <= 16 * 1024 * 1024
    assert not app.server.debug
    from typer.testing import CliRunner

    from sim.cli import app as cli

    result = CliRunner().invoke(cli, ["app", "--help"])
    assert "127.0.0.1" in result.output


# -- controls from the declarations ----------------------------------------------------------------


def test_lab_has_a_control_for_every_policy_lever_with_its_declared_bounds(app):
    from dashboards.pages.lab import lab_controls

    tree = lab_controls("mandate_single_tool", 50, 10, {})
    found = {dict(k)["path"]: c for k, c in _ids(tree).items() if isinstance(k, tuple) and dict(k).get("type") == "lab-param"}
    policy_paths = [r.path for r in parameter_paths(load_scenario("mandate_single_tool")) if r.path.startswith("policy.")]
    assert policy_paths and set(policy_paths) <= set(found)
    for r in parameter_paths(load_scenario("mandate_single_tool")):
        if r.path not in found:
            continue
        c = found[r.path]
        if r.kind == "bool":
            assert type(c).__name__ == "Switch" and c.value == r.value
        elif r.kind in ("number", "integer") and r.min is not None:
            assert (c.min, c.max) == (r.min, r.max), r.path
            assert c.value == r.value
    assert type(found["policy.allowed_tools"]).__name__ == "Dropdown"
    assert found["policy.allowed_tools"].value == ["inhouse"]
    assert "organisation.team_size" in found
    shares = {dict(k)["path"] for k in _ids(tree) if isinstance(k, tuple) and dict(k).get("type") == "lab-share"}
    assert {"organisation.seniority.junior.share", "organisation.seniority.senior.task_mix.design_review"} <= shares


def test_changed_controls_become_overrides_of_the_right_type():
    sc = load_scenario("mandate_single_tool")
    ids = [{"path": p} for p in ("policy.usage_target", "policy.training_weeks", "policy.allowed_tools", "policy.outcome_goals.enabled", "policy.usage_enforcement")]
    values = [0.5, 6.0, ["all", "inhouse"], True, sc.policy.usage_enforcement]
    sets = controls.changed(ids, values, sc)
    assert sets == {"policy.usage_target": 0.5, "policy.training_weeks": 6, "policy.allowed_tools": "all", "policy.outcome_goals.enabled": True}
    assert isinstance(sets["policy.training_weeks"], int)
    assert load_scenario("mandate_single_tool", overrides=sets).policy.usage_target == 0.5


def test_org_editor_covers_every_organisation_parameter_but_size():
    sc = load_scenario("free_choice", org="junior_boilerplate")
    paths = {r.path for r in controls.org_rows(sc)}
    declared = {r.path for r in parameter_paths(sc) if r.path.startswith("organisation.")}
    assert paths == declared - {"organisation.size"}
    assert field_at("organisation.team_size") is not None


# -- links ------------------------------------------------------------------------------------------


def test_a_compare_link_reproduces_the_request_with_uploads_and_edits(tmp_path):
    folder = UploadFolder(tmp_path)
    text = b"extends: mandate_single_tool\nname: softer\npolicy:\n  usage_target: 0.5\n"
    record = check_upload("scenario", "softer.yaml", text, folder)
    req = CompareRequest(["mandate_single_tool", "upload:" + record["id"], "outcome_goals"], "junior_boilerplate", 70, 12, 3, 11,
                         {"organisation.team_size": 6, "organisation.seniority.junior.skill_mean": 0.35}, [record])
    back = compare_request(_query_dict(compare_query(req)))
    assert back == req
    specs_a, specs_b = build_specs(req, folder), build_specs(back, UploadFolder(tmp_path / "elsewhere"))
    assert [s.model_dump() for s in specs_a] == [s.model_dump() for s in specs_b]
    assert request_key("compare", specs_a, 11, 3) == request_key("compare", specs_b, 11, 3)


def test_a_lab_link_reproduces_levers_and_the_pinned_baseline():
    state = {"base": "outcome_goals", "org": "junior_boilerplate", "n": 80, "w": 26, "r": 4, "seed": 9,
             "sets": {"policy.feedback_safety": 0.3, "policy.allowed_tools": ["inhouse"]}, "pin": {"base": "free_choice", "sets": {"policy.training_hours": 8.0}},
             "files": []}
    assert lab_state(_query_dict(lab_query(state))) == state
    record = check_upload("org", "small.yaml", b"extends: default\nsize: 120\nteam_size: 6\n")
    uploaded = {**state, "org": "upload:" + record["id"], "files": [record]}
    assert lab_state(_query_dict(lab_query(uploaded))) == uploaded


def test_a_broken_link_gets_a_clear_message():
    with pytest.raises(InputError, match="link parameter 'r'.*'many'.*not a whole number"):
        compare_request({"r": "many"})
    with pytest.raises(InputError, match="link parameter 'set'"):
        compare_request({"set": "policy.usage_target"})


# -- uploads: the CLI's own message ------------------------------------------------------------------

BAD_FILES = {
    "out_of_range.yaml": b"extends: mandate_single_tool\npolicy:\n  usage_target: 1.5\n",
    "unknown_key.yaml": b"policy:\n  usage_targt: 0.5\n",
    "not_yaml.yaml": b"policy: [unclosed\n",
    "binary.yaml": b"\x00\x01\x02binary",
    "empty.yaml": b"   \n",
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_an_invalid_upload_gets_exactly_the_cli_message(name, tmp_path, monkeypatch, capsys):
    from sim.cli import main

    (tmp_path / name).write_bytes(BAD_FILES[name])
    monkeypatch.chdir(tmp_path)
    assert main(["compare", name, "free_choice", "-r", "1"]) == 2
    cli_message = capsys.readouterr().err.strip()
    assert cli_message.startswith("error: ")
    contents = "data:application/x-yaml;base64," + __import__("base64").b64encode(BAD_FILES[name]).decode()
    with pytest.raises(InputError) as e:
        check_upload("scenario", name, decode_contents(contents, name), UploadFolder(tmp_path / "uploads"))
    assert f"error: {e.value}" == cli_message


def test_an_invalid_organisation_upload_gets_the_cli_message(tmp_path, monkeypatch, capsys):
    from sim.cli import main

    text = b"seniority:\n  junior:\n    share: 0.9\n"
    (tmp_path / "org.yaml").write_bytes(text)
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "free_choice", "outcome_goals", "--org", "org.yaml", "-r", "1"]) == 2
    cli_message = capsys.readouterr().err.strip()
    with pytest.raises(InputError) as e:
        check_upload("org", "org.yaml", text, UploadFolder(tmp_path / "uploads"))
    assert f"error: {e.value}" == cli_message


def test_an_upload_cannot_read_server_files_or_be_huge(tmp_path):
    folder = UploadFolder(tmp_path)
    with pytest.raises(InputError, match="field 'extends' value '/etc/passwd' may only extend a built-in name"):
        check_upload("scenario", "sneaky.yaml", b"extends: /etc/passwd\n", folder)
    with pytest.raises(InputError, match="may be at most 1,000,000 bytes"):
        check_upload("scenario", "big.yaml", b"#" * 1_000_001, folder)
    with pytest.raises(InputError, match="may be at most"):
        decode_contents("data:text/yaml;base64," + "A" * 2_000_000, "big.yaml")


# -- bounded requests ----------------------------------------------------------------------------------


def test_requests_are_bounded(tmp_path):
    folder = UploadFolder(tmp_path)
    with pytest.raises(InputError, match="names 1 policies.*2 to 4"):
        build_specs(CompareRequest(["free_choice"]), folder)
    with pytest.raises(InputError, match="names 5 policies"):
        build_specs(CompareRequest(sim.builtin_scenarios()[:5]), folder)
    with pytest.raises(InputError, match="replicates.*out of range"):
        build_specs(CompareRequest(replicates=10_000), folder)
    with pytest.raises(InputError, match="engineers.*out of range"):
        build_specs(CompareRequest(engineers=5), folder)
    specs = build_specs(CompareRequest(engineers=2000, weeks=104), folder)
    check_work(specs, 20, 25_000_000)
    with pytest.raises(InputError, match="asks for 33,280,000 engineer-weeks.*at most 25,000,000"):
        check_work(specs, 40, 25_000_000)


# -- runs: cache, failure, results ---------------------------------------------------------------------


def _double(x, *, progress=None):
    if progress:
        progress(1, 1)
    return 2 * x


def _blob(i, *, progress=None):
    return bytes([i]) * 200_000


def _explode(*, progress=None):
    raise RuntimeError("boom")


def test_the_cache_is_bounded_in_bytes_and_a_failed_run_leaves_the_pool_working():
    jobs = JobManager(workers=0, cache_bytes=700_000)
    try:
        for i in range(6):
            jobs.submit(f"k{i}", _blob, i)
            assert jobs.wait(f"k{i}", 10)["state"] == "done"
            assert jobs.cache_bytes() <= 700_000
        assert 1 <= len(jobs) < 6 and jobs.cached("k0") is None and jobs.cached("k5") == bytes([5]) * 200_000
        jobs.submit("bad", _explode)
        st = jobs.wait("bad", 10)
        assert st == {"state": "failed", "error": "the run failed: RuntimeError: boom"}
        jobs.submit("d3", _double, 3)
        assert jobs.wait("d3", 10)["state"] == "done" and jobs.cached("d3") == 6
    finally:
        jobs.close()


def test_a_comparison_renders_its_charts_table_takeaways_and_reproducible_files(tmp_path):
    specs = build_specs(CompareRequest(["mandate_single_tool", "free_choice"], engineers=TINY["engineers"], weeks=TINY["weeks"], replicates=2, seed=5),
                        UploadFolder(tmp_path))
    bundle = compare_task(specs, 5, 2)
    graphs, table, takeaways = compare_page.render(bundle)
    assert len(graphs) == len(compare_page.FIGURE_ORDER) and all(g["data"] for g in graphs)
    assert [g["layout"]["title"]["text"] for g in graphs[:2]] == ["Weekly active engineers: genuine, forced and token use",
                                                                    "Weekly active users (what the usage dashboard shows)"]
    assert list(bundle.table.columns) == ["mandate_single_tool", "free_choice"]
    rows = [tr.children[0].children for tr in _walk(table) if type(tr).__name__ == "Tr"][1:]
    assert METRICS["trust_leadership"].title in rows and METRICS["cycle_time"].title in rows
    assert not [r for r in rows if r in METRICS], "the table names metrics by label with unit, not by id"
    assert 3 <= len(bundle.takeaways) <= 8
    legend = {t.get("legendgroup") for t in bundle.figures["weekly_active"]["data"]}
    assert {"80% weekly-usage mandate, in-house tool only", "Free choice of vetted tools"} <= legend, "policies by title"
    # the scenario files as run reproduce the same numbers through the command line's loader
    z = zipfile.ZipFile(io.BytesIO(compare_page._files_used(bundle)))
    assert "--replicates 2 --seed 5" in z.read("README.txt").decode()
    for name in ("mandate_single_tool.yaml", "free_choice.yaml"):
        (tmp_path / name).write_bytes(z.read(name))
    again = sim.run_scenarios([str(tmp_path / "mandate_single_tool.yaml"), str(tmp_path / "free_choice.yaml")], replicates=2, seed=5)
    assert again["value"].tolist() == bundle.results["value"].tolist()


def test_a_split_comparison_equals_one_run_and_shows_the_same_figures(tmp_path):
    from dashboards.compute import compare_from_parts, merge_parts, shown_rows, simulate_task, split_parts
    from sim.analysis.figures import standard_figures

    specs = build_specs(CompareRequest(["mandate_single_tool", "free_choice", "outcome_goals"], engineers=20, weeks=5, replicates=2, seed=4),
                        UploadFolder(tmp_path))
    parts = split_parts(2, 2)
    assert sorted(i for p in parts for i in p) == [0, 1] and len(parts) == 2
    whole = sim.run_scenarios(specs, replicates=2, seed=4)
    frames = [simulate_task(specs, 4, 2, p) for p in parts]
    import pandas as pd

    pd.testing.assert_frame_equal(merge_parts(frames, specs), whole)
    full = {k: f.to_json() for k, f in standard_figures(whole).items()}
    assert {k: f.to_json() for k, f in standard_figures(shown_rows(whole)).items()} == full
    jobs = JobManager(workers=0)
    try:
        jobs.submit_split("s", [(simulate_task, (specs, 4, 2, p)) for p in parts], compare_from_parts, specs, 4, 2)
        assert jobs.wait("s", 60)["state"] == "done"
        bundle = jobs.cached("s")
        assert bundle.takeaways == compare_task(specs, 4, 2).takeaways
    finally:
        jobs.close()
    assert split_parts(1, 2) == [[0]] and split_parts(5, 1) == [[0, 1, 2, 3, 4]]
    same_name = [specs[0], specs[0]]  # repeated names are numbered by run_scenarios; replicate slices keep that
    pd.testing.assert_frame_equal(merge_parts([simulate_task(same_name, 4, 2, [1]), simulate_task(same_name, 4, 2, [0])], same_name),
                                  sim.run_scenarios(same_name, replicates=2, seed=4))


def test_a_run_that_fails_shows_its_error_and_the_server_goes_on(tmp_path):
    folder = UploadFolder(tmp_path)
    gone = ", ".join(f"{k}: null" for k in sim.Scenario().organisation.task_types)
    text = (f"name: two_tasks\norganisation:\n  task_types: {{a: {{}}, b: {{}}, {gone}}}\n  seniority:\n".encode()
            + b"".join(f"    {lv}:\n      task_mix: {{a: 0.5, b: 0.5}}\n".encode() for lv in ("junior", "mid", "senior"))
            + b"  tools: {inhouse: null, thirdparty: null, t: {effects: {a: {}, b: {}}}}\n")
    record = check_upload("scenario", "two_tasks.yaml", text, folder)
    req = CompareRequest(["free_choice", "upload:" + record["id"]], org="", engineers=20, weeks=4, replicates=1, files=[record])
    specs = build_specs(req, folder)
    jobs = JobManager(workers=0)
    try:
        key = request_key("compare", specs, 0, 1)
        jobs.submit(key, compare_task, specs, 0, 1)
        st = jobs.wait(key, 60)
        assert st["state"] == "failed" and "share their task types" in st["error"]
        ok = build_specs(CompareRequest(engineers=20, weeks=4, replicates=1), folder)
        key2 = request_key("compare", ok, 0, 1)
        jobs.submit(key2, compare_task, ok, 0, 1)
        assert jobs.wait(key2, 120)["state"] == "done"
    finally:
        jobs.close()


# -- model page and sweep folders -----------------------------------------------------------------------


def test_model_sections_carry_their_parameters():
    text = (
        "# Title\nIntro.\n\n## 7 Submodels\n\n### 7.3 Usage target\nPressure rises.\n\n```\n# not a heading\n```\n\n"
        "Parameters: `policy.usage_target`, `policy.enforcement`\n\n### 7.4 Shadow\nText.\n\nParameters: `behaviour.choice`\n## 8 Outputs\nMore.\n"
    )
    sections = parse_model(text)
    assert [s.heading for s in sections] == ["Title", "7 Submodels", "7.3 Usage target", "7.4 Shadow", "8 Outputs"]
    usage = sections[2]
    assert usage.parameters == ["policy.usage_target", "policy.enforcement"] and "# not a heading" in usage.body
    assert "Parameters:" not in usage.body
    rows = parameter_rows(usage.parameters, load_scenario("mandate_single_tool"))
    assert rows[0]["path"] == "policy.usage_target" and rows[0]["value"] == "0.8" and rows[0]["range"] == "0 to 1"
    group = parameter_rows(sections[3].parameters, sim.Scenario())
    assert {"behaviour.choice.hurdle", "behaviour.choice.pressure_weight"} <= {r["path"] for r in group}


def test_the_real_model_document_names_only_declared_parameters():
    doc = Path(__file__).resolve().parent.parent / "docs" / "MODEL.md"
    if not doc.is_file():
        pytest.skip("docs/MODEL.md is not there yet")
    mechanisms = [s for s in parse_model(doc.read_text(encoding="utf-8")) if s.is_mechanism]
    assert mechanisms and all(parameter_rows(s.parameters, sim.Scenario()) for s in mechanisms if s.parameters)


def test_no_sweep_folder_outside_the_data_root_can_be_opened(tmp_path):
    root = tmp_path / "root"
    (root / "sweeps" / "a").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    (root / "link").symlink_to(tmp_path / "secret")
    assert resolve_inside(root, "sweeps/a") == (root / "sweeps" / "a").resolve()
    for bad in ("../secret", str(tmp_path / "secret"), "link", "/etc"):
        with pytest.raises(InputError, match="outside the data root"):
            resolve_inside(root, bad)


# -- the command --------------------------------------------------------------------------------------


def test_the_app_command_refuses_a_busy_port_and_a_missing_data_root(tmp_path, capsys, monkeypatch):
    from sim.cli import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        assert main(["app", "--port", str(port)]) == 2
        assert f"--port: value {port} is already in use" in capsys.readouterr().err
    assert main(["app", "--data-root", str(tmp_path / "nope")]) == 2
    assert "--data-root" in capsys.readouterr().err
    for args, message in ((["--cache-bytes", "lots"], "--cache-bytes: value 'lots' is not a size"),
                          (["--cache-bytes", "10K"], "--cache-bytes: value '10K' is too small"),
                          (["--cache-bytes", "2TiB"], "--cache-bytes: value '2TiB' is too large"),
                          (["--server-workers", "0"], "--server-workers: value 0 is out of range"),
                          (["--workers", "0"], "--workers: value 0 is out of range"),
                          (["--max-queue", "0"], "--max-queue: value 0 is out of range"),
                          (["--cache-dir", __file__], "is not a folder")):
        assert main(["app", *args]) == 2, args
        err = capsys.readouterr().err
        assert message in " ".join(err.split()) and "Traceback" not in err, err
    monkeypatch.setenv("MANDATE_SIM_MAX_MODEL_BYTES", "garbage")
    assert main(["app"]) == 2
    err = capsys.readouterr().err
    assert "MANDATE_SIM_MAX_MODEL_BYTES: value 'garbage' is not a size" in " ".join(err.split()) and "Traceback" not in err
    from sim.cli.serve import parse_bytes

    assert parse_bytes("512MiB") == 512 * 2**20 and parse_bytes("2GiB") == 2 * 2**30 and parse_bytes("1048576") == 2**20


def test_the_app_starts_one_run_worker_per_core_within_its_bounds(monkeypatch, capsys):
    """Without --workers the app splits a comparison over one run worker per usable core, at most 8 and one per GiB."""
    from dashboards.context import AppConfig, default_run_workers

    gib = 2**30
    assert default_run_workers(cores=2, memory=23 * gib) == 2
    assert default_run_workers(cores=16, memory=128 * gib) == 8
    assert default_run_workers(cores=16, memory=4 * gib + 5) == 4
    assert default_run_workers(cores=1, memory=gib // 2) == 1
    import dask.system

    monkeypatch.setattr(dask.system, "cpu_count", lambda: 3)  # the cores this process may use (affinity, a container's quota)
    assert default_run_workers(memory=64 * gib) == 3 == AppConfig().workers
    from sim.experiments.sweeps.executors import default_workers

    assert default_workers() == 3  # a sweep's process pool counts the same cores
    from sim.cli import main

    assert main(["app", "--help"]) == 0
    assert "one per core" in " ".join(capsys.readouterr().out.split())


def test_a_containers_memory_limit_caps_the_default_run_workers(tmp_path, monkeypatch):
    """In a container whose cgroup allows 3 GiB, the app starts at most 3 run workers, not one per GiB of the host."""
    from dashboards import context

    gib = 2**30
    v2, v1, unreadable = tmp_path / "memory.max", tmp_path / "memory.limit_in_bytes", tmp_path / "missing"
    v2.write_text("max\n")  # cgroups v2 without a limit
    v1.write_text(f"{3 * gib}\n")
    host = context.usable_memory(())
    assert context.usable_memory((str(v2), str(unreadable))) == host
    assert context.usable_memory((str(v2), str(v1), str(unreadable))) == min(host, 3 * gib)
    v2.write_text(f"{10**30}\n")  # a limit above the machine's memory changes nothing
    assert context.usable_memory((str(v2),)) == host
    monkeypatch.setattr(context, "CGROUP_MEMORY_FILES", (str(v1),))
    assert context.default_run_workers(cores=16) == min(3, host // gib)


def test_the_lab_table_names_metrics_by_label_and_shows_paired_changes():
    from dashboards.lab_results import lab_table

    specs = [load_scenario("free_choice", **TINY).model_copy(update={"name": "baseline"}),
             load_scenario("mandate_single_tool", **TINY).model_copy(update={"name": "what-if"})]
    t = lab_table(sim.run_scenarios(specs, replicates=2, seed=1))
    assert METRICS["weekly_active_share"].title in set(t["metric"]) and not set(t["metric"]) & set(METRICS)
    row = t.set_index("metric").loc[METRICS["weekly_active_share"].title]
    assert row["baseline"].endswith("%") and " pts [" in row["change"]
    cycle = t.set_index("metric").loc[METRICS["cycle_time"].title]
    assert cycle["change"][0] in "+-" and "pts" not in cycle["change"]


# -- how the app's modules import each other ------------------------------------------------------------

DASHBOARDS = Path(__file__).resolve().parent.parent / "dashboards"


def _dashboards_imports() -> dict[str, set[str]]:
    """For each module of the app, the app modules it imports anywhere in its code (function-level imports included)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(DASHBOARDS.rglob("*.py")):
        rel = path.relative_to(DASHBOARDS.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    parts = parts[: len(parts) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                found.add(base)
                found |= {f"{base}.{a.name}" for a in node.names}
        graph[name] = found
    return graph


def test_pages_import_the_context_not_the_app_and_no_app_modules_import_in_a_cycle():
    raw = _dashboards_imports()
    modules = set(raw)
    graph = {m: {d for d in deps if d in modules and d != m} for m, deps in raw.items()}
    pages = [m for m in graph if m.startswith("dashboards.pages.")]
    assert pages
    for page in pages:
        assert "dashboards.app" not in graph[page], f"{page} imports dashboards.app"
        assert "dashboards.context" in graph[page] or page in ("dashboards.pages.home", "dashboards.pages.info")  # static pages
    assert {"dashboards.pages.compare", "dashboards.pages.lab"} <= graph["dashboards.app"]
    assert not [m for m, deps in raw.items() if any(d == "sim.cli" or d.startswith("sim.cli.") for d in deps)], "the app never imports the CLI"
    # no cycle: a depth-first search that never meets a module still on its path
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph[m]):
            if d == "dashboards":
                continue
            assert state.get(d) != 1, "import cycle: " + " -> ".join(path + [m, d])
            if d not in state:
                visit(d, path + [m])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])


def test_an_explanation_job_gives_the_waterfall_and_the_reading_and_survives_the_cache(tmp_path):
    import pickle

    from dashboards.compute import explain_task, spec_labels

    specs = build_specs(CompareRequest(["mandate_single_tool", "outcome_goals"], engineers=TINY["engineers"], weeks=TINY["weeks"], replicates=2, seed=5),
                        UploadFolder(tmp_path))
    specs = [specs[0], specs[1].model_copy(update={"title": "Our own goals"})]  # as an uploaded file's title: it names the policy
    seen = []
    bundle = pickle.loads(pickle.dumps(explain_task(specs, 5, 2, progress=lambda d, t: seen.append((d, t)))))
    assert seen and seen[-1][0] == seen[-1][1] > 0, "progress reaches the total"
    assert bundle.figures["waterfall"]["data"][0]["type"] == "waterfall"
    titles = spec_labels(specs)  # the policies by title in the reading and on the bars, never by id
    assert titles["outcome_goals"] == "Our own goals"
    assert f"“{titles['outcome_goals']}”" in bundle.takeaways[0] and f"“{titles['mandate_single_tool']}”" in bundle.takeaways[0]
    assert "outcome_goals" not in bundle.takeaways[0] and "mandate_single_tool" not in bundle.takeaways[0]
    bars = bundle.figures["waterfall"]["data"][0]["x"]
    assert bars[0] == titles["mandate_single_tool"] and bars[-1] == titles["outcome_goals"]
    rows = bundle.table.set_index("channel")
    assert rows.drop(index="total")["contribution"].sum() == pytest.approx(rows.at["total", "contribution"], abs=1e-12)


def test_the_web_server_imports_the_pages_without_the_model():
    """gunicorn's process imports every page before it serves; the model (Mesa, the Mesa model class) loads only in the
    run workers, which run it. Loading it there too cost about 2.3 s of every app start (6.3 s to import the app, now
    3.9 s, on the 2-core VM)."""
    import subprocess
    import sys

    code = ("import sys, dashboards.app, dashboards.pages.info as info; info.layout()\n"  # the Info page reads the phases too
            "print(sorted(m for m in ('mesa', 'sim.model.org') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", proc.stdout
