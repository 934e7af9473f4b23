"""Parser: recipe text -> nodes.Module (Lark LALR with positions, one Transformer)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from recipec import nodes as n
from recipec.diagnostics import Diagnostic, RecipeError
from recipec.source import Source, Span
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
    module: n.Module = _ToNodes(source.name).transform(tree)
    comments = tuple(
        n.Comment(str(t).rstrip(), _token_span(source.name, t)) for t in _Comments.tokens
    )
    return n.Module(source.name, module.items, comments, module.span)


def _token_span(file: str, tok: Token) -> Span:
    return Span(file, tok.line or 0, tok.column or 0, tok.end_line or 0, tok.end_column or 0)


def _meta_span(file: str, meta: Any) -> Span:
    if getattr(meta, "empty", True):
        return Span(file, 0, 0, 0, 0)
    return Span(file, meta.line, meta.column, meta.end_line, meta.end_column)


def _number(text: str) -> int | float:
    if any(c in text for c in ".eE"):
        return float(text)
    return int(text)


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


def load(path: Path, display: str | None = None) -> n.Module:
    """Parse a recipe file and splice in the items of every file it includes (relative to it)."""
    return _load(path, display or str(path), ())


def _load(path: Path, display: str, stack: tuple[Path, ...]) -> n.Module:
    module = parse(Source.read(path, display))
    items: list[n.Item] = []
    comments = list(module.comments)
    diagnostics: list[Diagnostic] = []
    for item in module.items:
        if not isinstance(item, n.Include):
            items.append(item)
            continue
        target = (path.parent / item.path.value).resolve()
        shown = str(Path(display).parent / item.path.value)
        if target in stack or target == path.resolve():
            diagnostics.append(
                Diagnostic("include", f"'{item.path.value}' includes itself (a cycle)", item.span)
            )
        elif not target.is_file():
            diagnostics.append(
                Diagnostic("include", f"included file '{item.path.value}' not found", item.span)
            )
        else:
            try:
                included = _load(target, shown, (*stack, path.resolve()))
            except RecipeError as exc:
                diagnostics.extend(exc.diagnostics)
                continue
            items.extend(
                i for i in included.items if not (isinstance(i, n.Block) and i.kind == "recipe")
            )
    if diagnostics:
        raise RecipeError(diagnostics)
    return n.Module(module.file, tuple(items), tuple(comments), module.span)
