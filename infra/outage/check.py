"""Checks keel-local's answers around a DynamoDB outage (driven by infra/outage.sh).

    check.py before URL STATE   registers a user, writes an article, saves both to STATE
    check.py down   URL STATE   every call is a 503 JSON with Retry-After, fast enough
    check.py after  URL STATE   service is back: the article is there, writes work again
"""

import json
import sys
import time
import urllib.error
import urllib.request
import uuid

# The SDK's whole-call timeout (6 s, keel::config::SDK_OPERATION_TIMEOUT) plus slack.
DEADLINE = 8.0


def call(base, method, path, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Token " + token)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            status, headers, raw = res.status, res.headers, res.read()
    except urllib.error.HTTPError as err:
        status, headers, raw = err.code, err.headers, err.read()
    return status, headers, (json.loads(raw) if raw else None), time.monotonic() - started


def expect(condition, message):
    if not condition:
        sys.exit("outage check failed: " + message)


def main():
    phase, base, state_file = sys.argv[1:4]
    if phase == "before":
        name = "outage" + uuid.uuid4().hex[:8]
        status, _, body, _ = call(base, "POST", "/users",
                                  {"user": {"username": name, "email": name + "@example.com",
                                            "password": "correct horse battery"}})
        expect(status == 201, f"register answered {status}: {body}")
        token = body["user"]["token"]
        status, _, body, _ = call(base, "POST", "/articles",
                                  {"article": {"title": "Before " + name, "description": "d", "body": "b"}}, token)
        expect(status == 201, f"create answered {status}: {body}")
        with open(state_file, "w") as f:
            json.dump({"token": token, "slug": body["article"]["slug"]}, f)
        print(f"before: registered, article {body['article']['slug']} written")
        return
    state = json.load(open(state_file))
    token, slug = state["token"], state["slug"]
    if phase == "down":
        calls = [
            ("GET", "/articles", None, None),
            ("GET", "/articles/" + slug, None, None),
            ("POST", "/articles", {"article": {"title": "During " + slug, "description": "d", "body": "b"}}, token),
            ("PUT", "/user", {"user": {"bio": "written during the outage"}}, token),
            ("POST", "/users/login", {"user": {"email": "nobody@example.com", "password": "whatever it is"}}, None),
        ]
        for method, path, body, auth in calls:
            status, headers, answer, took = call(base, method, path, body, auth)
            expect(status == 503, f"{method} {path} answered {status}: {answer}")
            expect(headers.get("retry-after") == "1", f"{method} {path}: Retry-After {headers.get('retry-after')}")
            expect(answer == {"errors": {"server": ["is busy; try again shortly"]}}, f"{method} {path}: {answer}")
            expect(took < DEADLINE, f"{method} {path} took {took:.1f}s")
            print(f"down: {method} {path} -> 503 Retry-After: 1 in {took:.1f}s")
        return
    if phase == "after":
        # The SDK reconnects on its own; allow the restarted engine a few seconds.
        for _ in range(40):
            status, _, body, _ = call(base, "GET", "/articles/" + slug)
            if status == 200:
                break
            time.sleep(0.5)
        expect(status == 200, f"after the restart GET /articles/{slug} answered {status}: {body}")
        status, _, body, _ = call(base, "GET", "/user", token=token)
        expect(status == 200 and body["user"]["bio"] != "written during the outage",
               f"the refused profile change was not kept out: {status} {body}")
        status, _, body, _ = call(base, "POST", "/articles",
                                  {"article": {"title": "After " + slug, "description": "d", "body": "b"}}, token)
        expect(status == 201, f"create after the restart answered {status}: {body}")
        status, _, body, _ = call(base, "GET", "/articles?author=" + body["article"]["author"]["username"])
        titles = sorted(a["title"] for a in body["articles"])
        expect(len(titles) == 2 and not any(t.startswith("During") for t in titles),
               f"expected the articles from before and after the outage only: {titles}")
        print(f"after: served again, {len(titles)} articles (none from the outage)")
        return
    sys.exit("unknown phase " + phase)


if __name__ == "__main__":
    main()
