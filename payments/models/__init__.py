"""The nouns of DESIGN.md, one module per family. Import from here."""

from payments.models.audit import PaymentEvent, ProviderCallback
from payments.models.audit_entry import AuditEntry
from payments.models.catalog import Agency, FeeItem, Procedure
from payments.models.client import Client, ClientAgency, IdempotencyKey
from payments.models.merchant_account import MerchantAccount
from payments.models.outbox import Outbox, OutboxDelivery
from payments.models.payment import Attempt, Payment, PaymentFeeItem, Refund
from payments.models.rating import Rating
from payments.models.receipt import Receipt
from payments.models.reconciliation import Reconciliation, ReconciliationItem
from payments.models.sandbox import SandboxRefund, SandboxTransaction
from payments.models.targets import Target
from payments.models.user import SignInAttempt, StaffUser, StaffUserAgency

__all__ = [
    "Agency",
    "AuditEntry",
    "Attempt",
    "Client",
    "ClientAgency",
    "FeeItem",
    "IdempotencyKey",
    "MerchantAccount",
    "Outbox",
    "OutboxDelivery",
    "Payment",
    "PaymentEvent",
    "PaymentFeeItem",
    "Procedure",
    "ProviderCallback",
    "Rating",
    "Receipt",
    "Reconciliation",
    "ReconciliationItem",
    "Refund",
    "SandboxRefund",
    "SandboxTransaction",
    "SignInAttempt",
    "StaffUser",
    "StaffUserAgency",
    "Target",
]
