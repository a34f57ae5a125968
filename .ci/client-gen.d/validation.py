"""Every exchange of a generated client, checked against the OpenAPI document by openapi-core.

`Validator.hook` is an httpx response hook: the generated `Client` passes `httpx_args` to its
httpx client, so every request the session makes (through a generated operation or through the
client's own httpx client) is validated as a request and its answer as a response. Mismatches
are collected, not raised, so one run lists all of them.

Responses are validated against a strict copy of the document: an object schema that lists its
properties and says nothing about others gets `additionalProperties: false`, so a field the
server sends but the document does not describe is a mismatch too (a generated model would
otherwise put it in `additional_properties` without a word).
"""

import contextlib
import copy
from urllib.parse import parse_qsl

import httpx
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict


class HttpxRequest:
    """An httpx request as openapi-core's `Request` protocol."""

    def __init__(self, request: httpx.Request):
        self._request = request
        cookies = {}
        for part in request.headers.get("cookie", "").split(";"):
            if "=" in part:
                key, value = part.split("=", 1)
                cookies[key.strip()] = value.strip()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(request.url.query.decode(), keep_blank_values=True)),
            header=Headers(list(request.headers.items())),
            cookie=ImmutableMultiDict(cookies),
        )

    @property
    def host_url(self) -> str:
        url = self._request.url
        return f"{url.scheme}://{url.netloc.decode()}"

    @property
    def path(self) -> str:
        return self._request.url.path

    @property
    def method(self) -> str:
        return self._request.method.lower()

    @property
    def body(self):
        return self._request.content or None

    @property
    def content_type(self) -> str:
        return self._request.headers.get("content-type", "")


class HttpxResponse:
    """An httpx response (already read) as openapi-core's `Response` protocol."""

    def __init__(self, response: httpx.Response):
        self._response = response

    @property
    def data(self) -> bytes:
        return self._response.content

    @property
    def status_code(self) -> int:
        return self._response.status_code

    @property
    def content_type(self) -> str:
        return self._response.headers.get("content-type", "")

    @property
    def headers(self) -> Headers:
        return Headers(list(self._response.headers.items()))


def text_loads(value: bytes, **parameters: str) -> str:
    """A text body (YAML) as the string its `type: string` schema describes; openapi-core
    leaves media types it does not know as bytes, which no string schema accepts."""
    return value.decode(parameters.get("charset", "utf-8"))


MEDIA_TYPES = {"application/yaml": text_loads}


def close_objects(node):
    """In place: `additionalProperties: false` on every object schema that lists properties and
    leaves other properties unspecified."""
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            close_objects(value)
    elif isinstance(node, list):
        for value in node:
            close_objects(value)


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def describe(error, depth=0) -> str:
    """An openapi-core error with its causes and schema errors, one per line; the messages
    repeat the whole value, so they are cut short (the schema errors name the place)."""
    lines = [f"{'  ' * depth}{type(error).__name__}: {shorten(str(error), 200)}"]
    for schema_error in getattr(error, "schema_errors", None) or []:
        path = "/".join(str(p) for p in schema_error.absolute_path)
        lines.append(f"{'  ' * (depth + 1)}at /{path}: {shorten(schema_error.message, 500)}")
    cause = error.__cause__ or error.__context__
    if cause is not None and depth < 4:
        lines.append(describe(cause, depth + 1))
    return "\n".join(lines)


class Validator:
    """Validates each exchange against the document; counts them and keeps every mismatch."""

    def __init__(self, document: dict):
        # Building the first one checks the document itself against the OpenAPI 3.1 schema
        # (openapi-spec-validator); the strict copy differs only where it closes objects.
        self._requests = OpenAPI.from_dict(
            document, config=Config(extra_media_type_deserializers=MEDIA_TYPES)
        )
        strict = copy.deepcopy(document)
        close_objects(strict.get("components", {}))
        close_objects(strict.get("paths", {}))
        self._responses = OpenAPI.from_dict(
            strict,
            config=Config(extra_media_type_deserializers=MEDIA_TYPES, spec_validator_cls=None),
        )
        self.exchanges = []
        self.mismatches = []
        self.check_requests = True

    @contextlib.contextmanager
    def unauthenticated(self):
        """Requests sent without credentials on purpose: their answers are still validated,
        the requests (which break the operation's security requirement) are not."""
        self.check_requests = False
        try:
            yield
        finally:
            self.check_requests = True

    def hook(self, response: httpx.Response) -> None:
        response.read()
        request = HttpxRequest(response.request)
        target = response.request.url.raw_path.decode()
        label = f"{response.request.method} {target} -> {response.status_code}"
        self.exchanges.append(label)
        checks = [
            (
                "response",
                lambda: self._responses.validate_response(request, HttpxResponse(response)),
            )
        ]
        if self.check_requests:
            checks.insert(0, ("request", lambda: self._requests.validate_request(request)))
        for kind, check in checks:
            try:
                check()
            except Exception as error:  # every openapi-core failure is a mismatch to report
                self.mismatches.append(
                    f"{label}: {kind} does not match the document\n{describe(error)}"
                )
