"""Every input from the web goes through one gate (dashboards.inputs.gate), driven here through the real Dash callback
endpoint (POST /_dash-update-component, the payload built from ``app.callback_map`` as the browser builds it).

Each case checks what a user sees: a clear error, no content of any file of the server, no path of the server, the
same answer whether or not a named file exists, a bounded response, and (for /dev/zero, a FIFO and a compression
bomb) an answer that comes back at once without the server's memory jumping. The cases that made the first edition
hang or eat memory run the app in a child process with a timeout and a memory cap, so they fail instead of hanging.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path
from urllib.parse import urlencode

import pytest

from dashboards.app import AppConfig, create_app
from dashboards.inputs import upload_id
from dashboards.state import pack
from sim.model.scenarios import SCENARIO_DIR

REPO = Path(__file__).resolve().parent.parent

#: What a secret file of the server holds (it must never reach a response).
SECRET_NAME, SECRET_TOKEN = "TOPSECRET-name-7f3a", "TOPSECRET-token-91c2"
SECRET_YAML = f"name: ['{SECRET_NAME}']\napi_token: {SECRET_TOKEN}\npolicy:\n  usage_target: 7\n"
#: A file name beside the secret one, of the same length, that is not there.
MISSING = "server_absent.yaml"
#: Longest error message a response may carry (characters).
MAX_MESSAGE = 3_000


# -- calling a callback as the browser does ---------------------------------------------------------------


def _parse_id(raw: str):
    return json.loads(raw) if raw.startswith("{") else raw


def _key(app, *outputs: str) -> str:
    """The callback_map key of the callback that has all these outputs ('id.property')."""
    for key in app.callback_map:
        if all(o in key for o in outputs):
            return key
    raise KeyError(outputs)


def payload(app, key: str, values: dict[str, object], changed: list[str]) -> dict:
    """The request body the Dash renderer sends for callback ``key``, with ``values`` ('id.property' -> value)."""
    cb = app.callback_map[key]
    single = not isinstance(cb["output"], list)
    outs = [{"id": o.component_id, "property": o.component_property.split("@")[0]} for o in ([cb["output"]] if single else cb["output"])]

    def dep(d: dict) -> object:
        name = f"{d['id']}.{d['property']}"
        if '["ALL"]' in d["id"]:  # pattern-matching ALL: a list of matching components (none here unless given)
            return values.get(name, [])
        return {"id": _parse_id(d["id"]), "property": d["property"], "value": values.get(name)}

    return {
        "output": key,
        "outputs": outs[0] if single else outs,
        "inputs": [dep(d) for d in cb["inputs"]],
        "state": [dep(d) for d in cb["state"]],
        "changedPropIds": changed,
    }


def call(client, app, key: str, values: dict[str, object], changed: list[str]) -> tuple[int, str, float]:
    """POST one callback; (status, body, seconds)."""
    t0 = time.perf_counter()
    r = client.post("/_dash-update-component", json=payload(app, key, values, changed))
    return r.status_code, r.get_data(as_text=True), time.perf_counter() - t0


def _texts(node) -> list[str]:
    """Every string inside a response value (component trees included)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [t for v in node.values() for t in _texts(v)]
    if isinstance(node, list):
        return [t for v in node for t in _texts(v)]
    return []


def error_text(body: str, component: str) -> str:
    """The children of an error component in a callback's response ('' when the callback left it alone)."""
    data = json.loads(body)["response"]
    if component in data:
        return " ".join(_texts(data[component].get("children")))
    # a page layout: find the component by id anywhere in the tree
    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("props", {}).get("id") == component:
                found.extend(_texts(node["props"].get("children")))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(data)
    return " ".join(found)


def assert_safe(body: str, message: str, *server_paths: str) -> None:
    """A clear, bounded error with nothing of the server in it."""
    assert message, "no error shown"
    assert len(message) <= MAX_MESSAGE, len(message)
    for secret in (SECRET_NAME, SECRET_TOKEN, "api_token", "usage_target"):
        assert secret not in body, secret
    for p in (str(SCENARIO_DIR), str(REPO), *server_paths):
        assert p not in message, p
    assert "Traceback" not in body


# -- fixtures -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app():
    a = create_app(AppConfig(workers=0, wait_seconds=0.0))
    yield a
    a.server.config["MANDATE_SIM"].jobs.close()


@pytest.fixture(scope="module")
def client(app):
    c = app.server.test_client()
    c.get("/")  # the first request sets up the pages' own callbacks
    return c


@pytest.fixture()
def secret(tmp_path) -> Path:
    """A YAML file of the server that a link tries to read (``MISSING`` names one of the same length that is not there)."""
    p = tmp_path / "server_secret.yaml"
    assert not (tmp_path / MISSING).exists()
    p.write_text(SECRET_YAML)
    return p


def record(text: str, kind: str = "scenario", filename: str = "mine.yaml") -> dict:
    data = text.encode()
    return {"id": upload_id(data), "kind": kind, "filename": filename, "text": text, "name": "mine", "title": "mine"}


def packed_link(text: str, kind: str = "scenario") -> str:
    rec = record(text, kind)
    org = "upload:" + rec["id"] if kind == "org" else "default"
    policies = "upload:" + rec["id"] + ",free_choice" if kind == "scenario" else "free_choice,outcome_goals"
    return "?" + urlencode([("p", policies), ("org", org), ("n", 20), ("w", 3), ("r", 1), ("file", pack(rec))])


def open_page(client, app, path: str, search: str) -> tuple[int, str, float]:
    key = _key(app, "_pages_content.children")
    values = {"_pages_location.pathname": path, "_pages_location.search": search}
    return call(client, app, key, values, ["_pages_location.pathname"])


def prop_of(body: str, component: str, prop: str):
    """A property of a component in a page layout response (None when absent)."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("props", {}).get("id") == component:
                found.append(node["props"].get(prop))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(json.loads(body)["response"])
    return found[0] if found else None


def open_and_run(client, app, search: str) -> tuple[int, str, float, str]:
    """Open the compare page at a link, as a browser does; when the page shows no error, press Run with what the page
    holds (its stores: the files the link carried). (status, body, seconds, the error shown)."""
    status, body, seconds = open_page(client, app, "/compare", search)
    message = error_text(body, "cmp-error") if status == 200 else body[:500]
    if status == 200 and not message:
        files, policies, org = (prop_of(body, c, p) for c, p in (("cmp-files", "data"), ("cmp-policies", "value"), ("cmp-org", "value")))
        status, body, more = _run(client, app, files, policies, org)
        seconds += more
        message = error_text(body, "cmp-error") if status == 200 else body[:500]
    return status, body, seconds, message


def same_answer(a: str, b: str, path_a: str, path_b: str) -> bool:
    """Whether two answers are the same but for the paths they name (two paths of the same length: the answers may
    differ only where the paths do, the paths being shown as the same bounded excerpt)."""
    assert len(path_a) == len(path_b)
    differ = sum(x != y for x, y in zip(path_a, path_b))
    return len(a) == len(b) and sum(x != y for x, y in zip(a, b)) <= differ


# -- a file packed into a link ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["scenario", "org"])
def test_a_packed_link_cannot_read_a_file_of_the_server(client, app, secret, kind):
    missing = secret.with_name(MISSING)
    answers = []
    for target in (secret, missing):
        status, body, _, message = open_and_run(client, app, packed_link(f"extends: {target}\n", kind))
        assert status == 200
        assert_safe(body, message, str(secret.parent / "x")[:-1] + "uploads")
        assert "may only extend a built-in name" in message and "not found" not in message
        answers.append(message)
    # the same message whether or not the file is there: no probe for which files exist
    assert same_answer(answers[0], answers[1], str(secret), str(missing))


@pytest.mark.parametrize("special", ["/dev/zero", "a FIFO"])
def test_a_packed_link_to_dev_zero_or_a_fifo_answers_at_once(tmp_path, special):
    """The first edition read /dev/zero until memory ran out (here: a MemoryError under the child's cap) and waited
    on a FIFO for ever (here: the child's timeout)."""
    target = special
    if special == "a FIFO":
        target = str(tmp_path / "pipe.yaml")
        os.mkfifo(target)
    out = isolated(tmp_path, special, {"search": packed_link(f"extends: {target}\n")})
    assert out["status"] == 200, out["message"]
    assert out["seconds"] < 10
    assert out["grew_mb"] < 100, out["grew_mb"]
    message = out["message"]
    assert "may only extend a built-in name" in message and len(message) <= MAX_MESSAGE


def test_a_packed_link_that_inflates_without_end_is_refused_small(tmp_path):
    """A record compressed 1000:1 (200 MB of one letter): refused while inflating, not after."""
    raw = zlib.compress(b'{"text":"' + b"a" * 200_000_000 + b'"}', 9)
    bomb = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    out = isolated(tmp_path, "a compression bomb", {"search": "?" + urlencode([("p", "free_choice,outcome_goals"), ("file", bomb)])})
    assert out["status"] == 200 and out["seconds"] < 10
    assert out["grew_mb"] < 100, out["grew_mb"]
    assert "is not a file this app packed into a link" in out["message"]


def test_a_packed_link_is_checked_like_an_upload(client, app):
    """Its values are the user's own, shown only as a short excerpt; its name and title are recomputed."""
    huge = "x" * 200_000
    status, body, _ = open_page(client, app, "/compare", packed_link(f"policy:\n  usage_target: ['{huge}']\n"))
    message = error_text(body, "cmp-error")
    assert status == 200 and "usage target" in message and "xxxx" in message  # the field as the form labels it
    assert len(message) <= MAX_MESSAGE and len(body) < 200_000
    bomb = "a: &a [" + ",".join(["x"] * 9) + "]\n" + "".join(
        f"{c}: &{c} [" + ",".join([f"*{p}"] * 9) + "]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    status, body, seconds = open_page(client, app, "/compare", packed_link(bomb))
    assert status == 200 and seconds < 5
    assert "aliases are expanded" in error_text(body, "cmp-error")


def test_a_link_with_too_many_overrides_is_refused(client, app):
    search = "?" + urlencode([("p", "free_choice,outcome_goals")] + [("set", f"organisation.team_size={i}") for i in range(5_000)])
    status, body, _ = open_page(client, app, "/compare", search)
    message = error_text(body, "cmp-error")
    assert status == 200 and "at most" in message and len(message) <= MAX_MESSAGE


# -- an upload ------------------------------------------------------------------------------------------------


def _upload(client, app, text: bytes, kind: str = "scenario", filename: str = "mine.yaml"):
    key = _key(app, "cmp-files.data", "cmp-upload-error.children")
    contents = "data:application/x-yaml;base64," + base64.b64encode(text).decode()
    trigger = "cmp-upload-scenario" if kind == "scenario" else "cmp-upload-org"
    values = {f"{trigger}.contents": contents, f"{trigger}.filename": filename, "cmp-files.data": [],
              "cmp-policies.value": ["free_choice"], "cmp-org.value": "default"}
    return call(client, app, key, values, [f"{trigger}.contents"])


@pytest.mark.parametrize("kind", ["scenario", "org"])
def test_an_upload_cannot_read_a_file_of_the_server(client, app, secret, kind):
    answers = []
    for target in (secret, secret.with_name(MISSING), Path("/dev/zero")):
        status, body, seconds = _upload(client, app, f"extends: {target}\n".encode(), kind)
        message = error_text(body, "cmp-upload-error")
        assert status == 200 and seconds < 5
        assert_safe(body, message)
        assert "may only extend a built-in name" in message
        answers.append((message, str(target)))
    assert same_answer(answers[0][0], answers[1][0], answers[0][1], answers[1][1])
    # the file's name is the user's too: shown bounded
    status, body, _ = _upload(client, app, f"extends: {secret}\n".encode(), kind, filename="a" * 100_000 + ".yaml")
    message = error_text(body, "cmp-upload-error")
    assert status == 200 and "may only extend a built-in name" in message
    assert_safe(body, message)


@pytest.mark.parametrize("text, expected", [
    (b"name: a\nname: b\n", "given twice"),
    (b"a: !!binary aGVsbG8=\n", "!!binary"),
    (b"a: !!python/object/apply:os.system [ls]\n", "!!python/object/apply:os.system"),
    (b"policy:\n  feedback_safety: true\n", "true or false, not a number"),
    (b"policy:\n  feedback_safety: '0.5'\n", "text, not a number"),
    (b"a: " + b"[" * 20_000 + b"]" * 20_000 + b"\n", "levels deep"),
])
def test_an_upload_gets_the_bounded_loader_and_strict_types(client, app, text, expected):
    status, body, seconds = _upload(client, app, text)
    message = error_text(body, "cmp-upload-error")
    assert status == 200 and seconds < 5
    assert expected in message and len(message) <= MAX_MESSAGE


# -- a callback payload: the page's stores are input too ---------------------------------------------------------


def _run(client, app, files, policies, org="default"):
    key = _key(app, "cmp-job.data", "cmp-error.children")
    values = {"cmp-run.n_clicks": 1, "cmp-policies.value": policies, "cmp-org.value": org, "cmp-n.value": 20, "cmp-w.value": 3,
              "cmp-r.value": 1, "cmp-seed.value": 0, "cmp-files.data": files}
    return call(client, app, key, values, ["cmp-run.n_clicks"])


def test_a_forged_store_cannot_read_a_file_of_the_server(client, app, secret):
    answers = []
    for target in (secret, secret.with_name(MISSING)):
        rec = record(f"extends: {target}\n")
        status, body, _ = _run(client, app, [rec], ["upload:" + rec["id"], "free_choice"])
        message = error_text(body, "cmp-error")
        assert status == 200
        assert_safe(body, message)
        assert "may only extend a built-in name" in message
        answers.append((message, str(target)))
        # the same record as an organisation, through the run and through the organisation editor
        org = record(f"extends: {target}\n", kind="org")
        status, body, _ = _run(client, app, [org], ["free_choice", "outcome_goals"], org="upload:" + org["id"])
        assert_safe(body, error_text(body, "cmp-error"))
        key = _key(app, "cmp-org-editor.children")
        status, body, _ = call(client, app, key, {"cmp-org.value": "upload:" + org["id"], "cmp-files.data": [org]}, ["cmp-org.value"])
        assert status == 200 and "may only extend a built-in name" in body
        assert_safe(body, "x")
    assert same_answer(answers[0][0], answers[1][0], answers[0][1], answers[1][1])


def test_a_forged_record_whose_id_does_not_match_its_text_is_refused(client, app):
    rec = {**record("policy:\n  usage_target: 0.5\n"), "id": "0123456789ab"}
    status, body, _ = _run(client, app, [rec], ["upload:0123456789ab", "free_choice"])
    assert status == 200 and "does not match its content" in error_text(body, "cmp-error")


def test_a_forged_store_with_a_huge_or_binary_file_is_refused(client, app):
    """Refused in memory: a store's files are never written to the server (forged ones could fill its disk)."""
    folder = app.server.config["MANDATE_SIM"].uploads.root
    before = sorted(folder.rglob("*"))
    big = record("#" * 1_000_001)
    status, body, seconds = _run(client, app, [big], ["upload:" + big["id"], "free_choice"])
    assert status == 200 and seconds < 5 and "may be at most 1,000,000 bytes" in error_text(body, "cmp-error")
    binary = record("a: 1\n\x00")
    status, body, _ = _run(client, app, [binary], ["upload:" + binary["id"], "free_choice"])
    assert "is a binary file" in error_text(body, "cmp-error")
    ok = record("extends: free_choice\npolicy:\n  usage_target: 0.5\n")
    status, body, _ = _run(client, app, [ok], ["upload:" + ok["id"], "free_choice"])
    assert status == 200
    assert sorted(folder.rglob("*")) == before


# -- form fields: names that are paths ---------------------------------------------------------------------------


def test_form_fields_take_only_built_in_names(client, app, secret):
    # the model page's scenario, the classroom's organisation, the lab's base scenario, the compare page's policies
    cases = [
        (_key(app, "model-doc.children"), {"model-scenario.value": str(secret)}, ["model-scenario.value"], "model-doc"),
        (_key(app, "cls-job.data", "cls-error.children"), {"cls-org.value": str(secret)}, ["cls-org.value"], "cls-error"),
        (_key(app, "lab-controls.children"), {"lab-base.value": str(secret), "lab-n.value": 20, "lab-w.value": 3}, ["lab-base.value"], "lab-controls"),
        (_key(app, "lab-job.data", "lab-error.children"),
         {"lab-pin.data": {"base": str(secret), "sets": {}}, "lab-n.value": 20, "lab-w.value": 3, "lab-r.value": 1, "lab-seed.value": 0,
          "lab-base.value": "free_choice"}, ["lab-pin.data"], "lab-error"),
    ]
    for key, values, changed, component in cases:
        status, body, seconds = call(client, app, key, values, changed)
        assert status == 200 and seconds < 5, (component, status)
        assert "is not a built-in" in body, component
        assert_safe(body, "x")
    # the classroom's view reads its organisation only through the refused run above: a path there shows the default story
    status, body, seconds = call(client, app, _key(app, "cls-view.data"), {"cls-step.data": 1, "cls-org.value": str(secret)}, ["cls-step.data"])
    assert status == 200 and seconds < 5
    assert_safe(body, "x")
    status, body, _ = _run(client, app, [], [str(secret), "free_choice"])
    assert "is not a built-in scenario" in error_text(body, "cmp-error")
    status, body, _ = _run(client, app, [], ["free_choice", "outcome_goals"], org=str(secret))
    assert "is not a built-in organisation profile" in error_text(body, "cmp-error")


def test_form_fields_are_strict_and_bounded(client, app):
    key = _key(app, "lab-job.data", "lab-error.children")
    base = {"lab-n.value": 20, "lab-w.value": 3, "lab-r.value": 1, "lab-seed.value": 0, "lab-base.value": "free_choice"}
    for pin, expected in [
        ({"base": "free_choice", "sets": {"policy.feedback_safety": True}}, "true or false, not a number"),
        ({"base": "free_choice", "sets": {"policy.feedback_safety": "0.5"}}, "text, not a number"),
        ({"base": "free_choice", "sets": {"policy.feedback_safety": ["y" * 100_000]}}, "not a number"),
        ({"base": "free_choice", "sets": {f"policy.x{i}": 1 for i in range(1_000)}}, "at most"),
    ]:
        status, body, seconds = call(client, app, key, {**base, "lab-pin.data": pin}, ["lab-pin.data"])
        message = error_text(body, "lab-error")
        assert status == 200 and seconds < 5 and expected in message, message[:300]
        assert len(message) <= MAX_MESSAGE
    for n in (True, "1e999", 1e300):
        status, body, _ = call(client, app, key, {**base, "lab-n.value": n, "lab-pin.data": None}, ["lab-n.value"])
        assert status == 200 and "engineers" in error_text(body, "lab-error")


# -- the child process for the cases that hung or ate memory ------------------------------------------------------

CHILD = textwrap.dedent('''
    import json, resource, sys, time
    with open(sys.argv[1]) as f:
        args = json.load(f)
    from dashboards.app import AppConfig, create_app
    sys.path.insert(0, args["tests"])
    from test_web_gate import open_and_run, open_page
    app = create_app(AppConfig(workers=0, wait_seconds=0.0, max_work=1))  # a run that got through would be refused, not run
    client = app.server.test_client()
    client.get("/")
    open_page(client, app, "/compare", "")  # warm: what the page costs anyway
    def proc_kb(field):  # kB; VmHWM is this process's peak resident memory (ru_maxrss would count the parent's, from before exec)
        with open("/proc/self/status") as f:
            return [int(line.split()[1]) for line in f if line.startswith(field + ":")][0]
    resource.setrlimit(resource.RLIMIT_AS, (proc_kb("VmSize") * 1024 + (2 << 30), resource.RLIM_INFINITY))  # a runaway read fails, not the machine
    before = proc_kb("VmHWM")
    try:
        status, body, seconds, message = open_and_run(client, app, args["search"])
    except MemoryError:
        status, body, seconds, message = 0, "", 0.0, "MemoryError"
    grew = (proc_kb("VmHWM") - before) / 1024
    app.server.config["MANDATE_SIM"].jobs.close()  # its run thread and its temporary folder
    print(json.dumps({"status": status, "seconds": seconds, "grew_mb": grew, "message": message}))
''')


def isolated(tmp_path: Path, what: str, args: dict) -> dict:
    """Open a page in a child process (timeout 60 s, memory capped); its answer, or a failure naming what happened."""
    script, arguments = tmp_path / "child.py", tmp_path / "child_args.json"
    script.write_text(CHILD)
    arguments.write_text(json.dumps({**args, "tests": str(Path(__file__).parent)}))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    try:
        r = subprocess.run([sys.executable, str(script), str(arguments)], capture_output=True,
                           text=True, timeout=60, env=env, cwd=str(tmp_path))
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what}: the server did not answer within 60 s (it hangs)")
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])
