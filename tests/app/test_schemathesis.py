"""Property-based API tests (schemathesis over our own OpenAPI document, SQLite and PostgreSQL): whatever
schema-shaped or malformed input arrives, the service answers with a documented status and body,
never a 5xx.

* ``test_api_never_errors`` — every operation on its own, a few generated requests each;
* ``test_api_workflows_never_error`` — stateful: schemathesis' state machine follows the OpenAPI links
  (inferred from the response schemas, plus the explicit ``TrainOnLibrary`` link of the library
  responses), so it posts libraries and jobs and then reads, lists, samples and cancels them by the
  ids it got back. After each scenario the database holds exactly the jobs the API acknowledged, each
  in the state the API last reported (no worker runs: queued, or cancelled).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ensure_resource_availability,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import delete, select

from app.db.models import BlockLibraryRow, Job
from app.db.session import Database
from app.main import create_app
from app.settings import Settings

pytestmark = pytest.mark.slow

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
#: Stateful runs also check that a resource just created is found by the links that lead to it.
STATEFUL_CHECKS = [*CHECKS, ensure_resource_availability]
#: Scenarios (each a chain of up to STEPS linked calls) of the stateful test, per backend.
SCENARIOS, STEPS = 40, 10


@pytest.fixture
def api_schema(db_url: str, settings_factory: Callable[..., Settings]) -> Iterator[schemathesis.BaseSchema]:
    """The app's own OpenAPI schema, served in-process (ASGI) on a fresh database of the backend.
    POST /proxies (multipart CSV upload that queues a training job) is covered by tests/app/test_proxies.py."""
    app = create_app(settings_factory(db_url, max_score_smiles=20))
    yield schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path="/proxies", method="POST")
    app.state.pool.shutdown()  # /score with a torch-backed component may have started it
    app.state.db.dispose()


def test_api_never_errors(api_schema: schemathesis.BaseSchema) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=CHECKS)

        check()


def test_api_workflows_never_error(api_schema: schemathesis.BaseSchema, db_url: str) -> None:
    machine = api_schema.as_state_machine()
    links = {  # the links the machine follows (inferred, and ours); `_transitions` is not public API
        f"{source} -> {link.target.label}"
        for source, entry in machine._transitions.operations.items()
        for link in entry.outgoing
    }
    assert {
        "POST /jobs -> GET /jobs/{job_id}",
        "POST /jobs -> POST /jobs/{job_id}/cancel",
        "POST /libraries -> POST /jobs",  # the explicit TrainOnLibrary link
        "GET /libraries/{library_id} -> POST /jobs",
    } <= links
    db = Database(db_url)
    calls: Counter[tuple[str, int]] = Counter()
    followed: Counter[str] = Counter()  # calls naming a job (or library) that an earlier response created

    class Workflow(machine):  # type: ignore[misc, valid-type]
        """The generated state machine, with our checks and, after each scenario, the database compared
        with what the API acknowledged; then the scenario's jobs and libraries are removed, so that every
        scenario starts alike (no job quota used up by earlier ones) and a failure replays the same way."""

        def setup(self) -> None:
            self.created: set[str] = set()  # job ids answered 202 by POST /jobs
            self.cancelled: set[str] = set()  # job ids answered 202 by POST /jobs/{id}/cancel
            self.libraries: set[str] = set()  # library ids answered 201 by POST /libraries
            self.failed = False  # a step failed: its own error is the report, not the database check

        def step(self, input: Any) -> Any:
            try:
                return super().step(input)
            except BaseException:
                self.failed = True
                raise

        def validate_response(
            self, response: Response, case: schemathesis.Case, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            label = case.operation.label
            calls[label, response.status_code] += 1
            job_id = (case.path_parameters or {}).get("job_id") or (case.query or {}).get("job_id")
            if job_id in self.created:
                followed[label] += 1
            if label == "POST /jobs" and isinstance(case.body, dict) and case.body.get("library") in self.libraries:
                followed[label] += 1
            if label == "POST /jobs" and response.status_code == 202:
                self.created.add(response.json()["id"])
            elif label == "POST /jobs/{job_id}/cancel" and response.status_code == 202:
                self.cancelled.add(response.json()["id"])
            elif label == "POST /libraries" and response.status_code == 201:
                self.libraries.add(response.json()["id"])
            case.validate_response(
                response, checks=STATEFUL_CHECKS, transport_kwargs=kwargs or None, recorder=self.recorder
            )

        def teardown(self) -> None:
            try:
                if not self.failed:
                    with db.read() as s:
                        jobs = {job_id: status for job_id, status in s.execute(select(Job.id, Job.status))}
                    assert set(jobs) == self.created, "the database holds exactly the jobs POST /jobs acknowledged"
                    assert {i for i, status in jobs.items() if status == "cancelled"} == self.cancelled
                    assert {status for i, status in jobs.items() if i not in self.cancelled} <= {"queued"}
            finally:
                with db.write() as s:
                    s.execute(delete(Job))
                    s.execute(delete(BlockLibraryRow).where(BlockLibraryRow.source != "builtin"))
                super().teardown()

    try:
        Workflow.run(
            settings=settings(
                max_examples=SCENARIOS,
                stateful_step_count=STEPS,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
                derandomize=True,
                phases=[Phase.generate],  # no shrinking: a failing scenario is short already (<= STEPS calls)
            )
        )
    finally:
        db.dispose()
    # the machine really chained calls: jobs created, then read, sampled, cancelled… by the ids it got back
    assert calls["POST /jobs", 202] and sum(followed.values()), (calls, followed)
