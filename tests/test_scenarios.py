"""Built-in scenarios and organisation profiles: every file validates, every scenario runs on every profile; extends, --org and overrides do what they say."""

from __future__ import annotations

import re

from pathlib import Path

import pytest
import yaml
from conftest import check_outputs, series

import sim
from sim.model.metrics import METRICS
from sim.model.scenarios import ORG_DIR, SCENARIO_DIR

BUILTIN_FILES = sorted(SCENARIO_DIR.glob("*.yaml"))
ORG_FILES = sorted(ORG_DIR.glob("*.yaml"))
EXPECTED_SCENARIOS = {"no_ai", "mandate_single_tool", "mandate_any_tool", "generate_and_supervise", "free_choice", "outcome_goals", "pilot_and_measure"}


def without(d: dict, *paths: str) -> dict:
    """A copy of a nested mapping without the dotted paths given."""
    import copy

    out = copy.deepcopy(d)
    for p in paths:
        node = out
        parts = p.split(".")
        for part in parts[:-1]:
            node = node[part]
        node.pop(parts[-1], None)
    return out


def test_the_brief_s_built_in_scenarios_and_both_profiles_exist():
    assert EXPECTED_SCENARIOS <= set(sim.builtin_scenarios())
    assert {p.stem for p in BUILTIN_FILES} == set(sim.builtin_scenarios())
    assert {"default", "junior_boilerplate"} <= set(sim.builtin_orgs())
    assert {p.stem for p in ORG_FILES} == set(sim.builtin_orgs())


@pytest.mark.parametrize("path", BUILTIN_FILES, ids=lambda p: p.stem)
def test_every_built_in_scenario_file_validates(path: Path):
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(raw, dict) and raw.get("title") and raw.get("description"), "a built-in scenario has a title and a description"
    spec = sim.load_scenario(path.stem)
    assert isinstance(spec, sim.Scenario) and spec.name == path.stem
    # Loading by path gives the same scenario as loading by name.
    assert sim.load_scenario(str(path)) == spec


@pytest.mark.parametrize("path", ORG_FILES, ids=lambda p: p.stem)
def test_every_organisation_profile_validates(path: Path):
    org = sim.load_org(path.stem)
    assert org.name == path.stem
    assert abs(sum(level.share for level in org.seniority.values()) - 1) < 1e-6
    for level in org.seniority.values():
        assert abs(sum(level.task_mix.values()) - 1) < 1e-3


@pytest.mark.parametrize("org", ["default", "junior_boilerplate"])
@pytest.mark.parametrize("scenario", sorted(EXPECTED_SCENARIOS))
def test_every_built_in_scenario_runs_on_every_profile(scenario, org):
    weeks = 16  # past the built-in pilot's twelve weeks
    df = sim.run(scenario, org=org, engineers=80, weeks=weeks, replicates=2, seed=5)
    assert list(df.columns) == ["scenario", "replicate", "week", "metric", "group", "value"]
    assert set(df["week"]) == set(range(1, weeks + 1)) and set(df["replicate"]) == {0, 1}
    assert set(METRICS) == set(df["metric"].astype(str)), "every defined metric is in the results"
    groups = set(df["group"].astype(str))
    assert {"all", "seniority=junior", "seniority=mid", "seniority=senior"} <= groups
    tasks = sim.load_org(org).task_names
    assert {f"task={k}" for k in tasks} <= groups
    check_outputs(df, f"{scenario} on {org}")
    ai = series(df, "ai_task_share").to_numpy()
    if scenario == "no_ai":
        assert (ai == 0).all()
    else:
        assert (ai.max(axis=1) > 0).all(), "AI is used at some point"


def test_extends_changes_only_what_the_file_says(tmp_path):
    f = tmp_path / "trained_mandate.yaml"
    f.write_text("extends: mandate_single_tool\ntitle: Trained\npolicy:\n  training_hours: 16\n  feedback_safety: 0.6\n", encoding="utf-8")
    mine = sim.load_scenario(str(f)).model_dump()
    base = sim.load_scenario("mandate_single_tool").model_dump()
    assert mine["policy"]["training_hours"] == 16 and mine["policy"]["feedback_safety"] == 0.6 and mine["title"] == "Trained"
    assert mine["name"] == "trained_mandate"
    keep = ("name", "title", "policy.training_hours", "policy.feedback_safety")
    assert without(mine, *keep) == without(base, *keep)
    # A chain: a file extending a file (by relative path) extending a built-in.
    g = tmp_path / "longer.yaml"
    g.write_text("extends: trained_mandate.yaml\nweeks: 30\n", encoding="utf-8")
    longer = sim.load_scenario(str(g)).model_dump()
    assert longer["weeks"] == 30
    assert without(longer, "name", "weeks") == without(mine, "name", "weeks")


def test_built_in_extends_chain():
    """mandate_any_tool extends mandate_single_tool and differs only in its approved tools and its words."""
    anyt = sim.load_scenario("mandate_any_tool").model_dump()
    single = sim.load_scenario("mandate_single_tool").model_dump()
    assert anyt["policy"]["allowed_tools"] == "all" and single["policy"]["allowed_tools"] == ["inhouse"]
    keep = ("name", "title", "description", "policy.allowed_tools")
    assert without(anyt, *keep) == without(single, *keep)


def test_org_replaces_the_organisation_and_nothing_else(tmp_path):
    base = sim.load_scenario("mandate_single_tool")
    swapped = sim.load_scenario("mandate_single_tool", org="junior_boilerplate")
    assert swapped.organisation == sim.load_org("junior_boilerplate")
    assert swapped.organisation != base.organisation
    assert swapped.policy == base.policy and swapped.behaviour == base.behaviour and swapped.weeks == base.weeks
    # A profile file that extends a built-in profile.
    f = tmp_path / "small_team.yaml"
    f.write_text("extends: junior_boilerplate\nname: small_team\nsize: 30\nteam_size: 5\n", encoding="utf-8")
    mine = sim.load_scenario("free_choice", org=str(f))
    assert mine.organisation.size == 30 and mine.organisation.team_size == 5
    assert mine.organisation.seniority == sim.load_org("junior_boilerplate").seniority


def test_the_first_edition_s_enforcement_still_loads_and_sets_both_of_its_replacements(tmp_path):
    """policy.enforcement drove both the usage target and the norm: in a file, an extended file or --set it sets both new keys, with a warning."""
    path = tmp_path / "old.yaml"
    path.write_text("extends: mandate_single_tool\npolicy:\n  enforcement: 0.35\n  generate_share: 0.2\n")
    with pytest.warns(FutureWarning, match="policy.usage_enforcement and policy.norm_enforcement"):
        spec = sim.load_scenario(str(path))
    assert spec.policy.usage_enforcement == spec.policy.norm_enforcement == 0.35, "the child's value wins over the extended scenario's"
    with pytest.warns(FutureWarning):
        spec = sim.load_scenario("generate_and_supervise", overrides={"policy.enforcement": 0.9})
    assert spec.policy.usage_enforcement == spec.policy.norm_enforcement == 0.9
    with pytest.warns(FutureWarning):
        old = sim.load_scenario("mandate_single_tool", overrides={"policy.enforcement": 0.7})
    new = sim.load_scenario("mandate_single_tool")
    assert old.policy.usage_enforcement == new.policy.usage_enforcement, "the built-in mandate is the first edition's mandate"


def test_overrides_apply_and_change_nothing_else():
    ov = {"policy.usage_enforcement": 0.3, "organisation.tools.inhouse.effects.boilerplate.time_saving": 0.2, "behaviour.people.hiring_delay_weeks": 4}
    spec = sim.load_scenario("mandate_single_tool", overrides=ov)
    assert spec.policy.usage_enforcement == 0.3
    assert spec.organisation.tools["inhouse"].effects["boilerplate"].time_saving == 0.2
    assert spec.behaviour.people.hiring_delay_weeks == 4
    base = sim.load_scenario("mandate_single_tool").model_dump()
    mine = spec.model_dump()
    paths = ("policy.usage_enforcement", "organisation.tools.inhouse.effects.boilerplate.time_saving", "behaviour.people.hiring_delay_weeks")
    assert without(mine, *paths) == without(base, *paths)
    # engineers/weeks shortcuts set the organisation size and the horizon.
    small = sim.load_scenario("free_choice", engineers=33, weeks=7)
    assert small.organisation.size == 33 and small.weeks == 7


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(overrides={"policy.usage_enforcement": 1.5}),
        dict(overrides={"policy.norm_enforcement": "high"}),
        dict(overrides={"policy.no_such_lever": 1}),
        dict(overrides={"organisation.seniority.junior.share": 0.9}),
        dict(overrides={"policy.allowed_tools": ["copilot"]}),
        dict(org="no_such_org"),
        dict(engineers=5),
        dict(weeks=1000),
    ],
    ids=["above-max", "wrong-type", "unknown-path", "shares-not-summing", "unknown-tool", "unknown-org", "too-few-engineers", "too-many-weeks"],
)
def test_bad_values_through_the_api_raise_input_error(kwargs):
    with pytest.raises(sim.InputError) as e:
        sim.load_scenario("mandate_single_tool", **kwargs)
    assert str(e.value).strip()


def test_unknown_scenario_name_suggests_the_close_one():
    with pytest.raises(sim.InputError) as e:
        sim.load_scenario("mandate_singel_tool")
    assert "mandate_single_tool" in str(e.value)


def test_a_file_given_as_text_extends_built_in_names_only(tmp_path, monkeypatch):
    """What the app loads (an upload, a file packed in a link) may extend built-in names, one or a list, and nothing
    else: a path is refused before anything is looked up, with the same message whether or not a file is there."""
    from sim.model.scenarios import load_text

    text = "extends: [mandate_single_tool, free_choice]\npolicy:\n  usage_target: 0.4\n"
    data = load_text(text, "mine.yaml", "scenario")
    sc = sim.load_scenario(data, source="mine.yaml")
    assert sc.name == "mine" and sc.policy.usage_target == 0.4
    assert sc.policy.feedback_safety == sim.load_scenario("free_choice").policy.feedback_safety
    assert load_text("extends: junior_boilerplate\n", "org.yaml", "org")["name"] == sim.load_org("junior_boilerplate").name

    (tmp_path / "there.yaml").write_text("name: secret\n")
    monkeypatch.chdir(tmp_path)
    looked: list[str] = []
    real_stat = __import__("os").stat
    monkeypatch.setattr("os.stat", lambda p, *a, **k: looked.append(str(p)) or real_stat(p, *a, **k))
    messages = []
    for ref in ("there.yaml", "absent.yaml", str(tmp_path / "there.yaml"), "../there.yaml"):
        for kind in ("scenario", "org"):
            with pytest.raises(sim.InputError) as e:
                load_text(f"extends: {ref}\n", "mine.yaml", kind)
            assert "may only extend a built-in name in the app" in str(e.value) and "secret" not in str(e.value)
            # the value is quoted, and shortened when long (a deep tmp_path): compared without it
            messages.append(re.sub(r"value '[^']*'", "value 'REF'", str(e.value)))
    assert len(set(messages[0::2])) == 1 and len(set(messages[1::2])) == 1
    assert not [p for p in looked if "there" in p or "absent" in p]


def test_a_tool_is_called_by_its_title_and_a_title_is_short():
    """Charts and sentences name a tool by its declared title (its name with spaces when it has none); a title over 80
    characters is refused with a message naming the field."""
    spec = sim.load_scenario("mandate_single_tool", overrides={"organisation.tools.thirdparty.title": "Copilot"})
    org = spec.organisation
    assert org.tool_title("inhouse") == "in-house assistant" and org.tool_title("thirdparty") == "Copilot"
    assert org.tool_title("not_declared") == "not declared"
    with pytest.raises(sim.InputError) as e:
        sim.load_scenario("mandate_single_tool", overrides={"organisation.tools.inhouse.title": "x" * 81})
    assert "organisation.tools.inhouse.title" in str(e.value) and "80" in str(e.value)
