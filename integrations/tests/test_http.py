"""The EMR HTTP client against a scripted loopback server: retries on retryable answers only, Retry-After,
timeouts, the circuit breaker (in the real Redis cache), OperationOutcome messages without PHI, token refresh."""

from __future__ import annotations

import uuid

import pytest
import requests
from django.core.cache import cache

from integrations.errors import EMRError
from integrations.http import CircuitBreaker, EMRHttp, RetryPolicy, outcome_summary
from integrations.tests.fault_server import Answer, FaultServer

FAST = RetryPolicy(attempts=3, backoff_s=0.5, max_wait_s=4.0, connect_timeout_s=1.0, read_timeout_s=0.5)
PATIENT = {"resourceType": "Patient", "id": "p1"}


@pytest.fixture
def server():
    with FaultServer() as running:
        yield running


def client(server, *, policy=FAST, auth=None, breaker=None, key=None):
    waits: list[float] = []
    http = EMRHttp(base_url=server.url("/fhir"), key=key or f"test-{uuid.uuid4().hex[:8]}", cache=cache, auth=auth,
                   policy=policy, sleep=waits.append, breaker=breaker)
    return http, waits


def test_it_retries_a_5xx_with_backoff_and_returns_the_answer(server):
    server.plan("/fhir/Patient/p1", Answer(503), Answer(502), Answer(200, PATIENT))
    http, waits = client(server)
    assert http.get("Patient/p1").body == PATIENT
    assert server.hits("/fhir/Patient/p1") == 3
    assert waits == [0.5, 1.0]  # doubled, under the cap


def test_a_429_waits_what_retry_after_says_capped(server):
    server.plan("/fhir/Patient/p1", Answer(429, headers={"Retry-After": "2"}),
                Answer(429, headers={"Retry-After": "120"}), Answer(200, PATIENT))
    http, waits = client(server)
    assert http.get("Patient/p1").status == 200
    assert waits == [2.0, 4.0]


def test_a_retry_after_that_is_neither_seconds_nor_a_date_backs_off_as_usual(server):
    server.plan("/fhir/Patient/p1", Answer(503, headers={"Retry-After": "soon"}), Answer(200, PATIENT))
    http, waits = client(server)
    assert http.get("Patient/p1").status == 200
    assert waits == [0.5]


def test_retries_end_in_a_retryable_error_saying_what_the_emr_answered(server):
    server.standing["/fhir/Patient/p1"] = Answer(500, {"resourceType": "OperationOutcome",
                                                        "issue": [{"severity": "error", "code": "exception"}]})
    http, _ = client(server)
    with pytest.raises(EMRError) as caught:
        http.get("Patient/p1")
    assert (caught.value.permanent, caught.value.status, caught.value.reason) == (False, 500, "server")
    assert "the EMR had an internal error" in caught.value.message
    assert server.hits("/fhir/Patient/p1") == 3


@pytest.mark.parametrize(("status", "reason"), [(404, "not_found"), (400, "invalid"), (403, "auth"),
                                                (422, "invalid")])
def test_a_4xx_is_permanent_and_not_retried(server, status, reason):
    server.standing["/fhir/Patient/p1"] = Answer(status, {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "required", "expression": ["Patient.name"],
         "diagnostics": "Patient ALVAREZ, MARIA born 1961-04-09 has no name"}]})
    http, waits = client(server)
    with pytest.raises(EMRError) as caught:
        http.get("Patient/p1")
    assert (caught.value.permanent, caught.value.status, caught.value.reason) == (True, status, reason)
    assert server.hits("/fhir/Patient/p1") == 1 and waits == []
    # What the OperationOutcome says, in words; never its free text (which here repeats a name and a birth date).
    assert "a required element is missing (Patient.name)" in caught.value.message
    assert "ALVAREZ" not in caught.value.message and "1961" not in caught.value.message


def test_a_slow_emr_times_out_as_retryable(server):
    server.standing["/fhir/Patient/p1"] = Answer(200, PATIENT, delay_s=1.5)
    http, _ = client(server, policy=RetryPolicy(attempts=2, backoff_s=0.1, connect_timeout_s=1.0,
                                                read_timeout_s=0.3))
    with pytest.raises(EMRError) as caught:
        http.get("Patient/p1")
    assert (caught.value.permanent, caught.value.reason) == (False, "timeout")
    assert server.hits("/fhir/Patient/p1") == 2


def test_an_unreachable_emr_is_retryable():
    http = EMRHttp(base_url="http://127.0.0.1:9/fhir", key=f"test-{uuid.uuid4().hex[:8]}", cache=cache,
                   policy=RetryPolicy(attempts=2, backoff_s=0.0), sleep=lambda s: None)
    with pytest.raises(EMRError) as caught:
        http.get("metadata")
    assert (caught.value.permanent, caught.value.reason) == (False, "unreachable")


def test_an_answer_that_is_not_json_is_permanent_and_malformed(server):
    server.standing["/fhir/Patient/p1"] = Answer(200, "<html>Login page</html>")
    http, _ = client(server)
    with pytest.raises(EMRError) as caught:
        http.get("Patient/p1")
    assert (caught.value.permanent, caught.value.reason) == (True, "malformed")
    assert "text/html" in caught.value.message


def test_the_breaker_opens_after_repeated_failures_and_closes_after_a_good_trial(server):
    now = [1000.0]
    key = f"test-{uuid.uuid4().hex[:8]}"
    breaker = CircuitBreaker(key, cache, threshold=3, cooldown_s=30, clock=lambda: now[0])
    server.standing["/fhir/metadata"] = Answer(503)
    http, _ = client(server, policy=RetryPolicy(attempts=1), breaker=breaker, key=key)
    for _ in range(3):
        with pytest.raises(EMRError):
            http.get("metadata")
    assert breaker.is_open()
    with pytest.raises(EMRError) as caught:
        http.get("metadata")
    assert caught.value.reason == "circuit_open" and not caught.value.permanent
    assert server.hits("/fhir/metadata") == 3  # the open circuit did not call the EMR
    # The breaker's state is in Redis, under a key that names the connection only.
    assert cache.get(f"emr:breaker:{key}:failures") == 3

    now[0] += 31  # after the cooldown: one trial call goes through
    server.standing["/fhir/metadata"] = Answer(200, {"resourceType": "CapabilityStatement"})
    assert http.get("metadata").status == 200
    assert not breaker.is_open() and cache.get(f"emr:breaker:{key}:failures") is None


def test_a_failed_trial_opens_the_circuit_again(server):
    now = [1000.0]
    key = f"test-{uuid.uuid4().hex[:8]}"
    breaker = CircuitBreaker(key, cache, threshold=2, cooldown_s=30, clock=lambda: now[0])
    server.standing["/fhir/metadata"] = Answer(500)
    http, _ = client(server, policy=RetryPolicy(attempts=1), breaker=breaker, key=key)
    for _ in range(2):
        with pytest.raises(EMRError):
            http.get("metadata")
    now[0] += 31
    with pytest.raises(EMRError) as trial:
        http.get("metadata")
    assert trial.value.reason == "server"
    assert breaker.is_open()


def test_a_4xx_does_not_count_against_the_breaker(server):
    key = f"test-{uuid.uuid4().hex[:8]}"
    breaker = CircuitBreaker(key, cache, threshold=2)
    server.standing["/fhir/Patient/x"] = Answer(404)
    http, _ = client(server, breaker=breaker, key=key)
    for _ in range(4):
        with pytest.raises(EMRError):
            http.get("Patient/x")
    assert not breaker.is_open()


class CountingToken:
    def __init__(self):
        self.issued = 0
        self.invalidated = 0

    def headers(self):
        self.issued += 1
        return {"Authorization": f"Bearer token-{self.issued}"}

    def invalidate(self):
        self.invalidated += 1


def test_a_401_fetches_a_new_token_once_then_succeeds(server):
    server.plan("/fhir/Patient/p1", Answer(401), Answer(200, PATIENT))
    auth = CountingToken()
    http, waits = client(server, auth=auth)
    assert http.get("Patient/p1").body == PATIENT
    assert auth.invalidated == 1 and waits == []
    assert [r.headers["authorization"] for r in server.requests] == ["Bearer token-1", "Bearer token-2"]


def test_a_second_401_is_a_permanent_credentials_error(server):
    server.standing["/fhir/Patient/p1"] = Answer(401)
    auth = CountingToken()
    http, _ = client(server, auth=auth)
    with pytest.raises(EMRError) as caught:
        http.get("Patient/p1")
    assert (caught.value.permanent, caught.value.reason, caught.value.status) == (True, "auth", 401)
    assert "credentials" in caught.value.message
    assert auth.invalidated == 1 and server.hits("/fhir/Patient/p1") == 2


def test_the_summary_of_an_outcome_names_codes_and_paths_only():
    outcome = {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "too-costly", "details": {"text": "Search for SMITH too broad"}},
        {"severity": "error", "code": "value", "expression": ["Patient.birthDate"], "diagnostics": "1961-04-09"}]}
    assert outcome_summary(outcome) == ("the search is too broad: narrow it; a value is not allowed "
                                        "(Patient.birthDate)")
    assert outcome_summary({"resourceType": "Patient"}) == ""


def test_redirects_are_not_followed(server):
    server.standing["/fhir/metadata"] = Answer(302, headers={"Location": "https://login.example.org/"})
    http, _ = client(server)
    with pytest.raises(EMRError) as caught:
        http.get("metadata")
    assert (caught.value.reason, caught.value.permanent) == ("config", True)
    assert isinstance(http.session, requests.Session)
