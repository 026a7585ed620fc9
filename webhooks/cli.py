"""Operator commands owned by webhooks: the worker and the outbox."""

from __future__ import annotations

from flask.cli import AppGroup

COMMANDS: list[AppGroup] = []
