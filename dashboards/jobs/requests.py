"""What a request for runs costs and where it waits: its cache key, its engineer-weeks and the server's bounds on them,
and the queue's fair order with the words a page shows for a waiting job."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Sequence


from sim.errors import InputError
from sim.model import limits
from sim.model.fingerprint import model_fingerprint
from sim.model.params import Scenario

#: Bump when what a cached result holds changes (results from an older format are not served).
RESULT_FORMAT = 2


def request_key(kind: str, specs: Sequence[Scenario], seed: int, replicates: int) -> str:
    """Cache key of a request: hash of the canonical JSON of its scenarios, the seed, the replicates and the model's version."""
    payload = json.dumps(
        {"kind": kind, "scenarios": [s.model_dump(mode="json") for s in specs], "seed": int(seed), "replicates": int(replicates),
         "model": model_fingerprint(), "format": RESULT_FORMAT},
        sort_keys=True, separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def work_of(specs: Sequence[Scenario], replicates: int) -> int:
    """Engineer-weeks a comparison simulates, the shared no-AI counterfactual included."""
    per_run = max(s.organisation.size * s.weeks for s in specs) if specs else 0
    return (len(specs) + 1) * int(replicates) * per_run


#: How a server's operator raises the memory limits (the app has no command-line option for them).
RAISE_WITH = {"model": f"the environment variable {limits.ENV_MODEL} of the server",
              "table": f"the environment variable {limits.ENV_TABLE} of the server"}


def check_work(specs: Sequence[Scenario], replicates: int, max_work: int, *, max_model_bytes: int | None = None,
               max_table_bytes: int | None = None) -> None:
    """Refuse a request that asks for more than the server allows: more engineer-weeks than ``max_work``, a model run that
    needs more memory than ``max_model_bytes`` (many engineers x tools x task types; the estimate of sim.model.limits,
    the one every model is admitted with), or results larger than ``max_table_bytes``. Defaults: the limits of
    sim.model.limits ($MANDATE_SIM_MAX_MODEL_BYTES, $MANDATE_SIM_MAX_TABLE_BYTES)."""
    work = work_of(specs, replicates)
    if work > max_work:
        raise InputError(
            f"asks for {work:,} engineer-weeks ({len(specs)} policies + the no-AI counterfactual x {replicates} replicates x engineers x weeks); "
            f"this server allows at most {max_work:,} per request: lower the replicates, engineers or weeks",
            source="request",
        )
    for sc in specs:  # the counterfactual has the same organisation and horizon as its policy
        limits.check_model(sc, limit=max_model_bytes, source="request", raise_with=RAISE_WITH["model"])
    if specs:
        weeks = max(int(s.weeks) for s in specs)
        tasks = max(len(s.organisation.task_types) for s in specs)
        limits.check_table(limits.table_rows(len(specs), replicates, weeks, tasks), source="request", limit=max_table_bytes,
                           what=f"the results of {len(specs)} policies x {int(replicates):,} replicates x {weeks} weeks",
                           lower="lower the replicates or weeks, or use an organisation with fewer task types", raise_with=RAISE_WITH["table"])


# ---------------------------------------------------------------------------------------------------------------
# Fair order
# ---------------------------------------------------------------------------------------------------------------


def fair_order(queue: Sequence[dict], running: dict[str, dict]) -> list[dict]:
    """The queue's entries in the order they are run: by rank, then arrival.

    A job's rank is the number of other jobs its user has running, plus the number of that user's jobs waiting ahead of
    it: everyone's first job goes before anyone's second. The parts of one job share its rank.
    """
    busy: dict[str, set[str]] = {}
    for e in running.values():
        busy.setdefault(e["user"], set()).add(e["key"])
    waiting: Counter[str] = Counter()
    rank: dict[str, int] = {}
    for e in sorted(queue, key=lambda e: e["seq"]):
        if e["key"] not in rank:
            rank[e["key"]] = len(busy.get(e["user"], set()) - {e["key"]}) + waiting[e["user"]]
            waiting[e["user"]] += 1
    return sorted(queue, key=lambda e: (rank[e["key"]], e["seq"], str(e["part"])))


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def queue_text(st: dict) -> str:
    """What a page says about a waiting job: its place in the queue and the estimated wait."""
    ahead = st.get("ahead", 0)
    runs = "run" if ahead == 1 else "runs"
    return f"waiting in the queue: {_ordinal(st.get('position', 1))} in line ({ahead} {runs} ahead), starts in about {max(st.get('eta', 0), 1):.0f} s"

