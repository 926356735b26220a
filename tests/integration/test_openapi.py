"""docs/openapi.yaml against the real server.

1. The spec is structurally valid OpenAPI 3.0.3 (every $ref resolves, path
   parameters declared, unique operationIds, response codes, examples
   valid against their schemas, ...).
2. A scenario calls every operation of the spec against a running chatd
   and checks (c) every answer's status is listed for that operation and
   its JSON body matches the documented schema (required properties,
   types, enums, nullability, and no undocumented properties).
3. (a) Every route the server answered during the scenario (from its
   chatd_http_requests_total metric) is in the spec, with its method.
4. (b) Every path of the spec exists on the server with exactly the
   documented methods (OPTIONS answers 405 with an `Allow` header listing
   them; an unknown path answers 404), and each operation enforces its
   documented credential level (x-chatd-auth / x-chatd-principals).

Reading YAML: Debian's python3-yaml may be missing, so the spec is written
in a plain YAML subset (see the head of docs/openapi.yaml) that the small
reader below understands. When PyYAML is installed, both read the file and
must agree exactly, which keeps the file inside the subset.

Standard library only (the WebSocket handshake is done on a raw socket).
"""

import base64
import hashlib
import hmac
import json
import os
import re
import struct
import time
import unittest

from harness import (ADMIN_TOKEN, ServerTestCase, main, ws_handshake,
                     ws_read_frame)

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC_PATH = os.path.join(os.environ.get("CHATD_SRCDIR") or
                         os.path.join(HERE, "..", ".."), "docs", "openapi.yaml")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
AUTH_LEVELS = ("none", "user", "service", "admin")
PROVIDER_SECRET = "openapi-provider-secret-0123456789"


# --------------------------------------------------------------------------
# A reader for the YAML subset used by docs/openapi.yaml.

class YamlSubsetError(ValueError):
    pass


_AMBIGUOUS = re.compile(
    r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF|"
    r"[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?\.[0-9]+|"
    r"[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|0[xob][0-9a-fA-F_]+|"
    r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}.*|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+|"
    r"[-+]?[0-9]+_[0-9_]*|<<|=)$")


def _plain(text, where):
    """A plain scalar, resolved as YAML 1.1 would (a safe subset only)."""
    t = text.strip()
    if t == "":
        raise YamlSubsetError("%s: empty plain scalar" % where)
    if t[0] in "&*!%@`|>'\"#,[]{}?" or (t[0] in "-:" and (len(t) == 1 or t[1] == " ")):
        raise YamlSubsetError("%s: plain scalar cannot start with %r" % (where, t[0]))
    if ": " in t or t.endswith(":") or " #" in t or "\t" in t:
        raise YamlSubsetError("%s: plain scalar %r needs quotes" % (where, t))
    if t in ("null", "Null", "NULL", "~"):
        return None
    if t in ("true", "True", "TRUE"):
        return True
    if t in ("false", "False", "FALSE"):
        return False
    if re.match(r"^[-+]?(?:0|[1-9][0-9]*)$", t):
        return int(t)
    if _AMBIGUOUS.match(t):
        raise YamlSubsetError("%s: %r is ambiguous in YAML 1.1; quote it" % (where, t))
    return t


def _single_quoted(t, where):
    if len(t) < 2 or t[0] != "'" or t[-1] != "'":
        raise YamlSubsetError("%s: bad single-quoted scalar %r" % (where, t))
    inner = t[1:-1]
    if re.search(r"(?<!')'(?!')", inner.replace("''", "")):
        raise YamlSubsetError("%s: stray quote in %r" % (where, t))
    return inner.replace("''", "'")


def _double_quoted(t, where):
    if "\\" in t and re.search(r'\\[^"\\/bfnrtu]', t):
        raise YamlSubsetError("%s: escape outside the JSON set in %r" % (where, t))
    try:
        v = json.loads(t)
    except ValueError:
        raise YamlSubsetError("%s: bad double-quoted scalar %r" % (where, t))
    if not isinstance(v, str):
        raise YamlSubsetError("%s: bad double-quoted scalar %r" % (where, t))
    return v


class _Flow:
    """One-line flow collections: [a, 'b', "c"] and {k: v, "k": [..]}."""

    def __init__(self, text, where):
        self.s, self.i, self.where = text, 0, where

    def fail(self, what):
        raise YamlSubsetError("%s: %s at column %d of %r"
                              % (self.where, what, self.i, self.s))

    def ws(self):
        while self.i < len(self.s) and self.s[self.i] == " ":
            self.i += 1

    def quoted(self):
        q, j = self.s[self.i], self.i + 1
        while j < len(self.s):
            if q == '"' and self.s[j] == "\\":
                j += 2
                continue
            if self.s[j] == q:
                if q == "'" and j + 1 < len(self.s) and self.s[j + 1] == "'":
                    j += 2
                    continue
                break
            j += 1
        else:
            self.fail("unterminated string")
        tok, self.i = self.s[self.i:j + 1], j + 1
        return (_double_quoted if q == '"' else _single_quoted)(tok, self.where)

    def plain(self, stops):
        j = self.i
        while j < len(self.s) and self.s[j] not in stops:
            if self.s[j] == ":" and (j + 1 == len(self.s) or self.s[j + 1] in " ,]}"):
                break
            j += 1
        tok, self.i = self.s[self.i:j].strip(), j
        return _plain(tok, self.where)

    def value(self):
        self.ws()
        if self.i >= len(self.s):
            self.fail("missing value")
        c = self.s[self.i]
        if c == "[":
            return self.seq()
        if c == "{":
            return self.map()
        if c in "'\"":
            return self.quoted()
        return self.plain(",]}")

    def seq(self):
        self.i += 1
        out = []
        self.ws()
        if self.s[self.i:self.i + 1] == "]":
            self.i += 1
            return out
        while True:
            out.append(self.value())
            self.ws()
            c = self.s[self.i:self.i + 1]
            self.i += 1
            if c == "]":
                return out
            if c != ",":
                self.fail("expected , or ]")

    def map(self):
        self.i += 1
        out = {}
        self.ws()
        if self.s[self.i:self.i + 1] == "}":
            self.i += 1
            return out
        while True:
            self.ws()
            key = self.quoted() if self.s[self.i:self.i + 1] in ("'", '"') \
                else self.plain(",}")
            self.ws()
            if self.s[self.i:self.i + 1] != ":":
                self.fail("expected :")
            self.i += 1
            if self.s[self.i:self.i + 1] not in (" ", ""):
                self.fail("expected a space after :")
            if key in out:
                self.fail("duplicate key %r" % (key,))
            out[key] = self.value()
            self.ws()
            c = self.s[self.i:self.i + 1]
            self.i += 1
            if c == "}":
                return out
            if c != ",":
                self.fail("expected , or }")

    def parse(self):
        v = self.value()
        self.ws()
        if self.i != len(self.s):
            self.fail("trailing text")
        return v


def _scalar(text, where):
    t = text.strip()
    if t.startswith("'"):
        return _single_quoted(t, where)
    if t.startswith('"'):
        return _double_quoted(t, where)
    if t.startswith("[") or t.startswith("{"):
        return _Flow(t, where).parse()
    return _plain(t, where)


class _Line:
    __slots__ = ("indent", "text", "no")

    def __init__(self, indent, text, no):
        self.indent, self.text, self.no = indent, text, no


def yaml_subset_load(source):
    """Reads the YAML subset described in docs/openapi.yaml's header."""
    raw = source.split("\n")
    lines = []
    for no, line in enumerate(raw, 1):
        if "\t" in line[:len(line) - len(line.lstrip(" \t"))]:
            raise YamlSubsetError("line %d: tab in indentation" % no)
        lines.append(_Line(len(line) - len(line.lstrip(" ")), line.strip(), no))
    if any(l.text.startswith(("---", "...", "%", "&", "*", "!")) and l.indent == 0
           for l in lines):
        raise YamlSubsetError("directives, documents, anchors and tags are "
                              "outside the subset")

    def content(i):
        """Index of the next line with content (not blank, not a comment)."""
        while i < len(lines) and (lines[i].text == "" or lines[i].text.startswith("#")):
            i += 1
        return i

    def block_scalar(i, parent_indent, header, where):
        if header not in ("|", "|-", "|+"):
            raise YamlSubsetError("%s: only literal block scalars (|) are in the subset" % where)
        body = []
        ind = None
        while i < len(lines):
            l = lines[i]
            if l.text != "" and l.indent <= parent_indent:
                break
            if l.text != "" and ind is None:
                ind = l.indent
            body.append(raw[l.no - 1])
            i += 1
        if ind is None:
            return "", i
        out = []
        for r in body:
            if r.strip() == "":
                out.append("")
            elif len(r) - len(r.lstrip(" ")) < ind:
                raise YamlSubsetError("line: less indented block scalar line %r" % r)
            else:
                out.append(r[ind:])
        text = "\n".join(out)
        if header == "|-":
            return text.rstrip("\n"), i
        if header == "|+":
            return text + "\n", i
        return text.rstrip("\n") + "\n", i

    def value_after_key(i, indent, rest, where):
        """The value of `key:` whose remaining text is `rest`; i is past it."""
        if rest == "":
            j = content(i)
            if j < len(lines) and lines[j].indent > indent:
                return node(j, lines[j].indent)
            if j < len(lines) and lines[j].indent == indent and \
                    (lines[j].text == "-" or lines[j].text.startswith("- ")):
                raise YamlSubsetError("%s: a sequence must be indented under its key" % where)
            return None, i
        if rest.startswith("|") or rest.startswith(">"):
            return block_scalar(i, indent, rest, where)
        return _scalar(rest, where), i

    def split_key(text, where):
        if text.startswith("'") or text.startswith('"'):
            q = text[0]
            j = 1
            while j < len(text):
                if q == '"' and text[j] == "\\":
                    j += 2
                    continue
                if text[j] == q:
                    if q == "'" and text[j + 1:j + 2] == "'":
                        j += 2
                        continue
                    break
                j += 1
            key = _scalar(text[:j + 1], where)
            rest = text[j + 1:]
            if not rest.startswith(":") or rest[1:2] not in ("", " "):
                raise YamlSubsetError("%s: expected ': ' after a quoted key" % where)
            return key, rest[1:].strip()
        m = re.match(r"^([^\s'\"#][^:]*?|[^\s'\"#].*?[^\s]):(?: (.*)|)$", text)
        if not m or ": " in m.group(1):
            raise YamlSubsetError("%s: expected 'key: value', got %r" % (where, text))
        return _plain(m.group(1), where), (m.group(2) or "").strip()

    def mapping(i, indent):
        out = {}
        while True:
            i = content(i)
            if i >= len(lines) or lines[i].indent < indent:
                return out, i
            l = lines[i]
            where = "line %d" % l.no
            if l.indent > indent:
                raise YamlSubsetError("%s: unexpected indentation" % where)
            if l.text == "-" or l.text.startswith("- "):
                raise YamlSubsetError("%s: a sequence item inside a mapping" % where)
            key, rest = split_key(l.text, where)
            if isinstance(key, (dict, list)) or key is None:
                raise YamlSubsetError("%s: unsupported key" % where)
            if key in out:
                raise YamlSubsetError("%s: duplicate key %r" % (where, key))
            out[key], i = value_after_key(i + 1, indent, rest, where)

    def sequence(i, indent):
        out = []
        while True:
            i = content(i)
            if i >= len(lines) or lines[i].indent < indent:
                return out, i
            l = lines[i]
            where = "line %d" % l.no
            if l.indent > indent or not (l.text == "-" or l.text.startswith("- ")):
                raise YamlSubsetError("%s: expected a sequence item" % where)
            rest = l.text[1:].lstrip(" ")
            if rest == "":
                j = content(i + 1)
                if j >= len(lines) or lines[j].indent <= indent:
                    out.append(None)
                    i += 1
                    continue
                v, i = node(j, lines[j].indent)
                out.append(v)
                continue
            inner = indent + (len(l.text) - len(rest))
            is_map = not rest.startswith(("'", '"', "[", "{")) and \
                re.match(r"^[^\s#][^:]*:(?: |$)", rest)
            is_qmap = rest.startswith(("'", '"')) and re.match(
                r"^(?:'(?:[^']|'')*'|\"(?:[^\"\\]|\\.)*\"):(?: |$)", rest)
            if is_map or is_qmap:
                lines[i] = _Line(inner, rest, l.no)
                v, i = mapping(i, inner)
                out.append(v)
            else:
                if rest.startswith("|") or rest.startswith(">"):
                    raise YamlSubsetError("%s: block scalar as a sequence item" % where)
                out.append(_scalar(rest, where))
                i += 1

    def node(i, indent):
        l = lines[i]
        if l.text == "-" or l.text.startswith("- "):
            return sequence(i, indent)
        return mapping(i, indent)

    i = content(0)
    if i >= len(lines):
        return None
    if lines[i].indent != 0:
        raise YamlSubsetError("line %d: the document must start at column 0" % lines[i].no)
    v, i = node(i, 0)
    i = content(i)
    if i < len(lines):
        raise YamlSubsetError("line %d: unexpected text" % lines[i].no)
    return v


def load_spec():
    with open(SPEC_PATH, encoding="utf-8") as f:
        text = f.read()
    return yaml_subset_load(text), text


# --------------------------------------------------------------------------
# Schemas and the spec's structure.

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)$")


def resolve(spec, node):
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise AssertionError("external $ref %r" % ref)
        cur = spec
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(cur, dict) or part not in cur:
                raise AssertionError("unresolved $ref %r" % ref)
            cur = cur[part]
        node = cur
        seen += 1
        if seen > 20:
            raise AssertionError("$ref loop at %r" % ref)
    return node


def schema_errors(spec, value, schema, where="$", strict=True):
    """Problems of `value` against an OpenAPI 3.0 schema (a subset: $ref,
    allOf, nullable, type, enum, required, properties, items, min/max,
    minLength/maxLength, format date-time). With `strict`, an object whose
    schema lists properties may not carry others."""
    s = resolve(spec, schema)
    errs = []
    if value is None:
        if s.get("nullable"):
            return errs
        return ["%s: null is not allowed" % where]
    for sub in s.get("allOf", []):
        errs += schema_errors(spec, value, sub, where, strict)
    t = s.get("type")
    ok_type = {
        None: lambda v: True,
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
    }
    if t not in ok_type:
        return errs + ["%s: unknown schema type %r" % (where, t)]
    if not ok_type[t](value):
        return errs + ["%s: %r is not of type %s" % (where, value, t)]
    if "enum" in s and value not in s["enum"]:
        errs.append("%s: %r not in %r" % (where, value, s["enum"]))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in s and value < s["minimum"]:
            errs.append("%s: %r < minimum %r" % (where, value, s["minimum"]))
        if "maximum" in s and value > s["maximum"]:
            errs.append("%s: %r > maximum %r" % (where, value, s["maximum"]))
    if isinstance(value, str):
        if "minLength" in s and len(value) < s["minLength"]:
            errs.append("%s: shorter than %d" % (where, s["minLength"]))
        if "maxLength" in s and len(value) > s["maxLength"]:
            errs.append("%s: longer than %d" % (where, s["maxLength"]))
        if s.get("format") == "date-time" and not RFC3339.match(value):
            errs.append("%s: %r is not an RFC 3339 time" % (where, value))
        if "pattern" in s and not re.search(s["pattern"], value):
            errs.append("%s: %r does not match %r" % (where, value, s["pattern"]))
    if isinstance(value, dict):
        props = s.get("properties")
        for k in s.get("required", []):
            if k not in value:
                errs.append("%s: required property %r missing" % (where, k))
        if props is not None:
            for k, v in value.items():
                if k in props:
                    errs += schema_errors(spec, v, props[k], "%s.%s" % (where, k), strict)
                elif strict and not s.get("additionalProperties") and not s.get("allOf"):
                    errs.append("%s: property %r is not documented" % (where, k))
    if isinstance(value, list) and "items" in s:
        for n, v in enumerate(value):
            errs += schema_errors(spec, v, s["items"], "%s[%d]" % (where, n), strict)
    return errs


def walk(node, path=()):
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, path + (k,))
    elif isinstance(node, list):
        for n, v in enumerate(node):
            yield from walk(v, path + (n,))


def operations(spec):
    """(path, method, operation) for every operation, in file order."""
    for p, item in spec["paths"].items():
        for m, op in item.items():
            if m in METHODS:
                yield p, m, op


def op_parameters(spec, path, method):
    item = spec["paths"][path]
    params = {}
    for prm in item.get("parameters", []) + item[method].get("parameters", []):
        prm = resolve(spec, prm)
        params[(prm["name"], prm["in"])] = prm
    return params


def path_regex(template):
    return re.compile("^" + re.sub(r"\\\{[A-Za-z_][A-Za-z0-9_]*\\\}", "[^/]+",
                                   re.escape(template)) + "$")


def normalize(template):
    return re.sub(r"\{[^}/]+\}", "{}", template)


def structure_problems(spec):
    """Structural problems of an OpenAPI 3.0.3 document (empty if none)."""
    bad = []
    if spec.get("openapi") != "3.0.3":
        bad.append("openapi must be '3.0.3'")
    info = spec.get("info") or {}
    if not isinstance(info.get("title"), str) or not isinstance(info.get("version"), str):
        bad.append("info.title and info.version must be strings")
    if not isinstance(spec.get("paths"), dict) or not spec["paths"]:
        return bad + ["no paths"]
    for path, node in walk(spec):
        if isinstance(node, dict) and "$ref" in node:
            try:
                resolve(spec, node)
            except AssertionError as e:
                bad.append("%s: %s" % ("/".join(map(str, path)), e))
    if bad:
        return bad
    schemes = (spec.get("components") or {}).get("securitySchemes") or {}
    declared_tags = {t["name"] for t in spec.get("tags", [])}
    for req in spec.get("security", []):
        bad += ["unknown security scheme %r" % k for k in req if k not in schemes]
    ids = set()
    for p, item in spec["paths"].items():
        if not p.startswith("/"):
            bad.append("path %r must start with /" % p)
        for k in item:
            if k not in METHODS + ("parameters", "summary", "description", "servers"):
                bad.append("%s: unknown key %r" % (p, k))
    for p, m, op in operations(spec):
        where = "%s %s" % (m.upper(), p)
        oid = op.get("operationId")
        if not oid or oid in ids:
            bad.append("%s: missing or duplicate operationId %r" % (where, oid))
        ids.add(oid)
        for t in op.get("tags", []):
            if t not in declared_tags:
                bad.append("%s: undeclared tag %r" % (where, t))
        for req in op.get("security", []):
            bad += ["%s: unknown security scheme %r" % (where, k)
                    for k in req if k not in schemes]
        auth = op.get("x-chatd-auth")
        if auth not in AUTH_LEVELS:
            bad.append("%s: x-chatd-auth must be one of %r" % (where, AUTH_LEVELS))
        elif auth == "none" and not (op.get("security") == [] or {} in op.get("security", [])):
            bad.append("%s: x-chatd-auth none but security requires a token" % where)
        elif auth != "none" and op.get("security") == []:
            bad.append("%s: x-chatd-auth %s but security is empty" % (where, auth))
        params = op_parameters(spec, p, m)
        names = set(re.findall(r"\{([^}/]+)\}", p))
        for name in names:
            prm = params.get((name, "path"))
            if prm is None or prm.get("required") is not True:
                bad.append("%s: path parameter %r not declared as required" % (where, name))
        for (name, loc), prm in params.items():
            if loc == "path" and name not in names:
                bad.append("%s: path parameter %r not in the path" % (where, name))
            if loc not in ("path", "query", "header", "cookie"):
                bad.append("%s: parameter %r in %r" % (where, name, loc))
            if "schema" not in prm and "content" not in prm:
                bad.append("%s: parameter %r has no schema" % (where, name))
        responses = op.get("responses") or {}
        if not responses:
            bad.append("%s: no responses" % where)
        for code, resp in responses.items():
            if not isinstance(code, str) or not re.match(r"^(?:[1-5](?:[0-9]{2}|XX)|default)$", code):
                bad.append("%s: response code %r must be a quoted string" % (where, code))
            resp = resolve(spec, resp)
            if not isinstance(resp.get("description"), str):
                bad.append("%s %s: no description" % (where, code))
        body = op.get("requestBody")
        if body is not None and "content" not in resolve(spec, body):
            bad.append("%s: requestBody without content" % where)
    for path, node in walk(spec):
        if not isinstance(node, dict):
            continue
        here = "/".join(map(str, path))
        if isinstance(node.get("properties"), dict) and isinstance(node.get("required"), list):
            for k in node["required"]:
                if k not in node["properties"]:
                    bad.append("%s: required %r is not a property" % (here, k))
        # Examples must match their schema.
        if "schema" in node and "example" in node and len(path) >= 2 and \
                path[-2] == "content" and path[-1].endswith("json"):
            bad += schema_errors(spec, node["example"], node["schema"], here + "/example")
        if "schema" in node and "examples" in node:
            for name, ex in node["examples"].items():
                bad += schema_errors(spec, resolve(spec, ex).get("value"), node["schema"],
                                     "%s/examples/%s" % (here, name))
        if len(path) >= 3 and path[-2] == "schemas" and path[-3] == "components" \
                and "example" in node:
            bad += schema_errors(spec, node["example"], node, here + "/example")
    return bad


# --------------------------------------------------------------------------

class OpenApiStaticTest(unittest.TestCase):
    def test_reader_agrees_with_pyyaml(self):
        try:
            import yaml
        except ImportError:
            self.skipTest("PyYAML not installed; the subset reader alone is used")
        spec, text = load_spec()
        self.assertEqual(spec, yaml.safe_load(text))

    def test_spec_is_valid_openapi(self):
        spec, _ = load_spec()
        problems = structure_problems(spec)
        self.assertEqual(problems, [], "\n".join(problems))

    def test_subset_reader_refuses_what_it_does_not_know(self):
        for bad in ("a: b: c\n", "a: `x`\n", "a: yes\n", "a: 1.5\n",
                    "a:\n- x\n", "a: >\n  folded\n", "a: &x 1\n", "a: [1, 2\n",
                    "a: 1\na: 2\n", "a: x #c\n", "k: 2026-01-01\n"):
            with self.assertRaises(YamlSubsetError, msg=bad):
                yaml_subset_load(bad)
        self.assertEqual(yaml_subset_load(
            "a:\n  - x: 1\n    z: 'it''s'\n  - [1, \"two\", {k: v}]\n"
            "b: |\n  one\n\n  two\nc: null\n"),
            {"a": [{"x": 1, "z": "it's"}, [1, "two", {"k": "v"}]],
             "b": "one\n\ntwo\n", "c": None})


class OpenApiServerTest(ServerTestCase):
    # relaxed: this test is about shapes, not durability; a small max_body
    # makes 413 cheap to provoke.
    server_config = {"durability": "relaxed", "http": {"max_body": 4096},
                     "payment_notice": {"provider_secret": PROVIDER_SECRET}}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.spec, _ = load_spec()
        cls.ops = {op["operationId"]: (p, m, op) for p, m, op in operations(cls.spec)}

    # -- one documented call --------------------------------------------
    def call(self, op_id, path, expect, token=None, body=None, raw=None,
             headers=None, query=""):
        if op_id not in self.ops:
            self.fail("operation %s is not in docs/openapi.yaml" % op_id)
        p, m, op = self.ops[op_id]
        self.assertRegex(path, path_regex(p), "%s: %s does not match %s" % (op_id, path, p))
        r = self.server.request(m.upper(), path + query, body=body, raw=raw,
                                token=token, headers=headers)
        self.assertEqual(r.status, expect, "%s %s%s: %r" % (m.upper(), path, query, r))
        self.check_answer(op_id, r)
        return r

    def check_answer(self, op_id, r):
        p, m, op = self.ops[op_id]
        self.seen.setdefault(op_id, set()).add(r.status)
        code = str(r.status)
        self.assertIn(code, op["responses"],
                      "%s answered %d, which the spec does not list" % (op_id, r.status))
        self.assertTrue(r.header("X-Request-Id"), "%s: no X-Request-Id" % op_id)
        resp = resolve(self.spec, op["responses"][code])
        for h in resp.get("headers", {}):
            if h in ("X-Request-Id", "Retry-After", "WWW-Authenticate",
                     "Sec-WebSocket-Version"):
                self.assertIsNotNone(r.header(h), "%s %d: header %s missing" % (op_id, r.status, h))
        content = resp.get("content") or {}
        if "application/json" in content:
            self.assertTrue((r.header("Content-Type") or "").startswith("application/json"))
            self.assertIsNotNone(r.json, "%s: body is not JSON: %r" % (op_id, r.body))
            errs = schema_errors(self.spec, r.json, content["application/json"]["schema"])
            self.assertEqual(errs, [], "%s %d %s" % (op_id, r.status, r.body[:400]))
        elif "text/plain" in content:
            self.assertTrue((r.header("Content-Type") or "").startswith("text/plain"))

    def err(self, r, code):
        self.assertEqual(r.json["error"]["code"], code, r)

    # -- the scenario ---------------------------------------------------
    def test_scenario(self):
        self.seen = {}
        s = self.server
        A = ADMIN_TOKEN
        tag = os.urandom(3).hex()

        # operator
        self.call("getHealth", "/healthz", 200)
        self.call("getReady", "/readyz", 200)

        # identity
        users = {}
        for name in ("alice", "bob", "carol"):
            r = self.call("createUser", "/v1/users", 201, A, {"name": name + tag})
            users[name] = (r.json["id"], r.json["token"])
        (al, alt), (bo, bot), (ca, cat) = users["alice"], users["bob"], users["carol"]
        r = self.call("createUser", "/v1/users", 201, A,
                      {"name": "indexer" + tag, "kind": "service"})
        svc, svt = r.json["id"], r.json["token"]
        self.assertEqual(r.json["kind"], "service")
        self.err(self.call("createUser", "/v1/users", 409, A, {"name": "alice" + tag}), "conflict")
        self.err(self.call("createUser", "/v1/users", 400, A, {"name": ""}), "invalid_argument")
        self.err(self.call("createUser", "/v1/users", 415, A, raw=b'{"name":"x"}',
                           headers={"Content-Type": "text/plain"}), "unsupported_media_type")
        self.err(self.call("createUser", "/v1/users", 403, alt, {"name": "x"}), "forbidden")
        self.err(self.call("createUser", "/v1/users", 401, None, {"name": "x"}), "unauthenticated")

        r = self.call("issueToken", "/v1/users/%s/tokens" % bo, 201, A)
        self.assertEqual(r.json["user_id"], bo)
        bot = r.json["token"]  # the new token works; so does the old one
        self.err(self.call("issueToken", "/v1/users/u_nobody/tokens", 404, A), "not_found")

        # revocation: the caller's own token, then every token of an account
        spare = self.call("issueToken", "/v1/users/%s/tokens" % al, 201, A).json["token"]
        r = self.call("rotateMyToken", "/v1/me/token", 201, spare)
        self.err(self.call("rotateMyToken", "/v1/me/token", 401, spare), "unauthenticated")
        self.err(self.call("rotateMyToken", "/v1/me/token", 403, A), "forbidden")
        spare = r.json["token"]
        self.call("revokeMyToken", "/v1/me/token", 204, spare)
        self.err(self.call("revokeMyToken", "/v1/me/token", 401, spare), "unauthenticated")
        self.err(self.call("revokeMyToken", "/v1/me/token", 403, A), "forbidden")
        r = self.call("createUser", "/v1/users", 201, A, {"name": "dave" + tag})
        dv = r.json["id"]
        r = self.call("revokeUserTokens", "/v1/users/%s/tokens" % dv, 200, A)
        self.assertEqual(r.json, {"user_id": dv, "revoked": 1})
        self.err(self.call("revokeUserTokens", "/v1/users/u_nobody/tokens", 404, A), "not_found")
        self.err(self.call("revokeUserTokens", "/v1/users/%s/tokens" % dv, 403, alt), "forbidden")

        r = self.call("getMe", "/v1/me", 200, alt, headers={"X-Request-Id": "it-openapi.me:1"})
        self.assertEqual((r.json["id"], r.header("X-Request-Id")), (al, "it-openapi.me:1"))
        self.assertIn("created_at", r.json)
        r = self.call("getMe", "/v1/me", 200, A, headers={"X-Request-Id": "not valid"})
        self.assertEqual(r.json, {"id": "admin", "name": "admin", "kind": "admin"})
        self.assertNotEqual(r.header("X-Request-Id"), "not valid")
        self.assertEqual(self.call("getMe", "/v1/me", 200, svt).json["kind"], "service")
        self.assertEqual(self.call("getMe", "/v1/me", 200, users["bob"][1]).json["id"], bo)
        self.call("getMe", "/v1/me", 401, "ct_wrong")

        r = self.call("getUser", "/v1/users/" + bo, 200, alt)
        self.assertNotIn("created_at", r.json)
        self.call("getUser", "/v1/users/u_nobody", 404, alt)

        # rooms
        ctx = "listing:" + tag
        r = self.call("createRoom", "/v1/rooms", 201, alt,
                      {"kind": "direct", "members": [bo], "context": ctx})
        dm = r.json["id"]
        self.assertEqual(sorted(r.json["members"]), sorted([al, bo]))
        r = self.call("createRoom", "/v1/rooms", 200, bot,
                      {"kind": "direct", "members": [al], "context": ctx})
        self.assertEqual(r.json["id"], dm)
        r = self.call("createRoom", "/v1/rooms", 201, alt,
                      {"kind": "group", "title": "Weekend hike", "members": [bo]})
        grp = r.json["id"]
        self.assertNotIn("members", r.json)
        self.err(self.call("createRoom", "/v1/rooms", 422, alt,
                           {"kind": "direct", "members": ["u_nobody"]}), "unknown_user")
        self.err(self.call("createRoom", "/v1/rooms", 400, alt, {"kind": "channel"}),
                 "invalid_argument")
        self.err(self.call("createRoom", "/v1/rooms", 400, alt, raw=b"{",
                           headers={"Content-Type": "application/json"}), "invalid_json")
        self.err(self.call("createRoom", "/v1/rooms", 403, A, {"kind": "group", "title": "x"}),
                 "forbidden")

        self.call("getRoom", "/v1/rooms/" + dm, 200, alt)
        self.err(self.call("getRoom", "/v1/rooms/" + dm, 404, cat), "not_found")

        # members
        r = self.call("addMember", "/v1/rooms/%s/members" % grp, 201, bot, {"user": ca})
        self.assertEqual(r.json["user"], ca)
        self.call("addMember", "/v1/rooms/%s/members" % grp, 200, bot, {"user": ca})
        self.err(self.call("addMember", "/v1/rooms/%s/members" % dm, 422, alt, {"user": ca}),
                 "direct_room")
        self.err(self.call("addMember", "/v1/rooms/%s/members" % grp, 422, alt, {"user": svc}),
                 "unknown_user")
        r = self.call("listMembers", "/v1/rooms/%s/members" % grp, 200, alt)
        self.assertEqual(sorted(m["user"] for m in r.json["members"]), sorted([al, bo, ca]))
        self.err(self.call("removeMember", "/v1/rooms/%s/members/%s" % (grp, ca), 403, bot),
                 "forbidden")
        r = self.call("removeMember", "/v1/rooms/%s/members/%s" % (grp, ca), 200, alt)
        self.assertEqual(r.json, {"room": grp, "user": ca, "removed": True})
        self.call("removeMember", "/v1/rooms/%s/members/%s" % (grp, ca), 404, alt)

        # messages
        mp = "/v1/rooms/%s/messages" % dm
        first = {"text": "Hi! Is the bike still available?", "client_msg_id": "c-1-" + tag}
        r = self.call("postMessage", mp, 201, alt, first,
                      headers={"X-Request-Id": "it-post-" + tag})
        m1 = r.json
        self.assertEqual((m1["seq"], m1["sender"], m1["room"]), (1, al, dm))
        r = self.call("postMessage", mp, 200, alt, first)
        self.assertEqual(r.json["id"], m1["id"])
        self.err(self.call("postMessage", mp, 409, alt,
                           {"text": "other", "client_msg_id": first["client_msg_id"]}), "conflict")
        for n, text in enumerate(("Yes! Want to see it tomorrow?", "Around 6pm works for me.")):
            r = self.call("postMessage", mp, 201, bot, {"text": text, "client_msg_id": "c-b%d" % n})
            self.assertEqual(r.json["seq"], n + 2)
        self.err(self.call("postMessage", mp, 404, cat, {"text": "hi"}), "not_found")
        self.err(self.call("postMessage", mp, 400, alt, {"text": "   "}), "invalid_argument")
        self.err(self.call("postMessage", mp, 403, alt, {"text": "x", "kind": "system"}),
                 "forbidden")
        self.err(self.call("postMessage", mp, 413, alt, {"text": "x" * 5000}), "too_large")

        r = self.call("listMessages", mp, 200, alt, query="?limit=2")
        self.assertEqual([m["seq"] for m in r.json["messages"]], [3, 2])
        self.assertEqual(r.json["next_cursor"], 2)
        r = self.call("listMessages", mp, 200, alt, query="?before=2")
        self.assertEqual(([m["seq"] for m in r.json["messages"]], r.json["next_cursor"]), ([1], None))
        r = self.call("listMessages", mp, 200, alt, query="?after=1")
        self.assertEqual([m["seq"] for m in r.json["messages"]], [2, 3])
        self.call("listMessages", mp, 400, alt, query="?after=1&before=3")
        self.call("listMessages", mp, 404, cat)

        r = self.call("editMessage", mp + "/3", 200, bot, {"text": "Around 6:30pm works for me."})
        self.assertIsNotNone(r.json["edited_at"])
        self.call("editMessage", mp + "/3", 403, alt, {"text": "mine now"})
        self.call("editMessage", mp + "/99", 404, bot, {"text": "nothing here"})
        r = self.call("deleteMessage", mp + "/2", 200, bot)
        self.assertEqual((r.json["deleted"], r.json["text"]), (True, None))
        self.err(self.call("editMessage", mp + "/2", 422, bot, {"text": "again"}), "message_deleted")
        self.call("deleteMessage", mp + "/1", 403, bot)

        # reads, inbox
        r = self.call("listRooms", "/v1/rooms", 200, alt)
        mine = {x["id"]: x for x in r.json["rooms"]}
        self.assertEqual((mine[dm]["unread"], mine[dm]["last_seq"]), (2, 3))
        self.assertEqual(mine[dm]["last_message"]["seq"], 3)
        r = self.call("markRead", "/v1/rooms/%s/read" % dm, 200, alt, {"seq": 3})
        self.assertEqual((r.json["read_seq"], r.json["unread"]), (3, 0))
        self.err(self.call("markRead", "/v1/rooms/%s/read" % dm, 400, alt, {"seq": 9}),
                 "invalid_argument")
        r = self.call("listRooms", "/v1/rooms", 200, bot, query="?limit=1")
        self.assertIsInstance(r.json["next_cursor"], str)
        r2 = self.call("listRooms", "/v1/rooms", 200, bot, query="?limit=1&cursor=" + r.json["next_cursor"])
        self.assertNotEqual(r2.json["rooms"][0]["id"], r.json["rooms"][0]["id"])
        self.call("listRooms", "/v1/rooms", 400, bot, query="?cursor=nonsense")

        # typing, presence
        tp = "/v1/rooms/%s/typing" % dm
        self.call("sendTyping", tp, 200, alt)
        self.err(self.call("sendTyping", tp, 429, alt), "rate_limited")
        r = self.call("getPresence", "/v1/rooms/%s/presence" % dm, 200, alt)
        self.assertEqual(sorted(x["user"] for x in r.json["members"]), sorted([al, bo]))
        r = self.call("announcePresence", "/v1/presence", 200, alt, {"online": True})
        self.assertEqual(r.json, {"user": al, "online": True})
        self.err(self.call("announcePresence", "/v1/presence", 400, alt, {"online": 1}),
                 "invalid_argument")

        # blocks
        bp = "/v1/users/%s/block" % al
        self.assertEqual(self.call("blockUser", bp, 200, bot).json, {"user": al, "blocked": True})
        self.err(self.call("postMessage", mp, 422, alt, {"text": "hello?"}), "blocked")
        self.call("blockUser", "/v1/users/%s/block" % bo, 400, bot)
        self.call("blockUser", "/v1/users/u_nobody/block", 404, bot)
        self.assertEqual(self.call("unblockUser", bp, 200, bot).json, {"user": al, "blocked": False})
        self.call("unblockUser", "/v1/users/%s/block" % bo, 400, bot)

        # the event feed
        r = self.call("listEvents", "/v1/events", 200, svt, query="?after=0&limit=1000")
        evs = r.json["events"]
        self.assertEqual([e["seq"] for e in evs], list(range(1, len(evs) + 1)))
        self.assertEqual(r.json["next_after"], evs[-1]["seq"])
        posted = [e for e in evs if e["type"] == "chat.message_posted"
                  and e["data"].get("id") == m1["id"]]
        self.assertEqual(len(posted), 1)
        self.assertEqual((posted[0]["correlation_id"], posted[0]["actor"]),
                         ("it-post-" + tag, "user:" + al))
        last = r.json["last_seq"]
        t0 = time.monotonic()
        r = self.call("listEvents", "/v1/events", 200, A, query="?after=%d&wait=1" % last)
        self.assertEqual((r.json["events"], r.json["next_after"]), ([], last))
        self.assertGreater(time.monotonic() - t0, 0.5)
        self.call("listEvents", "/v1/events", 400, svt, query="?limit=5000")
        self.call("listEvents", "/v1/events", 403, alt)

        # the WebSocket endpoint
        self.call("openWebSocket", "/v1/ws", 400, alt)
        key = base64.b64encode(os.urandom(16)).decode()
        hs = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": key}
        for version, token, status in (("8", None, 426), ("13", "ct_wrong", 401), ("13", alt, 101)):
            h = dict(hs, **{"Sec-WebSocket-Version": version})
            if token:
                h["Authorization"] = "Bearer " + token
            code, head, sock, rest = ws_handshake(s.port, h)
            try:
                self.assertEqual(code, status, head)
                self.seen.setdefault("openWebSocket", set()).add(code)
                self.assertIn(str(code), self.ops["openWebSocket"][2]["responses"])
                self.assertRegex(head, r"(?im)^X-Request-Id: \S+")
                if code == 101:
                    op, payload, rest = ws_read_frame(sock, rest)
                    hello = json.loads(payload)
                    self.assertEqual((op, hello["type"], hello["user"]), (1, "hello", al))
                    self.assertIsInstance(hello["epoch"], str)
                    self.assertIsInstance(hello["pos"], int)
                    sock.sendall(struct.pack("!BBI", 0x88, 0x80 | 2, 0) + struct.pack("!H", 1000))
            finally:
                sock.close()

        # payments (the payment_notice module)
        wp = "/v1/wallets/%s/deposits" % al
        dep = {"amount": 50000, "idempotency_key": "topup-" + tag}
        r = self.call("createDeposit", wp, 201, svt, dep)
        self.assertEqual((r.json["balance"], r.json["currency"]), (50000, "KRW"))
        self.assertEqual(self.call("createDeposit", wp, 200, A, dep).json, r.json)
        self.err(self.call("createDeposit", wp, 409, A, dict(dep, amount=1)), "conflict")
        self.err(self.call("createDeposit", wp, 400, A, {"amount": 0}), "invalid_argument")
        self.err(self.call("createDeposit", "/v1/wallets/u_nobody/deposits", 404, A,
                           {"amount": 1, "idempotency_key": "k-" + tag}), "not_found")
        self.err(self.call("createDeposit", wp, 403, alt, dep), "forbidden")
        tp = "/v1/rooms/%s/transfers" % dm
        xfer = {"to": bo, "amount": 5000, "memo": "bike deposit",
                "idempotency_key": "pay-" + tag}
        r = self.call("createTransfer", tp, 201, alt, xfer)
        tid = r.json["id"]
        self.assertEqual(self.call("createTransfer", tp, 200, alt, xfer).json["id"], tid)
        self.err(self.call("createTransfer", tp, 409, alt, dict(xfer, amount=1)), "conflict")
        self.err(self.call("createTransfer", tp, 422, alt,
                           dict(xfer, amount=10 ** 6, idempotency_key="big-" + tag)),
                 "insufficient_funds")
        self.err(self.call("createTransfer", tp, 404, cat,
                           dict(xfer, idempotency_key="c-" + tag)), "not_found")
        self.err(self.call("createTransfer", tp, 400, alt, {"to": bo}), "invalid_argument")
        self.err(self.call("createTransfer", tp, 403, A, xfer), "forbidden")
        r = self.call("getWallet", "/v1/wallet", 200, alt)
        self.assertEqual(r.json["balance"], 45000)
        self.err(self.call("getWallet", "/v1/wallet", 403, svt), "forbidden")
        r = self.call("getWalletHistory", "/v1/wallet/history", 200, alt, query="?limit=1")
        self.assertEqual((r.json["entries"][0]["type"], r.json["next_cursor"]),
                         ("transfer_sent", "2"))
        r = self.call("getWalletHistory", "/v1/wallet/history", 200, alt,
                      query="?cursor=" + r.json["next_cursor"])
        self.assertEqual([e["type"] for e in r.json["entries"]], ["deposit"])
        self.call("getWalletHistory", "/v1/wallet/history", 400, alt, query="?limit=0")
        self.assertEqual(self.call("getTransfer", "/v1/transfers/" + tid, 200, bot).json["id"], tid)
        self.err(self.call("getTransfer", "/v1/transfers/" + tid, 404, cat), "not_found")
        rp = "/v1/transfers/%s/refund" % tid
        self.err(self.call("refundTransfer", rp, 403, alt), "forbidden")
        self.err(self.call("refundTransfer", rp, 404, cat), "not_found")
        r = self.call("refundTransfer", rp, 200, bot)
        self.assertEqual(r.json["status"], "refunded")
        self.call("refundTransfer", rp, 200, bot)
        self.err(self.call("createTransfer", tp, 422, bot,
                           {"to": bo, "amount": 1, "idempotency_key": "self-" + tag}),
                 "self_transfer")
        notice = {"id": "pg-" + tag, "room_id": dm, "text": "Card payment of 12,000 KRW confirmed",
                  "amount": 12000, "currency": "KRW", "status": "paid"}
        raw = json.dumps(notice).encode()
        sig = hmac.new(PROVIDER_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        hdr = {"Content-Type": "application/json", "X-Payment-Signature": sig}
        r = self.call("postProviderNotice", "/v1/payments/notices", 201, svt, raw=raw, headers=hdr)
        self.assertEqual(r.json["text"], notice["text"])
        self.call("postProviderNotice", "/v1/payments/notices", 200, A, raw=raw, headers=hdr)
        self.err(self.call("postProviderNotice", "/v1/payments/notices", 401, svt, raw=raw,
                           headers=dict(hdr, **{"X-Payment-Signature": "00" * 32})),
                 "unauthenticated")
        self.err(self.call("postProviderNotice", "/v1/payments/notices", 403, alt, raw=raw,
                           headers=hdr), "forbidden")

        r = self.call("getDailyStats", "/v1/stats/daily", 200, A,
                      query="?from=2026-01-01&to=2026-12-31")
        self.assertEqual(len(r.json["days"]), 365)
        self.err(self.call("getDailyStats", "/v1/stats/daily", 400, A,
                           query="?from=2026-02-30&to=2026-03-01"), "invalid_argument")
        self.err(self.call("getDailyStats", "/v1/stats/daily", 403, alt,
                           query="?from=2026-01-01&to=2026-01-01"), "forbidden")

        self.call("getMetrics", "/metrics", 200)

        # Every documented operation was called successfully.
        missing = [o for o in self.ops
                   if not any(200 <= c < 300 or c == 101 for c in self.seen.get(o, ()))]
        self.assertEqual(missing, [], "operations without a successful call")

        self.check_routes_answered_are_documented()
        self.check_documented_paths_exist()
        self.check_contract_routes_when_present()
        # an operation that revokes the caller's token gets tokens of its own
        issue = lambda uid: self.server.request(
            "POST", "/v1/users/%s/tokens" % uid, token=A).json["token"]
        self.check_auth_levels({"user": alt, "service": svt, "admin": A},
                               fresh={"user": lambda: issue(al),
                                      "service": lambda: issue(svc)})

    # -- (a) ------------------------------------------------------------
    def check_routes_answered_are_documented(self):
        documented = {(normalize(p), m.upper()) for p, m, _ in operations(self.spec)}
        text = self.server.get("/metrics").body
        answered = set()
        for route, method, status in re.findall(
                r'^chatd_http_requests_total\{route="([^"]*)",method="([^"]*)",status="([^"]*)"\}',
                text, re.M):
            if route == "unmatched" or status == "405":
                continue  # 404s for unknown paths; 405s carry a neighbour's pattern
            answered.add((normalize(route), method))
        self.assertGreaterEqual(len(answered), len(documented))
        self.assertEqual(sorted(answered - documented), [],
                         "routes the server answered that docs/openapi.yaml lacks")

    # -- (b) ------------------------------------------------------------
    def check_documented_paths_exist(self):
        probe = {"room_id": "r_probe", "user_id": "u_probe", "seq": "1",
                 "transfer_id": "t_probe"}
        r = self.server.request("OPTIONS", "/v1/no/such/path/here")
        self.assertEqual(r.status, 404, r)
        for p, item in self.spec["paths"].items():
            concrete = re.sub(r"\{([^}]+)\}", lambda m: probe[m.group(1)], p)
            r = self.server.request("OPTIONS", concrete)
            self.assertEqual(r.status, 405, "%s (%s): %r" % (p, concrete, r))
            allow = {x.strip() for x in (r.header("Allow") or "").split(",") if x.strip()}
            methods = {m.upper() for m in item if m in METHODS}
            self.assertEqual(allow, methods, "%s: server allows %s" % (p, sorted(allow)))

    # Routes CONTRACT.md promises for modules (payment notice and
    # analytics, both shipped and called above): whenever the server has
    # one, the spec must too.
    CONTRACT_ONLY = ("/v1/wallets/u_probe/deposits", "/v1/wallet", "/v1/wallet/history",
                     "/v1/rooms/r_probe/transfers", "/v1/transfers/t_probe",
                     "/v1/transfers/t_probe/refund", "/v1/payments/notices",
                     "/v1/stats/daily")

    def check_contract_routes_when_present(self):
        documented = [path_regex(p) for p in self.spec["paths"]]
        for concrete in self.CONTRACT_ONLY:
            r = self.server.request("OPTIONS", concrete)
            if r.status == 404:
                continue
            self.assertTrue(any(rx.match(concrete) for rx in documented),
                            "the server has %s (%s) but docs/openapi.yaml does not"
                            % (concrete, r.header("Allow")))

    def check_auth_levels(self, tokens, fresh):
        probe = {"room_id": "r_probe", "user_id": "u_probe", "seq": "1",
                 "transfer_id": "t_probe"}
        for oid, (p, m, op) in self.ops.items():
            revokes = op.get("x-chatd-revokes-token") is True
            level = op["x-chatd-auth"]
            if level == "none" or p == "/v1/ws":
                continue
            path = re.sub(r"\{([^}]+)\}", lambda mm: probe[mm.group(1)], p)
            r = self.server.request(m.upper(), path)
            self.assertEqual(r.status, 401, "%s without a token: %r" % (oid, r))
            self.assertEqual(r.header("WWW-Authenticate"), "Bearer")
            rank = AUTH_LEVELS.index(level)
            allowed = op.get("x-chatd-principals") or AUTH_LEVELS[rank:]
            for kind, tok in tokens.items():
                if revokes and kind in fresh:
                    tok = fresh[kind]()
                r = self.server.request(m.upper(), path, token=tok)
                if kind in allowed:
                    self.assertNotIn(r.status, (401, 403), "%s as %s: %r" % (oid, kind, r))
                else:
                    self.assertEqual(r.status, 403, "%s as %s: %r" % (oid, kind, r))
                    self.assertEqual(r.json["error"]["code"], "forbidden")


if __name__ == "__main__":
    main()
