"""The one HTTP client every EMR adapter uses: timeouts, retries with backoff on retryable answers only, a
circuit breaker per connection, and one error type (integrations.errors.EMRError) whose `permanent` flag is
the whole retry policy.

Retryable: no answer (connection refused, timeout), 408, 425, 429 and 5xx. A 429 or 503 with Retry-After waits
that long (capped). Everything else fails at once: a 4xx will not change by asking again. A 401 is the one
exception: the token is dropped and fetched again once (an expired token), then the 401 is permanent.

The breaker counts retryable failures per connection in the cache (Redis: every worker and web process shares
it). After `threshold` in a row it opens for `cooldown_s`: calls fail at once with "circuit open" instead of
each waiting out its timeouts against an EMR that is down. After the cooldown the next call is a trial; a
success closes the circuit, a failure opens it again. Keys name the connection only, never a query.

Nothing here logs a URL's query or a body: EMR queries are PHI (a patient's name and birth date).
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

import requests

from integrations.errors import EMRError

logger = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3  # calls in all, the first one included
    backoff_s: float = 0.5  # before the 2nd call; doubled before each next one
    max_wait_s: float = 4.0  # cap on a backoff or a Retry-After
    connect_timeout_s: float = 3.05
    read_timeout_s: float = 10.0


# A person waits on a search: one retry, short timeouts (a slow EMR shows local results, not a spinner).
INTERACTIVE = RetryPolicy(attempts=2, backoff_s=0.25, max_wait_s=1.0, connect_timeout_s=2.0, read_timeout_s=4.0)
# A task (a sync, a test of the connection from admin) can wait longer.
BACKGROUND = RetryPolicy()


class Cache(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...
    def set(self, key: str, value: Any, timeout: float | None = None) -> None: ...
    def delete(self, key: str) -> None: ...


class CircuitBreaker:
    def __init__(self, key: str, cache: Cache, *, threshold: int = 5, cooldown_s: float = 30.0, clock=time.time):
        self.key = key
        self.cache = cache
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.clock = clock

    @property
    def _failures_key(self) -> str:
        return f"emr:breaker:{self.key}:failures"

    @property
    def _open_key(self) -> str:
        return f"emr:breaker:{self.key}:open-until"

    def check(self) -> None:
        open_until = self.cache.get(self._open_key)
        if open_until is not None and self.clock() < open_until:
            wait = int(open_until - self.clock()) + 1
            raise EMRError(f"The EMR failed {self.threshold} times in a row; IamBilly stopped calling it for "
                           f"{int(self.cooldown_s)} s and tries again in {wait} s.", permanent=False,
                           reason="circuit_open")

    def is_open(self) -> bool:
        open_until = self.cache.get(self._open_key)
        return open_until is not None and self.clock() < open_until

    def succeeded(self) -> None:
        self.cache.delete(self._failures_key)
        self.cache.delete(self._open_key)

    def failed(self) -> None:
        # Not atomic across processes; the worst a race does is open the circuit one failure late.
        failures = int(self.cache.get(self._failures_key, 0)) + 1
        self.cache.set(self._failures_key, failures, timeout=max(self.cooldown_s * 10, 600))
        if failures >= self.threshold:
            self.cache.set(self._open_key, self.clock() + self.cooldown_s, timeout=self.cooldown_s + 5)
            logger.warning("emr circuit %s opened after %d failures", self.key, failures)


class TokenSource(Protocol):
    """Authorization for the calls of one connection (integrations.auth)."""

    def headers(self) -> dict[str, str]: ...
    def invalidate(self) -> None: ...


class NoAuth:
    def headers(self) -> dict[str, str]:
        return {}

    def invalidate(self) -> None:
        pass


@dataclass
class Answer:
    status: int
    body: Any  # the parsed JSON
    headers: dict[str, str]


def _retry_after(value: str | None, cap: float) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:  # an HTTP date (RFC 9110 §10.2.3)
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None  # neither: back off as usual
    return max(0.0, min(seconds, cap))


def _what(path_or_url: str) -> str:
    """What a call is about, for the log: the resource type ("Patient"), never an id or a query."""
    if path_or_url.startswith(("http://", "https://")):
        return "page"
    return path_or_url.split("?", 1)[0].strip("/").split("/", 1)[0] or "call"


def outcome_summary(body: Any) -> str:
    """What an OperationOutcome says, in words a person understands: each issue's code (and the element it is
    about), never its free text (diagnostics and details.text may repeat what was sent: a name, a birth date)."""
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return ""
    words = {
        "not-found": "no such record", "deleted": "the record was deleted", "invalid": "the request is invalid",
        "structure": "the request is not valid FHIR", "required": "a required element is missing",
        "value": "a value is not allowed", "invariant": "a rule of the resource is broken",
        "security": "not allowed", "login": "the credentials are not accepted", "expired": "the token expired",
        "forbidden": "not allowed for this client", "suppressed": "the record is withheld",
        "processing": "the EMR could not process the request", "not-supported": "the EMR does not support this",
        "duplicate": "the record exists already", "multiple-matches": "more than one record matches",
        "conflict": "the record changed meanwhile", "too-costly": "the search is too broad: narrow it",
        "throttled": "too many requests", "exception": "the EMR had an internal error",
        "timeout": "the EMR timed out", "incomplete": "the answer is incomplete", "business-rule": "a rule of the "
        "EMR refused it", "lock-error": "the record is locked", "transient": "a temporary problem at the EMR",
    }
    said = []
    for issue in body.get("issue") or []:
        if not isinstance(issue, dict):
            continue
        code = str(issue.get("code") or "")
        text = words.get(code, code or "a problem")
        where = [e for e in (issue.get("expression") or []) if isinstance(e, str) and len(e) < 80]
        if where:
            text += f" ({', '.join(where[:3])})"
        if text not in said:
            said.append(text)
    return "; ".join(said[:5])


class EMRHttp:
    """Calls of one EMR connection. `key` names the connection in breaker keys (e.g. "conn-7")."""

    def __init__(self, *, base_url: str, key: str, cache: Cache, auth: TokenSource | None = None,
                 policy: RetryPolicy = BACKGROUND, session: requests.Session | None = None, sleep=time.sleep,
                 breaker: CircuitBreaker | None = None, user_agent: str = "IamBilly"):
        self.base_url = base_url.rstrip("/") + "/"
        self.key = key
        self.auth = auth or NoAuth()
        self.policy = policy
        self.session = session or requests.Session()
        self.sleep = sleep
        self.breaker = breaker or CircuitBreaker(key, cache)
        self.user_agent = user_agent

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return self.base_url + path_or_url.lstrip("/")

    def get(self, path_or_url: str, *, params: dict | None = None) -> Answer:
        return self.request("GET", path_or_url, params=params)

    def post(self, path_or_url: str, *, body: dict) -> Answer:
        return self.request("POST", path_or_url, body=body)

    def request(self, method: str, path_or_url: str, *, params: dict | None = None, body: dict | None = None,
                what: str = "") -> Answer:
        url = self.url(path_or_url)
        what = what or _what(path_or_url)
        refreshed = False
        attempt = 0
        last: EMRError | None = None
        while attempt < self.policy.attempts:
            self.breaker.check()
            attempt += 1
            headers = {"Accept": "application/fhir+json", "User-Agent": self.user_agent, **self.auth.headers()}
            data = None
            if body is not None:
                headers["Content-Type"] = "application/fhir+json"
                data = json.dumps(body)
            started = time.perf_counter()
            try:
                response = self.session.request(method, url, params=params, data=data, headers=headers,
                                                timeout=(self.policy.connect_timeout_s, self.policy.read_timeout_s),
                                                allow_redirects=False)
            except requests.Timeout:
                last = EMRError(f"The EMR did not answer within {self.policy.read_timeout_s:g} s.",
                                permanent=False, reason="timeout")
                wait = None
            except requests.ConnectionError:
                last = EMRError("The EMR could not be reached (connection refused or no route).", permanent=False,
                                reason="unreachable")
                wait = None
            else:
                logger.info("emr %s %s %s -> %s in %.0f ms", self.key, method, what, response.status_code,
                            (time.perf_counter() - started) * 1000)
                status = response.status_code
                if status == 401 and not refreshed and not isinstance(self.auth, NoAuth):
                    # An expired or revoked token: fetch a new one once; this call does not count as an attempt.
                    self.auth.invalidate()
                    refreshed = True
                    attempt -= 1
                    continue
                if 200 <= status < 300:
                    self.breaker.succeeded()
                    return Answer(status, self._json(response), dict(response.headers))
                if status not in RETRYABLE_STATUSES:
                    # The EMR answered: it is up, whatever it thinks of this request.
                    self.breaker.succeeded()
                    raise self._refusal(response)
                last = self._refusal(response)
                wait = _retry_after(response.headers.get("Retry-After"), self.policy.max_wait_s)
            self.breaker.failed()
            if attempt < self.policy.attempts:
                backoff = min(self.policy.backoff_s * 2 ** (attempt - 1), self.policy.max_wait_s)
                self.sleep(wait if wait is not None else backoff)
        assert last is not None
        raise last

    @staticmethod
    def _json(response: requests.Response) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise EMRError(f"The EMR answered {response.status_code} with something that is not JSON "
                           f"({(response.headers.get('Content-Type') or 'no content type').split(';')[0]}).",
                           permanent=True, status=response.status_code, reason="malformed") from None

    @staticmethod
    def _refusal(response: requests.Response) -> EMRError:
        status = response.status_code
        try:
            summary = outcome_summary(response.json())
        except ValueError:
            summary = ""
        said = f": {summary}" if summary else ""
        if status == 401:
            return EMRError(f"The EMR refused IamBilly's credentials (401){said}. Check the client id and key or "
                            "secret in the EMR connection.", permanent=True, status=status, reason="auth")
        if status == 403:
            return EMRError(f"The EMR does not allow this for IamBilly's client (403){said}. Check the scopes "
                            "granted to the client.", permanent=True, status=status, reason="auth")
        if status in (404, 410):
            return EMRError(f"The EMR has no such record ({status}){said}.", permanent=True, status=status,
                            reason="not_found")
        if status == 429:
            return EMRError(f"The EMR is throttling IamBilly's calls (429){said}; try again shortly.",
                            permanent=False, status=status, reason="throttled")
        if status >= 500 or status in RETRYABLE_STATUSES:
            return EMRError(f"The EMR had a problem ({status}){said}; try again shortly.", permanent=False,
                            status=status, reason="server")
        if 300 <= status < 400:
            return EMRError(f"The EMR answered with a redirect ({status}): check the base URL of the connection.",
                            permanent=True, status=status, reason="config")
        return EMRError(f"The EMR refused the request ({status}){said}.", permanent=True, status=status,
                        reason="invalid")
