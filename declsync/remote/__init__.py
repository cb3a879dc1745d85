"""Remote: the HTTP session to the API (transport with deadlines, retries, throttle, answer checks, auth, target)."""
