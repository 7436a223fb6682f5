"""Checks HTTP exchanges against docs/openapi.yaml (OpenAPI 3.0).

    spec = Spec()                                    # loads docs/openapi.yaml
    errors = spec.check_response("GET", "/api/v3/checks/", 200, headers, body)
    errors = spec.check_request_body("POST", "/api/v3/checks/", {"name": "x"})

Each check returns a list of human-readable mismatches (empty when the exchange conforms).
What is checked for a response: a path template and operation match the request; the status
is documented for that operation; headers the spec marks `required` are present and valid;
the Content-Type is one of the documented media types (a response without `content` must
have an empty body); the body validates against the media type's schema (JSON bodies as
JSON, anything else as a string, so enums and patterns of text answers are checked too).

Path templates are matched the way the server routes: a path parameter matches its schema's
`pattern` (anchors stripped), `[0-9]+` for integers, else one segment; when several templates
match, the one with more literal characters wins, then the earlier one in the file.

OpenAPI 3.0 schemas are turned into JSON Schema draft 4 (python3-jsonschema): local `$ref`s
are inlined, `nullable: true` becomes a type list with "null", OpenAPI-only keywords are
dropped. `x-any-method: true` on a path item means the route takes every HTTP method (ping
URLs); `overdue routes` prints those as `ANY /path`. `x-cors: true` on a path item means every
response carries healthchecks' CORS headers, with the path's documented methods (+ OPTIONS)
as Access-Control-Allow-Methods.

Requires python3-yaml and python3-jsonschema (Debian packages; scripts/bootstrap installs them).
"""
import json
import os
import re

import jsonschema
import jsonschema.exceptions
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SPEC = os.path.join(HERE, "..", "..", "docs", "openapi.yaml")

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Keywords of the OpenAPI 3.0 Schema Object that JSON Schema does not have.
OPENAPI_ONLY = {"nullable", "discriminator", "readOnly", "writeOnly", "xml", "externalDocs",
                "example", "deprecated"}


def media_type(content_type):
    """'text/html; charset=utf-8' -> 'text/html'."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json_media(mt):
    return mt == "application/json" or mt.endswith("+json")


class Match:
    def __init__(self, template, path_item, method, operation, params):
        self.template = template
        self.path_item = path_item
        self.method = method          # upper case, as sent
        self.operation = operation    # None when the path exists but the method is not documented
        self.params = params          # path parameters as strings

    @property
    def name(self):
        return f"{self.method} {self.template}"


class Spec:
    def __init__(self, path=DEFAULT_SPEC):
        with open(path) as f:
            self.doc = yaml.safe_load(f)
        self._json_schemas = {}
        self._routes = []
        for order, (template, item) in enumerate(self.doc.get("paths", {}).items()):
            regex, literal = self._compile(template, item)
            self._routes.append((regex, literal, order, template, item))

    # ---- $ref and schema conversion ----------------------------------------------------

    def resolve(self, obj):
        """Follows a local $ref ('#/components/...') until the object is not a reference."""
        seen = set()
        while isinstance(obj, dict) and "$ref" in obj:
            ref = obj["$ref"]
            if not ref.startswith("#/") or ref in seen:
                raise ValueError(f"unsupported or circular $ref {ref!r}")
            seen.add(ref)
            node = self.doc
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            obj = node
        return obj

    def json_schema(self, schema):
        """The OpenAPI 3.0 schema as a self-contained JSON Schema (draft 4)."""
        key = id(schema)
        if key not in self._json_schemas:
            self._json_schemas[key] = (schema, self._convert(schema, ()))
        return self._json_schemas[key][1]

    def _convert(self, schema, stack):
        if isinstance(schema, list):
            return [self._convert(s, stack) for s in schema]
        if not isinstance(schema, dict):
            return schema
        if "$ref" in schema:
            ref = schema["$ref"]
            if ref in stack:
                raise ValueError(f"recursive schema {ref!r} is not supported")
            return self._convert(self.resolve(schema), stack + (ref,))
        out = {}
        for k, v in schema.items():
            if k in OPENAPI_ONLY or k.startswith("x-"):
                continue
            if k in ("properties", "patternProperties", "definitions"):
                out[k] = {name: self._convert(s, stack) for name, s in v.items()}
            elif k in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
                out[k] = self._convert(v, stack)
            else:
                out[k] = v
        if schema.get("nullable") is True:
            if "type" in out:
                types = out["type"] if isinstance(out["type"], list) else [out["type"]]
                out["type"] = types + ["null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = list(out["enum"]) + [None]
            if "type" not in out:
                # nullable without a type has no effect in OpenAPI 3.0.3; keep it explicit.
                out = {"anyOf": [out, {"type": "null"}]}
        return out

    def validate(self, instance, schema):
        """JSON Schema errors of `instance`, as 'where: message' strings."""
        validator = jsonschema.Draft4Validator(self.json_schema(schema))
        errors = []
        for e in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
            prefix = ""
            if e.context:
                # oneOf/anyOf: the message would repeat the whole instance; name the closest
                # alternative's first error instead.
                prefix = f"matches no {e.validator} alternative; closest: "
                e = jsonschema.exceptions.best_match(e.context)
            where = "/".join(str(p) for p in e.absolute_path) or "(root)"
            errors.append(f"{where}: {prefix}{_short(e.message)}")
        return errors

    # ---- routing -------------------------------------------------------------------------

    def _path_params(self, item):
        params = {}
        for p in item.get("parameters", []):
            p = self.resolve(p)
            if p.get("in") == "path":
                params[p["name"]] = p
        for m in METHODS:
            for p in item.get(m, {}).get("parameters", []):
                p = self.resolve(p)
                if p.get("in") == "path":
                    params.setdefault(p["name"], p)
        return params

    def _compile(self, template, item):
        params = self._path_params(item)
        regex = ""
        literal = 0
        for part in re.split(r"(\{[^}]+\})", template):
            if part.startswith("{") and part.endswith("}"):
                name = part[1:-1]
                schema = self.resolve(params.get(name, {}).get("schema", {}))
                if "pattern" in schema and schema.get("type", "string") == "string":
                    inner = schema["pattern"]
                    inner = inner[1:] if inner.startswith("^") else inner
                    inner = inner[:-1] if inner.endswith("$") else inner
                elif schema.get("type") == "integer":
                    inner = "[0-9]+"
                else:
                    inner = "[^/]+"
                regex += f"(?P<{name}>{inner})"
            else:
                regex += re.escape(part)
                literal += len(part)
        return re.compile("^" + regex + "$"), literal

    def match(self, method, path):
        """The Match for (method, path without query), or None when no path template fits."""
        path = path.split("?", 1)[0]
        candidates = []
        for regex, literal, order, template, item in self._routes:
            m = regex.match(path)
            if m:
                candidates.append((-literal, order, template, item, m.groupdict()))
        if not candidates:
            return None
        candidates.sort(key=lambda c: (c[0], c[1]))
        _, _, template, item, params = candidates[0]
        operation = item.get(method.lower())
        if operation is None and item.get("x-any-method"):
            operation = item.get("post") or item.get("get")  # any method is a check-in
        return Match(template, item, method.upper(), operation, params)

    def operations(self):
        """Every documented (METHOD, template, operation)."""
        for template, item in self.doc.get("paths", {}).items():
            for m in METHODS:
                if m in item:
                    yield m.upper(), template, item[m]

    def route_lines(self):
        """The spec in `overdue routes` format: 'ANY /ping/{uuid}' for x-any-method paths,
        'METHOD /path' otherwise. CORS preflight (OPTIONS) is not a route of its own."""
        lines = set()
        for template, item in self.doc.get("paths", {}).items():
            if item.get("x-any-method"):
                lines.add(f"ANY {template}")
                continue
            for m in METHODS:
                if m in item and m != "options":
                    lines.add(f"{m.upper()} {template}")
        return lines

    # ---- checks --------------------------------------------------------------------------

    def response_for(self, match, status):
        responses = match.operation.get("responses", {})
        for key in (str(status), f"{status // 100}XX", "default"):
            if key in responses:
                return self.resolve(responses[key])
        return None

    def check_response(self, method, path, status, headers, body):
        """Mismatches between a response and the spec. `headers`: a dict (any case);
        `body`: bytes or str."""
        m = self.match(method, path)
        if m is None:
            return [f"{method} {path}: no path in the spec matches"]
        if m.operation is None:
            return [f"{m.name}: method not documented (answered {status})"]
        resp = self.response_for(m, status)
        if resp is None:
            documented = ", ".join(sorted(m.operation.get("responses", {})))
            return [f"{m.name}: status {status} not documented (documented: {documented})"]
        where = f"{m.name} -> {status}"
        errors = []
        lower = {k.lower(): v for k, v in headers.items()}
        for name, h in (resp.get("headers") or {}).items():
            h = self.resolve(h)
            value = lower.get(name.lower())
            if value is None:
                if h.get("required"):
                    errors.append(f"{where}: header {name} missing")
                continue
            schema = self.resolve(h.get("schema", {}))
            instance = value
            if schema.get("type") == "integer":
                try:
                    instance = int(value)
                except ValueError:
                    errors.append(f"{where}: header {name}: {value!r} is not an integer")
                    continue
            errors += [f"{where}: header {name}: {e}" for e in self.validate(instance, schema)]
        if m.path_item.get("x-cors"):
            errors += [f"{where}: {e}" for e in self._check_cors(m.path_item, lower)]
        if isinstance(body, str):
            body = body.encode()
        content = resp.get("content")
        if method.upper() == "HEAD":
            if body:
                errors.append(f"{where}: a HEAD response has a body")
            return errors
        if not content:
            if body:
                errors.append(f"{where}: documented without a body, got {_short(repr(body))}")
            return errors
        mt = media_type(lower.get("content-type"))
        media = content.get(mt)
        if media is None:
            for pattern, candidate in content.items():
                if pattern == "*/*" or (pattern.endswith("/*") and
                                        mt.startswith(pattern[:-1])):
                    media = candidate
                    break
        if media is None:
            errors.append(f"{where}: Content-Type {lower.get('content-type')!r} not documented "
                          f"(documented: {', '.join(content)})")
            return errors
        schema = media.get("schema")
        if schema is None:
            return errors
        if is_json_media(mt):
            try:
                instance = json.loads(body)
            except ValueError:
                return errors + [f"{where}: body is not JSON: {_short(repr(body))}"]
        else:
            instance = body.decode("utf-8", errors="replace")
        errors += [f"{where}: {e}" for e in self.validate(instance, schema)]
        return errors

    @staticmethod
    def _check_cors(item, lower):
        """healthchecks' @cors headers, which every response of an x-cors path carries."""
        wrong = []
        methods = {m.upper() for m in METHODS if m in item and m != "options"} | {"OPTIONS"}
        want = {"Access-Control-Allow-Origin": "*",
                "Access-Control-Allow-Headers": "X-Api-Key",
                "Access-Control-Max-Age": "600"}
        for name, value in want.items():
            if lower.get(name.lower()) != value:
                wrong.append(f"{name}: {lower.get(name.lower())!r} (want {value!r})")
        got = lower.get("access-control-allow-methods")
        if got is None or {x.strip() for x in got.split(",")} != methods:
            wrong.append(f"Access-Control-Allow-Methods: {got!r} "
                         f"(want {', '.join(sorted(methods))}, any order)")
        return [f"CORS headers: {'; '.join(wrong)}"] if wrong else []

    def check_request_body(self, method, path, body, content_type="application/json"):
        """Mismatches between a request body (a JSON value, or bytes/str for other media)
        and the operation's documented request body."""
        m = self.match(method, path)
        if m is None or m.operation is None:
            return [f"{method} {path}: no documented operation"]
        rb = self.resolve(m.operation.get("requestBody")) if m.operation.get("requestBody") else None
        if rb is None:
            return [] if body in (None, b"", "") else [f"{m.name}: takes no request body"]
        if body is None:
            return [f"{m.name}: request body required"] if rb.get("required") else []
        media = rb.get("content", {}).get(content_type) or rb.get("content", {}).get("*/*")
        if media is None:
            return [f"{m.name}: request Content-Type {content_type} not documented"]
        if "schema" not in media:
            return []
        return [f"{m.name} request: {e}" for e in self.validate(body, media["schema"])]


def _short(text, limit=300):
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "..."
