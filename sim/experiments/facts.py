"""Organisation-level facts: published figures about whole organisations over time, checked on the model's own runs.

A virtual study (``studies.py``) re-runs one published experiment on simulated engineers. A *fact* is a figure
about a whole organisation over months: an adoption curve that peaks and settles, trust in AI that falls with
exposure, the share of engineers who only pretend to use AI under a mandate. A fact file (``studies/facts/*.yaml``)
names the configuration to run (a scenario, optionally an organisation profile, ``--set``-style overrides, engineers
and weeks), the metric and group to read, the statistic of that weekly series and the window of weeks it is computed
over, the published figure and the tolerance. Checking a fact runs the real model (``runner.run_scenarios``: paired
seeds, the paired no-AI counterfactual, so derived metrics such as ``true_gain`` work too), computes the statistic on
each replicate's weekly series, and passes when the mean over replicates lies inside the tolerance.

A file holds one fact (the keys of ``FactSpec`` at the top) or several (``facts:`` a list of entries; keys at the top
are shared by every entry, and an entry's own keys override them). Facts that share their configuration share their
runs: each distinct configuration is run once, with every replicate, and all configurations with the same seeds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError, field_validator

from sim.errors import InputError, InputErrors
from sim.model.metrics import METRICS
from sim.model.params import SENIORITY_LEVELS, Scenario, Strict
from sim.files import read_yaml
from sim.model.scenarios import _format_validation, field_at, load_org_data, load_scenario
from sim.paths import bundled

from .studies import yaml_files

if TYPE_CHECKING:
    from .runner import ProgressFn

FACT_DIR = bundled("studies") / "facts"


# ---------------------------------------------------------------------------
# Statistics of one weekly series
#
# Each takes the window's values (weeks along the last axis, so one series or a [replicates, weeks] block) and the
# window's week numbers, and returns one value per series.
# ---------------------------------------------------------------------------


def final(values: np.ndarray, weeks: np.ndarray) -> np.ndarray:
    """The value in the window's last week."""
    return values[..., -1]


def mean(values: np.ndarray, weeks: np.ndarray) -> np.ndarray:
    """The mean over the window's weeks."""
    return values.mean(axis=-1)


def peak(values: np.ndarray, weeks: np.ndarray) -> np.ndarray:
    """The highest value in the window."""
    return values.max(axis=-1)


def peak_week(values: np.ndarray, weeks: np.ndarray) -> np.ndarray:
    """The week (counted from the start of the run, 1 = the first week) of the highest value in the window; the first such week on a tie."""
    return weeks[np.argmax(values, axis=-1)].astype(float)


def minimum(values: np.ndarray, weeks: np.ndarray) -> np.ndarray:
    """The lowest value in the window."""
    return values.min(axis=-1)


def slope(values: np.ndarray, weeks: np.ndarray) -> np.ndarray:
    """The least-squares slope of value on week over the window: change per week (needs a window of two weeks or more)."""
    w = weeks - weeks.mean()
    return (values * w).sum(axis=-1) / (w * w).sum()


def drop_from_peak(values: np.ndarray, weeks: np.ndarray) -> np.ndarray:
    """The highest value in the window minus the value in its last week (0 when the series ends at its peak)."""
    return values.max(axis=-1) - values[..., -1]


def relative_change(values: np.ndarray, weeks: np.ndarray) -> np.ndarray:
    """The value in the window's last week over the value in its first week, minus 1 (NaN when the first is 0, which fails)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        first = values[..., 0]
        return np.where(first != 0, values[..., -1] / np.where(first != 0, first, 1.0) - 1.0, np.nan)


#: The statistics a fact may name, in the order they are documented.
STATISTICS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "final": final,
    "mean": mean,
    "peak": peak,
    "peak_week": peak_week,
    "min": minimum,
    "slope": slope,
    "drop_from_peak": drop_from_peak,
    "relative_change": relative_change,
}
StatisticName = Literal["final", "mean", "peak", "peak_week", "min", "slope", "drop_from_peak", "relative_change"]
assert set(StatisticName.__args__) == set(STATISTICS)  # one list of names


def statistic(series, name: str, window: tuple[int, int] | list[int] | None = None) -> Any:
    """The statistic ``name`` of a weekly series (``series[0]`` is week 1; weeks along the last axis, so a [replicates,
    weeks] array gives one value per replicate) over the weeks ``window`` = [first, last], inclusive (default: all)."""
    if name not in STATISTICS:
        raise ValueError(f"unknown statistic {name!r}; one of {', '.join(STATISTICS)}")
    x = np.asarray(series, dtype=float)
    n = x.shape[-1]
    a, b = (1, n) if window is None else (int(window[0]), int(window[1]))
    if not 1 <= a <= b <= n:
        raise ValueError(f"window [{a}, {b}] is not within weeks 1 to {n}")
    if name == "slope" and b == a:
        raise ValueError("the slope needs a window of at least two weeks")
    out = STATISTICS[name](x[..., a - 1 : b], np.arange(a, b + 1))
    return float(out) if np.ndim(out) == 0 else out


# ---------------------------------------------------------------------------
# The fact file's schema
# ---------------------------------------------------------------------------


def _bounds(path: str) -> dict[str, int]:
    """The bounds declared for a scenario field, as Field keyword arguments (so a fact accepts what a scenario does)."""
    out: dict[str, int] = {}
    for meta in getattr(field_at(path), "metadata", []):
        for k in ("ge", "le"):
            if getattr(meta, k, None) is not None:
                out[k] = getattr(meta, k)
    return out


#: Keys every fact must end up with (in its entry, or at the top of a file of several facts).
REQUIRED = ("id", "scenario", "metric", "statistic", "published", "tolerance")


class FactSpec(Strict):
    """The keys of a fact: the source, the run, what is measured, and the published figure with its tolerance.

    Every key is optional here so that a file of several facts can hold the keys they share at its top; after the
    entries are merged with the top, ``id``, ``scenario``, ``metric``, ``statistic``, ``published`` and ``tolerance``
    are required.
    """

    id: str | None = Field(None, min_length=1, description="Unique identifier, e.g. ROLLOUT-2025-adoption-peak.")
    title: str = Field("", description="What the fact says, in one line.")
    citation: str = Field("", description="Reference of the source.")
    url: str = Field("", description="Where to read it.")
    scenario: str | None = Field(None, min_length=1, description="Built-in scenario name, or a scenario file (a path relative to the fact file).")
    org: str | None = Field(None, min_length=1, description="Organisation profile put under the scenario: built-in name or a file (relative to the fact file).")
    overrides: dict[str, Any] = Field(default_factory=dict, description="Parameter overrides as --set would give them: dotted path to value.")
    engineers: int | None = Field(None, description="Engineer positions (default: the scenario's).", **_bounds("organisation.size"))
    weeks: int | None = Field(None, description="Weeks simulated (default: the scenario's).", **_bounds("weeks"))
    metric: str | None = Field(None, description="A metric of sim.METRICS (derived ones such as true_gain included).")
    group: str = Field("all", description="'all', or a breakdown the metric has: seniority=<level> or task=<task type>.")
    statistic: StatisticName | None = Field(
        None,
        description="Statistic of the weekly series over the window: final, mean, peak, peak_week, min, slope (per week, "
        "least squares), drop_from_peak (peak minus final) or relative_change (final / first - 1).",
    )
    window: list[int] | None = Field(None, description="[first, last] week, inclusive, over which the statistic is computed (default: every week).")
    published: float | None = Field(None, description="The published figure, in the statistic's unit (shown beside the simulated one).")
    tolerance: list[float] | None = Field(None, description="[low, high]: the fact holds in the model when the mean over replicates lies inside.")
    note: str = Field("", description="How the published figure was turned into this statistic and tolerance.")

    @field_validator("window")
    @classmethod
    def _window(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (len(v) != 2 or not 1 <= v[0] <= v[1]):
            raise ValueError("must be [first, last] weeks with 1 <= first <= last")
        return v

    @field_validator("tolerance")
    @classmethod
    def _tolerance(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and (len(v) != 2 or not v[0] <= v[1]):
            raise ValueError("must be [low, high] with low <= high")
        return v


class FactFile(FactSpec):
    """A fact file: one fact, or shared keys at the top and the facts under ``facts:``."""

    facts: list[FactSpec] | None = Field(
        None, min_length=1,
        description="Several facts; each entry's keys override the keys at the top of the file (whole values: an entry's "
        "overrides replace the top's).",
    )


@dataclass(frozen=True)
class Fact:
    """One fact, validated and resolved: its configuration is loaded, its metric, group and window checked."""

    id: str
    scenario: Scenario  # the configuration to run (scenario, organisation, overrides, engineers and weeks applied)
    metric: str
    group: str
    statistic: str
    window: tuple[int, int]
    published: float
    tolerance: tuple[float, float]
    title: str = ""
    citation: str = ""
    url: str = ""
    note: str = ""
    source: str = ""  # the file, for messages

    @property
    def measure(self) -> str:
        """What is measured, in a few words: "peak of weekly_active_share", "mean of trust_ai (seniority=senior)" (the window is
        a column of its own)."""
        group = "" if self.group == "all" else f" ({self.group})"
        return f"{self.statistic} of {self.metric}{group}"

    @property
    def key(self) -> str:
        """The configuration, as text: facts with the same key share their runs."""
        return self.scenario.model_dump_json()


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def _relative(ref: str | None, path: Path) -> str | None:
    """A reference that looks like a file, relative to the fact file's folder (built-in names unchanged)."""
    if ref is None:
        return None
    p = Path(ref)
    if (p.suffix in (".yaml", ".yml") or "/" in ref or "\\" in ref) and not p.is_absolute():
        return str(path.parent / p)
    return ref


def _reframe(e: InputError, source: str, key: str, value: Any) -> InputError:
    """An error loading the configuration, restated for the fact file and the key that caused it (each of several)."""
    if isinstance(e, InputErrors):
        return InputErrors([_reframe(one, source, key, value) for one in e.errors])
    inner = "".join([
        f"{e.source}: " if e.source else "", f"field '{e.field}' " if e.field else "", f"value {e.value!r} " if e.value is not None else "", e.detail,
    ])
    return InputError(f"does not load: {inner}", source=source, field=key, value=value, allowed=e.allowed)


def _load_config(cfg: dict, source: str, where: Callable[[str], str]) -> Scenario:
    """The configuration's Scenario; an error names the fact file and the key (scenario, org, overrides, ...) at fault."""
    try:
        return load_scenario(cfg["scenario"], org=cfg["org"], overrides=cfg["overrides"] or None, engineers=cfg["engineers"], weeks=cfg["weeks"])
    except InputError as e:
        full = e
    # Find the key at fault, in the order they are applied.
    try:
        load_scenario(cfg["scenario"])
    except InputError as e:
        raise _reframe(e, source, where("scenario"), cfg["scenario"]) from None
    if cfg["org"] is not None:
        try:
            load_org_data(cfg["org"])
        except InputError as e:
            raise _reframe(e, source, where("org"), cfg["org"]) from None
    overrides = cfg["overrides"]

    def restate(one: InputError) -> InputError:
        if one.field in overrides:  # an override at fault: its own message, at its own key
            return InputError(one.detail, source=source, field=f"{where('overrides')}.{one.field}", value=overrides[one.field], allowed=one.allowed)
        return _reframe(one, source, where("overrides") if overrides else where("scenario"), None)

    errors = [restate(one) for one in (full.errors if isinstance(full, InputErrors) else [full])]
    raise (errors[0] if len(errors) == 1 else InputErrors(errors)) from None


def _schema_error(e: ValidationError, source: str, data: dict) -> InputError:
    """The schema's errors as the scenario files' are (``_format_validation``); an unknown key inside an entry of
    ``facts:`` also gets the keys an entry may have and the nearest one."""
    import difflib

    err = _format_validation(e, source, FactFile, data)
    out = []
    for one in err.errors if isinstance(err, InputErrors) else [err]:
        parts = (one.field or "").split(".")
        if one.detail == "unknown key" and len(parts) == 3 and parts[0] == "facts" and parts[1].isdigit():
            keys = list(FactSpec.model_fields)
            hint = difflib.get_close_matches(parts[2], keys, n=1)
            one = InputError("unknown key" + (f"; did you mean '{hint[0]}'?" if hint else ""), source=source, field=one.field, allowed=", ".join(keys))
        out.append(one)
    return out[0] if len(out) == 1 else InputErrors(out)


def _groups_of(metric: str, sc: Scenario) -> list[str]:
    """The groups a metric is recorded for in this configuration."""
    m = METRICS[metric]
    seniority = [f"seniority={lv}" for lv in SENIORITY_LEVELS] if m.by_seniority else []
    tasks = [f"task={k}" for k in sc.organisation.task_types] if m.by_task else []
    return ["all", *seniority, *tasks]


def load_fact_file(path: str | Path) -> list[Fact]:
    """The facts of one file, validated and resolved; every problem is an InputError naming the file, the field, the value
    and what is allowed (several problems in one file are reported together)."""
    path = Path(path)
    source = str(path)
    data = read_yaml(path, "fact file")
    try:
        spec = FactFile.model_validate(data)
    except ValidationError as e:
        raise _schema_error(e, source, data) from None
    top_set = spec.model_fields_set - {"facts"}
    entries = spec.facts if spec.facts is not None else [None]
    errors: list[InputError] = []
    facts: list[Fact] = []
    configs: dict[str, Scenario] = {}
    failed: set[str] = set()
    for i, entry in enumerate(entries):
        own = entry.model_fields_set if entry is not None else set()

        def where(name: str, i=i, own=own, grouped=entry is not None) -> str:
            return f"facts.{i}.{name}" if grouped and (name in own or name not in top_set) else name

        def get(name: str, entry=entry, own=own):
            return getattr(entry, name) if name in own else getattr(spec, name)

        missing = [n for n in REQUIRED if get(n) is None]
        for n in missing:
            hint = " (in the entry, or at the top of the file for every entry)" if entry is not None else ""
            errors.append(InputError("is required but missing" + hint, source=source, field=where(n)))
        if missing:
            continue
        cfg = {
            "scenario": _relative(get("scenario"), path), "org": _relative(get("org"), path), "overrides": dict(get("overrides")),
            "engineers": get("engineers"), "weeks": get("weeks"),
        }
        cfg_text = json.dumps(cfg, sort_keys=True, default=str)
        if cfg_text in failed:
            continue  # reported once, for the first fact with this configuration
        try:
            if cfg_text not in configs:
                configs[cfg_text] = _load_config(cfg, source, where)
        except InputError as e:
            errors.extend(e.errors if isinstance(e, InputErrors) else [e])
            failed.add(cfg_text)
            continue
        sc = configs[cfg_text]
        metric, group = get("metric"), get("group")
        if metric not in METRICS:
            errors.append(InputError(f"metric {metric!r} is not one of the model's metrics", source=source, field=where("metric"), allowed=", ".join(METRICS)))
            continue
        groups = _groups_of(metric, sc)
        if group not in groups:
            errors.append(InputError(f"is not a group {metric} is recorded for", source=source, field=where("group"), value=group, allowed=", ".join(groups)))
        window = get("window") or [1, sc.weeks]
        if window[1] > sc.weeks:
            errors.append(InputError(f"ends after the horizon of {sc.weeks} weeks", source=source, field=where("window"), value=window,
                                     allowed=f"[first, last] with 1 <= first <= last <= {sc.weeks} (the configuration's weeks)"))
        name = get("statistic")
        if name == "slope" and window[0] == window[1]:
            errors.append(InputError("is one week; the slope needs two or more", source=source, field=where("window"), value=window))
        fid = get("id")
        if any(f.id == fid for f in facts):
            errors.append(InputError("is the id of another fact in this file", source=source, field=where("id"), value=fid, allowed="a unique id for each fact"))
        facts.append(Fact(
            id=get("id"), scenario=sc, metric=metric, group=group, statistic=name, window=(int(window[0]), int(window[1])),
            published=float(get("published")), tolerance=(float(get("tolerance")[0]), float(get("tolerance")[1])),
            title=get("title"), citation=get("citation").strip(), url=get("url"), note=get("note").strip(), source=source,
        ))
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    return facts


def load_facts(directory: str | Path | None = None) -> list[Fact]:
    """Every fact in a folder's fact files (default: the built-in facts, studies/facts), files sorted by name; ids must be
    unique across the folder."""
    files = yaml_files(Path(directory) if directory is not None else FACT_DIR, "fact")
    facts: list[Fact] = []
    seen: dict[str, str] = {}
    errors: list[InputError] = []
    for f in files:
        try:
            loaded = load_fact_file(f)
        except InputError as e:
            errors.extend(e.errors if isinstance(e, InputErrors) else [e])
            continue
        for fact in loaded:
            if fact.id in seen and seen[fact.id] != fact.source:
                errors.append(InputError(f"is already the id of a fact in {seen[fact.id]}", source=fact.source, field="id", value=fact.id,
                                         allowed="an id unique across the folder"))
            seen.setdefault(fact.id, fact.source)
        facts.extend(loaded)
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    return facts


# ---------------------------------------------------------------------------
# Checking
# ---------------------------------------------------------------------------


#: Columns of ``check_facts``' result (those of the studies' summary with ``fact`` for ``study``, then the fact's parts).
COLUMNS = ("fact", "measure", "published", "simulated", "sim_low", "sim_high", "tol_low", "tol_high", "pass",
           "metric", "group", "statistic", "window", "title", "citation", "url")


def run_configurations(facts: list[Fact], *, replicates: int, seed: int, progress: ProgressFn | None = None) -> dict[str, pd.DataFrame]:
    """Run each distinct configuration of ``facts`` once, all with the same seeds; the tidy results by ``Fact.key``.

    Configurations with the same task types are run in one ``run_scenarios`` call, so those with the same organisation,
    behaviour and horizon also share their no-AI counterfactual runs.
    """
    from . import runner  # the model loads only once the facts are known good

    configs: dict[str, Scenario] = {}
    for f in facts:
        configs.setdefault(f.key, f.scenario)
    batches: dict[tuple[str, ...], list[str]] = {}
    for key, sc in configs.items():
        batches.setdefault(tuple(sc.organisation.task_types), []).append(key)
    total = len(configs) * replicates
    done_before = 0
    out: dict[str, pd.DataFrame] = {}
    for keys in batches.values():
        names = [f"config{j}" for j in range(len(keys))]  # unique names, so two configurations of one scenario stay apart
        specs = [configs[k].model_copy(update={"name": n}) for k, n in zip(keys, names)]

        def step(done: int, _total: int, offset=done_before) -> None:
            if progress is not None:
                progress(offset + done, total)

        results = runner.run_scenarios(specs, replicates=replicates, seed=seed, progress=step)
        by_name = {str(n): d for n, d in results.groupby("scenario", observed=True)}
        for k, n in zip(keys, names):
            out[k] = by_name[n]
        done_before += len(keys) * replicates
    return out


def fact_values(fact: Fact, results: pd.DataFrame) -> np.ndarray:
    """The fact's statistic on each replicate's weekly series (one value per replicate, in replicate order)."""
    d = results[(results["metric"] == fact.metric) & (results["group"] == fact.group)]
    if d.empty:
        raise InputError("is not recorded in this configuration's results", source=fact.source, field="metric", value=fact.metric)
    table = d.pivot(index="replicate", columns="week", values="value").sort_index()
    return np.asarray(statistic(table.to_numpy(), fact.statistic, fact.window), dtype=float).reshape(-1)


def summarise_fact(fact: Fact, values: np.ndarray) -> dict:
    """Published, simulated mean and 95% interval over replicates, tolerance and pass (the studies' columns)."""
    v = np.asarray(values, dtype=float)
    m = float(v.mean())
    lo, hi = (float(x) for x in np.quantile(v, [0.025, 0.975]))
    return {
        "fact": fact.id, "measure": fact.measure, "published": fact.published, "simulated": m, "sim_low": lo, "sim_high": hi,
        "tol_low": fact.tolerance[0], "tol_high": fact.tolerance[1], "pass": bool(fact.tolerance[0] <= m <= fact.tolerance[1]),
        "metric": fact.metric, "group": fact.group, "statistic": fact.statistic, "window": list(fact.window),
        "title": fact.title, "citation": fact.citation, "url": fact.url,
    }


def check_facts(facts: list[Fact], replicates: int = 200, seed: int = 0, progress: ProgressFn | None = None) -> pd.DataFrame:
    """Run every fact's configuration (each distinct one once, ``replicates`` replicates, paired seeds) and compare the
    simulated statistic with the published figure; one row per fact (columns ``COLUMNS``)."""
    if not facts:
        return pd.DataFrame({c: [] for c in COLUMNS})
    results = run_configurations(facts, replicates=replicates, seed=seed, progress=progress)
    return pd.DataFrame([summarise_fact(f, fact_values(f, results[f.key])) for f in facts], columns=list(COLUMNS))


def count_runs(facts: list[Fact], replicates: int) -> int:
    """How many policy runs ``check_facts`` reports progress for (distinct configurations times replicates)."""
    return len({f.key for f in facts}) * replicates
