"""A programme simulator for coordinators (`passnum simulate`).

From a programme (`SimProgramme`: cheque value, booklet size, grace, period, stock,
funders and the funding rule) and take-up assumptions (`Assumptions`), `simulate` runs
many seeded trials applying the domain's own rules: the millésime a booklet takes
(domain.millesimes), cheque validity, grace and expiry (domain.validity), stall deadlines
and orientation expiry (domain.policy.JourneyPolicy), and the funders' split of every
cheque (domain.ledger.FundingRule). `draw_plan` draws one concrete person's plan from the
same assumptions, to drive real journeys.

`model`, `engine` and `plans` do no I/O (numpy vectorises the trials); `command` and
`report` read the files and write the text, PNG charts and HTML page.
"""

from simulation.engine import SimulationResult, simulate, simulate_plans
from simulation.model import (
    Assumptions,
    AssumptionsError,
    Funder,
    SimProgramme,
    programme_from_seed,
)
from simulation.plans import PersonPlan, draw_plan, draw_plans

__all__ = [
    "Assumptions",
    "AssumptionsError",
    "Funder",
    "PersonPlan",
    "SimProgramme",
    "SimulationResult",
    "draw_plan",
    "draw_plans",
    "programme_from_seed",
    "simulate",
    "simulate_plans",
]
