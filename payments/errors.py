"""Domain errors. Each has a stable code (the problem `type`) and an HTTP status."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class DomainError(Exception):
    code = "error"
    status = 400
    title = "Request refused"

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class ValidationFailed(DomainError):
    code = "validation-error"
    status = 422
    title = "The request is not valid"


class NotFound(DomainError):
    code = "not-found"
    status = 404
    title = "Not found"


class Forbidden(DomainError):
    code = "forbidden"
    status = 403
    title = "Not allowed"


class Unauthorized(DomainError):
    code = "unauthorized"
    status = 401
    title = "Missing or invalid API key"


class Conflict(DomainError):
    code = "conflict"
    status = 409
    title = "Conflict"


class IdempotencyConflict(Conflict):
    code = "idempotency-conflict"
    title = "Idempotency-Key reused with another request"


class IdempotencyInFlight(Conflict):
    code = "idempotency-in-flight"
    title = "A request with this Idempotency-Key is still in progress"


class InvalidState(Conflict):
    code = "invalid-state"
    title = "Not possible in the payment's current state"


class ProviderNotAvailable(DomainError):
    code = "provider-not-available"
    status = 422
    title = "Provider not available"


class ProviderDown(DomainError):
    code = "provider-unavailable"
    status = 503
    title = "The provider cannot be reached; try again"


class ProviderRefused(DomainError):
    code = "provider-refused"
    status = 502
    title = "The provider refused the request"
