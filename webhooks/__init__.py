"""Inbound provider callbacks (thin) and outbound notifications. Imports payments, never the reverse."""
