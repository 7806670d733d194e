"""Driving a served OpenAPI document with Schemathesis, shared by the APIs' conformance tests: every
documented operation gets generated requests (valid ones, then invalid ones), half of them with path
ids pinned to real rows, and each response is held to the given checks. Hypothesis is derandomized
and bounded per operation, so a run is reproducible and short."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import CheckFunction
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation, BaseSchema

Operation = APIOperation[Any, Any, Any, Any]
# Every check that holds a response to its document, and one that holds the server to the document's
# strictness (a request the document forbids must not succeed).
STRICT_CHECKS: list[CheckFunction] = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.negative_data_rejection,
]
AnyCase = Case[Any]
# Per operation and generation mode.
MAX_EXAMPLES = 50
AUTH_EXAMPLES = 8
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
    report_multiple_bugs=False,
)


def operations(schema: BaseSchema) -> list[Operation]:
    """Every documented operation, deletes last (so the others still find the seeded rows)."""
    found = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"operation the document cannot describe: {result}"
        found.append(result.ok())
    return sorted(found, key=lambda operation: operation.method.upper() == "DELETE")


def cases(
    operation: Operation, mode: GenerationMode, headers: dict[str, str], seeded: dict[str, list[str]]
) -> st.SearchStrategy[AnyCase]:
    """Generated cases, and as many again whose path ids are real rows of the company."""
    strategy = operation.as_strategy(generation_mode=mode, headers=headers)
    names = [p.name for p in operation.path_parameters]
    if not names or mode is GenerationMode.NEGATIVE:
        return strategy
    pinned = st.fixed_dictionaries({name: st.sampled_from(seeded[name]) for name in names}).flatmap(
        lambda ids: operation.as_strategy(generation_mode=mode, headers=headers, path_parameters=ids)
    )
    return st.one_of(strategy, pinned)


def run(
    operation: Operation,
    generated: st.SearchStrategy[AnyCase],
    server: str,
    max_examples: int,
    checks: list[CheckFunction],
) -> str | None:
    """Drive one operation; the first failure's report (after shrinking), or None."""
    seen: dict[int, int] = {}

    @settings(FUZZ, max_examples=max_examples)
    @given(case=generated)
    def drive(case: AnyCase) -> None:
        response = case.call(base_url=server, timeout=10)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        case.validate_response(response, checks=checks, transport_kwargs={"base_url": server})

    try:
        drive()
    except (schemathesis.errors.FailureGroup, Exception) as error:  # the failed checks, with a curl line
        return f"{operation.label}: {error}"
    assert seen, f"{operation.label}: no request was sent"
    return None


def each_operation(schema: BaseSchema, drive: Callable[[Operation], str | None]) -> Iterator[str]:
    for operation in operations(schema):
        problem = drive(operation)
        if problem:
            yield problem


def conforms(
    schema: BaseSchema, server: str, headers: dict[str, str], seeded: dict[str, list[str]], checks: list[CheckFunction]
) -> list[str]:
    """Valid then invalid generated requests with this key, for every operation: the problems."""

    def drive(operation: Operation) -> str | None:
        problems = [
            run(operation, cases(operation, mode, headers, seeded), server, MAX_EXAMPLES, checks)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        ]
        return "\n".join(p for p in problems if p) or None

    return list(each_operation(schema, drive))


def auth_headers(read_token: str) -> list[dict[str, Any]]:
    """No key, an unknown key, another scheme, a read key."""
    return [
        {},
        {"Authorization": "Bearer cst_not-a-key"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": f"Bearer {read_token}"},
    ]


def auth_conforms(
    schema: BaseSchema,
    server: str,
    tokens: list[dict[str, Any]],
    seeded: dict[str, list[str]],
    checks: list[CheckFunction],
) -> list[str]:
    """Valid generated requests sent with each of these headers (see `auth_headers`): 401, 403, or
    a read's answer, as documented. The problems."""

    def drive(operation: Operation) -> str | None:
        generated = st.sampled_from(tokens).flatmap(
            lambda headers: cases(operation, GenerationMode.POSITIVE, headers, seeded)
        )
        return run(operation, generated, server, AUTH_EXAMPLES * len(tokens), checks)

    return list(each_operation(schema, drive))
