"""The runs whose outputs tests/data/baselines.json pins (shared by the test and scripts/update-baselines)."""

import numpy as np

import sim

METRICS = ("weekly_active_share", "ai_task_share", "throughput", "cycle_time", "trust_leadership", "psych_safety",
           "fatigue", "attrition_cumulative", "reported_gain", "shadow_use_share", "risk_exposure")
WEEKS = (1, 13, 26, 52)

#: key -> (scenario, org, engineers, seed)
CASES = {
    "mandate_single_tool/default/120/7": ("mandate_single_tool", None, 120, 7),
    "outcome_goals/default/120/7": ("outcome_goals", None, 120, 7),
    "pilot_and_measure/default/600/3": ("pilot_and_measure", None, 600, 3),  # large enough for the multi-threaded passes
    "generate_and_supervise/junior_boilerplate/120/11": ("generate_and_supervise", "junior_boilerplate", 120, 11),
}


def compute(scenario: str, org, engineers: int, seed: int) -> list[float]:
    """The pinned values of one case: a few metrics at a few weeks."""
    model = sim.EngineeringOrg(sim.load_scenario(scenario, org=org, engineers=engineers), seed=seed).run()
    rec = model.recorder
    return [float(rec.values[w - 1, rec.col[(m, "all")]]) for m in METRICS for w in WEEKS]
