"""Engineers are Mesa agents: one per present engineer, each a view on its row, removed when they leave and created when hires arrive."""

from __future__ import annotations

import mesa
import numpy as np
import pytest

import sim

STATE_KEYS = {"slot", "present", "team", "seniority", "skill", "tenure_weeks", "task_mix", "proficiency", "belief",
              "trust_ai", "trust_leadership", "psych_safety", "fatigue", "morale"}


@pytest.fixture
def churning_model():
    """A small organisation with heavy attrition and quick hiring, so engineers come and go every few weeks."""
    spec = sim.load_scenario("mandate_single_tool", engineers=48, weeks=30,
                             overrides={"behaviour.people.annual_attrition": 0.8, "behaviour.people.hiring_delay_weeks": 2})
    return sim.EngineeringOrg(spec, seed=17)


def test_a_model_is_a_mesa_model_with_one_agent_per_engineer():
    spec = sim.load_scenario("free_choice", engineers=30, weeks=5)
    model = sim.EngineeringOrg(spec, seed=1)
    assert isinstance(model, mesa.Model)
    assert len(model.agents) == 30
    assert all(isinstance(a, mesa.Agent) and isinstance(a, sim.Engineer) for a in model.agents)
    assert sorted(a.slot for a in model.agents) == list(range(30))
    assert len({a.unique_id for a in model.agents}) == 30
    model.step()
    assert model.time == 1 and model.week == 1


def test_engineer_state_is_that_row_s_values():
    spec = sim.load_scenario("outcome_goals", engineers=40, weeks=6)
    model = sim.EngineeringOrg(spec, seed=3)
    org = spec.organisation
    for _ in range(3):
        model.step()
    for slot in range(40):
        eng = model.engineer(slot)
        s = eng.state()
        assert STATE_KEYS <= set(s)
        assert s["slot"] == slot and s["present"] is True
        assert s["seniority"] in ("junior", "mid", "senior") and s["seniority"] == eng.seniority
        assert set(s["task_mix"]) == set(org.task_types) and abs(sum(s["task_mix"].values()) - 1) < 1e-9
        assert s["task_mix"] == pytest.approx(org.seniority[s["seniority"]].task_mix)
        assert set(s["proficiency"]) == set(org.tools)
        assert set(s["belief"]) == set(org.tools) and all(set(b) == set(org.task_types) for b in s["belief"].values())
        for key in ("skill", "trust_ai", "trust_leadership", "psych_safety", "fatigue", "morale"):
            assert 0.0 <= s[key] <= 1.0, key
        # The agent's properties read the same row.
        assert (eng.skill, eng.trust_leadership, eng.trust_ai, eng.fatigue, eng.morale, eng.psych_safety, eng.team) == (
            s["skill"], s["trust_leadership"], s["trust_ai"], s["fatigue"], s["morale"], s["psych_safety"], s["team"])
    # Teammates share their team's psychological safety.
    by_team: dict[int, set] = {}
    for a in model.agents:
        by_team.setdefault(a.team, set()).add(a.psych_safety)
    assert all(len(v) == 1 for v in by_team.values())
    assert len(by_team) == int(np.ceil(40 / org.team_size))


def test_agent_state_follows_the_model_week_by_week():
    model = sim.EngineeringOrg(sim.load_scenario("mandate_single_tool", engineers=30, weeks=8), seed=2)
    eng = model.engineer(0)
    before = eng.state()
    model.step()
    after = eng.state()
    assert after["tenure_weeks"] == before["tenure_weeks"] + 1
    assert after != before


def test_agents_leave_with_their_engineers_and_arrive_with_hires(churning_model):
    model = churning_model
    size = model.spec.organisation.size
    ids_ever = {a.unique_id for a in model.agents}
    left_total = arrived_total = 0
    for _ in range(model.spec.weeks):
        before = {a.slot: a for a in model.agents}
        model.step()
        now = {a.slot: a for a in model.agents}
        c = model.counters
        assert len(model.agents) == model.recorder.latest("headcount") == size - c.leavers + c.hires
        for slot in range(size):
            eng = model.engineer(slot)
            if slot in now:
                assert eng is now[slot] and eng.state()["present"] and eng.slot == slot
            else:
                assert eng is None, "a vacant slot has no agent"
        # Leavers: their agents are gone from the model.
        gone = [a for s, a in before.items() if now.get(s) is not a]
        for a in gone:
            assert a not in model.agents
        # Hires: new agents with new ids, new to the tools.
        new = [a for s, a in now.items() if before.get(s) is not a]
        for a in new:
            assert a.unique_id not in ids_ever
            ids_ever.add(a.unique_id)
            s = a.state()
            assert s["tenure_weeks"] <= 1.0 + 1e-9
        left_total += len(gone)
        arrived_total += len(new)
    assert left_total > 5 and arrived_total > 5, "the test needs engineers coming and going"
    assert left_total == model.counters.leavers
    assert arrived_total == model.counters.hires


def test_agents_by_type_and_agent_set_operations_work():
    model = sim.EngineeringOrg(sim.load_scenario("free_choice", engineers=24, weeks=3), seed=4)
    model.step()
    engineers = model.agents_by_type[sim.Engineer]
    assert len(engineers) == 24
    seniors = engineers.select(lambda a: a.seniority == "senior")
    assert all(a.seniority == "senior" for a in seniors)
    skills = engineers.get("skill")
    assert len(skills) == 24 and all(0 <= s <= 1 for s in skills)


def test_the_mesa_datacollector_collects_the_recorded_metrics_every_week():
    """collect_mesa=True: Mesa's DataCollector holds, week by week, the organisation's values the model records."""
    from sim.model.org import MESA_REPORTERS

    model = sim.EngineeringOrg(sim.load_scenario("mandate_single_tool", engineers=48, weeks=6), seed=2, collect_mesa=True).run()
    collected = model.datacollector.get_model_vars_dataframe()
    assert list(collected.columns) == list(MESA_REPORTERS) and len(collected) == 6
    recorded = model.results().query("group == 'all'").pivot(index="week", columns="metric", values="value")
    for metric in MESA_REPORTERS:
        assert collected[metric].to_list() == recorded[metric].to_list(), metric
    assert sim.EngineeringOrg(sim.load_scenario("free_choice", engineers=20, weeks=1), seed=1).datacollector is None
