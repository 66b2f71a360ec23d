"""TaskRouter's expression language: workflow filters, EvaluateTaskAttributes, TargetWorkersExpression.

    evaluate('KnownAgentRoutingFlag == "true" AND channelType IN ["sms", "whatsapp"]', attributes)

Grammar (keywords case-insensitive, as in https://www.twilio.com/docs/taskrouter/expression-syntax):
    expr       := and_expr (("OR" | "||") and_expr)*
    and_expr   := not_expr (("AND" | "&&") not_expr)*
    not_expr   := ("NOT" | "!") not_expr | "(" expr ")" | comparison
    comparison := operand [op operand]      op: == = != > >= < <= IN, NOT IN, HAS, CONTAINS
    operand    := "str" | 'str' | number | true | false | [operand, …] | key(.key | [index])*

A key the document lacks resolves to NULL, and every comparison with NULL is false (so are `!=` and
`NOT IN`). Comparing different types is false, with one tolerance: a JSON boolean equals the string
"true"/"false" (Studio renders flags as strings, apps often write booleans; Twilio leaves it undefined).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Mapping

__all__ = ["ExpressionError", "compile_expression", "evaluate"]


class ExpressionError(ValueError):
    """The text is not a valid TaskRouter expression."""


class _Null:
    def __repr__(self) -> str:
        return "NULL"


NULL: Any = _Null()

Predicate = Callable[[Mapping[str, Any]], bool]
Getter = Callable[[Mapping[str, Any]], Any]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<number>-?\d+(?:\.\d+)?(?![\w.]))
      | (?P<op>==|!=|>=|<=|&&|\|\||=|>|<|!|\(|\)|\[|\]|,)
      | (?P<word>[A-Za-z_$][\w$]*(?:(?:\.[A-Za-z_$][\w$]*)|(?:\[\d+\]))*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "has", "contains", "true", "false"}


@dataclass(frozen=True)
class _Token:
    kind: str  # string | number | op | keyword | key | end
    value: Any
    position: int


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None:
            offset = len(text) - len(text[position:].lstrip())
            raise ExpressionError(
                f"Invalid expression {text!r}: unexpected character {text[offset]!r} at position {offset}"
            )
        start = match.start(match.lastgroup or 0)
        if match.group("string") is not None:
            raw = match.group("string")
            tokens.append(_Token("string", re.sub(r"\\(.)", r"\1", raw[1:-1]), start))
        elif match.group("number") is not None:
            raw = match.group("number")
            tokens.append(_Token("number", float(raw) if "." in raw else int(raw), start))
        elif match.group("op") is not None:
            tokens.append(_Token("op", match.group("op"), start))
        else:
            word = match.group("word")
            if word.lower() in _KEYWORDS:
                tokens.append(_Token("keyword", word.lower(), start))
            else:
                tokens.append(_Token("key", word, start))
        position = match.end()
    tokens.append(_Token("end", None, len(text)))
    return tokens


def _path(key: str) -> list[str | int]:
    parts: list[str | int] = []
    for name, index in re.findall(r"([A-Za-z_$][\w$]*)|\[(\d+)\]", key):
        parts.append(name if name else int(index))
    return parts


def _resolve(document: Any, path: list[str | int]) -> Any:
    value = document
    for part in path:
        if isinstance(part, int):
            if not isinstance(value, list) or part >= len(value):
                return NULL
            value = value[part]
        elif isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return NULL
    return NULL if value is None else value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _equal(left: Any, right: Any) -> bool:
    if left is NULL or right is NULL:
        return False
    if _is_number(left) and _is_number(right):
        return left == right
    if isinstance(left, bool) and isinstance(right, str):
        return ("true" if left else "false") == right
    if isinstance(right, bool) and isinstance(left, str):
        return ("true" if right else "false") == left
    return type(left) is type(right) and left == right


def _ordered(op: str, left: Any, right: Any) -> bool:
    comparable = (_is_number(left) and _is_number(right)) or (isinstance(left, str) and isinstance(right, str))
    if not comparable:
        return False
    return {">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right}[op]


def _member(item: Any, collection: Any) -> bool:
    if item is NULL or not isinstance(collection, list):
        return False
    if isinstance(item, list):  # an array on the left matches when any of its items is in the right one
        return any(_member(each, collection) for each in item)
    return any(_equal(item, each) for each in collection)


def _contains(left: Any, right: Any) -> bool:
    if not isinstance(right, str):
        return False
    if isinstance(left, str):
        return right in left
    if isinstance(left, list):
        return any(isinstance(each, str) and right in each for each in left)
    return False


def _compare(op: str, left: Any, right: Any) -> bool:
    if op in ("==", "="):
        return _equal(left, right)
    if op == "!=":
        return left is not NULL and right is not NULL and not _equal(left, right)
    if op in (">", ">=", "<", "<="):
        return _ordered(op, left, right)
    if op == "in":
        return _member(left, right)
    if op == "not in":
        return left is not NULL and isinstance(right, list) and not _member(left, right)
    if op == "has":
        return _member(right, left) if isinstance(left, list) else _equal(left, right)
    return _contains(left, right)  # contains


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def _is(self, kind: str, *values: Any) -> bool:
        token = self.current
        return token.kind == kind and (not values or token.value in values)

    def _take(self) -> _Token:
        token = self.current
        self.index += 1
        return token

    def _expect(self, kind: str, value: Any) -> None:
        if not self._is(kind, value):
            raise self._error(f"expected {value!r}")
        self._take()

    def _error(self, what: str) -> ExpressionError:
        token = self.current
        found = "end of expression" if token.kind == "end" else repr(self.text[token.position:].split()[0])
        return ExpressionError(f"Invalid expression {self.text!r}: {what} at position {token.position}, found {found}")

    def parse(self) -> Predicate:
        if self._is("end"):
            raise ExpressionError("Expression is empty")
        predicate = self._or()
        if not self._is("end"):
            raise self._error("expected AND, OR or the end")
        return predicate

    def _or(self) -> Predicate:
        parts = [self._and()]
        while self._is("keyword", "or") or self._is("op", "||"):
            self._take()
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda doc: any(p(doc) for p in parts))

    def _and(self) -> Predicate:
        parts = [self._not()]
        while self._is("keyword", "and") or self._is("op", "&&"):
            self._take()
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else (lambda doc: all(p(doc) for p in parts))

    def _not(self) -> Predicate:
        if self._is("keyword", "not") or self._is("op", "!"):
            self._take()
            inner = self._not()
            return lambda doc: not inner(doc)
        if self._is("op", "("):
            self._take()
            inner = self._or()
            self._expect("op", ")")
            return inner
        return self._comparison()

    def _comparison(self) -> Predicate:
        left = self._operand()
        op = self._operator()
        if op is None:  # a bare operand is true only when it is the boolean true
            return lambda doc: left(doc) is True
        right = self._operand()
        return lambda doc: _compare(op, left(doc), right(doc))

    def _operator(self) -> str | None:
        token = self.current
        if token.kind == "op" and token.value in ("==", "=", "!=", ">", ">=", "<", "<="):
            self._take()
            return token.value
        if token.kind == "keyword" and token.value in ("in", "has", "contains"):
            self._take()
            return token.value
        following = self.tokens[min(self.index + 1, len(self.tokens) - 1)]
        if token.kind == "keyword" and token.value == "not" and (following.kind, following.value) == ("keyword", "in"):
            self.index += 2
            return "not in"
        return None

    def _operand(self) -> Getter:
        token = self.current
        if token.kind in ("string", "number"):
            self._take()
            value = token.value
            return lambda doc: value
        if token.kind == "keyword" and token.value in ("true", "false"):
            self._take()
            flag = token.value == "true"
            return lambda doc: flag
        if token.kind == "key":
            self._take()
            path = _path(token.value)
            return lambda doc: _resolve(doc, path)
        if self._is("op", "["):
            self._take()
            items: list[Getter] = []
            while not self._is("op", "]"):
                items.append(self._operand())
                if not self._is("op", "]"):
                    self._expect("op", ",")
            self._take()
            return lambda doc: [item(doc) for item in items]
        raise self._error("expected a value or an attribute name")


@lru_cache(maxsize=512)
def compile_expression(text: str) -> Predicate:
    """Parse once; the result tells whether a JSON document (task or worker attributes) matches."""
    return _Parser(text).parse()


def evaluate(text: str, document: Mapping[str, Any]) -> bool:
    return compile_expression(text)(document)
