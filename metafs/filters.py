"""containerd's filter syntax (its `filters` package), for `ls` commands.

One filter is a comma-separated list of selectors that must all match; several filters match
an object when any one of them does::

    selectors := selector ("," selector)*
    selector  := fieldpath [operator value]
    fieldpath := field ("." field)*
    field     := quoted | [A-Za-z0-9_-]+
    operator  := "==" | "!=" | "~="
    value     := quoted | a run of characters other than "," and white space
    quoted    := a string quoted with ", / or |, with Go's escapes (\\n, \\t, \\", \\xHH, \\u....)

A selector without operator tests that the field is present; `==` that it is present and
equal; `!=` that it is not equal (an absent field counts as empty); `~=` that the field matches
the regular expression (unanchored, as Go's `MatchString`). Scanning follows containerd's
scanner, quirks included: white space may precede an operator or value but not follow a value
(`name==a ,x` is an error), and a value that starts with `/`, `|` or `"` is a quoted one.

Unlike containerd, which silently matches nothing for a misspelt field or a regular expression
that does not compile, both are errors here: the fields an object kind offers are declared by
a `Fields` (after containerd's adaptors), and `parse` checks every field path against it.
"""

from __future__ import annotations

from .errors import InvalidArgument

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see metafs/__init__.py
if TYPE_CHECKING:
    import re
    from collections.abc import Callable, Mapping, Sequence
    from typing import Generic, TypeVar

    T = TypeVar("T")
else:  # every `ls` command defines its Fields: no typing (2 ms) for that

    class Generic:
        def __class_getitem__(cls, item: object) -> type:
            return object

    T = None

_EOF = "EOF"
_ILLEGAL = "ILLEGAL"
_QUOTED = "QUOTED"
_VALUE = "VALUE"
_FIELD = "FIELD"
_SEPARATOR = "SEPARATOR"
_OPERATOR = "OPERATOR"

_QUOTES = '"/|'
_OPERATORS = ("==", "!=", "~=")


class Fields(Generic[T]):
    """The field paths a filter may use on one kind of object.

    `scalars` maps a dotted field path to a getter of its string value (an empty string means
    absent); `maps` maps a first component (`labels`, `annotations`) to a getter of a string
    map, addressed by the rest of the path joined with dots (`labels."a.b"` = `labels.a.b`).
    """

    __slots__ = ("kind", "scalars", "maps")

    def __init__(
        self,
        kind: str,
        scalars: Mapping[str, Callable[[T], str]],
        maps: Mapping[str, Callable[[T], Mapping[str, str]]] | None = None,
    ) -> None:
        self.kind = kind
        self.scalars = scalars
        self.maps: Mapping[str, Callable[[T], Mapping[str, str]]] = maps or {}

    def describe(self) -> str:
        names = list(self.scalars) + [f"{name}.KEY" for name in self.maps]
        return ", ".join(names)


class Selector(Generic[T]):
    __slots__ = ("fieldpath", "operator", "value", "get", "regex")

    def __init__(
        self,
        fieldpath: tuple[str, ...],
        operator: str,  # "" tests presence
        value: str,
        get: Callable[[T], tuple[str, bool]],
        regex: re.Pattern[str] | None = None,
    ) -> None:
        self.fieldpath = fieldpath
        self.operator = operator
        self.value = value
        self.get = get
        self.regex = regex

    def match(self, obj: T) -> bool:
        value, present = self.get(obj)
        if not self.operator:
            return present
        if self.operator == "==":
            return present and value == self.value
        if self.operator == "!=":
            return value != self.value
        assert self.regex is not None
        return self.regex.search(value) is not None


class Filter(Generic[T]):
    """Any of `alternatives` matches; an alternative matches when all its selectors do.
    No alternatives at all matches everything."""

    __slots__ = ("alternatives",)

    def __init__(self, alternatives: tuple[tuple[Selector[T], ...], ...]) -> None:
        self.alternatives = alternatives

    def match(self, obj: T) -> bool:
        if not self.alternatives:
            return True
        return any(all(s.match(obj) for s in selectors) for selectors in self.alternatives)

    def select(self, objects: Sequence[T]) -> list[T]:
        if not self.alternatives:
            return list(objects)
        return [obj for obj in objects if self.match(obj)]


def parse(texts: Sequence[str], fields: Fields[T]) -> Filter[T]:
    """Parse filter arguments (ORed) for objects described by `fields`.

    Raises InvalidArgument with a one-line message for a syntax error, an unknown field or a
    regular expression that does not compile. An empty filter matches everything.
    """
    alternatives = [_Parser(text, fields).parse() for text in texts if text != ""]
    if "" in texts:
        return Filter(())  # containerd: an empty filter matches everything
    return Filter(tuple(alternatives))


class _Scanner:
    """containerd's filter scanner: yields (position, token kind, text)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0  # start of the character last read
        self.ppos = 0  # just after it
        self.value = False  # an operator was read: the next bare token is a value
        self.error = ""

    def next(self) -> str:
        if self.ppos >= len(self.text):
            self.pos = len(self.text)
            return _EOF
        self.pos = self.ppos
        ch = self.text[self.ppos]
        self.ppos += 1
        if ch == "\0" or "\udc80" <= ch <= "\udcff":
            self._fail("unexpected null" if ch == "\0" else "invalid UTF-8")
            return _ILLEGAL
        return ch

    def peek(self) -> str:
        pos, ppos = self.pos, self.ppos
        ch = self.next()
        self.pos, self.ppos = pos, ppos
        return ch

    def scan(self) -> tuple[int, str, str]:
        ch = self.next()
        while len(ch) == 1 and ch.isspace():
            ch = self.next()
        pos = self.pos
        if ch in (_EOF, _ILLEGAL):
            return pos, ch, ""
        if ch in _QUOTES:
            kind = _QUOTED if self._scan_quoted(ch) else _ILLEGAL
            return pos, kind, self.text[pos : self.ppos]
        if ch in ",.":
            self.value = False
            return pos, _SEPARATOR, ch
        if ch in "=!~":
            while self.peek() in ("=", "!", "~"):
                self.next()
            self.value = True
            return pos, _OPERATOR, self.text[pos : self.ppos]
        if self.value:
            while _is_value_char(self.peek()):
                self.next()
            self.value = False
            return pos, _VALUE, self.text[pos : self.ppos]
        if _is_field_char(ch):
            while _is_field_char(self.peek()):
                self.next()
            return pos, _FIELD, self.text[pos : self.ppos]
        return pos, ch, ""

    def _scan_quoted(self, quote: str) -> bool:
        legal = True
        ch = self.next()
        while ch != quote:
            if ch in ("\n", _EOF, _ILLEGAL):
                self._fail("quoted literal not terminated")
                return False
            if ch == "\\":
                ch, ok = self._scan_escape(quote)
                legal = legal and ok
            else:
                ch = self.next()
        return legal

    def _scan_escape(self, quote: str) -> tuple[str, bool]:
        ch = self.next()
        if ch in ("a", "b", "f", "n", "r", "t", "v", "\\", quote):
            return self.next(), True
        digits = {"x": (16, 2), "u": (16, 4), "U": (16, 8)}
        if ch in digits:
            base, count = digits[ch]
            return self._scan_digits(self.next(), base, count)
        if ch in "01234567":
            return self._scan_digits(ch, 8, 3)
        self._fail("illegal escape sequence")
        return ch, False

    def _scan_digits(self, ch: str, base: int, count: int) -> tuple[str, bool]:
        while count > 0 and _digit_value(ch) < base:
            ch = self.next()
            count -= 1
        if count > 0:
            self._fail("illegal numeric escape sequence")
            return ch, False
        return ch, True

    def _fail(self, message: str) -> None:
        self.error = self.error or message


class _Parser(Generic[T]):
    def __init__(self, text: str, fields: Fields[T]) -> None:
        self.text = text
        self.fields = fields
        self.scanner = _Scanner(text)

    def parse(self) -> tuple[Selector[T], ...]:
        selectors = [self.selector()]
        while True:
            ch = self.scanner.peek()
            if ch == _EOF:
                return tuple(selectors)
            if ch != ",":
                shown = "invalid UTF-8" if ch == _ILLEGAL else repr(ch)
                raise self.error(self.scanner.ppos, f"unexpected input {shown}")
            self.scanner.scan()
            selectors.append(self.selector())

    def selector(self) -> Selector[T]:
        start = self.scanner.ppos
        fieldpath = self.fieldpath()
        get = self.getter(fieldpath, start)
        if self.scanner.peek() in (",", _EOF):
            return Selector(fieldpath, "", "", get)
        pos, kind, text = self.scanner.scan()
        if kind != _OPERATOR:
            raise self.error(pos, 'expected an operator ("==", "!=" or "~=")')
        if text not in _OPERATORS:
            raise self.error(pos, f'unsupported operator "{text}"')
        value = self.value()
        regex = None
        if text == "~=":
            import re  # here: only a ~= filter needs it

            try:
                regex = re.compile(value)
            except re.error as exc:
                raise self.error(pos, f'bad regular expression "{value}": {exc}') from None
        return Selector(fieldpath, text, value, get, regex)

    def fieldpath(self) -> tuple[str, ...]:
        path = [self.field()]
        while self.scanner.peek() == ".":
            self.scanner.scan()
            path.append(self.field())
        return tuple(path)

    def field(self) -> str:
        pos, kind, text = self.scanner.scan()
        if kind == _FIELD:
            return text
        if kind == _QUOTED:
            return self.unquote(pos, text)
        raise self.error(pos, "expected a field name or a quoted string")

    def value(self) -> str:
        pos, kind, text = self.scanner.scan()
        if kind in (_VALUE, _FIELD):
            return text
        if kind == _QUOTED:
            return self.unquote(pos, text)
        raise self.error(pos, "expected a value or a quoted string")

    def unquote(self, pos: int, text: str) -> str:
        try:
            return _unquote(text)
        except ValueError as exc:
            raise self.error(pos, f"bad quoted string: {exc}") from None

    def getter(self, fieldpath: tuple[str, ...], pos: int) -> Callable[[T], tuple[str, bool]]:
        head = fieldpath[0]
        get_map = self.fields.maps.get(head)
        if get_map is not None:
            if len(fieldpath) < 2:
                raise self.error(pos, f'{head} needs a key: {head}.KEY or {head}."KEY"')
            key = ".".join(fieldpath[1:])

            def lookup_map(obj: T) -> tuple[str, bool]:
                value = get_map(obj).get(key)
                return ("", False) if value is None else (value, True)

            return lookup_map
        name = ".".join(fieldpath)
        get_scalar = self.fields.scalars.get(name)
        if get_scalar is None:
            raise self.error(
                pos, f'unknown field "{name}" for {self.fields.kind} ({self.fields.describe()})'
            )

        def lookup_scalar(obj: T) -> tuple[str, bool]:
            value = get_scalar(obj)
            return value, value != ""

        return lookup_scalar

    def error(self, pos: int, message: str) -> InvalidArgument:
        detail = f" ({self.scanner.error})" if self.scanner.error else ""
        return InvalidArgument(f'filter "{self.text}": {message}{detail} at character {pos + 1}')


def _is_field_char(ch: str) -> bool:
    return len(ch) == 1 and (ch in "-_" or ("0" <= ch <= "9") or ch.isascii() and ch.isalpha())


def _is_value_char(ch: str) -> bool:
    return len(ch) == 1 and ch != "," and not ch.isspace() and ch.isprintable()


def _digit_value(ch: str) -> int:
    if len(ch) == 1 and ch in "0123456789abcdefABCDEF":
        return int(ch, 16)
    return 16


_SIMPLE_ESCAPES = {
    "a": 0x07, "b": 0x08, "f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09, "v": 0x0B, "\\": 0x5C
}  # fmt: skip


def _unquote(text: str) -> str:
    """Go's strconv.Unquote, extended (as containerd does) to `/` and `|` as quote characters."""
    quote = text[0]
    if len(text) < 2 or text[-1] != quote:
        raise ValueError("no closing quote")
    body = text[1:-1]
    if "\n" in body:
        raise ValueError("newline inside quotes")
    out = bytearray()
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == quote:
            raise ValueError(f"unescaped {quote} inside quotes")
        if ch != "\\":
            out += ch.encode("utf-8", "surrogateescape")
            i += 1
            continue
        if i + 1 >= len(body):
            raise ValueError("backslash at the end")
        esc, i = body[i + 1], i + 2
        if esc in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[esc])
        elif esc in "xuU":
            size = {"x": 2, "u": 4, "U": 8}[esc]
            digits = body[i : i + size]
            if len(digits) < size or any(_digit_value(d) >= 16 for d in digits):
                raise ValueError(f"\\{esc} needs {size} hex digits")
            code, i = int(digits, 16), i + size
            if esc == "x":
                out.append(code)
            elif code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise ValueError(f"\\{esc}{digits} is not a character")
            else:
                out += chr(code).encode()
        elif esc in "01234567":
            digits = body[i - 1 : i + 2]
            if len(digits) < 3 or any(d not in "01234567" for d in digits):
                raise ValueError("octal escape needs 3 digits")
            code, i = int(digits, 8), i + 2
            if code > 255:
                raise ValueError(f"\\{digits} is more than a byte")
            out.append(code)
        elif esc == quote:
            out += esc.encode()
        else:
            raise ValueError(f"unknown escape \\{esc}")
    return out.decode("utf-8", "surrogateescape")
