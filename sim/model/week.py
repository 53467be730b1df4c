"""The week's scratch: what happens to each engineer during one week, shared by the phases of the weekly story.

Declared once (``SCRATCH``): the arrays are allocated once per model and overwritten every week, the kernels read
and write them as the ``WeekScratch`` bundle, and the recorder and leadership's observations read them by name.
"""

from __future__ import annotations

import numpy as np

from . import bundles


ScratchVar = bundles.ArrayVar

SCRATCH: tuple[ScratchVar, ...] = (
    ScratchVar("present", bool, ("engineer",), "Works this week (the slot was filled at the start of the week)."),
    ScratchVar("engaged_now", float, ("engineer", "one"), "1 where the engineer works with AI at the start of the week (for the team means)."),
    ScratchVar("team_engaged", float, ("team", "one"), "Share of each team's present engineers working with AI at the start of the week."),
    ScratchVar("choice", np.int64, ("engineer", "task"), "Option chosen per task type: 0 no AI, j+1 tool j."),
    ScratchVar("shadow", bool, ("engineer", "task"), "Used a tool not approved for the engineer (hidden from telemetry)."),
    ScratchVar("forced", bool, ("engineer", "task"), "Used an approved tool only because of pressure or the norm."),
    ScratchVar("token", bool, ("engineer",), "Made a token use (counted by telemetry, adds nothing)."),
    ScratchVar("multiplier", float, ("engineer", "task"), "Task time relative to no AI.", 1.0),
    ScratchVar("hidden", float, ("engineer", "task"), "Verification and overhead time (share of baseline task time)."),
    ScratchVar("felt_potential", float, ("engineer", "tool", "task"), "Saving one would feel using each tool (noise-free)."),
    ScratchVar("delivered", float, ("engineer", "task"), "Work delivered (baseline hours)."),
    ScratchVar("hours", float, ("engineer", "task"), "Focus hours spent per task type."),
    ScratchVar("escaped", float, ("engineer", "task"), "Defects that escaped review."),
    ScratchVar("verify_hours", float, ("engineer",), "Hours spent verifying generated output."),
    ScratchVar("capacity", float, ("engineer",), "Focus hours available after fatigue."),
    ScratchVar("rework_hours", float, ("engineer",), "Hours spent on rework."),
    ScratchVar("token_hours", float, ("engineer",), "Hours spent on token uses."),
    ScratchVar("touch", float, ("engineer", "task"), "Days one task takes at this week's pace (touch time)."),
    ScratchVar("perceived", float, ("engineer", "task"), "Time saving the engineer believes they got (share of task time)."),
    ScratchVar("peer", float, ("team", "tool_task"), "Team means of habits (while choosing), then of beliefs (while learning)."),
    ScratchVar("reported_gain", float, ("engineer",), "Productivity gain the engineer reports to leadership."),
    ScratchVar("reporting", bool, ("engineer",), "Counted active by telemetry."),
    ScratchVar("honest", bool, ("engineer",), "Reports honestly (the team is safe enough)."),
    ScratchVar("voiced", bool, ("engineer",), "Voiced pushback against the policy."),
    ScratchVar("punished", float, ("engineer",), "Punishment for voiced pushback (index)."),
    ScratchVar("leavers", bool, ("engineer",), "Leaves at the end of this week."),
    ScratchVar("handicap", float, ("one",), "Share of the tools' handicap on known code left this week (rules.context_handicap).", 1.0),
    ScratchVar("retro", float, ("team", "tool_task"), "Per team, the time saving its honest members saw with each tool on each task type (retrospective)."),
    ScratchVar("retro_n", float, ("team", "tool_task"), "Per team, how many honest members' experiences each retrospective figure pools."),
)

#: The week's scratch as a kernel bundle.
WeekScratch = bundles.bundle_type("WeekScratch", [v.name for v in SCRATCH], __name__)


class WeekData:
    """The week's scratch arrays (``SCRATCH``), plus the organisation-level outcomes the model computes from them."""

    def __init__(self, n: int, n_tools: int, n_tasks: int, n_teams: int):
        sizes = {"engineer": n, "tool": n_tools, "task": n_tasks, "team": n_teams, "tool_task": n_tools * n_tasks, "one": 1}
        bundles.allocate(self, SCRATCH, sizes)
        self.cycle_time_task = np.zeros(n_tasks)  # days, per task type
        self.cycle_time = 0.0  # days, the organisation's
        self.escaped_total = 0.0  # defects escaped this week, the organisation's
        self.bundle = bundles.make(WeekScratch, self)
