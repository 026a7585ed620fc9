"""Use cases. Each takes the Gateway and a Session; callers own the transaction."""
