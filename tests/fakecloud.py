"""Fakes of Amazon Bedrock's runtime and Vertex AI's prediction endpoint, on 127.0.0.1.

Both answer from the same scripts and policies as `FakeMessagesAPI` (they are subclasses), but
speak their provider's wire format and check what the SDK sent:

- `FakeBedrock`: `POST /model/{id}/invoke` (JSON) and `/invoke-with-response-stream` (AWS
  event-stream binary frames, each a `chunk` event whose payload is `{"bytes": base64(event)}`).
  Every request must carry a SigV4 `Authorization` for service `bedrock` in the fake's region,
  which the fake recomputes with botocore's own signer from the secret it was given; the body
  must hold `anthropic_version` and no `model` or `stream`. Errors come as Bedrock sends them:
  `{"message": ...}` with the type in `x-amzn-errortype`.
- `FakeVertex`: `POST /v1/projects/{p}/locations/{r}/publishers/anthropic/models/{m}:rawPredict`
  and `:streamRawPredict` (SSE), which need a bearer token that the fake's own OAuth token
  endpoint (`POST /token`) issued for a JWT assertion signed with the service-account key that
  `write_service_account` created. Errors come in Google's `{"error": {code, message, status}}`.

botocore and cryptography are imported only when a request needs them (they come with the
`bedrock` and `vertex` extras).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import struct
import threading
import time
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from claude_cua.cli.demo.fakeapi import (
    Answer,
    Error,
    FakeMessagesAPI,
    Malformed,
    RecordedRequest,
    Reply,
    _Handler,
    message_json,
    stream_events,
)

BEDROCK_VERSION = "bedrock-2023-05-31"
VERTEX_VERSION = "vertex-2023-10-16"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
_AMZN_TYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.bedrock/"

# --- AWS event-stream framing -------------------------------------------------------------------


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    # name length, name, value type 7 (string), value length, value
    return (struct.pack("B", len(raw_name)) + raw_name + b"\x07"
            + struct.pack(">H", len(raw_value)) + raw_value)


def event_stream_frame(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message: prelude (lengths + CRC32), headers, payload, CRC32."""
    raw_headers = b"".join(_header(k, v) for k, v in headers.items())
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(raw_headers))
    head = prelude + struct.pack(">I", zlib.crc32(prelude)) + raw_headers + payload
    return head + struct.pack(">I", zlib.crc32(head))


def chunk_frame(event: Mapping[str, Any]) -> bytes:
    """A Bedrock `chunk` event carrying one Messages API stream event."""
    data = base64.b64encode(json.dumps(event, ensure_ascii=False).encode()).decode()
    return event_stream_frame({":event-type": "chunk", ":content-type": "application/json",
                               ":message-type": "event"}, json.dumps({"bytes": data}).encode())


def exception_frame(kind: str, message: str) -> bytes:
    """A mid-stream Bedrock exception, e.g. `throttlingException`."""
    return event_stream_frame({":exception-type": kind, ":content-type": "application/json",
                               ":message-type": "exception"},
                              json.dumps({"message": message}).encode())


# --- errors as each provider sends them ----------------------------------------------------------

_BEDROCK_ERRORS = {
    "ThrottlingException": (429, "Too many requests, please wait before trying again."),
    "AccessDeniedException": (403, "You don't have access to the model with the specified "
                                   "model ID."),
    "ValidationException": (400, "The provided model identifier is invalid."),
    "ResourceNotFoundException": (404, "Model not found."),
    "UnrecognizedClientException": (403, "The security token included in the request is "
                                         "invalid."),
    "InvalidSignatureException": (403, "The request signature we calculated does not match the "
                                       "signature you provided."),
    "ServiceUnavailableException": (503, "Bedrock is unable to process your request."),
    "ModelNotReadyException": (429, "Model is not ready to serve inference requests."),
}


def bedrock_error(kind: str, message: str | None = None, *, in_stream: bool = False) -> Error:
    """An error exactly as Bedrock's runtime answers it (status, body and x-amzn-errortype)."""
    status, default = _BEDROCK_ERRORS[kind]
    return Error(status, {"message": message or default},
                 headers={"x-amzn-errortype": kind + _AMZN_TYPE_SUFFIX,
                          "x-amzn-requestid": secrets.token_hex(16)}, in_stream=in_stream)


_GOOGLE_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                  404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
                  503: "UNAVAILABLE"}


def vertex_error(code: int, message: str | None = None) -> Error:
    """An error as Vertex AI answers it: `{"error": {"code", "message", "status"}}`."""
    default = {
        429: "Resource exhausted. Please try again later.",
        403: "Permission 'aiplatform.endpoints.predict' denied on resource (or it may not exist).",
        404: "Publisher Model was not found or your project does not have access to it.",
        401: "Request had invalid authentication credentials.",
    }.get(code, "Internal error encountered.")
    return Error(code, {"error": {"code": code, "message": message or default,
                                  "status": _GOOGLE_STATUS.get(code, "UNKNOWN")}})


# --- Bedrock -------------------------------------------------------------------------------------


class FakeBedrock(FakeMessagesAPI):
    """A fake Bedrock runtime: SigV4-checked InvokeModel and InvokeModelWithResponseStream.

    Args:
        region: the region requests must be signed for.
        credentials: access key id -> secret key the fake accepts.
        bearer_tokens: Bedrock API keys (AWS_BEARER_TOKEN_BEDROCK) the fake accepts instead.
    """

    def __init__(self, *, region: str = "us-east-1", credentials: Mapping[str, str] | None = None,
                 bearer_tokens: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.region = region
        self.credentials = dict(credentials or {})
        self.bearer_tokens = set(bearer_tokens)
        self.rejections: list[str] = []  # why requests were refused, for test messages

    def _serve(self, handler: _Handler, request: RecordedRequest) -> None:
        parts = urlsplit(request.path).path.split("/")
        if (request.method != "POST" or len(parts) != 4 or parts[1] != "model"
                or parts[3] not in ("invoke", "invoke-with-response-stream")):
            self._refuse(handler, "UnknownOperationException", 404, f"no route {request.path}")
            return
        problem = self._auth_problem(handler, request)
        if problem:
            self._refuse(handler, *problem)
            return
        body = request.json
        problem_text = _bedrock_body_problem(body)
        if problem_text:
            self._refuse(handler, "ValidationException", 400, problem_text)
            return
        model = unquote(parts[2])
        answer = self._next_answer(body)
        if self._stopping.wait(self._reply_delay_s):
            handler.drop()
            return
        self._send_bedrock(handler, answer, body, model=model,
                           stream=parts[3] == "invoke-with-response-stream")

    def _refuse(self, handler: _Handler, kind: str, status: int, message: str) -> None:
        self.rejections.append(f"{kind}: {message}")
        handler.send_body(status, json.dumps({"message": message}).encode(),
                          headers={"x-amzn-errortype": kind + _AMZN_TYPE_SUFFIX})

    def _auth_problem(self, handler: _Handler,
                      request: RecordedRequest) -> tuple[str, int, str] | None:
        auth = request.headers.get("authorization", "")
        if auth.startswith("Bearer "):
            if auth[7:] in self.bearer_tokens:
                return None
            return ("UnrecognizedClientException", 403, "The bearer token is not valid.")
        host = request.headers.get("host", "")
        try:
            return check_sigv4(request, url=f"http://{host}{request.path}", region=self.region,
                               service="bedrock", secrets=self.credentials)
        except (ValueError, KeyError) as exc:
            return ("IncompleteSignatureException", 403, f"malformed Authorization: {exc}")

    def _send_bedrock(self, handler: _Handler, answer: Answer, body: dict[str, Any], *,
                      model: str, stream: bool) -> None:
        if isinstance(answer, Error):
            if stream and answer.in_stream:
                start = message_json(Reply([]), model=model, usage={"input_tokens": 1})
                kind = str((answer.headers or {}).get("x-amzn-errortype", "throttlingException"))
                kind = kind.partition(":")[0]
                message = (answer.body or {}).get("message", "") if isinstance(answer.body,
                                                                               dict) else ""
                frames = [chunk_frame(next(stream_events(start))),
                          exception_frame(kind[:1].lower() + kind[1:], str(message))]
                handler.send_stream(frames, delay=self._event_delay_s, stopping=self._stopping,
                                    content_type="application/vnd.amazon.eventstream")
            else:
                super()._send_answer(handler, answer, body)
            return
        if isinstance(answer, Malformed):
            handler.send_stream([b"\x00\x00\x00\x10garbage"], delay=0.0, stopping=self._stopping,
                                cut=True, content_type="application/vnd.amazon.eventstream")
            return
        message = message_json(answer, model=model, usage=self._cache.usage(body))
        if stream:
            frames = [chunk_frame(e) for e in stream_events(message, parts=self._stream_parts)]
            handler.send_stream(frames, delay=self._event_delay_s, stopping=self._stopping,
                                content_type="application/vnd.amazon.eventstream")
        else:
            handler.send_body(200, json.dumps(message, ensure_ascii=False).encode())


def _bedrock_body_problem(body: Any) -> str | None:
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return "Malformed input request: the body must be a JSON object with messages"
    for key in ("model", "stream"):
        if key in body:
            return f"Malformed input request: extraneous key [{key}] is not permitted"
    if body.get("anthropic_version") != BEDROCK_VERSION:
        return (f"Malformed input request: anthropic_version {body.get('anthropic_version')!r}"
                f" is not supported; use {BEDROCK_VERSION}")
    beta = body.get("anthropic_beta")
    if beta is not None and not (isinstance(beta, list) and all(isinstance(b, str)
                                                                for b in beta)):
        return "Malformed input request: anthropic_beta must be a list of strings"
    return None


def check_sigv4(request: RecordedRequest, *, url: str, region: str, service: str,
                secrets: Mapping[str, str]) -> tuple[str, int, str] | None:
    """Recompute the request's SigV4 signature with botocore; None when it matches."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    auth = request.headers.get("authorization", "")
    scheme, _, rest = auth.partition(" ")
    if scheme != "AWS4-HMAC-SHA256":
        return ("MissingAuthenticationTokenException", 403, "Missing Authentication Token")
    fields = dict(part.strip().split("=", 1) for part in rest.split(","))
    key_id, date, scope_region, scope_service, terminal = fields["Credential"].split("/")
    if key_id not in secrets:
        return ("UnrecognizedClientException", 403, _BEDROCK_ERRORS[
            "UnrecognizedClientException"][1])
    if (scope_region, scope_service, terminal) != (region, service, "aws4_request"):
        return ("InvalidSignatureException", 403, f"Credential should be scoped to a valid "
                f"region and service: {region}/{service}, not {scope_region}/{scope_service}")
    signed = fields["SignedHeaders"].split(";")
    if "host" not in signed or "x-amz-date" not in signed:
        return ("IncompleteSignatureException", 403, "host and x-amz-date must be signed")
    amz_date = request.headers["x-amz-date"]
    if not amz_date.startswith(date):
        return ("InvalidSignatureException", 403, "the credential date is not the request date")
    headers = {name: request.headers[name] for name in signed if name != "host"}
    aws_request = AWSRequest(method=request.method, url=url, headers=headers, data=request.body)
    aws_request.context["timestamp"] = amz_date
    token = request.headers.get("x-amz-security-token")
    signer = SigV4Auth(Credentials(key_id, secrets[key_id], token), service, region)
    canonical = signer.canonical_request(aws_request)
    expected = signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)
    if not secrets_equal(expected, fields["Signature"]):
        return ("InvalidSignatureException", 403, _BEDROCK_ERRORS["InvalidSignatureException"][1])
    return None


def secrets_equal(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


# --- Vertex AI -----------------------------------------------------------------------------------


class FakeVertex(FakeMessagesAPI):
    """A fake Vertex AI endpoint with its own OAuth token endpoint at `/token`.

    `write_service_account(path)` writes a `service_account` key file (a fresh RSA key) whose
    `token_uri` is this server; the fake only accepts tokens it issued for assertions signed
    with that key.
    """

    def __init__(self, *, project: str = "cua-test-project", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.client_email = f"cua-runner@{project}.iam.gserviceaccount.com"
        self._public_key: Any = None
        self._tokens: set[str] = set()
        self._tokens_lock = threading.Lock()
        self.token_requests = 0
        self.rejections: list[str] = []

    @property
    def base_url(self) -> str:
        """What ANTHROPIC_VERTEX_BASE_URL must be: the server's URL with /v1."""
        return f"{self.url}/v1"

    def write_service_account(self, path: Path) -> Path:
        """Write a service-account key file for this fake; returns its path."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._public_key = key.public_key()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        info = {"type": "service_account", "project_id": self.project,
                "private_key_id": secrets.token_hex(20), "private_key": pem,
                "client_email": self.client_email, "client_id": "1" * 21,
                "token_uri": f"{self.url}/token"}
        path.write_text(json.dumps(info), encoding="utf-8")
        path.chmod(0o600)
        return path

    def _serve(self, handler: _Handler, request: RecordedRequest) -> None:
        path = urlsplit(request.path).path
        if request.method == "POST" and path == "/token":
            self._issue_token(handler, request)
            return
        route = _vertex_route(path)
        if request.method != "POST" or route is None:
            self._refuse(handler, vertex_error(404, f"The requested URL {path} was not found."))
            return
        project, _region, model, specifier = route
        auth = request.headers.get("authorization", "")
        with self._tokens_lock:
            valid = auth.startswith("Bearer ") and auth[7:] in self._tokens
        if not valid:
            self._refuse(handler, vertex_error(401))
            return
        if project != self.project:
            self._refuse(handler, vertex_error(403, f"Permission denied on project {project}"))
            return
        body = request.json
        problem = _vertex_body_problem(body, stream=specifier == "streamRawPredict")
        if problem:
            self._refuse(handler, vertex_error(400, problem))
            return
        answer = self._next_answer(body)
        if self._stopping.wait(self._reply_delay_s):
            handler.drop()
            return
        self._send_answer(handler, answer, {**body, "model": model})

    def _refuse(self, handler: _Handler, error: Error) -> None:
        self.rejections.append(json.dumps(error.body))
        handler.send_body(error.status, json.dumps(error.body).encode())

    def _issue_token(self, handler: _Handler, request: RecordedRequest) -> None:
        self.token_requests += 1
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        problem = self._assertion_problem(form)
        if problem:
            self.rejections.append(problem)
            body = {"error": "invalid_grant", "error_description": problem}
            handler.send_body(400, json.dumps(body).encode())
            return
        token = "ya29.fake-" + secrets.token_urlsafe(32)
        with self._tokens_lock:
            self._tokens.add(token)
        body = {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}
        handler.send_body(200, json.dumps(body).encode())

    def _assertion_problem(self, form: Mapping[str, str]) -> str | None:
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return f"unsupported grant_type {form.get('grant_type')!r}"
        if self._public_key is None:
            return "no service account was issued by this fake"
        try:
            claims = verify_rs256(form.get("assertion", ""), self._public_key)
        except ValueError as exc:
            return f"Invalid JWT Signature: {exc}"
        now = time.time()
        if claims.get("iss") != self.client_email:
            return f"unknown issuer {claims.get('iss')!r}"
        # google-auth addresses the assertion to Google's token URI whatever token_uri says,
        # and Google's endpoint accepts exactly that audience.
        if claims.get("aud") not in (GOOGLE_TOKEN_URI, f"{self.url}/token"):
            return f"wrong audience {claims.get('aud')!r}"
        if "https://www.googleapis.com/auth/cloud-platform" not in str(claims.get("scope", "")):
            return "the assertion does not ask for the cloud-platform scope"
        if not float(claims.get("iat", 0)) - 300 <= now <= float(claims.get("exp", 0)):
            return "Invalid JWT: token must be a short-lived token and in a reasonable timeframe"
        return None


def _vertex_route(path: str) -> tuple[str, str, str, str] | None:
    """(project, region, model, specifier) of a Vertex Claude predict URL, or None."""
    parts = path.split("/")
    if len(parts) != 10 or parts[1:3] != ["v1", "projects"] or parts[4] != "locations":
        return None
    if parts[6:9] != ["publishers", "anthropic", "models"]:
        return None
    model, _, specifier = unquote(parts[9]).rpartition(":")
    if specifier not in ("rawPredict", "streamRawPredict") or not model:
        return None
    return unquote(parts[3]), unquote(parts[5]), model, specifier


def _vertex_body_problem(body: Any, *, stream: bool) -> str | None:
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return "the body must be a JSON object with a messages list"
    if "model" in body:
        return "model belongs in the URL, not in the body"
    if body.get("anthropic_version") != VERTEX_VERSION:
        return (f"anthropic_version {body.get('anthropic_version')!r} is not supported; use "
                f"{VERTEX_VERSION}")
    if stream and body.get("stream") is not True:
        return ":streamRawPredict needs \"stream\": true in the body"
    return None


def verify_rs256(token: str, public_key: Any) -> dict[str, Any]:
    """Check a compact JWS signed with RS256; returns its claims or raises ValueError."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        head_b64, claims_b64, sig_b64 = token.split(".")
        header = json.loads(_b64url(head_b64))
        claims = json.loads(_b64url(claims_b64))
        signature = _b64url(sig_b64)
    except (ValueError, binascii.Error) as exc:
        raise ValueError("not a compact JWT") from exc
    if header.get("alg") != "RS256":
        raise ValueError(f"alg {header.get('alg')!r}, not RS256")
    try:
        public_key.verify(signature, f"{head_b64}.{claims_b64}".encode(), padding.PKCS1v15(),
                          hashes.SHA256())
    except InvalidSignature:
        raise ValueError("the signature does not match the service account's key") from None
    if not isinstance(claims, dict):
        raise ValueError("the claims are not an object")
    return claims


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
