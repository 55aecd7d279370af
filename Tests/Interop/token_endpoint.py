#!/usr/bin/env python3
"""An OAuth2 token endpoint written independently of the Swift code (and of its sandbox), with
PyJWT and cryptography, so that a client and a sandbox agreeing with each other but not with the
standard are caught.

It accepts:
  * client_credentials with a client_assertion (RFC 7523 section 2.2) signed PS256 with the key of
    the certificate it generated, as Microsoft's identity platform does: header x5t#S256, claims
    aud = the token URL, iss = sub = client_id, jti unique, exp at most 10 minutes ahead;
  * the jwt-bearer grant (RFC 7523 section 2.1) signed RS256 with the service account key it
    generated, as Google's token endpoint does: iss = client_email, sub, scope, aud = the token URL,
    exp - iat at most 3600 s;
  * Google workload identity's helpers: a metadata server token and IAM's signJwt.

Usage: token_endpoint.py DIRECTORY
Writes into DIRECTORY: cert.pem, key.pem (PKCS#8) for the application; service-account.json (a
Google-style key file); then binds 127.0.0.1 on a free port, prints one JSON line
{"port": N, ...} on stdout and serves until stdin is closed (the test holds it open).

Needs: pip install pyjwt cryptography
"""

import base64
import datetime
import hashlib
import json
import os
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

CLIENT_ID = "interop-app-0001"
CC_SCOPE = "https://outlook.office365.com/.default"
CC_PATH = "/contoso.example/oauth2/v2.0/token"
GOOGLE_PATH = "/google/token"
SA_EMAIL = "relay@interop-project.iam.gserviceaccount.com"
SA_KID = "interop-kid-" + secrets.token_hex(8)
MAIL_SCOPE = "https://mail.google.com/"
MAX_CLIENT_ASSERTION_LIFETIME = 600
MAX_SA_ASSERTION_LIFETIME = 3600
SKEW = 60


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pkcs8(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


def self_signed(key, name):
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))


class State:
    def __init__(self, directory):
        self.lock = threading.Lock()
        self.used_jti = set()
        self.metadata_tokens = set()
        self.issued = 0
        self.refused = 0

        app_key = new_key()
        certificate = self_signed(app_key, "xoauth2-proxy interop app")
        self.certificate_public_key = certificate.public_key()
        self.thumbprint = b64url(hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest())
        with open(os.path.join(directory, "cert.pem"), "wb") as f:
            f.write(certificate.public_bytes(serialization.Encoding.PEM))
        with open(os.path.join(directory, "key.pem"), "w") as f:
            f.write(pkcs8(app_key))

        self.sa_key = new_key()
        self.sa_public_key = self.sa_key.public_key()
        self.sa_private_pem = pkcs8(self.sa_key)


def oauth_error(code, description):
    return 400 if code != "invalid_client" else 401, {"error": code, "error_description": description}


class Handler(BaseHTTPRequestHandler):
    server_version = "interop-token-endpoint/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("token_endpoint: " + (fmt % args) + "\n")

    def reply(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > 1 << 20:
            raise ValueError("body too large")
        return self.rfile.read(length)

    def own_url(self, path):
        return "http://127.0.0.1:%d%s" % (self.server.server_address[1], path)

    # -- GET: the metadata server --------------------------------------------------------------

    def do_GET(self):
        state = self.server.state
        if self.path != "/computeMetadata/v1/instance/service-accounts/default/token":
            return self.reply(404, {"error": "not_found"})
        if self.headers.get("Metadata-Flavor") != "Google":
            return self.reply(403, {"error": "missing Metadata-Flavor: Google"})
        token = "meta-" + secrets.token_urlsafe(16)
        with state.lock:
            state.metadata_tokens.add(token)
        self.reply(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    # -- POST: token endpoints and signJwt ------------------------------------------------------

    def do_POST(self):
        try:
            raw = self.body()
        except ValueError:
            return self.reply(413, {"error": "too_large"})
        path = self.path
        if path.startswith("/v1/projects/-/serviceAccounts/") and path.endswith(":signJwt"):
            return self.sign_jwt(path, raw)
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            return self.reply(*oauth_error("invalid_request", "token requests are form encoded"))
        form = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode("utf-8"), keep_blank_values=True).items()}
        if path == CC_PATH:
            status, payload = self.client_credentials(form, self.own_url(path))
        elif path == GOOGLE_PATH:
            status, payload = self.jwt_bearer(form, self.own_url(path))
        else:
            status, payload = 404, {"error": "not_found"}
        with self.server.state.lock:
            if status == 200:
                self.server.state.issued += 1
            else:
                self.server.state.refused += 1
                sys.stderr.write("token_endpoint: refused: %s\n" % payload.get("error_description"))
        self.reply(status, payload)

    def client_credentials(self, form, token_url):
        state = self.server.state
        if form.get("grant_type") != "client_credentials":
            return oauth_error("unsupported_grant_type", "expected client_credentials")
        if form.get("client_id") != CLIENT_ID:
            return oauth_error("invalid_client", "unknown client_id")
        if form.get("scope") != CC_SCOPE:
            return oauth_error("invalid_scope", "expected scope %s" % CC_SCOPE)
        if "client_secret" in form:
            return oauth_error("invalid_request", "both a secret and an assertion")
        if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            return oauth_error("invalid_client", "client_assertion_type is not jwt-bearer")
        assertion = form.get("client_assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError as error:
            return oauth_error("invalid_client", "assertion header unreadable: %s" % error)
        if header.get("alg") != "PS256":
            return oauth_error("invalid_client", "alg %r is not PS256" % header.get("alg"))
        if header.get("x5t#S256") != state.thumbprint:
            return oauth_error("invalid_client", "x5t#S256 names no registered certificate")
        try:
            claims = jwt.decode(assertion, state.certificate_public_key, algorithms=["PS256"], audience=token_url,
                                issuer=CLIENT_ID, leeway=SKEW,
                                options={"require": ["exp", "nbf", "iat", "jti", "aud", "iss", "sub"]})
        except jwt.PyJWTError as error:
            return oauth_error("invalid_client", "assertion rejected: %s" % error)
        if claims["sub"] != CLIENT_ID:
            return oauth_error("invalid_client", "sub is not the client_id")
        now = int(time.time())
        if claims["exp"] - now > MAX_CLIENT_ASSERTION_LIFETIME or claims["exp"] - claims["iat"] > MAX_CLIENT_ASSERTION_LIFETIME:
            return oauth_error("invalid_client", "assertion lives longer than 10 minutes")
        with state.lock:
            if claims["jti"] in state.used_jti:
                return oauth_error("invalid_client", "jti replayed")
            state.used_jti.add(claims["jti"])
        return 200, {"access_token": "cc." + secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 3599}

    def jwt_bearer(self, form, token_url):
        state = self.server.state
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return oauth_error("unsupported_grant_type", "expected jwt-bearer")
        assertion = form.get("assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError as error:
            return oauth_error("invalid_grant", "assertion header unreadable: %s" % error)
        if header.get("alg") != "RS256":
            return oauth_error("invalid_grant", "alg %r is not RS256" % header.get("alg"))
        if header.get("kid") not in (None, SA_KID):
            return oauth_error("invalid_grant", "unknown kid")
        try:
            claims = jwt.decode(assertion, state.sa_public_key, algorithms=["RS256"], audience=token_url,
                                issuer=SA_EMAIL, leeway=SKEW, options={"require": ["exp", "iat", "aud", "iss", "sub"]})
        except jwt.PyJWTError as error:
            return oauth_error("invalid_grant", "assertion rejected: %s" % error)
        if claims.get("scope") != MAIL_SCOPE:
            return oauth_error("invalid_scope", "scope is not %s" % MAIL_SCOPE)
        if claims["exp"] - claims["iat"] > MAX_SA_ASSERTION_LIFETIME:
            return oauth_error("invalid_grant", "assertion lives longer than an hour")
        if claims["iat"] > int(time.time()) + SKEW:
            return oauth_error("invalid_grant", "iat in the future")
        return 200, {"access_token": "sa.%s.%s" % (b64url(claims["sub"].encode()), secrets.token_urlsafe(12)),
                     "token_type": "Bearer", "expires_in": 3599}

    def sign_jwt(self, path, raw):
        state = self.server.state
        email = urllib.parse.unquote(path[len("/v1/projects/-/serviceAccounts/"):-len(":signJwt")])
        authorization = self.headers.get("Authorization", "")
        with state.lock:
            known = authorization.startswith("Bearer ") and authorization[len("Bearer "):] in state.metadata_tokens
        if not known:
            return self.reply(401, {"error": {"code": 401, "message": "no valid bearer token", "status": "UNAUTHENTICATED"}})
        if email != SA_EMAIL:
            return self.reply(403, {"error": {"code": 403, "message": "not allowed to sign for this account", "status": "PERMISSION_DENIED"}})
        try:
            payload = json.loads(raw)["payload"]
            claims = json.loads(payload)
        except (ValueError, KeyError, TypeError):
            return self.reply(400, {"error": {"code": 400, "message": "payload must be a JSON string", "status": "INVALID_ARGUMENT"}})
        signed = jwt.encode(claims, state.sa_key, algorithm="RS256", headers={"kid": SA_KID})
        self.reply(200, {"keyId": SA_KID, "signedJwt": signed})


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: token_endpoint.py DIRECTORY")
    directory = sys.argv[1]
    state = State(directory)
    with open(os.path.join(directory, "service-account.json"), "w") as f:
        json.dump({"type": "service_account", "project_id": "interop-project", "private_key_id": SA_KID,
                   "private_key": state.sa_private_pem, "client_email": SA_EMAIL, "client_id": "1000000001",
                   "token_uri": "https://oauth2.googleapis.com/token"}, f)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.state = state
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"port": port, "client_id": CLIENT_ID, "client_credentials_path": CC_PATH,
                      "google_path": GOOGLE_PATH, "service_account_email": SA_EMAIL}), flush=True)
    # Serve until the test closes our stdin (or dies): no orphan endpoint outlives its test.
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
