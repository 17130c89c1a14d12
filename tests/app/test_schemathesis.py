"""Property-based API test (schemathesis over our own OpenAPI document, SQLite backend): whatever
schema-shaped or malformed input arrives, the service answers with a documented status and body,
never a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.db.migrate import upgrade
from app.main import create_app
from app.settings import get_settings

pytestmark = pytest.mark.slow


@pytest.fixture
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> schemathesis.BaseSchema:
    tmp = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{tmp / 'fuzz.db'}"
    upgrade(url)
    app: FastAPI = create_app(get_settings(database_url=url, data_dir=tmp / "data", max_score_smiles=20))
    return schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path="/proxies", method="POST")


def test_api_never_errors(api_schema: schemathesis.BaseSchema) -> None:
    from schemathesis.checks import not_a_server_error

    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
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
            case.call_and_validate(checks=checks)

        check()
