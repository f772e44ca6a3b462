"""CloudFlow expressions: a small tokenizer + recursive-descent parser (never ``eval``).

One module (~520 lines): the grammar below, its tokenizer, parser, evaluator and built-in
functions are one small language; apart, each would only make sense beside the others.

Grammar (docs/SERVERLESS.md §1.5, §1.11)::

    expr     := or
    or       := and ( "||" and )*
    and      := cmp ( "&&" cmp )*
    cmp      := unary ( ("=="|"!="|"<"|"<="|">"|">=") unary )?
    unary    := "!" unary | "-" unary | primary
    primary  := NUMBER | STRING | true | false | null
              | PATH                      # $Input.a.b[0]  $Output…  $Context.Current.Error.Code
              | NAME "(" [expr ("," expr)*] ")"          # built-in function
              | "{" [STRING ":" expr ("," STRING ":" expr)*] "}"   # JSON template
              | "[" [expr ("," expr)*] "]"
              | "(" expr ")"

Strings: ``"…"`` (JSON escapes) or backquotes (raw). Paths: ``$Input``, ``$Output``, ``$Context``
then ``.name`` (letters, digits, ``_``, ``-``) or ``[int]`` / ``["key"]``.

Semantics (the local runner's choices where the docs are silent):
- a missing path is an error (``FnF.InvalidExpression``) in constructors, ``Parameters``,
  ``ItemsPath`` and ``Seconds.$``; in a Choice ``Condition`` it evaluates to ``null``;
- ``==``/``!=`` compare type-strictly (``5 == "5"`` is false);
- ``<``/``<=``/``>``/``>=`` need two numbers or two strings; with ``null`` on either side they
  are false; any other mix is an ``FnF.InvalidExpression`` error;
- ``&&``/``||``/``!`` need booleans (or ``null``, taken as false).
"""
from __future__ import annotations

import base64
import json
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

MAX_CALL_DEPTH = 10


class ExpressionError(Exception):
    """A syntax error (static) or an evaluation error (runtime ``FnF.InvalidExpression``)."""


# --------------------------------------------------------------------------------------
# tokenizer
@dataclass(frozen=True)
class Tok:
    kind: str      # num str name var op eof
    value: Any
    pos: int


_OPS = ("==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "-", "(", ")", "[", "]", "{", "}",
        ",", ":", ".")
_NUM_RE = re.compile(r"\d+(\.\d+)?([eE][+-]?\d+)?")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VAR_RE = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*")
_FIELD_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-]*")


def tokenize(src: str) -> list[Tok]:
    toks: list[Tok] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c.isspace():
            i += 1
            continue
        if c == '"':
            dec = json.JSONDecoder()
            try:
                val, end = dec.raw_decode(src, i)
            except ValueError:
                raise ExpressionError(f"unterminated or invalid string at {i} in {src!r}") from None
            toks.append(Tok("str", val, i))
            i = end
            continue
        if c == "`":
            end = src.find("`", i + 1)
            if end < 0:
                raise ExpressionError(f"unterminated backquote string at {i} in {src!r}")
            toks.append(Tok("str", src[i + 1:end], i))
            i = end + 1
            continue
        if c == "$":
            m = _VAR_RE.match(src, i)
            if not m:
                raise ExpressionError(f"bad variable at {i} in {src!r}")
            toks.append(Tok("var", m.group(0), i))
            i = m.end()
            # a path continues with .field / [index] directly after the variable
            while i < n and src[i] in ".[":
                if src[i] == ".":
                    fm = _FIELD_RE.match(src, i + 1)
                    if not fm:
                        raise ExpressionError(f"bad field name after '.' at {i} in {src!r}")
                    toks.append(Tok("field", fm.group(0), i))
                    i = fm.end()
                else:
                    j = i + 1
                    while j < n and src[j].isspace():
                        j += 1
                    if j < n and src[j] == '"':
                        try:
                            key, end = json.JSONDecoder().raw_decode(src, j)
                        except ValueError:
                            raise ExpressionError(f"bad key at {j} in {src!r}") from None
                        j = end
                    else:
                        nm = re.compile(r"-?\d+").match(src, j)
                        if not nm:
                            raise ExpressionError(f"bad index at {j} in {src!r}")
                        key, j = int(nm.group(0)), nm.end()
                    while j < n and src[j].isspace():
                        j += 1
                    if j >= n or src[j] != "]":
                        raise ExpressionError(f"missing ']' at {j} in {src!r}")
                    toks.append(Tok("index", key, i))
                    i = j + 1
            continue
        if c.isdigit():
            m = _NUM_RE.match(src, i)
            assert m
            text = m.group(0)
            toks.append(Tok("num", float(text) if any(ch in text for ch in ".eE") else int(text), i))
            i = m.end()
            continue
        if c.isalpha() or c == "_":
            m = _NAME_RE.match(src, i)
            assert m
            toks.append(Tok("name", m.group(0), i))
            i = m.end()
            continue
        for op in _OPS:
            if src.startswith(op, i):
                toks.append(Tok("op", op, i))
                i += len(op)
                break
        else:
            raise ExpressionError(f"unexpected character {c!r} at {i} in {src!r}")
    toks.append(Tok("eof", None, n))
    return toks


# --------------------------------------------------------------------------------------
# AST: tuples ("lit", v) ("path", var, [keys]) ("call", name, [args]) ("obj", [(k, e)])
#             ("arr", [e]) ("not", e) ("neg", e) ("and", a, b) ("or", a, b) ("cmp", op, a, b)
Node = tuple


class _Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.toks = tokenize(src)
        self.i = 0
        self.depth = 0

    def peek(self) -> Tok:
        return self.toks[self.i]

    def next(self) -> Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def accept(self, op: str) -> bool:
        t = self.peek()
        if t.kind == "op" and t.value == op:
            self.i += 1
            return True
        return False

    def expect(self, op: str) -> None:
        if not self.accept(op):
            t = self.peek()
            got = "end of expression" if t.kind == "eof" else repr(t.value)
            raise ExpressionError(f"expected {op!r} at {t.pos}, got {got} in {self.src!r}")

    def parse(self) -> Node:
        node = self.or_()
        t = self.peek()
        if t.kind != "eof":
            raise ExpressionError(f"unexpected {t.value!r} at {t.pos} in {self.src!r}")
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.accept("||"):
            node = ("or", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.cmp()
        while self.accept("&&"):
            node = ("and", node, self.cmp())
        return node

    def cmp(self) -> Node:
        node = self.unary()
        t = self.peek()
        if t.kind == "op" and t.value in ("==", "!=", "<", "<=", ">", ">="):
            self.i += 1
            node = ("cmp", t.value, node, self.unary())
            t2 = self.peek()
            if t2.kind == "op" and t2.value in ("==", "!=", "<", "<=", ">", ">="):
                raise ExpressionError(f"chained comparison at {t2.pos} in {self.src!r}; use && and parentheses")
        return node

    def unary(self) -> Node:
        if self.accept("!"):
            return ("not", self.unary())
        if self.accept("-"):
            return ("neg", self.unary())
        return self.primary()

    def primary(self) -> Node:
        t = self.next()
        if t.kind in ("num", "str"):
            return ("lit", t.value)
        if t.kind == "var":
            if t.value not in ("$Input", "$Output", "$Context"):
                raise ExpressionError(f"unknown variable {t.value} (use $Input, $Output or $Context) in {self.src!r}")
            keys = []
            while self.peek().kind in ("field", "index"):
                keys.append(self.next().value)
            return ("path", t.value[1:], keys)
        if t.kind == "name":
            if t.value in ("true", "false", "null"):
                return ("lit", {"true": True, "false": False, "null": None}[t.value])
            if not self.accept("("):
                raise ExpressionError(f"unknown name {t.value!r} at {t.pos} in {self.src!r} "
                                      "(strings need quotes; variables start with $)")
            if t.value not in FUNCTIONS:
                raise ExpressionError(f"unknown function {t.value}() in {self.src!r}; "
                                      f"known: {', '.join(sorted(FUNCTIONS))}")
            self.depth += 1
            if self.depth > MAX_CALL_DEPTH:
                raise ExpressionError(f"more than {MAX_CALL_DEPTH} nested function calls in {self.src!r}")
            args = []
            if not self.accept(")"):
                args.append(self.or_())
                while self.accept(","):
                    args.append(self.or_())
                self.expect(")")
            self.depth -= 1
            return ("call", t.value, args)
        if t.kind == "op" and t.value == "(":
            node = self.or_()
            self.expect(")")
            return node
        if t.kind == "op" and t.value == "{":
            items = []
            if not self.accept("}"):
                while True:
                    k = self.next()
                    if k.kind != "str":
                        raise ExpressionError(f"object key must be a string at {k.pos} in {self.src!r}")
                    self.expect(":")
                    items.append((k.value, self.or_()))
                    if self.accept("}"):
                        break
                    self.expect(",")
            return ("obj", items)
        if t.kind == "op" and t.value == "[":
            elems = []
            if not self.accept("]"):
                elems.append(self.or_())
                while self.accept(","):
                    elems.append(self.or_())
                self.expect("]")
            return ("arr", elems)
        got = "end of expression" if t.kind == "eof" else repr(t.value)
        raise ExpressionError(f"unexpected {got} at {t.pos} in {self.src!r}")


_CACHE: dict[str, Node] = {}


def parse(src: str) -> Node:
    """Parse an expression (cached); raises ``ExpressionError`` on bad syntax."""
    if not isinstance(src, str):
        raise ExpressionError(f"an expression must be a string, got {type(src).__name__}")
    node = _CACHE.get(src)
    if node is None:
        node = _Parser(src).parse()
        if len(_CACHE) < 10000:
            _CACHE[src] = node
    return node


def uses_output(node: Node) -> bool:
    """Whether an expression reads ``$Output``."""
    kind = node[0]
    if kind == "path":
        return node[1] == "Output"
    if kind == "lit":
        return False
    if kind in ("call", "arr"):
        return any(uses_output(a) for a in node[-1])
    if kind == "obj":
        return any(uses_output(e) for _, e in node[1])
    if kind in ("not", "neg"):
        return uses_output(node[1])
    if kind in ("and", "or"):
        return uses_output(node[1]) or uses_output(node[2])
    if kind == "cmp":
        return uses_output(node[2]) or uses_output(node[3])
    return False


# --------------------------------------------------------------------------------------
# evaluation
_MISSING = object()


def _lookup(env: dict[str, Any], var: str, keys: list, lenient: bool) -> Any:
    if var not in env:
        if lenient:
            return None
        where = "only inside an OutputConstructor" if var == "Output" else "here"
        raise ExpressionError(f"${var} is not available {where}")
    cur = env[var]
    path = f"${var}"
    for k in keys:
        if isinstance(k, int):
            path += f"[{k}]"
            ok = isinstance(cur, list) and -len(cur) <= k < len(cur)
            cur = cur[k] if ok else _MISSING
        else:
            path += f".{k}"
            cur = cur.get(k, _MISSING) if isinstance(cur, dict) else _MISSING
        if cur is _MISSING:
            if lenient:
                return None
            raise ExpressionError(f"{path} does not exist")
    return cur


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _bool(v: Any, what: str) -> bool:
    if v is None:
        return False
    if isinstance(v, bool):
        return v
    raise ExpressionError(f"{what} needs a boolean, got {json.dumps(v)[:80]}")


def _compare(op: str, a: Any, b: Any) -> bool:
    if op == "==":
        return type_eq(a, b)
    if op == "!=":
        return not type_eq(a, b)
    if a is None or b is None:
        return False
    if not ((_is_num(a) and _is_num(b)) or (isinstance(a, str) and isinstance(b, str))):
        raise ExpressionError(f"cannot compare {json.dumps(a)[:60]} {op} {json.dumps(b)[:60]} "
                              "(both sides must be numbers or both strings)")
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def type_eq(a: Any, b: Any) -> bool:
    if _is_num(a) and _is_num(b):
        return a == b
    if type(a) is not type(b):
        return False
    return a == b


def evaluate(node: Node, env: dict[str, Any], lenient: bool = False) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "path":
        return _lookup(env, node[1], node[2], lenient)
    if kind == "obj":
        return {k: evaluate(e, env, lenient) for k, e in node[1]}
    if kind == "arr":
        return [evaluate(e, env, lenient) for e in node[1]]
    if kind == "call":
        args = [evaluate(a, env, lenient) for a in node[2]]
        try:
            return FUNCTIONS[node[1]](*args)
        except ExpressionError:
            raise
        except Exception as exc:
            raise ExpressionError(f"{node[1]}(): {exc}") from None
    if kind == "not":
        return not _bool(evaluate(node[1], env, lenient), "!")
    if kind == "neg":
        v = evaluate(node[1], env, lenient)
        if not _is_num(v):
            raise ExpressionError(f"unary '-' needs a number, got {json.dumps(v)[:60]}")
        return -v
    if kind == "and":
        return _bool(evaluate(node[1], env, lenient), "&&") and _bool(evaluate(node[2], env, lenient), "&&")
    if kind == "or":
        return _bool(evaluate(node[1], env, lenient), "||") or _bool(evaluate(node[2], env, lenient), "||")
    if kind == "cmp":
        return _compare(node[1], evaluate(node[2], env, lenient), evaluate(node[3], env, lenient))
    raise ExpressionError(f"bad node {kind}")  # pragma: no cover


def eval_expr(src: str, env: dict[str, Any]) -> Any:
    """Evaluate a value expression (strict paths)."""
    return evaluate(parse(src), env, lenient=False)


def eval_condition(src: str, env: dict[str, Any]) -> bool:
    """Evaluate a Choice condition (missing paths are ``null``); the result must be boolean."""
    v = evaluate(parse(src), env, lenient=True)
    if not isinstance(v, bool):
        raise ExpressionError(f"condition {src!r} did not evaluate to a boolean (got {json.dumps(v)[:60]})")
    return v


# --------------------------------------------------------------------------------------
# constructors: {"key": literal, "key.$": expression, "nested": {...}}
def check_template(tpl: Any, where: str, problems: list[str], allow_output: bool) -> None:
    """Static check of a constructor / Parameters template: keys, value types, expression syntax."""
    if isinstance(tpl, list):
        for i, item in enumerate(tpl):
            check_template(item, f"{where}[{i}]", problems, allow_output)
        return
    if not isinstance(tpl, dict):
        return
    for key, val in tpl.items():
        if not isinstance(key, str):
            problems.append(f"{where}: key {key!r} must be a string")
            continue
        if key.endswith(".$"):
            base = key[:-2]
            if base in tpl:
                problems.append(f"{where}: both {base!r} and {key!r} are set")
            if not isinstance(val, str):
                problems.append(f"{where}.{key}: an expression must be a string, got {json.dumps(val)}")
                continue
            try:
                node = parse(val)
            except ExpressionError as exc:
                problems.append(f"{where}.{key}: {exc}")
                continue
            if not allow_output and uses_output(node):
                problems.append(f"{where}.{key}: $Output is only allowed inside an OutputConstructor")
        else:
            check_template(val, f"{where}.{key}", problems, allow_output)


def build(tpl: Any, env: dict[str, Any]) -> Any:
    """Evaluate a template: ``.$`` keys are expressions, other values literals (recursively)."""
    if isinstance(tpl, list):
        return [build(v, env) for v in tpl]
    if not isinstance(tpl, dict):
        return tpl
    out: dict[str, Any] = {}
    for key, val in tpl.items():
        if key.endswith(".$"):
            out[key[:-2]] = eval_expr(val, env)
        else:
            out[key] = build(val, env)
    return out


# --------------------------------------------------------------------------------------
# built-in functions
def _format(fmt: str, *args: Any) -> str:
    if not isinstance(fmt, str):
        raise ExpressionError("format() needs a format string first")
    parts = fmt.split("{}")
    if len(parts) - 1 != len(args):
        raise ExpressionError(f"format(): {len(parts) - 1} placeholders but {len(args)} arguments")
    out = parts[0]
    for arg, tail in zip(args, parts[1:], strict=True):
        out += (arg if isinstance(arg, str) else json.dumps(arg, separators=(",", ":"))) + tail
    return out


def _string_to_json(s: str) -> Any:
    if not isinstance(s, str):
        raise ExpressionError("stringToJson() needs a string")
    return json.loads(s)


def _length(v: Any) -> int:
    if isinstance(v, (str, list, dict)):
        return len(v)
    raise ExpressionError("length() needs a string, array or object")


def _array_contains(arr: Any, v: Any) -> bool:
    if not isinstance(arr, list):
        raise ExpressionError("arrayContains() needs an array")
    return any(type_eq(x, v) for x in arr)


def _array_unique(arr: Any) -> list:
    if not isinstance(arr, list):
        raise ExpressionError("arrayUnique() needs an array")
    out: list = []
    for x in arr:
        if not any(type_eq(x, y) for y in out):
            out.append(x)
    return out


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "format": _format,
    "stringToJson": _string_to_json,
    "jsonToString": lambda v: json.dumps(v, separators=(",", ":"), ensure_ascii=False),
    "length": _length,
    "arrayContains": _array_contains,
    "arrayUnique": _array_unique,
    "uuid": lambda: str(uuid.uuid4()),
    "toBase64": lambda s: base64.b64encode(s.encode()).decode(),
    "fromBase64": lambda s: base64.b64decode(s.encode()).decode(),
}
