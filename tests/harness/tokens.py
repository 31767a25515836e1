"""Bearer tokens seen from the outside: compact JWS (HS256) decode, tamper and re-sign."""
import base64
import hashlib
import hmac
import json
import os


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    text = text.encode() if isinstance(text, str) else text
    return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))


def decode(token):
    """(header dict, payload dict) of a token, without checking the signature."""
    h, p, _ = token.split(".")
    return json.loads(unb64url(h)), json.loads(unb64url(p))


def encode(header, payload, key):
    """A compact JWS signed with HMAC-SHA256 under `key` (bytes)."""
    h = b64url(json.dumps(header, separators=(",", ":")).encode())
    p = b64url(json.dumps(payload, separators=(",", ":")).encode())
    sig = hmac.new(key, (h + "." + p).encode(), hashlib.sha256).digest()
    return h + "." + p + "." + b64url(sig)


def keyring(path):
    """[(kid, secret hex)] from a keyring file."""
    out = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                kid, secret = line.split()
                out.append((kid, secret))
    return out


def tamper_payload(token, **changes):
    """The token with payload claims changed and the original signature kept."""
    h, p, s = token.split(".")
    payload = json.loads(unb64url(p))
    payload.update(changes)
    return h + "." + b64url(json.dumps(payload, separators=(",", ":")).encode()) + "." + s


def resign(token, key, kid=None, **changes):
    """The token's claims (changed as asked) signed again with `key` under `kid`."""
    header, payload = decode(token)
    payload.update(changes)
    if kid is not None:
        header["kid"] = kid
    return encode(header, payload, key)


def random_key():
    return os.urandom(32)
