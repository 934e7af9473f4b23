"""Parser: recipe text -> nodes.Module (Lark LALR with positions, one Transformer)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from recipec import nodes as n
from recipec.diagnostics import Diagnostic, RecipeError, did_you_mean
from recipec.source import (
    Confinement,
    NotText,
    Refused,
    Source,
    Span,
    decode_text,
    read_confined,
    read_regular,
)
from recipec.strings import string_value

# recipec/recipe.lark links to grammar/recipe.lark, so that a wheel carries the grammar.
GRAMMAR = Path(__file__).resolve().parent / "recipe.lark"


class _Comments:
    """Collects COMMENT tokens for the parse in progress (Lark lexer callbacks are fixed)."""

    tokens: list[Token] = []

    @classmethod
    def add(cls, token: Token) -> None:
        cls.tokens.append(token)


@cache
def _lark() -> Lark:
    return Lark(
        GRAMMAR.read_text(encoding="utf-8"),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=True,
        lexer_callbacks={"COMMENT": _Comments.add},
    )


def parse(source: Source) -> n.Module:
    """Parse a whole recipe; raise RecipeError with one syntax diagnostic on failure."""
    _Comments.tokens = []
    try:
        tree = _lark().parse(source.text)
    except UnexpectedInput as exc:
        raise RecipeError([_syntax_diagnostic(source, exc)]) from None
    _check_depth(source, tree)
    module: n.Module = _ToNodes(source.name).transform(tree)
    comments = tuple(
        n.Comment(str(t).rstrip(), _token_span(source.name, t)) for t in _Comments.tokens
    )
    return n.Module(source.name, module.items, comments, module.span)


# Nesting deeper than this is refused before any recursive pass (the transformer, the checker,
# the formatter) could exhaust Python's stack; no hand-written recipe comes close.
MAX_DEPTH = 100


def _check_depth(source: Source, tree: Tree[Token]) -> None:
    """Measured without recursion, so that the check itself cannot overflow the stack."""
    stack: list[tuple[Tree[Token], int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            span = _meta_span(source.name, node.meta)
            raise RecipeError(
                [
                    Diagnostic(
                        "nesting",
                        f"nesting deeper than {MAX_DEPTH} levels",
                        span,
                        "split the expression: give a nested part its own attribute or block",
                    )
                ]
            )
        stack.extend((c, depth + 1) for c in node.children if isinstance(c, Tree))


def _token_span(file: str, tok: Token) -> Span:
    return Span(file, tok.line or 0, tok.column or 0, tok.end_line or 0, tok.end_column or 0)


def _meta_span(file: str, meta: Any) -> Span:
    if getattr(meta, "empty", True):
        return Span(file, 0, 0, 0, 0)
    return Span(file, meta.line, meta.column, meta.end_line, meta.end_column)


def _number(text: str) -> int | float:
    if any(c in text for c in ".eE"):
        return float(text)
    try:
        return int(text)
    except ValueError:  # more digits than Python converts; the checker reports it out of range
        return float("inf") if not text.startswith("-") else float("-inf")


@v_args(meta=True)
class _ToNodes(Transformer[Token, Any]):
    def __init__(self, file: str):
        super().__init__()
        self.file = file

    def _s(self, meta: Any) -> Span:
        return _meta_span(self.file, meta)

    # values
    def string(self, meta: Any, c: list[Token]) -> n.Str:
        return n.Str(string_value(str(c[0])), str(c[0]), self._s(meta))

    def number(self, meta: Any, c: list[Token]) -> n.Num:
        return n.Num(_number(str(c[0])), str(c[0]), self._s(meta))

    def true(self, meta: Any, c: list[Any]) -> n.Bool:
        return n.Bool(True, self._s(meta))

    def false(self, meta: Any, c: list[Any]) -> n.Bool:
        return n.Bool(False, self._s(meta))

    def ref(self, meta: Any, c: list[Token]) -> n.Ref:
        return n.Ref(tuple(str(t) for t in c), self._s(meta))

    def call(self, meta: Any, c: list[Any]) -> n.Call:
        return n.Call(str(c[0]), tuple(a for a in c[1:] if a is not None), self._s(meta))

    def weighted(self, meta: Any, c: list[Any]) -> n.Weighted:
        return n.Weighted(c[0], c[1], self._s(meta))

    def keyword(self, meta: Any, c: list[Any]) -> n.Keyword:
        return n.Keyword(str(c[0]), c[1], self._s(meta))

    def range(self, meta: Any, c: list[n.Num]) -> n.Range:
        return n.Range(c[0], c[1], self._s(meta))

    def field(self, meta: Any, c: list[Any]) -> n.Field:
        name, optional, value = c
        quoted = name.type == "STRING"
        text = string_value(str(name)) if quoted else str(name)
        return n.Field(text, optional is not None, value, quoted, self._s(meta))

    def object(self, meta: Any, c: list[Any]) -> n.Object:
        return n.Object(tuple(f for f in c if f is not None), self._s(meta))

    def seq(self, meta: Any, c: list[Any]) -> n.List:
        return n.List(tuple(v for v in c if v is not None), self._s(meta))

    def if_value(self, meta: Any, c: list[Any]) -> n.IfValue:
        return n.IfValue(c[0], c[1], c[2], self._s(meta))

    # conditions
    def or_(self, meta: Any, c: list[Any]) -> Any:
        return c[0] if len(c) == 1 else n.Or(tuple(c), self._s(meta))

    def and_(self, meta: Any, c: list[Any]) -> Any:
        return c[0] if len(c) == 1 else n.And(tuple(c), self._s(meta))

    def not_(self, meta: Any, c: list[Any]) -> n.Not:
        return n.Not(c[0], self._s(meta))

    def compare(self, meta: Any, c: list[Any]) -> n.Compare:
        return n.Compare(c[0], str(c[1]), c[2], self._s(meta))

    def member(self, meta: Any, c: list[Any]) -> n.Member:
        return n.Member(c[0], c[1], self._s(meta))

    # statements
    def assign(self, meta: Any, c: list[Any]) -> n.Assign:
        return n.Assign(str(c[0]), c[1], self._s(meta))

    def require(self, meta: Any, c: list[Any]) -> n.Require:
        return n.Require(c[0], self._s(meta))

    def output(self, meta: Any, c: list[Any]) -> n.Output:
        return n.Output(c[0], self._s(meta))

    def take(self, meta: Any, c: list[Any]) -> n.Take:
        amount, percent = c[1]
        return n.Take(str(c[0]), amount, percent, c[2], self._s(meta))

    def amount(self, meta: Any, c: list[Any]) -> tuple[n.Num, bool]:
        return c[0], False

    def percent(self, meta: Any, c: list[Any]) -> tuple[n.Num, bool]:
        return c[0], True

    def quota(self, meta: Any, c: list[Any]) -> n.Quota:
        return n.Quota(str(c[0]), c[1], str(c[2]), c[3], self._s(meta))

    def balance(self, meta: Any, c: list[Any]) -> n.Balance:
        return n.Balance(str(c[0]), c[1], self._s(meta))

    def dedupe(self, meta: Any, c: list[Any]) -> n.Dedupe:
        return n.Dedupe(str(c[0]), c[1], self._s(meta))

    def leakage(self, meta: Any, c: list[Any]) -> n.Leakage:
        return n.Leakage(str(c[0]), c[1], self._s(meta))

    def judge(self, meta: Any, c: list[Any]) -> n.Judge:
        return n.Judge(str(c[0]), c[1], c[2], self._s(meta))

    def split_part(self, meta: Any, c: list[Any]) -> n.SplitPart:
        return n.SplitPart(str(c[0]), c[1], self._s(meta))

    def split(self, meta: Any, c: list[Any]) -> n.Split:
        return n.Split(tuple(c), self._s(meta))

    def write(self, meta: Any, c: list[Any]) -> n.Write:
        return n.Write(c[0], str(c[1]), self._s(meta))

    # top level
    def _block(self, kind: str, meta: Any, name: Token, body: list[Any]) -> n.Block:
        return n.Block(kind, str(name), tuple(body), _token_span(self.file, name), self._s(meta))

    def block(self, meta: Any, c: list[Any]) -> n.Block:
        return self._block(str(c[0]), meta, c[1], c[2:])

    def persona(self, meta: Any, c: list[Any]) -> n.Block:
        return self._block("persona", meta, c[0], c[1:])

    def task(self, meta: Any, c: list[Any]) -> n.Block:
        return self._block("task", meta, c[0], c[1:])

    def mix(self, meta: Any, c: list[Any]) -> n.Block:
        return self._block("mix", meta, c[0], c[1:])

    def include(self, meta: Any, c: list[Any]) -> n.Include:
        return n.Include(n.Str(string_value(str(c[0])), str(c[0])), self._s(meta))

    def start(self, meta: Any, c: list[Any]) -> n.Module:
        return n.Module(self.file, tuple(c), (), self._s(meta))


# ---- syntax errors ------------------------------------------------------------------------

_TERMINALS = {
    "NAME": "a name",
    "STRING": "a string",
    "LONG_STRING": "a string",
    "SIGNED_NUMBER": "a number",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "COLON": "':'",
    "EQUAL": "'='",
    "DOT": "'.'",
    "PERCENT": "'%'",
    "BOUND": "'at_least', 'at_most' or 'exactly'",
    "BLOCK_KIND": "'recipe', 'model' or 'source'",
    "COMPARE": "a comparison ('==', '!=', '<', ...)",
    "OPTIONAL": "'?'",
    "$END": "the end of the file",
}

# Human labels for common mistakes, matched by Lark's match_examples against these snippets.
_EXAMPLES: dict[str, list[str]] = {
    "missing '=' after a setting name": ['model m { file "x" }', 'task t { prompt "x" }'],
    "missing value after '='": ["model m { file = }", "task t { prompt = }"],
    "unclosed block: '}' expected": ['model m { file = "x"', "task t { output { a: string }"],
    "a block needs a name: write `task NAME { ... }`": ["task { }", "model { }", "mix { }"],
    "unknown top-level keyword: expected recipe, model, source, persona, task, mix or include": [
        "tasks t { }",
        "modle m { }",
        "x = 1",
    ],
    "an output field needs a type: write `name: string`": ["task t { output { a } }"],
}


def _syntax_diagnostic(source: Source, exc: UnexpectedInput) -> Diagnostic:
    if isinstance(exc, UnexpectedToken):
        special = _misspelled_keyword(source.name, exc) or _percent(source.name, exc)
        if special is not None:
            return special
    line, col = max(exc.line, 1) if exc.line != -1 else 1, max(exc.column, 1)
    if isinstance(exc, UnexpectedEOF) or (
        isinstance(exc, UnexpectedToken) and exc.token.type == "$END"
    ):
        lines = source.text.splitlines() or [""]
        line, col = len(lines), len(lines[-1]) + 1
    span = Span(source.name, line, col, line, col + 1)
    label = _label(source, exc)
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream or 0
        ch = source.text[pos] if pos < len(source.text) else ""
        if ch == '"':
            return Diagnostic(
                "syntax",
                "unterminated string",
                span,
                'close it with \'"\' on the same line, or use """...""" for several lines',
            )
        return Diagnostic("syntax", f"unexpected character {ch!r}", span)
    if span.line == len(source.text.splitlines() or [""]) and _at_end(exc):
        depth = source.text.count("{") - source.text.count("}")
        hint = "a block is not closed: add '}'" if depth > 0 else label
        return Diagnostic("syntax", "unexpected end of the file", span, hint)
    found = "the end of the file"
    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        found = repr(str(exc.token))
        span = Span(source.name, line, col, line, col + max(1, len(str(exc.token))))
    expected = sorted(
        {_TERMINALS.get(t, repr(t.lower())) for t in getattr(exc, "expected", ()) if "__" not in t}
    )
    message = f"unexpected {found}"
    if expected:
        message += "; expected " + ", ".join(expected[:6]) + (", ..." if len(expected) > 6 else "")
    return Diagnostic("syntax", message, span, label)


# Statement keywords by block kind; a NAME starting a statement that is not followed by `=` is
# most likely one of these, misspelled or in the wrong block.
_STATEMENTS: dict[str, tuple[str, ...]] = {
    "recipe": (),
    "model": (),
    "source": (),
    "persona": ("require",),
    "task": ("output",),
    "mix": ("take", "quota", "balance", "dedupe", "leakage", "judge", "split", "write"),
}
_BLOCK_TOKENS = {"BLOCK_KIND", "PERSONA", "TASK", "MIX"}
# Stricter than for names: a setting such as `total` written without `=` must not become
# "did you mean 'quota'?" (difflib ratio 0.6), while `tak`, `dedup` or `wher` (0.86+) still do.
KEYWORD_CUTOFF = 0.7


def _keywords(terminals: Any) -> dict[str, str]:
    """keyword text -> terminal name, for the keyword terminals among `terminals`."""
    out: dict[str, str] = {}
    for term in _lark().terminals:
        if term.name in terminals and term.pattern.type == "str" and term.name.isupper():
            out[str(term.pattern.value)] = term.name
    for name, words in (
        ("BLOCK_KIND", ("recipe", "model", "source")),
        ("BOUND", ("at_least", "at_most", "exactly")),
    ):
        if name in terminals:
            out.update(dict.fromkeys(words, name))
    return {k: v for k, v in out.items() if k.isidentifier()}


def _stack(exc: UnexpectedToken) -> list[Any]:
    parser = getattr(exc, "interactive_parser", None)
    return list(parser.parser_state.value_stack) if parser is not None else []


def _tok_span(file: str, tok: Token) -> Span:
    line, col = tok.line or 1, tok.column or 1
    return Span(file, line, col, line, col + len(str(tok)))


def _misspelled_keyword(file: str, exc: UnexpectedToken) -> Diagnostic | None:
    """`dedup near 0.8`, `modle m {`, `quota t wher ...`: a name where a keyword belongs."""
    expected = set(exc.expected or ())
    if exc.token.type == "NAME":
        close = did_you_mean(str(exc.token), _keywords(expected), KEYWORD_CUTOFF)
        if close:
            return Diagnostic(
                "syntax", f"unexpected '{exc.token}'; {close}", _tok_span(file, exc.token)
            )
    stack = _stack(exc)
    kinds = [str(t) for t in stack if isinstance(t, Token) and t.type in _BLOCK_TOKENS]
    if not kinds:
        return None
    if "NAME" in expected and exc.token.type != "NAME":  # a keyword where a statement starts
        return _wrong_block(file, exc.token, kinds[0])
    word = stack[-1]
    if expected != {"EQUAL"} or not isinstance(word, Token) or word.type != "NAME":
        return None
    return _statement_keyword(file, word, kinds[0])


def _allowed(kind: str) -> str:
    own = _STATEMENTS.get(kind, ())
    return f"a {kind} holds settings (`name = value`)" + (f" and {', '.join(own)}" if own else "")


def _wrong_block(file: str, word: Token, kind: str) -> Diagnostic | None:
    """`take` in a task: a statement keyword of another block kind."""
    owner = [k for k, words in _STATEMENTS.items() if str(word) in words]
    if not owner or owner[0] == kind:
        return None
    message = f"`{word}` is a statement of a {owner[0]}, not of a {kind}"
    return Diagnostic("syntax", message, _tok_span(file, word), _allowed(kind))


def _statement_keyword(file: str, word: Token, kind: str) -> Diagnostic | None:
    """A name that starts a statement and is not followed by `=`: a misspelled keyword?"""
    wrong = _wrong_block(file, word, kind)
    if wrong is not None:
        return wrong
    # `where` continues a `take`; offering it keeps `whre` from becoming "did you mean 'write'".
    extra = ("where",) if kind == "mix" else ()
    close = did_you_mean(str(word), _STATEMENTS.get(kind, ()) + extra, KEYWORD_CUTOFF)
    if close is None:
        return None
    return Diagnostic(
        "syntax", f"unexpected '{word}'; {close}", _tok_span(file, word), _allowed(kind)
    )


_FRACTIONS = {
    "SPLIT": "split ratios are fractions",
    "DEDUPE": "a dedupe threshold is a fraction",
    "LEAKAGE": "max_overlap is a fraction",
}
_ONLY_TAKE = "only a `take` count is written as a percentage (of the mix's `total`)"


def _percent(file: str, exc: UnexpectedToken) -> Diagnostic | None:
    """`split train 80%`: only a `take` count is a percentage; ratios are fractions."""
    if exc.token.type != "PERCENT":
        return None
    stack = _stack(exc)
    span = _tok_span(file, exc.token)
    owner = next(
        (t.type for t in reversed(stack) if isinstance(t, Token) and t.type in _FRACTIONS), None
    )
    number = stack[-1] if stack else None
    if owner is None or not (isinstance(number, Tree) and number.children):
        return Diagnostic("syntax", "unexpected '%'", span, _ONLY_TAKE)
    raw = str(number.children[0])
    message = f"{_FRACTIONS[owner]}: write {_as_fraction(raw)}, not {raw}%"
    return Diagnostic("syntax", message, span, _ONLY_TAKE)


def _as_fraction(raw: str) -> str:
    return f"{float(raw) / 100:g}"


def _at_end(exc: UnexpectedInput) -> bool:
    return isinstance(exc, UnexpectedEOF) or (
        isinstance(exc, UnexpectedToken) and exc.token.type == "$END"
    )


def _label(source: Source, exc: UnexpectedInput) -> str | None:
    try:
        result = exc.match_examples(_lark().parse, _EXAMPLES, use_accepts=True)
    except Exception:  # a failed heuristic must never hide the real error
        return None
    return str(result) if result else None


# ---- files and includes -------------------------------------------------------------------


def load(path: Path, display: str | None = None, allow: Iterable[Path | str] = ()) -> n.Module:
    """Parse a recipe file and splice in the items of every file it includes (relative to it).
    Included files must lie in the recipe's folder or a folder of `allow` (source.Confinement)."""
    return _load(path, display or str(path), (), Confinement.of(path, allow))


def _read(path: Path, display: str, confinement: Confinement | None) -> Source:
    try:
        data = read_regular(path) if confinement is None else read_confined(path, confinement)
    except Refused as exc:
        span = Span(display, 0, 0, 0, 0)
        raise RecipeError([Diagnostic(exc.code, exc.message, span, exc.hint)]) from None
    try:
        return Source(display, decode_text(data, display))
    except NotText as exc:
        raise RecipeError([Diagnostic("encoding", str(exc), Span(display, 0, 0, 0, 0))]) from None


def _load(path: Path, display: str, stack: tuple[Path, ...], confinement: Confinement) -> n.Module:
    module = parse(_read(path, display, None if not stack else confinement))
    items: list[n.Item] = []
    comments = list(module.comments)
    diagnostics: list[Diagnostic] = []
    for item in module.items:
        if not isinstance(item, n.Include):
            items.append(item)
            continue
        target = path.parent / item.path.value
        shown = str(Path(display).parent / item.path.value)
        real = _real(target)
        if real is not None and (real in stack or real == _real(path)):
            diagnostics.append(
                Diagnostic("include", f"'{item.path.value}' includes itself (a cycle)", item.span)
            )
            continue
        try:
            included = _load(target, shown, (*stack, _real(path) or path), confinement)
        except RecipeError as exc:
            diagnostics.extend(_at_include(d, item, shown) for d in exc.diagnostics)
            continue
        items.extend(
            i for i in included.items if not (isinstance(i, n.Block) and i.kind == "recipe")
        )
    if diagnostics:
        raise RecipeError(diagnostics)
    return n.Module(module.file, tuple(items), tuple(comments), module.span)


def _real(path: Path) -> Path | None:
    try:
        return path.resolve()
    except (OSError, ValueError, RuntimeError):
        return None


def _at_include(d: Diagnostic, item: n.Include, shown: str) -> Diagnostic:
    """A file that cannot be read is reported at the `include` that names it."""
    if d.span.file != shown or d.span.line:
        return d
    message = d.message
    if message.startswith("file '") and message.endswith("' not found"):
        message = f"included file '{item.path.value}' not found"
    return Diagnostic("include" if "not found" in message else d.code, message, item.span, d.hint)
