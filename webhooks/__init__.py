"""Provider callbacks in (thin) and notifications out. Imports payments, never the reverse."""
