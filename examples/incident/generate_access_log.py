"""Write access.log: an hour of realistic API traffic as the `before` config logged it.

    python examples/incident/generate_access_log.py > examples/incident/access.log

Deterministic (fixed seed), so the committed log can be regenerated exactly.
"""
from __future__ import annotations

import random
import sys
import uuid
from datetime import datetime, timedelta, timezone

AGENTS = ("okhttp/4.12.0", "python-requests/2.32.3", "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", "curl/8.5.0")


def line(rng: random.Random, when: datetime) -> str:
    roll = rng.random()
    user = rng.randrange(1, 5000)
    if roll < 0.55:
        host, vhost = "api.example.com", "api.example.com"
        path = rng.choice((f"/v1/users/{user}", f"/v1/users/{user}/orders", f"/v1/orders/{uuid.UUID(int=rng.getrandbits(128))}",
                           "/v1/products?page=" + str(rng.randrange(1, 40)), "/health"))
        status, size = (200, rng.randrange(200, 9000)) if rng.random() > 0.01 else (500, 112)
    elif roll < 0.70:
        host, vhost = "api-eu.example.com", "api.example.com"
        path = f"/v1/users/{user}"
        status, size = 200, rng.randrange(200, 3000)
    elif roll < 0.92:
        host, vhost = rng.choice(("www.example.com", "example.com")), "www.example.com"
        path = rng.choice(("/", "/pricing.html", "/assets/app.css", f"/blog/{rng.randrange(1, 90)}.html"))
        status, size = rng.choice(((200, 5120), (404, 196), (200, 880)))
    elif roll < 0.97:
        host, vhost = "www.example.com", "www.example.com"
        path = f"/api/users/{user}"
        status, size = 301, 0
    else:
        host, vhost = rng.choice(("203.0.113.7", "scanner.invalid")), "default.invalid"
        path = rng.choice(("/wp-login.php", "/.env", "/"))
        status, size = 403, 199
    method = "POST" if path.endswith("/orders") and rng.random() < 0.3 else "GET"
    client = f"198.51.100.{rng.randrange(1, 255)}"
    stamp = when.strftime("%d/%b/%Y:%H:%M:%S %z")
    micros = rng.randrange(800, 250000)
    agent = rng.choice(AGENTS)
    return f'{vhost}:80 {client} - - [{stamp}] "{method} {path} HTTP/1.1" {status} {size} {micros} "-" "{agent}" "{host}"'


def main() -> None:
    rng = random.Random(20240121)
    start = datetime(2024, 1, 21, 14, 0, 0, tzinfo=timezone.utc)
    for second in range(3600):
        when = start + timedelta(seconds=second)
        for _ in range(rng.randrange(0, 3)):
            sys.stdout.write(line(rng, when) + "\n")
    # One truncated line, as a crashed writer leaves it: counted as malformed, never fatal.
    sys.stdout.write('api.example.com:80 198.51.100.9 - - [21/Jan/2024:15:00:00 +0000] "GET /v1/us\n')


if __name__ == "__main__":
    main()
