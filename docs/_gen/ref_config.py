"""Generated parts of reference/config.md (every key of a run config and of a
bench suite file, from the pydantic models) and reference/shipped-configs.md
(every file in configs/ and suites/)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from refgen import REPO, code, esc, fields, table, text_block

# the sections named by an entry of a registry: their keys are that entry's options
ENTRY_SECTIONS = {
    "problem": ("a problem's name, or a mapping {name: NAME, OPTION: VALUE, ...}", "Problems", "problems.md"),
    "init": (
        "default, an initializer's name, or a mapping {kind: KIND, OPTION: VALUE, ...}",
        "Initializers",
        "optimizers.md#initializers",
    ),
    "optimizer": (
        "an optimizer's name, or a mapping {name: NAME, OPTION: VALUE, ...}",
        "Optimizers",
        "optimizers.md",
    ),
}


# keys whose type the models' own wording says poorly
KIND_TEXT = {
    "bounds": "a mapping: parameter name or dotted path (`layers.0.w`) -> `[low, high]` (each a number or null: "
    "open), or a list of such pairs, one per entry",
}
# the top-level keys that bound and constrain a run: shown after `fix` (the models declare them first)
AFTER_FIX = ("bounds", "constraints")


def _field_names(model: Any) -> list[str]:
    """A model's fields in the order the reference shows them."""
    names = list(model.model_fields)
    if "fix" not in names or not set(AFTER_FIX) <= set(names):
        return names
    rest = [n for n in names if n not in AFTER_FIX]
    at = rest.index("fix") + 1
    return rest[:at] + list(AFTER_FIX) + rest[at:]


def _is_list(annotation: Any) -> bool:
    import typing

    return typing.get_origin(annotation) is list


def _model_of(annotation: Any) -> Any:
    """The options model a field holds (``StopConfig``, ``ExpectConfig | None``), or None."""
    import typing

    from optrun.core.options import Options

    if isinstance(annotation, type) and issubclass(annotation, Options):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def sections(model: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted prefix, model) of a model and of every section nested in it, depth first."""
    yield prefix, model
    for name in _field_names(model):
        nested = _model_of(model.model_fields[name].annotation)
        if nested is not None and prefix + name not in ENTRY_SECTIONS:
            yield from sections(nested, f"{prefix}{name}.")


def keys(model: Any) -> list[str]:
    """Every dotted key of a model, nested sections' keys included."""
    return [prefix + name for prefix, section in sections(model) for name in section.model_fields]


def anchor(prefix: str) -> str:
    return prefix.rstrip(".").replace(".", "-")


def _section_table(prefix: str, model: Any) -> str:
    from optrun.commands.describe import option_rows
    from optrun.config.schema import CLIP_TO_BOUNDS

    rows = []
    found = {row[0]: row for row in option_rows(model)}
    for name in _field_names(model):
        _, kind, default, allowed, meaning = found[name]
        key = prefix + name
        annotation = model.model_fields[name].annotation
        nested = _model_of(annotation)
        if key in ENTRY_SECTIONS:
            what, title, link = ENTRY_SECTIONS[key]
            kind = esc(what) + f"; see [{title}]({link})"
        elif key in KIND_TEXT:
            kind = esc(KIND_TEXT[key])
        elif nested is not None and _is_list(annotation):
            kind = f"a list of mappings: [{key}](#{anchor(key)})"
        elif nested is not None:
            kind = f"a mapping: [{key}](#{anchor(key)})" + (" or null" if "null" in kind else "")
        else:
            kind = esc(kind)
        if default == "required":
            shown = "**required**"
        elif nested is not None and default != "null" and not _is_list(annotation):
            shown = "its keys' defaults"
        else:
            shown = code(default)
        rows.append((code(key), kind, shown, esc(allowed), esc(meaning)))
        if key == "init":  # a key of every initializer's mapping, kept apart from the initializer's own options
            clip = ("init.clip_to_bounds", "boolean", code("false"), "-", esc(CLIP_TO_BOUNDS["description"]))
            rows.append((code(clip[0]), *clip[1:]))
    return table(("key", "type", "default", "allowed", "meaning"), rows)


def _sections_text(model: Any, top_title: str, level: str = "##") -> str:
    out = []
    lists = {f"{prefix}{name}." for prefix, section in sections(model) for name in section.model_fields}
    lists = {key for key in lists if _is_list(_field(model, key.rstrip(".")).annotation)}
    for prefix, section in sections(model):
        if prefix:
            out.append(f"{level} `{prefix.rstrip('.')}` {{#{anchor(prefix)}}}\n")
            if prefix in lists:
                out.append(f"Each entry of the list `{prefix.rstrip('.')}` is a mapping with these keys:\n")
        else:
            out.append(f"{level} {top_title}\n")
        out.append(_section_table(prefix, section))
    return "\n".join(out)


def _field(model: Any, dotted: str) -> Any:
    """The pydantic field at a dotted key of a model (through nested sections)."""
    *parents, last = dotted.split(".")
    for name in parents:
        model = _model_of(model.model_fields[name].annotation)
    return model.model_fields[last]


def config_keys() -> str:
    """Every key of a run config, section by section."""
    from optrun.config import _TopLevel

    return _sections_text(_TopLevel, "Top-level keys {#top-level-keys}")


def bench_keys() -> str:
    """Every key of a bench suite file."""
    from optrun.config.bench import BenchConfig

    return (
        _sections_text(BenchConfig, "Suite file keys {#suite-file-keys}", level="###")
        .replace("](#", "](#bench-")
        .replace("{#", "{#bench-")
    )


# ------------------------------------------------------------------ shipped configs
def shipped_files() -> list[Path]:
    return sorted((REPO / "configs").glob("*.yaml")) + sorted((REPO / "suites").glob("*.yaml"))


def leading_comment(text: str) -> str:
    """The comment lines a file starts with, as Markdown: prose lines joined
    into paragraphs, lines indented by three spaces or more (commands, code) as
    a code block."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].removeprefix(" "))
    out: list[str] = []
    prose: list[str] = []
    block: list[str] = []

    def flush() -> None:
        if prose:
            out.append(esc(" ".join(prose)) + "\n")
            prose.clear()
        if block:
            out.append(text_block("\n".join(block)))
            block.clear()

    for line in lines:
        if line.startswith("  ") and line.strip():
            if prose:
                flush()
            block.append(line[2:])
        elif not line.strip():
            flush()
        else:
            if block:
                flush()
            prose.append(line.strip())
    flush()
    return "\n".join(out)


def _name(value: Any, key: str) -> str:
    return str(value.get(key, "?")) if isinstance(value, dict) else str(value)


def _link(name: str, kind: str) -> str:
    """An entry's name, linked to its reference entry when it is a built-in one."""
    from optrun.config import section_registry
    from optrun.config.plugins import origin

    registry = section_registry(kind)
    page, prefix = ("problems.md", "") if kind == "problem" else ("optimizers.md", "init-" if kind == "init" else "")
    if name in registry and origin(registry.kind, name) == "built-in":
        return f"[`{name}`]({page}#{prefix}{name})"
    return code(name)


def _entry_text(value: Any, key: str, kind: str) -> str:
    from optrun.core.yaml_text import yaml_text

    name = _name(value, key)
    options = {k: v for k, v in value.items() if k != key} if isinstance(value, dict) else {}
    return _link(name, kind) + (" " + code(yaml_text(options)) if options else "")


def block_text(text: str, key: str) -> str:
    """A top-level key's block as the file writes it (comments and flow style kept)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{key}:"))
    end = next((i for i in range(start + 1, len(lines)) if lines[i][:1] not in ("", " ", "#")), len(lines))
    return "\n".join(lines[start:end]).rstrip()


def _file_part(path: Path) -> str:
    from optrun.config.bench import is_bench_suite
    from optrun.core.safe_yaml import read_yaml_file

    text = path.read_text(encoding="utf-8")
    data = read_yaml_file(path)
    rel = path.relative_to(REPO).as_posix()
    out = [f"### `{path.name}` {{#{path.stem}}}\n", leading_comment(text)]
    if is_bench_suite(path):
        problems = [data["problems"]] if isinstance(data["problems"], str) else data["problems"]
        rows = [
            ("problems", ", ".join(_entry_text(p, "name", "problem") for p in problems)),
            ("optimizers", ", ".join(_entry_text(o, "name", "optimizer") for o in data["optimizers"])),
            ("run it", code(f"optrun bench {rel}")),
        ]
        out.append(fields(rows))
        return "\n".join(out)
    rows = [
        ("problem", _entry_text(data["problem"], "name", "problem")),
        ("optimizer", _entry_text(data["optimizer"], "name", "optimizer")),
    ]
    if "init" in data:
        rows.append(("init", _entry_text(data["init"], "kind", "init")))
    rows.append(("run it", code(f"optrun run {rel}")))
    out.append(fields(rows))
    if data.get("expect"):
        out.append("Its `expect:` block, what `optrun check` compares:\n")
        out.append(text_block(block_text(text, "expect"), "yaml"))
    return "\n".join(out)


def shipped_configs() -> str:
    from optrun.config.bench import is_bench_suite

    files = shipped_files()
    runs = [p for p in files if not is_bench_suite(p)]
    suites = [p for p in files if is_bench_suite(p)]
    rows = []
    for path in runs:
        data = _data(path)
        problem, optimizer = _name(data["problem"], "name"), _name(data["optimizer"], "name")
        rows.append((f"[`{path.name}`](#{path.stem})", _link(problem, "problem"), _link(optimizer, "optimizer")))
    out = [table(("config", "problem", "optimizer"), rows), "## Run configs {#run-configs}\n"]
    out += [_file_part(p) for p in runs]
    out.append("## Bench suite files {#bench-suite-files}\n")
    out += [_file_part(p) for p in suites]
    return "\n".join(out)


def _data(path: Path) -> Any:
    from optrun.core.safe_yaml import read_yaml_file

    return read_yaml_file(path)


PARTS = {"config-keys": config_keys, "bench-keys": bench_keys, "shipped-configs": shipped_configs}
