import hashlib
import hmac
import time


def verify_feegate_signature(secret, body, header, tolerance=300, now=None):
    """True when `header` (the Feegate-Signature value) signs `body` with `secret`.

    secret: your client's webhook_secret (str); body: the raw request body (bytes),
    exactly as received, before any JSON parsing; tolerance: seconds of clock skew and
    delay accepted, against replays.
    """
    timestamp, candidates = None, []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    signed = str(timestamp).encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected.encode(), c.encode()) for c in candidates)
