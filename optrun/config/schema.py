"""The JSON Schema (draft-07) of run configs and of bench suite files,
generated from the models the loader validates with (``optrun schema``).

The config's sections come from :class:`optrun.config._TopLevel` (and
:class:`optrun.config.bench.BenchConfig` for ``--kind bench``); ``problem``,
``init`` and ``optimizer`` are ``oneOf`` the registry entries: a bare name
(entries whose options all have defaults) or a mapping ``{name: ENTRY,
...that entry's options}`` whose keys are that entry's own (unknown keys are
errors, as for the loader). A ``step_size`` option is a positive number or a
mapping ``{schedule: NAME, ...that schedule's options}``. So an editor
completes and checks keys per problem, optimizer, initializer and schedule.
``init.clip_to_bounds`` is a key of every initializer's mapping; ``bounds:``
and ``constraints:`` are described to the loader's form (a pair or a non-empty
list of pairs per name, ``{type: ineq|eq, expr}`` with a non-blank formula).

What cannot be written in a schema is left to the loader: paths that must
exist, a formula's syntax, the checks between keys (a ``zip`` of lists of one
length, ``low`` below ``high``), a sweep's dotted keys. A config the schema
accepts may still be refused by ``optrun run``; one it refuses is refused by
the loader too (``tests/test_schema.py``).

The entries are whatever is registered when the schema is built: the
built-ins, plus the user problems (optimizers, initializers, schedules) the
command loaded; ``user=False`` leaves the latter out (the copy published with
the documentation).
"""

from __future__ import annotations

import copy
import json
import typing
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

DRAFT = "http://json-schema.org/draft-07/schema#"
Kind = Literal["run", "bench"]
REF = "#/definitions/{model}"


def _entries(registry: Any, user: bool) -> list[tuple[str, Any]]:
    """(name, entry) of every entry a config can name (not the hidden ``python``);
    without ``user``, the built-ins only."""
    from optrun.config.plugins import origin

    return [
        (name, registry.get(name)) for name in registry.listed() if user or origin(registry.kind, name) == "built-in"
    ]


def user_entries() -> list[str]:
    """The entries loaded from user files or entry points, as "user problem rastrigin"."""
    from optrun.config.plugins import _registries, origin

    return [
        f"user {registry.kind} {name}"
        for registry in _registries()
        for name in registry.listed()
        if origin(registry.kind, name) != "built-in"
    ]


def _about(entry: Any) -> str:
    """What an entry is, one paragraph: its description (and a problem's formula)."""
    formula = getattr(entry, "formula", "")
    return entry.description + (f"; {formula}" if formula else "")


def _takes_schedule(annotation: Any) -> bool:
    """A ``step_size`` option (:data:`optrun.core.optimizers.schedules.StepSize`): a number or a schedule."""
    from optrun.core.optimizers.schedules import ScheduleOptions

    return any(isinstance(arg, type) and issubclass(arg, ScheduleOptions) for arg in typing.get_args(annotation))


class _Builder:
    """Every model's schema generated at once (pydantic names clashing
    classes apart), then the entries composed from them."""

    def __init__(self, top: type[BaseModel], user: bool):
        from optrun.core.initializers import INITIALIZERS
        from optrun.core.optimizers import OPTIMIZERS
        from optrun.core.optimizers.schedules import SCHEDULES
        from optrun.core.problems import PROBLEMS, SUITES

        self.problems = _entries(PROBLEMS, user)
        self.optimizers = _entries(OPTIMIZERS, user)
        self.initializers = _entries(INITIALIZERS, user)
        self.schedules = _entries(SCHEDULES, user)
        self.suites = _entries(SUITES, user)
        named = {"problem": self.problems, "optimizer": self.optimizers, "initializer": self.initializers}
        self.users = {top: ["the file"]}  # model -> the entries whose options it is
        for kind, entries in {**named, "schedule": self.schedules}.items():
            for name, entry in entries:
                self.users.setdefault(entry.options, []).append(f"{kind} {name}")
        self.warnings: list[str] = []
        models = [m for m in self.users if self._describable(m)]
        keys, found = models_json_schema([(m, "validation") for m in models], ref_template=REF)
        self.definitions: dict[str, Any] = found.get("$defs", {})
        _tidy(self.definitions, in_map=True)
        for definition in self.definitions.values():  # a class docstring, for Python readers: each use has its own
            definition.pop("description", None)
        self.model_refs = {model: keys[(model, "validation")]["$ref"] for model in models}

    def _describable(self, model: type[BaseModel]) -> bool:
        """Whether pydantic can write the model's schema (a user's option of an arbitrary Python type cannot)."""
        try:
            model.model_json_schema()
        except Exception as exc:  # one line: what is not checked, and pydantic's reason
            reason = (str(exc).splitlines() or [""])[0]
            self.warnings.append(
                f"the schema takes any options for {', '.join(self.users[model])}: pydantic cannot describe "
                f"{model.__name__} ({type(exc).__name__}: {reason})"
            )
            return False
        return True

    def model(self, model: type[BaseModel]) -> dict[str, Any]:
        """A copy of a model's own object schema, its step_size options made number-or-schedule
        (one pydantic cannot describe: any keys)."""
        if model not in self.model_refs:
            return {"type": "object"}
        schema = copy.deepcopy(self.definitions[self.model_refs[model].rsplit("/", 1)[-1]])
        for name, field in model.model_fields.items():
            if _takes_schedule(field.annotation):
                old = schema["properties"][name]
                schema["properties"][name] = {
                    **{k: v for k, v in old.items() if k in ("description", "default")},
                    "anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"$ref": "#/definitions/schedule"}],
                }
        return schema

    def entry(self, key: str, name: str, about: str, model: type[BaseModel]) -> dict[str, Any]:
        """``{key: name, ...the entry's options}``, nothing else."""
        options = self.model(model)
        own = {k: v for k, v in options.get("properties", {}).items() if k != key}  # a schedule's `schedule: str`
        return {
            "type": "object",
            "title": name,
            "description": about,
            "properties": {key: {"const": name, "description": about}, **own},
            "required": [key, *(k for k in options.get("required", []) if k != key)],
            "additionalProperties": options.get("additionalProperties", True),
        }

    def section(self, entries: list[tuple[str, Any]], key: str, what: str, description: str) -> dict[str, Any]:
        """A name (of an entry that needs no option) or one entry's mapping."""
        bare = [name for name, e in entries if not any(f.is_required() for f in e.options.model_fields.values())]
        return {
            "description": description,
            "oneOf": [
                {"type": "string", "enum": bare, "description": f"a {what}'s name: that {what} with its defaults"},
                *(self.entry(key, name, _about(e), e.options) for name, e in entries),
            ],
        }

    def schedule(self) -> dict[str, Any]:
        entries = [
            self.entry("schedule", name, f"step size at update t: {e.description}", e.options)
            for name, e in self.schedules
        ]
        return {"description": "a step-size schedule: {schedule: NAME, value: NUMBER, ...}", "oneOf": entries}


PROBLEM_TEXT = "the problem: a name, or {name: NAME, OPTION: VALUE, ...} (optrun list-problems, optrun describe NAME)"
OPTIMIZER_TEXT = "the method: a name, or {name: NAME, OPTION: VALUE, ...} (optrun list-optimizers)"
INIT_TEXT = "where the parameters start: default (the problem's start), a name, or {kind: KIND, OPTION: VALUE, ...}"


def _run_schema(build: _Builder, top: dict[str, Any]) -> dict[str, Any]:
    from optrun.core.backend import BACKENDS

    props = top["properties"]
    props["problem"] = build.section(build.problems, "name", "problem", PROBLEM_TEXT)
    props["optimizer"] = build.section(build.optimizers, "name", "optimizer", OPTIMIZER_TEXT)
    props["init"] = {**build.section(build.initializers, "kind", "initializer", INIT_TEXT), "default": "default"}
    for entry in props["init"]["oneOf"][1:]:  # an option of every initializer, kept apart from its own
        entry["properties"]["clip_to_bounds"] = dict(CLIP_TO_BOUNDS)
    props["init"]["oneOf"].append(
        {
            "type": "object",
            "description": "{clip_to_bounds: BOOL} alone: the problem's default start (clipped into the bounds)",
            "properties": {"clip_to_bounds": dict(CLIP_TO_BOUNDS)},
            "required": ["clip_to_bounds"],
            "additionalProperties": False,
        }
    )
    props["backend"]["enum"] = BACKENDS.listed()
    _feasible_keys(props, build.definitions)
    return top


CLIP_TO_BOUNDS = {
    "type": "boolean",
    "default": False,
    "description": "with bounds: a start outside them is moved to the nearest point inside "
    "(false: such a start is refused)",
}


def _feasible_keys(props: dict[str, Any], definitions: dict[str, Any]) -> None:
    """``bounds:`` and ``constraints:`` as strict as the loader where a schema can say it:
    a key is a non-empty name, a list of pairs is not empty, a formula is not blank."""
    bounds = props["bounds"]
    bounds["propertyNames"] = {"minLength": 1}
    pair, pairs = bounds["additionalProperties"]["anyOf"]
    pair["description"] = "[low, high] for every entry of the parameter; null: an open side"
    pairs["description"] = "one [low, high] pair per entry of a vector parameter, in order"
    pairs["minItems"] = 1
    for side in (*pair["items"]["anyOf"], *pairs["items"]["items"]["anyOf"]):
        side["description"] = "a number" if side.get("type") == "number" else "null: no bound on this side"
    constraint = definitions[props["constraints"]["items"]["$ref"].rsplit("/", 1)[-1]]
    constraint["properties"]["expr"]["pattern"] = r"\S"  # not blank


def _bench_schema(build: _Builder, top: dict[str, Any]) -> dict[str, Any]:
    problem = build.section(build.problems, "name", "problem", PROBLEM_TEXT)
    suites = [name for name, _ in build.suites]
    problem["oneOf"][0]["enum"] = problem["oneOf"][0]["enum"] + suites  # a suite's name stands for its problems
    optimizer = build.section(build.optimizers, "name", "optimizer", OPTIMIZER_TEXT)
    props = top["properties"]
    props["problems"] = {
        "description": props["problems"]["description"],
        "anyOf": [
            {"type": "string", "enum": problem["oneOf"][0]["enum"]},  # one name: a suite's, or a problem's
            {"type": "array", "minItems": 1, "items": problem},
        ],
    }
    props["optimizers"] = {
        "description": props["optimizers"]["description"],
        "type": "array",
        "minItems": 1,
        "items": optimizer,
    }
    return top


def config_schema(kind: Kind = "run", user: bool = True, warnings: list[str] | None = None) -> dict[str, Any]:
    """The JSON Schema of a run config (``kind="run"``) or a bench suite file
    (``"bench"``), as a JSON-ready dict; ``user``: with the user entries loaded
    in this process (else the built-ins only). An entry whose options pydantic
    cannot describe takes any keys; ``warnings`` (a list) is given a line for each."""
    from optrun.config import _TopLevel
    from optrun.config.bench import BenchConfig

    top_model: type[BaseModel] = _TopLevel if kind == "run" else BenchConfig
    build = _Builder(top_model, user)
    if warnings is not None:
        warnings.extend(build.warnings)
    top = build.model(top_model)
    body = _run_schema(build, top) if kind == "run" else _bench_schema(build, top)
    title = "optrun run config" if kind == "run" else "optrun bench suite file"
    schema: dict[str, Any] = {
        "$schema": DRAFT,
        "title": title,
        "description": (
            "A run config for optrun run, sweep and check: problem and optimizer are required, every other key "
            "has a default."
            if kind == "run"
            else "A suite file for optrun bench: every optimizer on every problem from several starts."
        ),
        **body,
        "definitions": {**build.definitions, "schedule": build.schedule()},
    }
    schema["definitions"] = _used(schema)
    return schema


def schema_text(kind: Kind = "run", user: bool = True, warnings: list[str] | None = None) -> str:
    """:func:`config_schema` as the JSON text ``optrun schema`` prints (in the order built, 2-space indent)."""
    return json.dumps(config_schema(kind, user, warnings), indent=2, ensure_ascii=False) + "\n"


# ----------------------------------------------------------------- tidying
_MAPS = ("properties", "definitions", "$defs")  # keywords whose values are name -> schema
_VALUES = ("default", "const", "enum", "examples")  # keywords whose values are data, not schemas


def _tidy(node: Any, in_map: bool = False) -> None:
    """Drop pydantic's generated titles ("Step Size", "AdamOptions"), and give
    a ``$ref`` with siblings (a description, a default) an ``allOf``:
    draft-07 ignores a ``$ref``'s siblings."""
    if isinstance(node, list):
        for item in node:
            _tidy(item)
        return
    if not isinstance(node, dict):
        return
    if in_map:
        for value in node.values():
            _tidy(value)
        return
    if "$ref" in node and len(node) > 1:
        node["allOf"] = [{"$ref": node.pop("$ref")}]
    node.pop("title", None)
    for key, value in node.items():
        if key not in _VALUES:
            _tidy(value, in_map=key in _MAPS)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value.rsplit("/", 1)[-1]
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _used(schema: dict[str, Any]) -> dict[str, Any]:
    """The definitions the schema refers to, directly or through another definition."""
    definitions = schema["definitions"]
    body = {k: v for k, v in schema.items() if k != "definitions"}
    todo, used = list(_refs(body)), {}
    while todo:
        name = todo.pop()
        if name not in used:
            used[name] = definitions[name]
            todo.extend(_refs(definitions[name]))
    return {name: used[name] for name in definitions if name in used}
