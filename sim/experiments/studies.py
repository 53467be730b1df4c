"""Virtual studies: a published experiment's design applied to simulated engineers.

A study file (studies/*.yaml) describes who takes part, the task types in
scope, how AI is assigned (tasks or engineers at random), prior exposure to the
tool, what is measured and with which estimator, and the published figures with
their tolerance. Running a study uses the model's own rules (sim/rules.py: task
timing with skill, familiarity and proficiency; the learning curve; the hype
prior; biased, anchored perception and belief updating) with the shared
behaviour parameters; a study carries no behavioural knobs of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError, model_validator

from sim.model import rules
from sim.model.limits import ENV_MODEL, check_bytes
from sim.errors import InputError
from sim.model.params import P, Scenario, Strict
from sim.paths import bundled
from sim.files import read_yaml
from sim.model.scenarios import _format_validation
from sim.model.streams import named_rng
from sim.model.workforce import OrgTables


STUDY_DIR = bundled("studies")

class Population(Strict):
    """Who takes part."""

    engineers: int = P(16, 1, 10_000, "engineers", "Number of participants.")
    skill_mean: float = P(0.5, 0.0, 1.0, "skill index", "Mean skill of participants (0: novice, 1: top expert).")
    skill_sd: float = P(0.1, 0.0, 0.5, "skill index", "Spread of participants' skill.")
    tenure_years: float = P(0.0, 0.0, 30.0, "years", "Time participants have worked on the code the tasks are in (0: new code, e.g. a greenfield task).")
    prior_tool_weeks: float = P(0.0, 0.0, 520.0, "weeks", "Weeks of earlier full-time use of the tool (proficiency follows the model's learning curve).")


class Tasks(Strict):
    """The work participants do."""

    total: int = P(246, 1, 100_000, "tasks", "Number of tasks in the study (spread evenly over participants).")
    mix: dict[str, float] = Field(..., description="Share of tasks of each task type (of the organisation's task types).")
    codable_share: float | None = Field(None, ge=0.0, le=1.0, description="Share of task time that is writing or changing code, when the study's task differs from the organisation's task type (e.g. a pure coding exercise: 1).")
    mean_hours: float = P(2.0, 0.05, 200.0, "hours", "Mean time a task takes without AI.")

    @model_validator(mode="after")
    def _mix(self) -> "Tasks":
        total = sum(self.mix.values())
        if not self.mix or abs(total - 1.0) > 1e-3 or any(v < 0 for v in self.mix.values()):
            raise ValueError(f"task shares must be non-negative and sum to 1 (they sum to {total:.4g})")
        return self


class Assignment(Strict):
    """How AI is assigned."""

    unit: Literal["tasks", "engineers"] = Field("tasks", description="What is randomised to AI-allowed or not: each task, or each engineer.")
    ai_share: float = P(0.5, 0.01, 0.99, "share", "Share of tasks (or engineers) allowed AI.")
    tool: str = Field("thirdparty", description="The AI tool used in the AI-allowed arm (one of the organisation's tools).")
    use: Literal["all", "chosen"] = Field("all", description="On AI-allowed tasks, participants use the tool on every one ('all') or where they believe it helps ('chosen': the model's choice on the believed saving).")


class Measure(Strict):
    """One published result and its tolerance."""

    estimator: Literal["log_time_regression", "ratio_of_means", "mean"] = Field("mean", description="How the study computed it: log-time regression with engineer fixed effects, ratio of mean times, or a plain mean.")
    published: float = Field(..., allow_inf_nan=False, description="The published value (a finite number).")
    ci: list[float] | None = Field(None, description="The published 95% interval, [low, high], if any.")
    tolerance: list[float] = Field(..., description="The simulated mean must lie in [low, high].")
    note: str = Field("", description="What the number means.")

    @model_validator(mode="after")
    def _bounds(self) -> "Measure":
        for name in ("ci", "tolerance"):
            v = getattr(self, name)
            if v is not None and (len(v) != 2 or v[0] > v[1]):
                raise ValueError(f"{name} must be [low, high] with low <= high")
        return self


class Study(Strict):
    """A published experiment's design, its results and tolerances."""

    id: str = Field(..., description="Short identifier, e.g. METR-2025.")
    title: str = Field("", description="What the study did.")
    citation: str = Field("", description="Reference.")
    url: str = Field("", description="Where to read it.")
    year: float = P(2025.3, 2015.0, 2040.0, "calendar year", "When the study ran (the tools of that year: behaviour.work.context_improvement).")
    population: Population
    tasks: Tasks
    assignment: Assignment = Field(default_factory=Assignment)
    measures: dict[Literal["time_change", "forecast_saving", "perceived_saving"], Measure] = Field(..., description="Published results: time_change (relative change in task time with AI; negative is faster), forecast_saving (time saving participants expected beforehand), perceived_saving (time saving they believed afterwards).")


def load_study(path: str | Path) -> Study:
    """A validated study design from a YAML file (clear InputError on any problem)."""
    path = Path(path)
    data = read_yaml(path, "study file")
    try:
        return Study.model_validate(data)
    except ValidationError as e:
        raise _format_validation(e, str(path), Study, data) from None


def yaml_files(directory: Path, kind: str) -> list[Path]:
    """The YAML files of a folder of ``kind`` files ("study", "fact"), sorted by name; one clear error if there is no such folder or file."""
    if not directory.exists():
        raise InputError("folder not found", source=str(directory))
    if not directory.is_dir():
        raise InputError(f"is not a folder of {kind} files", source=str(directory))
    files = sorted(list(directory.glob("*.yaml")) + list(directory.glob("*.yml")))
    if not files:
        raise InputError(f"holds no {kind} files (*.yaml)", source=str(directory))
    return files


def load_studies(directory: str | Path | None = None) -> list[tuple[Path, Study]]:
    """Every study file in a folder (default: the built-in studies), sorted by name."""
    files = yaml_files(Path(directory) if directory is not None else STUDY_DIR, "study")
    studies = [(f, load_study(f)) for f in files]
    seen: dict[str, Path] = {}
    for f, study in studies:
        if study.id in seen:
            raise InputError(f"has the same id as {seen[study.id].name}; each study needs its own id", source=str(f), field="id", value=study.id)
        seen[study.id] = f
    return studies


def check_against(study: Study, scenario: Scenario, source: str = "study") -> None:
    """The study names only task types and tools the organisation has."""
    org = scenario.organisation
    unknown = [k for k in study.tasks.mix if k not in org.task_types]
    if unknown:
        raise InputError("names task types the organisation does not have", source=source, field="tasks.mix", value=unknown, allowed=", ".join(org.task_types))
    if study.assignment.tool not in org.tools:
        raise InputError("is not one of the organisation's tools", source=source, field="assignment.tool", value=study.assignment.tool, allowed=", ".join(org.tools))


# ---------------------------------------------------------------------------
# Running a study
# ---------------------------------------------------------------------------


def simulate_study(study: Study, scenario: Scenario | None = None, *, replicates: int = 200, seed: int = 0) -> pd.DataFrame:
    """Run the study ``replicates`` times on simulated engineers; one row per replicate and measure (columns replicate, measure, value)."""
    sc = scenario or Scenario()
    check_against(study, sc, study.id)
    bh = sc.behaviour
    tb = OrgTables.from_organisation(sc.organisation)
    w, pr, lp = bh.work, bh.perception, bh.learning
    pop, tk, asg = study.population, study.tasks, study.assignment
    rng = named_rng(int(np.random.SeedSequence(seed).generate_state(1)[0]), f"study/{study.id}")
    R, E = replicates, pop.engineers
    n_per = max(1, int(round(tk.total / E)))
    tool = tb.tool_names.index(asg.tool)
    task_names = list(tk.mix)
    k_index = np.array([tb.task_names.index(k) for k in task_names])
    shares = np.array([tk.mix[k] for k in task_names])
    # Refuse before allocating: the study's arrays are about 8 bytes x replicates x engineers x (14 per task + 10 per task type + 10).
    check_bytes(8 * R * E * (14 * n_per + 10 * len(task_names) + 10),
                what=f"virtual study {study.id} with {R:,} replicates of {E} engineers x {n_per} tasks",
                lower="lower --replicates", source="--replicates", value=R, raise_with=f"the environment variable {ENV_MODEL}")

    # Participants: skill, familiarity with the code, proficiency from prior use, prior belief (the forecast).
    skill = np.clip(pop.skill_mean + pop.skill_sd * rng.standard_normal((R, E)), 0.0, 1.0)
    famil = rules.familiarity(np.full((R, E), pop.tenure_years * rules.WEEKS_PER_YEAR), lp.familiarity_years)
    prof = np.clip(lp.initial_proficiency + lp.initial_proficiency_sd * rng.standard_normal((R, E)), 0.0, 1.0)
    for _ in range(int(round(pop.prior_tool_weeks))):
        prof = rules.learn_proficiency(prof, np.ones_like(prof), lp.learning_rate, lp.forgetting)
    prior = pr.hype_prior * tb.reputation[tool] + pr.prior_sd * rng.standard_normal((R, E, len(task_names)))
    belief = prior.copy()
    fit = rules.tool_fit(rng.standard_normal((R, E)), w.tool_fit_sd)  # how well the study's tool suits each participant
    affinity = bh.choice.affinity_sd * rng.standard_normal((R, E))
    handicap = rules.context_handicap(study.year - w.calibration_year, w.context_improvement)

    # Tasks: type, baseline hours, assignment to AI.
    T = n_per
    kind = rng.choice(len(task_names), size=(R, E, T), p=shares)
    base_hours = tk.mean_hours * np.exp(w.task_time_sd * rng.standard_normal((R, E, T)) - 0.5 * w.task_time_sd**2)
    if asg.unit == "tasks":
        ai = rng.random((R, E, T)) < asg.ai_share
    else:
        ai = np.broadcast_to((rng.random((R, E)) < asg.ai_share)[:, :, None], (R, E, T)).copy()
    z_perc = rng.standard_normal((R, E, T))

    # True effect of the tool on each task for each participant, from the model's rules.
    codable = tb.codable[k_index].copy()
    if tk.codable_share is not None:
        codable[:] = tk.codable_share
    flat_skill, flat_fam, flat_prof = skill.reshape(-1, 1), famil.reshape(-1, 1), prof.reshape(-1, 1)
    mast = rules.mastery(flat_skill, flat_fam, tb.context[k_index], w.greenfield_mastery)  # [R*E, types]
    gain, verify, overhead = rules.time_components(
        tb.time_saving[tool, k_index], tb.verification[tool, k_index], codable, mast, flat_prof, 0.0, fit.reshape(-1, 1), handicap, w,
    )
    mult = rules.time_multiplier(gain, verify, overhead, w.min_time_multiplier).reshape(R, E, -1)  # [R,E,types]
    hidden = (verify + overhead).reshape(R, E, -1)
    m_task = np.take_along_axis(mult, kind, axis=2)
    h_task = np.take_along_axis(hidden, kind, axis=2)
    speed = rules.work_speed(skill, w.speed_min, w.speed_skill)[:, :, None]
    u_use = rng.random((R, E, T))

    # Task by task: on an AI-allowed task the participant uses the tool (always, or where they believe it helps);
    # after using it they perceive a saving, anchored on their belief, and the belief updates.
    used = np.zeros((R, E, T), dtype=bool)
    for t in range(T):
        k = kind[:, :, t]
        b = np.take_along_axis(belief, k[:, :, None], axis=2)[:, :, 0]
        if asg.use == "all":
            use = ai[:, :, t]
        else:
            use = ai[:, :, t] & (u_use[:, :, t] < rules.study_use_probability(b, affinity, bh.choice.benefit_weight, bh.choice.hurdle))
        used[:, :, t] = use
        felt = rules.felt_saving(1.0 - m_task[:, :, t], h_task[:, :, t], pr.effort_discount, pr.optimism)
        perceived = rules.perceived_saving(felt, b, z_perc[:, :, t], pr.anchoring, pr.noise_sd)
        nb = np.where(use, rules.update_toward(b, perceived, pr.belief_update), b)
        np.put_along_axis(belief, k[:, :, None], nb[:, :, None], axis=2)
    hours = base_hours / speed * np.where(used, m_task, 1.0)

    mix_w = shares[None, None, :]
    values = {
        "forecast_saving": (prior * mix_w).sum(axis=2).mean(axis=1),
        "perceived_saving": (belief * mix_w).sum(axis=2).mean(axis=1),
    }
    est = study.measures.get("time_change")
    values["time_change"] = _time_change(hours, ai, est.estimator if est else "log_time_regression")
    rows = [(r, m, float(values[m][r])) for m in study.measures for r in range(R)]
    return pd.DataFrame(rows, columns=["replicate", "measure", "value"])


def _time_change(hours: np.ndarray, ai: np.ndarray, estimator: str) -> np.ndarray:
    """Relative change in task time with AI per replicate, by the study's estimator."""
    R = hours.shape[0]
    h = hours.reshape(R, -1)
    a = ai.reshape(R, -1).astype(float)
    if estimator == "ratio_of_means" or estimator == "mean":
        mean_ai = (h * a).sum(axis=1) / np.maximum(a.sum(axis=1), 1)
        mean_no = (h * (1 - a)).sum(axis=1) / np.maximum((1 - a).sum(axis=1), 1)
        return mean_ai / mean_no - 1.0
    # log-time regression with engineer fixed effects: within-engineer demeaning, then OLS slope.
    y = np.log(hours)
    x = ai.astype(float)
    yd = y - y.mean(axis=2, keepdims=True)
    xd = x - x.mean(axis=2, keepdims=True)
    beta = (xd * yd).sum(axis=(1, 2)) / np.maximum((xd * xd).sum(axis=(1, 2)), 1e-12)
    return np.exp(beta) - 1.0


def summarise_study(study: Study, sims: pd.DataFrame) -> pd.DataFrame:
    """Per measure: published, simulated mean and 95% interval over replicates, tolerance, pass."""
    rows = []
    for name, m in study.measures.items():
        v = sims.loc[sims["measure"] == name, "value"].to_numpy()
        mean = float(v.mean())
        lo, hi = (float(x) for x in np.quantile(v, [0.025, 0.975]))
        rows.append({
            "study": study.id, "measure": name, "published": m.published,
            "published_ci": m.ci, "simulated": mean, "sim_low": lo, "sim_high": hi,
            "tol_low": m.tolerance[0], "tol_high": m.tolerance[1],
            "pass": bool(m.tolerance[0] <= mean <= m.tolerance[1]),
        })
    return pd.DataFrame(rows)


def validate(directory: str | Path | None = None, scenario: Scenario | None = None, *, replicates: int = 200, seed: int = 0) -> pd.DataFrame:
    """Run every study in a folder and compare simulated with published results."""
    frames = []
    studies = load_studies(directory)
    for path, study in studies:  # every study checked against the organisation before any runs
        check_against(study, scenario or Scenario(), str(path))
    for path, study in studies:
        sims = simulate_study(study, scenario, replicates=replicates, seed=seed)
        frames.append(summarise_study(study, sims))
    return pd.concat(frames, ignore_index=True)
