"""Property-based API tests (schemathesis over our own OpenAPI document, SQLite and PostgreSQL): whatever
schema-shaped or malformed input arrives, the service answers with a documented status and body,
never a 5xx.

* ``test_api_never_errors`` — every operation on its own, a few generated requests each;
* ``test_api_workflows_never_error`` — stateful (what exists only after earlier calls): our Hypothesis state
  machine posts libraries and jobs, then addresses them by the ids the API answered, schemathesis making and
  checking each request (its own ``as_state_machine()`` uses true randomness, which Hypothesis fails as flaky).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response
from schemathesis.engine.recorder import ScenarioRecorder
from schemathesis.generation.meta import TestPhase
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
#: Stateful runs also check that a resource just created is found by the requests that follow up on it.
STATEFUL_CHECKS = [*CHECKS, ensure_resource_availability]
#: Scenarios (each up to STEPS rules, one or two requests each) of the stateful test, per backend: fewer and
#: longer than 40 x 10 (about as many steps), so that more steps address jobs created earlier in their scenario.
SCENARIOS, STEPS = 30, 13
#: Libraries a scenario posts at most (failed attempts not counted): their ids are reused, and the steps
#: go to jobs (most generated libraries are refused, and the POST /libraries rule would crowd the others).
MAX_LIBRARIES = 2
#: Percentage of the stateful test's requests generated negative (violating the schema), as schemathesis does.
NEGATIVE_PERCENT = 10
#: Operations addressing one resource by an id in the path (probed with unknown ids).
BY_ID = [
    "GET /jobs/{job_id}",
    "POST /jobs/{job_id}/cancel",
    "GET /jobs/{job_id}/metrics",
    "GET /jobs/{job_id}/samples",
    "GET /libraries/{library_id}",
    "GET /molecules/{molecule_id}",
    "GET /molecules/{molecule_id}/image.svg",
    "GET /proxies/{proxy_id}",
]


@pytest.fixture
def api_schema(db_url: str, settings_factory: Callable[..., Settings]) -> Iterator[schemathesis.BaseSchema]:
    """The app's own OpenAPI schema, served in-process (ASGI) on a fresh database of the backend.
    POST /proxies (multipart CSV upload that queues a training job) is covered by tests/app/test_proxies.py."""
    app = create_app(settings_factory(db_url, max_score_smiles=20))
    yield schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path="/proxies", method="POST")
    app.state.pool.shutdown()  # /score with a torch-backed component may have started it
    app.state.db.dispose()


def test_api_never_errors(api_schema: schemathesis.BaseSchema) -> None:
    operations = []
    for result in api_schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operations.append(result.ok())
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
        def check(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(checks=CHECKS)

        check()


def test_api_workflows_never_error(api_schema: schemathesis.BaseSchema, db_url: str) -> None:
    limits: Settings = api_schema.app.state.settings
    max_n, max_page = limits.max_samples_per_request, limits.max_page_size  # the service's, not in the schema
    # the link train_on_library follows from a library to a job, as the schema documents it
    link = api_schema.raw_schema["paths"]["/libraries"]["post"]["responses"]["201"]["links"]["TrainOnLibrary"]
    assert link["operationRef"] == "#/paths/~1jobs/post" and link["requestBody"] == {"library": "$response.body#/id"}
    db = Database(db_url)
    calls: Counter[tuple[str, int]] = Counter()
    followed: Counter[str] = Counter()  # calls naming a job (or library) that an earlier response created

    def requests(label: str, **fixed: Any) -> st.SearchStrategy[Case[Any]]:
        """Schemathesis' requests of the operation ``label`` ("GET /jobs") with the ``fixed`` parts
        (path_parameters, query, headers) as given; NEGATIVE_PERCENT of them violate the schema elsewhere."""
        method, path = label.split(" ", 1)
        operation = api_schema[path][method]
        positive, negative = (
            operation.as_strategy(mode, phase=TestPhase.STATEFUL, **fixed)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        )
        return st.integers(0, 99).flatmap(lambda p: negative if p < NEGATIVE_PERCENT else positive)

    def is_positive(case: Case[Any]) -> bool:
        """Whether the request conforms to the schema (then the test knows its answer)."""
        return case.meta is None or case.meta.generation.mode == GenerationMode.POSITIVE

    def client_key(case: Case[Any]) -> dict[str, str]:
        """The X-API-Key ``case`` was sent with ("" for none): a client addresses what it created with its key."""
        return {"X-API-Key": case.headers.get("X-API-Key", "")}

    class Workflow(RuleBasedStateMachine):
        """Libraries and jobs created through the API, then addressed by the ids it answered.

        Every choice is a Hypothesis draw and every scenario starts alike (a fresh machine; teardown
        removes the scenario's jobs and libraries, so no job quota is used up by earlier scenarios): a
        choice sequence always replays the same requests, answers and rule preconditions."""

        libraries = Bundle("libraries")  # ids answered by POST /libraries (201 stored, 200 already stored)
        jobs = Bundle("jobs")  # ids answered 202 by POST /jobs

        def __init__(self) -> None:
            super().__init__()
            self.recorder = ScenarioRecorder(label="workflow")  # what created what, for ensure_resource_availability
            self.origin: dict[str, Case[Any]] = {}  # library or job id -> the request answered with it
            self.stored: set[str] = set()  # library ids answered by POST /libraries
            self.created: set[str] = set()  # job ids answered 202 by POST /jobs
            self.cancelled: set[str] = set()  # job ids answered 202 by POST /jobs/{id}/cancel

        def send(self, case: Case[Any], about: str | None = None) -> Response:
            """Send ``case`` (naming ``about``, a library or job created earlier), then run the checks."""
            self.recorder.record_case(case=case, parent_id=self.origin[about].id if about is not None else None)
            response = case.call()
            self.recorder.record_response(case_id=case.id, response=response)
            calls[case.operation.label, response.status_code] += 1
            if about is not None:
                followed[case.operation.label] += 1
            # the exchange, in the report of a failing scenario (Hypothesis prints no Case)
            note(f"{case.method} {case.formatted_path} {case!r}\n  -> {response.status_code} {response.text[:2000]}")
            case.validate_response(response, checks=STATEFUL_CHECKS, recorder=self.recorder)
            return response

        def follow(self, data: st.DataObject, label: str, job: str, **fixed: Any) -> tuple[Case[Any], Response]:
            """``label`` on ``job`` (its path parameter unless ``fixed`` says otherwise), sent with the key
            of the client that created the job."""
            fixed.setdefault("path_parameters", {"job_id": job})
            case = data.draw(requests(label, headers=client_key(self.origin[job]), **fixed), label)
            return case, self.send(case, about=job)

        def status(self, job: str) -> str:
            """The status the API last reported for ``job``."""
            return "cancelled" if job in self.cancelled else "queued"

        def acknowledged(self, data: st.DataObject, case: Case[Any], response: Response) -> Any:
            """The job POST /jobs answered 202 for (into ``jobs``); GET /jobs/{id} finds it at once."""
            if response.status_code != 202:
                return multiple()
            job = response.json()["id"]
            assert job not in self.origin and response.json()["status"] == "queued", response.text
            self.origin[job] = case
            self.created.add(job)
            self.get_job(data, job)
            return job

        # --- rules creating libraries and jobs

        def few_libraries(self) -> bool:
            return len(self.stored) < MAX_LIBRARIES

        @precondition(few_libraries)
        @rule(target=libraries, data=st.data())
        def create_library(self, data: st.DataObject) -> Any:
            case = data.draw(requests("POST /libraries"), "POST /libraries")
            response = self.send(case)
            if response.status_code not in (200, 201):
                return multiple()
            library = response.json()["id"]
            self.origin[library] = case
            self.stored.add(library)
            return library

        @rule(target=jobs, data=st.data())
        def create_job(self, data: st.DataObject) -> Any:
            case = data.draw(requests("POST /jobs"), "POST /jobs")
            return self.acknowledged(data, case, self.send(case))

        @rule(target=jobs, data=st.data(), library=libraries)
        def train_on_library(self, data: st.DataObject, library: str) -> Any:
            """The TrainOnLibrary link: a generated job whose ``library`` is the posted library's id."""
            case = data.draw(requests("POST /jobs"), "POST /jobs")
            linked = isinstance(case.body, dict)  # a negative body may be no object at all
            if linked:
                assert isinstance(case.body, dict)
                case.body = {**case.body, "library": library}
            response = self.send(case, about=library if linked else None)
            if linked and response.status_code == 202:
                assert response.json()["library_id"] == library, response.text
            return self.acknowledged(data, case, response)

        # --- rules addressing them by id

        @rule(data=st.data(), library=libraries)
        def get_library(self, data: st.DataObject, library: str) -> None:
            fixed = {"path_parameters": {"library_id": library}, "headers": client_key(self.origin[library])}
            case = data.draw(requests("GET /libraries/{library_id}", **fixed), "GET /libraries/{library_id}")
            response = self.send(case, about=library)
            assert response.status_code == 200 and response.json()["id"] == library, response.text

        @rule(data=st.data(), job=jobs)
        def get_job(self, data: st.DataObject, job: str) -> None:
            _, response = self.follow(data, "GET /jobs/{job_id}", job)
            assert response.status_code == 200, response.text
            assert (response.json()["id"], response.json()["status"]) == (job, self.status(job)), response.text

        @rule(data=st.data(), job=jobs)
        def cancel_job(self, data: st.DataObject, job: str) -> None:
            """A queued job is cancelled at once (202); cancelling it again is a conflict (409)."""
            _, response = self.follow(data, "POST /jobs/{job_id}/cancel", job)
            if job in self.cancelled:
                assert response.status_code == 409, response.text
            else:
                assert response.status_code == 202 and response.json()["status"] == "cancelled", response.text
                self.cancelled.add(job)

        @rule(data=st.data(), job=jobs)
        def job_metrics(self, data: st.DataObject, job: str) -> None:
            _, response = self.follow(data, "GET /jobs/{job_id}/metrics", job)
            assert response.status_code == 200 and response.json()["items"] == [], response.text  # no worker runs

        @rule(data=st.data(), job=jobs, fresh=st.booleans())
        def job_samples(self, data: st.DataObject, job: str, fresh: bool) -> None:
            """fresh=false chooses among the stored molecules: none, as no worker runs. fresh=true samples
            from the newest checkpoint: there is none yet, 409 (for an n within the service's limit, as a
            larger one is refused first)."""
            if fresh:
                query = {"fresh": "true", "n": data.draw(st.integers(1, max_n), "n")}
                case, response = self.follow(data, "GET /jobs/{job_id}/samples", job, query=query)
                if is_positive(case):
                    assert response.status_code == 409 and response.json()["field"] == "fresh", response.text
                return
            case, response = self.follow(data, "GET /jobs/{job_id}/samples", job, query={"fresh": "false"})
            if is_positive(case):
                if int(case.query.get("n", 1)) > max_n:
                    assert response.status_code == 422 and response.json()["field"] == "n", response.text
                else:
                    assert response.status_code == 200 and response.json()["items"] == [], response.text

        @rule(data=st.data(), job=jobs)
        def job_molecules(self, data: st.DataObject, job: str) -> None:
            """GET /molecules?job_id=…: the job's stored molecules, none as no worker runs."""
            case, response = self.follow(data, "GET /molecules", job, path_parameters={}, query={"job_id": job})
            if is_positive(case):
                if int(case.query.get("limit", 1)) > max_page:
                    assert response.status_code == 422 and response.json()["field"] == "limit", response.text
                else:
                    assert response.status_code == 200 and response.json()["items"] == [], response.text

        # --- rules on no particular resource, once the scenario created one

        def created_something(self) -> bool:
            return bool(self.origin)

        @precondition(created_something)
        @rule(data=st.data())
        def list_jobs(self, data: st.DataObject) -> None:
            """A page of the acknowledged jobs with the status asked for, each in its last reported state."""
            case = data.draw(requests("GET /jobs"), "GET /jobs")
            response = self.send(case)
            if not is_positive(case):
                return
            query = case.query or {}
            limit, offset = int(query.get("limit", 50)), int(query.get("offset", 0))
            if limit > max_page:
                assert response.status_code == 422 and response.json()["field"] == "limit", response.text
                return
            assert response.status_code == 200, response.text
            listed = {item["id"]: item["status"] for item in response.json()["items"]}
            matching = {job for job in self.created if query.get("status") in (None, self.status(job))}
            assert set(listed) <= matching and all(self.status(job) == s for job, s in listed.items()), response.text
            assert len(listed) == max(0, min(limit, len(matching) - offset)), (query, response.text)

        @precondition(created_something)
        @rule(data=st.data(), label=st.sampled_from(BY_ID))
        def unknown_id(self, data: st.DataObject, label: str) -> None:
            """Generated ids name nothing (but ``default``, the shipped library): 404, or 422 for another
            invalid parameter."""
            case = data.draw(requests(label), label)
            response = self.send(case)
            if is_positive(case) and case.path_parameters.get("library_id") != "default":
                assert response.status_code in (404, 422), response.text

        @invariant()
        def database_matches_the_api(self) -> None:
            """The database holds exactly the jobs POST /jobs acknowledged: cancelled exactly those the
            cancels acknowledged, the others queued. Checked after every step, so also at the end of each
            scenario (not after a failed step: its own error is the report)."""
            with db.read() as s:
                jobs = {job_id: status for job_id, status in s.execute(select(Job.id, Job.status))}
            assert jobs == {job: self.status(job) for job in self.created}

        def teardown(self) -> None:
            with db.write() as s:
                s.execute(delete(Job))
                s.execute(delete(BlockLibraryRow).where(BlockLibraryRow.source != "builtin"))

    try:
        run_state_machine_as_test(
            Workflow,
            settings=settings(
                max_examples=SCENARIOS,
                stateful_step_count=STEPS,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
                derandomize=True,
                phases=[Phase.generate],  # no shrinking: a failing scenario is short already (<= STEPS steps)
            ),
        )
    finally:
        db.dispose()
    # the machine really chained calls: jobs created, then read, sampled, cancelled… by the ids it got back
    # (by more operations than the GET right after POST /jobs)
    by_job_id = {label for label in followed if "{job_id}" in label or label == "GET /molecules"}
    assert calls["POST /jobs", 202] and len(by_job_id) >= 2, (calls, followed)
