"""No outside text reaches a widget except through ``sreconsole.tui.render`` (hole 1 of issue 15).

Textual parses markup in the strings given to ``notify``, ``Static``, ``Label``, ``update``
and titles, and passes escape sequences inside a ``Text`` to the terminal. This test reads
every module of ``src/sreconsole/tui`` with ``ast`` and fails where:

* anything but ``render.notify_plain`` touches ``.notify`` (even as a reference handed to
  ``call_from_thread``), or ``from_markup`` / ``from_ansi`` / ``render_markup`` is used;
* a widget or renderable sink (``Static``, ``Label``, ``Option``, ``Group``, ``Markdown``,
  ``Panel``, ``Content``, ``.update``, ``.add_row``, ``.write``, and the same handed to
  ``call_from_thread``) gets an f-string, a ``%`` / ``+`` / ``.format`` string, a call that
  is not a known builder, an attribute, a subscript or a name that is not assigned a safe
  value in the same function (a parameter, for example);
* a title (``.title =``, ``.sub_title =``, ``.border_title =``, ``.border_subtitle =``,
  ``title=``, ``tooltip=``, ``prompt=``) gets anything but a literal or a safe value;
* an ``Input`` is given a ``value=`` / ``placeholder=`` that is not a literal or ``clean(...)``;
* a ``Text`` is built from a string with an unchecked run-time part (``Text(f"{ex.error}")``,
  ``Text(name)``): ``Text`` is not parsed for markup, but escapes in it reach the terminal.
  Its run-time parts must go through ``clean()`` or be provably numbers or times (a
  numeric or strftime format spec, ``len()``); the same for ``Text.assemble`` pieces and
  ``(string, style)`` pairs, and for ``Text.append``.

Safe values: string literals, ``safe(...)``, ``inert(...)``, ``Text("literal")``,
``Text.assemble`` and ``Group`` of safe values, a rich ``Table`` (its rows are checked where
they are added), and the renderable builders named in ``BUILDERS`` (their bodies are
checked by the same rules). Lists spread into ``Group(*parts)`` or ``add_row(*cells)`` are
checked where their items are built.

``dict.update(name)`` in ``tui/`` would be reported too: write ``d |= other`` there.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

TUI = Path(__file__).resolve().parents[2] / "src" / "sreconsole" / "tui"
DOOR = TUI / "render.py"
"""The module that is the door: it alone calls ``notify`` and builds ``Text`` from clean text."""

HELPERS = {"safe", "inert"}
BUILDERS = {
    # functions and methods in tui/ that return renderables built by the rules below
    "alert_detail",
    "answer_renderable",
    "evidence_renderable",
    "proposal_renderable",
    "record_renderable",
    "run_renderable",
    "proposal_cell",
    "passage_lines",
    "render_sources",
    "_title",
    "_action_line",
    "_group_row",
    "_row",
    "mute_count",
    "would_mute",
    "trace_line",
    "traces_renderable",
    "traces_heading",
    "traces_query",
    "span_tree_renderable",
    "_fitted",
}
SINK_CALLS = {"Static", "Label", "Option", "Group", "Markdown", "Panel", "Content", "Pretty", "Rule", "Syntax"}
SINK_METHODS = {"update", "add_row", "write"}
DEFERRERS = {"call_from_thread", "call_later", "call_after_refresh", "call_next"}
FORBIDDEN_ATTRS = {"notify": "use render.notify_plain", "from_markup": "markup parser", "from_ansi": "ANSI parser", "render_markup": "markup parser"}
TITLE_ATTRS = {"title", "sub_title", "border_title", "border_subtitle"}
TITLE_KWARGS = {"title", "sub_title", "border_title", "border_subtitle", "tooltip", "prompt"}
STRING_KWARGS = {"value", "placeholder"}
"""Plain-string widget arguments (``Input``): not markup, but escapes pass through."""


@dataclass(frozen=True)
class Bypass:
    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _dotted(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return f"{func.value.id}.{func.attr}"
    return _name(func)


def _is_str_literal(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


class _Checker(ast.NodeVisitor):
    def __init__(self, path: str) -> None:
        self.path = path
        self.found: list[Bypass] = []
        self.scopes: list[dict[str, list[ast.expr]]] = [{}]

    # -- scopes: a name is safe when every assignment to it in its function is safe ---------

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        assigned: dict[str, list[ast.expr]] = {}
        params = {a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)}
        for a in (node.args.vararg, node.args.kwarg):
            if a is not None:
                params.add(a.arg)
        for sub in ast.walk(node):
            if isinstance(sub, ast.Assign):
                for target in sub.targets:
                    if isinstance(target, ast.Name):
                        assigned.setdefault(target.id, []).append(sub.value)
            elif isinstance(sub, ast.AnnAssign) and isinstance(sub.target, ast.Name) and sub.value is not None:
                assigned.setdefault(sub.target.id, []).append(sub.value)
            elif isinstance(sub, (ast.For, ast.comprehension)) and isinstance(sub.target, ast.Name):
                assigned.setdefault(sub.target.id, []).append(ast.Name(id="<loop>"))
            elif isinstance(sub, ast.NamedExpr):
                assigned.setdefault(sub.target.id, []).append(sub.value)
        for p in params:
            assigned.setdefault(p, []).append(ast.Name(id="<parameter>"))
        self.scopes.append(assigned)
        self.generic_visit(node)
        self.scopes.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def _assignments(self, name: str) -> list[ast.expr]:
        return self.scopes[-1].get(name, [])

    # -- what counts as safe -----------------------------------------------------------------

    def renderable_ok(self, node: ast.expr, depth: int = 0) -> bool:
        if depth > 8:
            return False
        if isinstance(node, ast.Constant):
            return True
        if isinstance(node, ast.Starred):
            return True  # a list: its items are checked where they are built
        if isinstance(node, ast.IfExp):
            return self.renderable_ok(node.body, depth + 1) and self.renderable_ok(node.orelse, depth + 1)
        if isinstance(node, ast.Name):
            values = self._assignments(node.id)
            return bool(values) and all(
                not (isinstance(v, ast.Name) and v.id.startswith("<")) and self.renderable_ok(v, depth + 1) for v in values
            )
        if isinstance(node, ast.Call):
            name, dotted = _name(node.func), _dotted(node.func)
            if name in HELPERS or name in BUILDERS or name.endswith("_renderable"):
                return True
            if dotted == "Text.assemble":
                return all(self.piece_ok(a) for a in node.args)
            if name == "Text":
                return not node.args or self.text_ok(node.args[0])
            if name == "Group":
                return all(self.renderable_ok(a, depth + 1) for a in node.args)
            if name == "Table":
                return True  # rows are checked at add_row
            if name == "Markdown":
                return bool(node.args) and isinstance(node.args[0], ast.Call) and _name(node.args[0].func) == "inert_markdown"
            return False
        return False  # f-strings, BinOp, attributes, subscripts, ...

    def text_ok(self, node: ast.expr, depth: int = 0) -> bool:
        """A string that may go into a ``Text`` (never parsed for markup): literals, and
        strings whose run-time parts went through ``clean()`` or are provably numbers or
        times (a numeric or strftime format spec raises on a ``str``)."""
        if depth > 8:
            return False
        if _is_str_literal(node):
            return True
        if isinstance(node, ast.JoinedStr):
            return all(isinstance(v, ast.Constant) or self._formatted_ok(v, depth) for v in node.values)
        if isinstance(node, ast.IfExp):
            return self.text_ok(node.body, depth + 1) and self.text_ok(node.orelse, depth + 1)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self.text_ok(node.left, depth + 1) and self.text_ok(node.right, depth + 1)
        if isinstance(node, ast.Call):
            return _name(node.func) in ("clean", "format_age", "age_text")
        if isinstance(node, ast.Name):
            values = self._assignments(node.id)
            return bool(values) and all(not (isinstance(v, ast.Name) and v.id.startswith("<")) and self.text_ok(v, depth + 1) for v in values)
        return False

    def _formatted_ok(self, value: ast.FormattedValue, depth: int) -> bool:
        spec = value.format_spec
        if isinstance(spec, ast.JoinedStr) and all(isinstance(v, ast.Constant) for v in spec.values):
            text = "".join(str(v.value) for v in spec.values)
            if text.startswith("%") or (text and text[-1] in "bcdeEfFgGnoxX%"):
                return True
        if isinstance(value.value, ast.Call) and _name(value.value.func) == "len":
            return True
        return self.text_ok(value.value, depth + 1)

    def piece_ok(self, node: ast.expr) -> bool:
        if self.text_ok(node):
            return True
        if isinstance(node, ast.Tuple) and node.elts:
            return self.text_ok(node.elts[0])
        return isinstance(node, ast.Call) and self.renderable_ok(node)

    def string_ok(self, node: ast.expr) -> bool:
        if isinstance(node, ast.Constant):
            return True
        if isinstance(node, ast.Call) and _name(node.func) == "clean":
            return True
        if isinstance(node, ast.IfExp):
            return self.string_ok(node.body) and self.string_ok(node.orelse)
        return False

    # -- the rules ----------------------------------------------------------------------------

    def report(self, node: ast.AST, what: str) -> None:
        self.found.append(Bypass(self.path, getattr(node, "lineno", 0), what))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in FORBIDDEN_ATTRS:
            self.report(node, f".{node.attr}: {FORBIDDEN_ATTRS[node.attr]}")
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            if isinstance(target, ast.Attribute) and target.attr in TITLE_ATTRS and not self.renderable_ok(node.value):
                self.report(node, f".{target.attr} = {ast.unparse(node.value)[:60]}")
        self.generic_visit(node)

    def _check_sink_args(self, node: ast.Call, args: list[ast.expr], sink: str) -> None:
        for arg in args:
            if not self.renderable_ok(arg):
                self.report(node, f"{sink}({ast.unparse(arg)[:60]})")

    def visit_Call(self, node: ast.Call) -> None:
        name, dotted = _name(node.func), _dotted(node.func)
        if name == "Markdown":
            if not (node.args and isinstance(node.args[0], ast.Call) and _name(node.args[0].func) == "inert_markdown"):
                self.report(node, "Markdown(...) of text that did not go through inert_markdown")
        elif name in SINK_CALLS and name != "Group":
            self._check_sink_args(node, list(node.args) + [k.value for k in node.keywords if k.arg in ("renderable", "content", "prompt")], name)
        elif name == "Group":
            self._check_sink_args(node, list(node.args), name)
        elif isinstance(node.func, ast.Attribute) and name in SINK_METHODS:
            self._check_sink_args(node, list(node.args), f".{name}")
        elif name in DEFERRERS and node.args and isinstance(node.args[0], ast.Attribute) and node.args[0].attr in SINK_METHODS:
            self._check_sink_args(node, list(node.args[1:]), f"{name}(.{node.args[0].attr}, …)")
        if dotted == "Text.assemble":
            for piece in node.args:
                if not self.piece_ok(piece):
                    self.report(node, f"Text.assemble piece {ast.unparse(piece)[:60]}")
        elif name == "Text" and node.args and not self.text_ok(node.args[0]):
            self.report(node, f"Text({ast.unparse(node.args[0])[:60]}): use safe()")
        if name == "append" and node.args:
            value = node.args[0]
            styled = len(node.args) > 1 or any(k.arg == "style" for k in node.keywords)
            built = isinstance(value, (ast.JoinedStr, ast.BinOp)) or (isinstance(value, ast.Call) and _name(value.func) in ("format", "str", "clean", "join"))
            if (built or styled) and not self.text_ok(value):
                self.report(node, f".append({ast.unparse(value)[:60]}): use append_text(safe(...))")
        if name == "append_text" and node.args and not self.renderable_ok(node.args[0]):
            self.report(node, f".append_text({ast.unparse(node.args[0])[:60]})")
        for kw in node.keywords:
            if kw.arg in TITLE_KWARGS and not self.renderable_ok(kw.value) and name != "notify_plain":
                self.report(node, f"{kw.arg}={ast.unparse(kw.value)[:60]}")
            if kw.arg in STRING_KWARGS and name == "Input" and not self.string_ok(kw.value):
                self.report(node, f"Input({kw.arg}={ast.unparse(kw.value)[:60]}): use clean()")
        self.generic_visit(node)


def bypasses(source: str, path: str = "<snippet>") -> list[Bypass]:
    checker = _Checker(path)
    checker.visit(ast.parse(source))
    return checker.found


def test_no_module_in_tui_bypasses_the_door():
    modules = sorted(p for p in TUI.rglob("*.py") if p != DOOR)
    assert len(modules) >= 15, "the tui package moved: point TUI at it"
    found = [b for p in modules for b in bypasses(p.read_text(), str(p.relative_to(TUI.parent.parent)))]
    assert not found, "outside text reaches the screen without tui.render:\n" + "\n".join(map(str, found))


def test_every_builder_named_as_safe_exists_and_is_checked():
    """A builder in BUILDERS is trusted because its body is scanned; a renamed one would
    leave a name nobody checks."""
    defined = {n.name for p in TUI.rglob("*.py") for n in ast.walk(ast.parse(p.read_text())) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    assert BUILDERS <= defined, BUILDERS - defined


BAD = {
    "notify with an f-string": 'self.app.notify(f"{alert.alertname} is not silenced")',
    "notify with a literal": 'self.app.notify("literal")',
    "notify handed to a thread": 'self.app.call_from_thread(self.app.notify, msg, severity="error")',
    "Static of a variable": "def f(label):\n    yield Static(label)",
    "Label of an f-string": 'Label(f"Silence {name}")',
    "update with a .format string": 'w.update("{} x".format(name))',
    "update with %": 'w.update("%s" % name)',
    "update with concatenation": 'w.update("a " + name)',
    "update of an attribute": "w.update(self.error)",
    "update of clean() (a str: markup)": "w.update(clean(error))",
    "deferred update of Text(str)": "self.app.call_from_thread(box.update, Text(shown))",
    "border_title of a name": "def f(self, name):\n    self.border_title = name",
    "title keyword": 'Table(title=f"{x}")',
    "Text of an f-string": 'parts.append(Text(f"error: {ex.error}", style="dim"))',
    "Text.assemble with an f-string pair": 'Text.assemble((f"  risk {r.risk}", "dim"))',
    "Text.assemble with a bare name": "Text.assemble(name)",
    "Text.append of a built string": 'title.append(f"{n} matching")',
    "Text.append of a styled name": 'line.append(ch, style="bold")',
    "Text of a str() call": "Text(str(r.id))",
    "Static of a cleaned f-string (still markup)": 'Static(f"error: {clean(e)}")',
    "Text.from_markup": "Text.from_markup(value)",
    "Content.from_markup": "Content.from_markup(value)",
    "Input value from a label": "Input(value=alert.labels['pod'])",
    "Markdown of raw text": "Markdown(answer.text)",
    "Option of a name": "def f(x):\n    return Option(x)",
}
GOOD = {
    "notify_plain": 'notify_plain(self.app, f"{alert.alertname} is not silenced", severity="warning")',
    "Static literal": 'Static("Review  loading…")',
    "Static of safe": "Static(safe(label, 60))",
    "update of a local built safely": 'def f(self):\n    t = Text.assemble(("a", "bold"), safe(x))\n    self.w.update(t)',
    "Group of builders": "Static(Group(safe(a), Text('b'), *lines))",
    "append_text of safe": "t.append_text(safe(x, style='dim'))",
    "Text literal": 'Text("no runs yet", style="dim")',
    "Markdown of inert_markdown": "Markdown(inert_markdown(clean(text)), hyperlinks=False)",
    "Input value cleaned": "Input(value=clean(v, 200))",
    "deferred update of safe": "self.app.call_from_thread(box.update, safe(shown, 8000))",
    "builder": "view.update(record_renderable(r, e))",
    "Text of numbers and cleaned text": 'Text(f"{r.confidence:.2f} at {when:%H:%M} " + clean(err) + f" {len(xs)} calls")',
    "Text.assemble of a local literal choice": 'def f(self):\n    mode = "all" if self.a else "pending"\n    return Text.assemble((f"{mode}", "dim"))',
}


def test_the_scan_catches_each_kind_of_bypass():
    for label, snippet in BAD.items():
        assert bypasses(snippet), f"not caught: {label}: {snippet}"


def test_the_scan_lets_the_door_through():
    for label, snippet in GOOD.items():
        assert not bypasses(snippet), f"wrongly refused: {label}: {bypasses(snippet)}"


def test_a_real_bypass_in_a_copied_module_is_caught():
    """Put back the line that crashed the console (the expire toast naming the alert) into
    a copy of the real module: the scan must name that line."""
    source = (TUI / "panes" / "alert_silences.py").read_text()
    planted = source.replace("    def action_expire(self) -> None:\n", '    def action_expire(self) -> None:\n        self.app.notify(f"{self.alert.alertname} is not silenced")\n', 1)
    assert planted != source
    assert any("notify" in b.what for b in bypasses(planted, "alert_silences.py"))
