"""Schemathesis over every endpoint of /openapi.json: no 5xx, every response valid against
its schema, for generated and hostile requests alike."""

from __future__ import annotations

import itertools

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks

from tests.api.server import Server

EXAMPLES = 6  # per operation and mode (valid, hostile): the whole run stays well under a minute
# What the contract promises: no 5xx, and every status, content type, header and body as
# documented. Not "positive_data_acceptance": a request can match the schema and still be
# refused by the same rules as the CLI's (an unknown instrument, an end before the start).
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


@pytest.mark.postgres
def test_every_endpoint_keeps_its_contract(pg_server: Server) -> None:
    # Each operation in turn (schemathesis' pytest plugin does not load on this pytest).
    schema = schemathesis.openapi.from_url(f"{pg_server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15

    for operation, mode in itertools.product(operations, GenerationMode):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def keeps_contract(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=CHECKS, timeout=30)

        try:
            keeps_contract()
        except Unsatisfiable:  # nothing to break in an operation without inputs
            assert mode is GenerationMode.NEGATIVE, operation.label
