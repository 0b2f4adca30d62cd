"""Schemathesis over every JSON API operation, against the real app over HTTP.

The API must never answer 5xx, whatever it is sent, and every answer must be one its
OpenAPI document declares (status, content type, body schema); refusals speak French.
For every operation and every role (social worker, mediator, coordinator, administrator,
each with its personal API token, plus an anonymous caller) Hypothesis draws requests
that fit the schema and requests that do not (those must be refused with a 4xx). A third
round sends schema-fitting requests made plausible: on a real journey (a fresh one per
operation, in training with the demo mediator) and with the caller's own structure ids,
so that bodies get past authorisation into the workflow's validators.

Bounded: a fixed number of examples per operation, role and round, derandomised (the
same requests every run), no shrinking (a failing request is reported as it was sent,
with its curl command). The run happens in a worker thread: the API under test is
served by the test's event loop, which also creates the journeys the thread asks for.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fixtures.api import Person, Stack, refer_over_api, train_over_api
from tests.test_api_journey_http import CONSENT, qualified_and_not

ROLES = ("sw", "med", "coord_all", "admin")
# Who makes each kind of request (first match in the path; coordinators otherwise).
ROLE_BY_PATH = (
    ("/referrals", "sw"),
    ("/assessments", "sw"),
    ("/booklet/unlock", "coord_all"),
    ("/booklet", "sw"),
    ("/orientation/answer", "med"),
    ("/orientation", "sw"),
    ("/sessions", "med"),
    ("/cheques", "med"),
    ("/accounts", "admin"),
    ("/tokens", "admin"),
    ("/programmes", "admin"),
    ("/booklet-stock", "coord_all"),
    ("/reports", "coord_all"),
)
EXAMPLES = 8  # per operation, role and round
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Words of the framework's and pydantic's English messages ("Field required", "Input should
# be a valid integer", "There was an error parsing the body", "Method Not Allowed"...).
ENGLISH = re.compile(
    r"\b(the|should|field|required|invalid|error|input|value|not found|allowed|expected)\b",
    re.IGNORECASE,
)


@dataclass
class Run:
    base_url: str
    people: dict[str, Person]
    mediation_structure_id: int  # the demo mediator's structure (qualified)
    new_journey: Callable[[], str]  # a fresh journey in training (made on the test's loop)
    failures: list[str] = field(default_factory=list)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)

    @property
    def requests_sent(self) -> int:
        return sum(self.statuses.values())


@dataclass(frozen=True)
class Round:
    name: str
    mode: GenerationMode
    examples: int = EXAMPLES
    plausible: bool = False  # real journey, the caller's own structure ids


POSITIVE = Round("positive", GenerationMode.POSITIVE)
NEGATIVE = Round("negative", GenerationMode.NEGATIVE)
PLAUSIBLE = Round("plausible", GenerationMode.POSITIVE, plausible=True)
ANONYMOUS = Round("anonymous", GenerationMode.POSITIVE, examples=2)


def _settings(examples: int) -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: bounded, and the first
        suppress_health_check=list(HealthCheck),  # failing request is the one reported
        print_blob=False,
    )


def _french(response: schemathesis.Response) -> None:
    """A refusal's messages (and each field's) are French."""
    kind = " ".join(response.headers.get("content-type", []))  # lower-case keys, list values
    if response.status_code < 400 or "json" not in kind:
        return
    error = response.json().get("error", {})
    messages = [error.get("message", "")]
    if isinstance(error.get("details"), list):
        messages += [
            d["message"] for d in error["details"] if isinstance(d, dict) and "message" in d
        ]
    english = [m for m in messages if ENGLISH.search(str(m))]
    assert not english, f"messages in English: {english}"


def _in_scope(case: Case, run: Run, person: Person) -> None:
    """Name the caller's own structures in the body, so that it passes authorisation."""
    if not isinstance(case.body, dict):
        return
    if "reception_structure_id" in case.body and person.reception_structure_id:
        case.body["reception_structure_id"] = person.reception_structure_id
    if "mediation_structure_id" in case.body:
        case.body["mediation_structure_id"] = run.mediation_structure_id


def _exercise(
    run: Run,
    http: requests.Session,
    operation: APIOperation,
    who: str | None,
    round_: Round,
) -> None:
    person = run.people[who] if who else None
    headers = {"Authorization": f"Bearer {person.token}"} if person else {}
    label = f"{operation.label} as {who or 'anonymous'} ({round_.name})"
    checks = [*CHECKS, negative_data_rejection] if round_ is NEGATIVE else CHECKS
    path_parameters = None
    if round_.plausible and "{journey_id}" in operation.path:
        path_parameters = {"journey_id": run.new_journey()}
    strategy = operation.as_strategy(generation_mode=round_.mode, path_parameters=path_parameters)

    @_settings(round_.examples)
    @given(case=strategy)
    def test(case: Case) -> None:
        if round_.plausible and person is not None:
            _in_scope(case, run, person)
        response = case.call(base_url=run.base_url, session=http, headers=headers, timeout=30)
        run.statuses[operation.label, response.status_code] += 1
        try:
            case.validate_response(response, checks=checks, headers=headers)
            _french(response)
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis: a FailureGroup
            run.failures.append(
                f"{label}: {response.status_code} {response.text[:300]}\n"
                f"  {case.as_curl_command(headers=headers)}\n  {_summary(exc)}"
            )
            raise

    try:
        test()
    except hypothesis.errors.Unsatisfiable:
        # Negative data for an operation with nothing to get wrong (no parameter, no body).
        assert round_ is NEGATIVE, label
    except (Exception, BaseExceptionGroup):  # recorded above: stop at the first failure
        pass


def _summary(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_summary(e) for e in exc.exceptions)
    text = str(exc)
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def _boundaries(run: Run, http: requests.Session, schema: Any, operation: APIOperation) -> None:
    """Schemathesis's coverage cases: each bound exactly at and just past its limit (the
    largest id, one more), each enum value, each required field missing... as the role
    that makes this kind of request, deterministic."""
    who = next((w for prefix, w in ROLE_BY_PATH if prefix in operation.path), "coord_all")
    headers = {"Authorization": f"Bearer {run.people[who].token}"}
    config = schema.config.generation_for(operation=operation, phase="coverage")
    cases = schema.iter_coverage_cases(
        operation,
        generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        generation_config=config,
    )
    for case in cases:
        response = case.call(base_url=run.base_url, session=http, headers=headers, timeout=30)
        run.statuses[operation.label, response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
            _french(response)
        except (Exception, BaseExceptionGroup) as exc:
            run.failures.append(
                f"{operation.label} as {who} (boundaries): {response.status_code} "
                f"{response.text[:300]}\n  {case.as_curl_command(headers=headers)}\n"
                f"  {_summary(exc)}"
            )
            return  # the first failure of an operation is enough


def fuzz(run: Run) -> None:
    """Every operation, every role, every round (runs in a worker thread)."""
    schema = schemathesis.openapi.from_url(f"{run.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 20, [op.label for op in operations]
    with requests.Session() as http:
        for operation in operations:
            details = operation.definition.raw
            plausible = "{journey_id}" in operation.path or "requestBody" in details
            for who in ROLES:
                for round_ in (POSITIVE, NEGATIVE, *([PLAUSIBLE] if plausible else [])):
                    _exercise(run, http, operation, who, round_)
            _exercise(run, http, operation, None, ANONYMOUS)
            _boundaries(run, http, schema, operation)


async def in_training(stack: Stack, mediator: int) -> str:
    """A new journey of a new person (no possible duplicate), in training with `mediator`."""
    person = {"first_name": "Aimée", "last_name": f"Essai-{uuid.uuid4().hex[:12]}"}
    journey = await refer_over_api(stack, person, CONSENT)
    assessment = {"tool": "ABC_DIAG", "autonomy": "BEGINNER", "needs": ["EMAIL"]}
    answers = await train_over_api(stack, journey, mediator, assessment)
    assert answers[-1]["stage"] == "IN_TRAINING"
    return journey


async def test_no_server_error_and_every_answer_declared(api_stack) -> None:  # type: ignore[no-untyped-def]
    stack = api_stack
    mediator, _ = await qualified_and_not(stack)
    loop = asyncio.get_running_loop()

    def new_journey() -> str:
        return asyncio.run_coroutine_threadsafe(in_training(stack, mediator), loop).result(60)

    run = Run(
        base_url=stack.base_url,
        people={who: stack.people[who] for who in ROLES},
        mediation_structure_id=mediator,
        new_journey=new_journey,
    )
    started = time.monotonic()
    await asyncio.to_thread(fuzz, run)
    elapsed = time.monotonic() - started
    print(
        f"\nschemathesis {schemathesis.SCHEMATHESIS_VERSION}: {run.requests_sent} requests in {elapsed:.1f} s"
    )
    for label in sorted({label for label, _ in run.statuses}):
        counts = {code: n for (op, code), n in sorted(run.statuses.items()) if op == label}
        print(f"  {label}: {counts}")
    assert not run.failures, "\n\n".join(run.failures)
    # The requests got past validation and authorisation into the app, not only refusals.
    succeeded = {op for (op, code), n in run.statuses.items() if code < 300}
    for expected in (
        "POST /api/v1/referrals",
        "GET /api/v1/journeys",
        "GET /api/v1/journeys/{journey_id}",
        "POST /api/v1/journeys/{journey_id}/nudge",
        "GET /api/v1/structures",
    ):
        assert expected in succeeded, (expected, sorted(succeeded))
