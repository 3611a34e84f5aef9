"""Read modelforge.yaml (+ --set overrides) into a validated Spec.

YAML is parsed to nodes first so every value keeps its line number: an error
then says "modelforge.yaml:12: train.deepspeed: ...". Duplicate keys are errors
(PyYAML would silently keep the last one), and so are YAML aliases (no billion-laughs).
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .errors import Problem, SpecError, nearest_source
from .fields import SECRET_VALUE, SECRET_WORDS
from .spec import Spec

MAX_SPEC_BYTES = 1_000_000
MAX_DEPTH = 32
MAX_PROBLEMS = 50
MAX_NUMBER_CHARS = 100  # longer ints are slow to build (1:2:3... sexagesimal) and cannot be printed past 4300 digits
NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


class NestingError(yaml.scanner.ScannerError):
    pass


class _Loader(yaml.SafeLoader):
    """SafeLoader that stops at MAX_DEPTH while scanning, naming the line. PyYAML's composer recurses once
    per level ('[[[[...' or '- - - ...' raised RecursionError past ~300 levels), and its scanner's work per
    token grows with the open flow levels."""

    def fetch_flow_collection_start(self, TokenClass):
        if self.flow_level >= MAX_DEPTH:
            raise NestingError(None, None, f"nested deeper than {MAX_DEPTH} levels", self.get_mark())
        super().fetch_flow_collection_start(TokenClass)

    def add_indent(self, column):
        if len(self.indents) >= MAX_DEPTH:
            raise NestingError(None, None, f"nested deeper than {MAX_DEPTH} levels", self.get_mark())
        return super().add_indent(column)


def load_spec(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Spec:
    """Parse, merge --set overrides, validate. Raises SpecError naming file, line and field."""
    path = Path(path)
    data, lines = _read_yaml(path)
    if not isinstance(data, dict):
        validate(data, default_source=str(path))  # raises: the spec must be a mapping (--set cannot go below a list)
    sources: dict[str, str] = {key: f"{path}:{line}" for key, line in lines.items()}
    for index, text in enumerate(overrides, start=1):
        dotted, value = _parse_override(text, index)
        _set_dotted(data, dotted, value, f"--set #{index}")
        sources[dotted] = f"--set #{index} ({_label(text)})"
    _resolve_relative_paths(data, path.parent)
    return validate(data, sources, default_source=str(path))


def _resolve_relative_paths(data: Any, base: Path) -> None:
    """Host paths in the spec are relative to the spec file, wherever the command runs from."""
    model = data.get("model") if isinstance(data, dict) else None
    if (
        isinstance(model, dict)
        and isinstance(model.get("config_path"), str)
        and not Path(model["config_path"]).is_absolute()
    ):
        model["config_path"] = str(base / model["config_path"])


def validate(data: Any, sources: dict[str, str] | None = None, default_source: str = "") -> Spec:
    sources = sources or {}
    if not isinstance(data, dict):
        raise SpecError(
            [Problem("", "the spec must be a mapping of sections (name, model, train, ...)", default_source)]
        )
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        problems = [_problem(err, sources, default_source) for err in errors[:MAX_PROBLEMS]]
        if len(errors) > MAX_PROBLEMS:  # a 1 MB spec of unknown keys: 60,000 lines (20 MB) helps nobody
            problems.append(Problem("", f"... and {len(errors) - MAX_PROBLEMS:,} more problems", default_source))
        raise SpecError(problems) from None
    spec.locate(sources, default_source)  # so the planner's refusals name file:line too
    return spec


def _read_yaml(path: Path) -> tuple[Any, dict[str, int]]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpecError(
            [Problem("", "spec file not found (pass -f PATH, or run from the folder holding it)", str(path))]
        ) from None
    except OSError as exc:
        raise SpecError([Problem("", f"cannot read the spec: {exc.strerror}", str(path))]) from None
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError(
            [Problem("", f"spec is {len(raw)} bytes; more than {MAX_SPEC_BYTES} is surely a mistake", str(path))]
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError([Problem("", f"not UTF-8 text (byte {exc.start})", str(path))]) from None
    if "\x00" in text:
        raise SpecError(
            [Problem("", "the spec holds a NUL byte", f"{path}:{text[: text.index(chr(0))].count(chr(10)) + 1}")]
        )
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.reader.ReaderError as exc:  # its str() is two lines and names no line of the file
        where = f"{path}:{text[: exc.position].count(chr(10)) + 1}"
        char = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        raise SpecError([Problem("", f"invalid YAML: unacceptable character {char} ({exc.reason})", where)]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        reason = getattr(exc, "problem", None) or str(exc)
        raise SpecError([Problem("", f"invalid YAML: {reason}", where)]) from None
    if node is None:
        return {}, {}
    lines: dict[str, int] = {}
    data = _to_python(node, "", lines, path, depth=0, seen=set())
    return data, lines


def _to_python(node: yaml.Node, dotted: str, lines: dict[str, int], path: Path, depth: int, seen: set[int]) -> Any:
    where = f"{path}:{node.start_mark.line + 1}"
    if depth > MAX_DEPTH:
        raise SpecError([Problem(dotted, f"nested deeper than {MAX_DEPTH} levels", where)])
    # An alias is the very node object of its anchor, met a second time.
    if id(node) in seen or node.tag == "tag:yaml.org,2002:merge":
        raise SpecError([Problem(dotted, "YAML aliases and merge keys are not supported; write values out", where)])
    seen.add(id(node))
    lines.setdefault(dotted, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise SpecError([Problem(dotted, "mapping keys must be plain names", where)])
            key = key_node.value
            child = f"{dotted}.{key}" if dotted else key
            if key in result:
                raise SpecError(
                    [
                        Problem(
                            child,
                            "duplicate key (the earlier value would be silently lost)",
                            f"{path}:{key_node.start_mark.line + 1}",
                        )
                    ]
                )
            lines[child] = key_node.start_mark.line + 1
            result[key] = _to_python(value_node, child, lines, path, depth + 1, seen)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _to_python(item, f"{dotted}.{i}" if dotted else str(i), lines, path, depth + 1, seen)
            for i, item in enumerate(node.value)
        ]
    if node.tag in NUMBER_TAGS and len(node.value) > MAX_NUMBER_CHARS:
        raise SpecError(
            [
                Problem(
                    dotted,
                    f"a number of {len(node.value):,} characters; more than {MAX_NUMBER_CHARS} is surely a mistake",
                    where,
                )
            ]
        )
    try:
        return yaml.constructor.SafeConstructor().construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        raise SpecError([Problem(dotted, f"cannot read this value: {getattr(exc, 'problem', exc)}", where)]) from None
    except Exception as exc:  # noqa: BLE001 - PyYAML's constructors on user text: ValueError (2001-13-45, !!int x),
        # KeyError (!!bool maybe), AttributeError (!!timestamp x), IndexError (!!int with no value), ...
        tag = node.tag.rsplit(":", 1)[-1]
        raise SpecError(
            [
                Problem(
                    dotted,
                    f"cannot read {node.value[:40]!r} as a YAML {tag} ({type(exc).__name__}: {str(exc)[:80]})",
                    where,
                )
            ]
        ) from None


def _parse_override(text: str, index: int) -> tuple[str, Any]:
    source = f"--set #{index}"
    dotted, sep, raw = text.partition("=")
    dotted = dotted.strip()
    if not sep or not dotted or any(not part for part in dotted.split(".")):
        raise SpecError([Problem("", f"expected dotted.path=value, got {_short(text)}", source)])
    if not raw.strip():
        return dotted, ""
    try:
        node = yaml.compose(raw, Loader=_Loader)
    except NestingError:
        raise SpecError([Problem(dotted, f"nested deeper than {MAX_DEPTH} levels", source)]) from None
    except yaml.YAMLError:
        return dotted, raw  # not YAML: take it as the plain string the user typed
    if node is None:
        return dotted, None
    try:  # the file's rules: no aliases (no billion laughs), bounded depth and numbers, constructor errors named
        return dotted, _to_python(node, dotted, {}, Path(source), depth=0, seen=set())
    except SpecError as exc:
        raise SpecError([Problem(p.path, p.message, f"{source} ({_label(text)})") for p in exc.problems]) from None


def _set_dotted(data: dict[str, Any], dotted: str, value: Any, source: str) -> None:
    node: Any = data
    parts = dotted.split(".")
    for i, part in enumerate(parts[:-1]):
        nxt = node.get(part) if isinstance(node, dict) else None
        if nxt is None:
            nxt = {}
            node[part] = nxt
        elif not isinstance(nxt, dict):
            raise SpecError([Problem(".".join(parts[: i + 1]), "is not a section; cannot set a key below it", source)])
        node = nxt
    node[parts[-1]] = value


def _problem(err: Any, sources: dict[str, str], default_source: str) -> Problem:
    loc = [str(part) for part in err["loc"] if not _is_union_tag(part)]
    dotted = ".".join(loc)
    source = nearest_source(dotted, sources, default_source)
    kind = err["type"]
    if kind == "extra_forbidden":
        parent_fields = _fields_at(loc[:-1])
        close = difflib.get_close_matches(loc[-1], parent_fields, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        allowed = ", ".join(parent_fields)
        return Problem(dotted, f"unknown key{hint} (allowed here: {allowed})", source)
    message = err["msg"]
    if kind == "literal_error":
        message = f"{message}; got {_short(err.get('input'))}"
    elif kind == "string_pattern_mismatch":
        message = f"{_short(err.get('input'))} has characters or a shape not allowed here (must match {err['ctx']['pattern']})"
    elif kind == "missing":
        message = "required"
    elif kind == "value_error":
        message = message.removeprefix("Value error, ")  # pydantic's prefix on our validators' own sentences
    return Problem(dotted, message, source)


def _label(text: str) -> str:
    """The --set text for an error line, its value masked when the path or the value looks like a secret."""
    dotted, sep, value = text.partition("=")
    if any(word in dotted.upper().replace("-", "_") for word in SECRET_WORDS) or SECRET_VALUE.search(value):
        return f"{dotted[:60]}{sep}***"
    return text[:60]


def _short(value: Any, limit: int = 120) -> str:
    """repr() of what the user wrote, cut: a 1 MB string must not become a 1 MB error line."""
    text = re.sub(r"://[^/@\s]*@", "://***@", repr(value))  # never echo a password written into a URL
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _is_union_tag(part: Any) -> bool:
    # pydantic adds union member names ('int', "literal['auto']") to loc; users never wrote those.
    return isinstance(part, str) and (
        part in {"int", "bool", "str", "float"} or part.startswith(("literal[", "function-"))
    )


def _fields_at(loc: list[str]) -> list[str]:
    model: type[BaseModel] = Spec
    for part in loc:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)
