"""Schemathesis hooks for Keel: every request runs as a freshly registered user who is an admin.

Fuzzing `POST /api/user/logout` and password changes ends the caller's sessions, so a token
cannot be fixed for the run: the provider checks its token at most once a second and, once it
stops working, registers a new user (made an admin with `keel-local admin grant`, so the
catalog's admin routes are exercised too). While the token works the user stays the same, so
what a request creates is still its caller's when the next one reads it.
"""

import os
import subprocess
import uuid

import requests
import schemathesis

BASE = os.environ["KEEL_FUZZ_URL"]
# `keel-local admin grant` with its --data-dir/--table, as one shell-quoted command prefix.
ADMIN = os.environ.get("KEEL_FUZZ_ADMIN", "")


@schemathesis.auth(refresh_interval=1)
class FreshAdmin:
    token = None

    def get(self, case, context):
        if self.token and requests.get(
            f"{BASE}/api/user", headers={"Authorization": f"Token {self.token}"}, timeout=30
        ).ok:
            return self.token
        name = "fuzz" + uuid.uuid4().hex[:16]
        response = requests.post(
            f"{BASE}/api/users",
            json={"user": {"username": name, "email": f"{name}@example.com", "password": "fuzzing-password"}},
            timeout=30,
        )
        response.raise_for_status()
        if ADMIN:
            subprocess.run(f"{ADMIN} {name}", shell=True, check=True, capture_output=True)
        self.token = response.json()["user"]["token"]
        return self.token

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Token {data}"
