"""Schemathesis over the live server's OpenAPI spec: whatever it sends, the answer is never a 5xx and every error
carries a message. (The operations are driven by hand with Hypothesis: schemathesis' pytest fixture loader does not
work with this pytest.)"""
from __future__ import annotations

import schemathesis
from schemathesis import GenerationMode
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from tests.ecard.conftest import start_server


def test_no_server_errors_on_any_operation(tmp_path):
    srv = start_server(tmp_path, n_holders=5)
    try:
        schema = schemathesis.openapi.from_url(srv.url + "/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 12
        seen: dict[str, set[int]] = {}

        for op, mode in [(op, mode) for op in operations for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]:
            label = f"{op.method.upper()} {op.path}"

            @given(case=op.as_strategy(generation_mode=mode))
            @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def run(case):
                terminal = {"X-Terminal-Key": srv.terminal_key} if "X-Terminal-Key" not in (case.headers or {}) \
                    and op.path in ("/v1/activation-codes", "/v1/cards/loss", "/v1/codes/resolve") else {}
                response = case.call(base_url=srv.url, headers=terminal)
                seen.setdefault(label, set()).add(response.status_code)
                assert response.status_code < 500, (label, response.status_code, response.text[:300])
                if response.status_code >= 400:
                    assert isinstance(response.json().get("detail"), str), (label, response.text[:300])

            try:
                run()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # e.g. a GET with no parameters has no invalid form
        assert set(seen) == {f"{op.method.upper()} {op.path}" for op in operations}
        assert any(len(codes) > 1 for codes in seen.values())
    finally:
        srv.stop()
