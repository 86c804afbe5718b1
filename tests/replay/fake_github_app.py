#!/usr/bin/env python3
"""GitHub's App installation-token endpoint, played for tests (issue 16).

POST /app/installations/<id>/access_tokens, over HTTPS on 127.0.0.1, as
GitHub answers it: the Bearer JWT must be RS256 and verify against the App's
public key (checked by `openssl dgst -verify`, not by agentgate's own code),
"iss" must be the App id, "iat" not in the future and "exp" in the future and
at most 10 minutes after "iat"; the body must name the one repository and
ask only for permissions the App was granted. A token it issues is written to
the upstream's htpasswd (nginx reads it per request) and taken out again once
it expires, so the upstream accepts the newest token issued until it
expires (and no other).

Files in --dir, read on every request so a test can change them:
  public.pem   the App's public key (replace it: the App's key was revoked)
  ttl          token lifetime in seconds (default 3600)
  grants       permissions the App has, "contents:write workflows:write"
Written to --dir:
  mints.jsonl  one line per request: status, permissions asked (no token)
  issued       every token issued, one per line (tests grep for them)
"""
import argparse
import base64
import http.server
import json
import os
import secrets
import ssl
import string
import subprocess
import tempfile
import threading
import time

LOCK = threading.Lock()
TOKENS = {}  # token -> expiry (epoch seconds)


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def read(path, default):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def write_htpasswd(path):
    # nginx matches the first line of a user name only, so the upstream takes
    # the newest token issued (the earlier ones count as revoked: stricter
    # than GitHub), and none once it expired.
    with LOCK:
        now = time.time()
        for tok, exp in list(TOKENS.items()):
            if exp <= now:
                del TOKENS[tok]
        lines = []
        if TOKENS:
            newest = max(TOKENS, key=lambda t: TOKENS[t])
            h = subprocess.run(["openssl", "passwd", "-apr1", "-stdin"], input=newest, text=True,
                               capture_output=True, check=True).stdout.strip()
            lines.append("x-access-token:" + h + "\n")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.writelines(lines)
        os.replace(tmp, path)


def verify_jwt(jwt, public_pem, app_id):
    parts = jwt.split(".")
    if len(parts) != 3:
        return "A JSON web token could not be decoded"
    try:
        header = json.loads(b64url_decode(parts[0]))
        payload = json.loads(b64url_decode(parts[1]))
        sig = b64url_decode(parts[2])
    except Exception:
        return "A JSON web token could not be decoded"
    if header.get("alg") != "RS256":
        return "'alg' must be RS256"
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "data"), "w") as f:
            f.write(parts[0] + "." + parts[1])
        with open(os.path.join(d, "sig"), "wb") as f:
            f.write(sig)
        r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", public_pem, "-signature",
                            os.path.join(d, "sig"), os.path.join(d, "data")], capture_output=True, text=True)
        if r.returncode != 0 or "Verified OK" not in r.stdout:
            return "A JSON web token could not be decoded"
    now = time.time()
    if str(payload.get("iss")) != str(app_id):
        return "Integration not found"
    iat, exp = payload.get("iat"), payload.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int):
        return "'Issued at' claim ('iat') and 'Expiration time' claim ('exp') are required"
    if iat > now + 5:
        return "'Issued at' claim ('iat') must be an Integer representing a time in the past"
    if exp <= now:
        return "'Expiration time' claim ('exp') must be a numeric value representing the future time"
    if exp - iat > 660:
        return "'Expiration time' claim ('exp') is too far in the future"
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, obj, log):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if status == 403 and log.get("rate_limited"):
            self.send_header("X-RateLimit-Remaining", "0")
            reset_in = int(read(os.path.join(ARGS.dir, "rate_reset_in"), "60"))
            self.send_header("X-RateLimit-Reset", str(int(time.time()) + reset_in))
        self.end_headers()
        self.wfile.write(body)
        log["status"] = status
        with LOCK, open(os.path.join(ARGS.dir, "mints.jsonl"), "a") as f:
            f.write(json.dumps(log) + "\n")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length) if length else b""
        log = {"path": self.path}
        if read(os.path.join(ARGS.dir, "rate_limited"), "") == "1":
            log["rate_limited"] = True
            return self.answer(403, {"message": "API rate limit exceeded"}, log)
        prefix = "/app/installations/"
        if not self.path.startswith(prefix) or not self.path.endswith("/access_tokens"):
            return self.answer(404, {"message": "Not Found"}, log)
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return self.answer(401, {"message": "A JSON web token could not be decoded"}, log)
        problem = verify_jwt(auth[len("Bearer "):], os.path.join(ARGS.dir, "public.pem"), ARGS.app_id)
        if problem:
            return self.answer(401, {"message": problem}, log)
        installation = self.path[len(prefix):-len("/access_tokens")]
        if installation != str(ARGS.installation_id):
            return self.answer(404, {"message": "Not Found"}, log)
        try:
            req = json.loads(raw or b"{}")
        except ValueError:
            return self.answer(400, {"message": "Problems parsing JSON"}, log)
        perms = req.get("permissions", {})
        log["repositories"] = req.get("repositories")
        log["permissions"] = perms
        if req.get("repositories") != [ARGS.repo]:
            return self.answer(422, {"message": "There is at least one repository that does not exist "
                                                "or is not accessible to the parent installation."}, log)
        grants = dict(g.split(":", 1) for g in read(os.path.join(ARGS.dir, "grants"),
                                                     "contents:write").split())
        for name, level in perms.items():
            have = grants.get(name)
            if have is None or (level == "write" and have != "write"):
                return self.answer(422, {"message": "The permissions requested are not granted to this "
                                                    "installation."}, log)
        ttl = int(read(os.path.join(ARGS.dir, "ttl"), "3600"))
        token = "ghs_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(36))
        expires = int(time.time()) + ttl
        with LOCK:
            TOKENS[token] = expires + len(TOKENS) * 1e-3  # the newest sorts last
            with open(os.path.join(ARGS.dir, "issued"), "a") as f:
                f.write(token + "\n")
        write_htpasswd(ARGS.htpasswd)
        return self.answer(201, {
            "token": token,
            "expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires)),
            "permissions": perms,
            "repository_selection": "selected",
            "repositories": [{"name": ARGS.repo, "full_name": "agentgate-test/" + ARGS.repo}],
        }, log)


def prune():
    while True:
        time.sleep(0.1)
        with LOCK:
            expired = any(exp <= time.time() for exp in TOKENS.values())
        if expired:
            write_htpasswd(ARGS.htpasswd)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--app-id", type=int, required=True)
    p.add_argument("--installation-id", type=int, required=True)
    p.add_argument("--repo", required=True)
    p.add_argument("--htpasswd", required=True)
    ARGS = p.parse_args()
    write_htpasswd(ARGS.htpasswd)  # no token is valid before one is issued
    server = http.server.ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(ARGS.cert, ARGS.key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=prune, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
