"""What registration can check of an optimizer entry (:func:`optrun.core.optimizers.register_optimizer`)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from optrun.core.options import Options


def takes(fn: Callable, count: int) -> bool:
    """Whether ``fn`` can be called with ``count`` positional arguments."""
    try:
        inspect.signature(fn).bind(*range(count))
    except TypeError:
        return False
    except ValueError:  # no signature to inspect (a builtin): assume it can
        return True
    return True


def entry_problems(
    name: Any,
    make: Any,
    options: Any,
    description: Any,
    needs: Any,
    check: Any,
    pure: Any,
    transforms: Any,
    remember_last: Any,
    compiled: Any = None,
    reference: Any = "",
    bounds: Any = "",
    constraints: Any = False,
) -> list[str]:
    """What is wrong with an entry, as far as registration can tell."""
    from optrun.core.optimizers import BOUNDS, NEEDS, TRANSFORMS  # (they are defined before this is called)

    problems = []
    if not callable(make) or not takes(make, 2):
        problems.append(f"make must be a function of (options, oracle), got {shown(make)}")
    if not (isinstance(options, type) and issubclass(options, Options)):
        problems.append(f"options must be a subclass of optrun.Options, got {shown(options)}")
    if not isinstance(description, str) or not description.strip():
        problems.append("description must be a non-empty string")
    if not isinstance(reference, str):
        problems.append(f"reference must be a string, got {shown(reference)}")
    if isinstance(needs, str) or not isinstance(needs, tuple) or not needs or not set(needs) <= set(NEEDS):
        problems.append(f"needs must be a non-empty tuple from {NEEDS}, got {needs!r}")
    if check is not None and (not callable(check) or not takes(check, 2)):
        problems.append(f"check must be a function of (options, n) or None, got {shown(check)}")
    if not isinstance(pure, bool) or not isinstance(remember_last, bool) or not isinstance(constraints, bool):
        problems.append("pure, remember_last and constraints must be True or False")
    if bounds != "" and bounds not in BOUNDS:
        problems.append(f"bounds must be '' or one of {tuple(BOUNDS)}, got {bounds!r}")
    if isinstance(transforms, str) or not isinstance(transforms, tuple) or not set(transforms) <= set(TRANSFORMS):
        problems.append(f"transforms must be a tuple from {tuple(TRANSFORMS)}, got {transforms!r}")
    elif isinstance(options, type) and issubclass(options, Options):
        fields = options.model_fields
        for option in TRANSFORMS:
            if option in transforms and option not in fields:
                problems.append(f"transforms has '{option}' but {options.__name__} has no '{option}' option")
    if compiled is not None:
        if not callable(compiled) or not takes(compiled, 1):
            problems.append(f"compiled must be a function of (options) or None, got {shown(compiled)}")
        elif not isinstance(transforms, tuple) or "step_size" not in transforms:
            problems.append(
                "compiled needs the 'step_size' transform (the compiled loop steps -step_size(t) * direction)"
            )
    return problems


def shown(value: Any) -> str:
    if callable(value) and hasattr(value, "__name__"):
        try:
            return f"{value.__name__}{inspect.signature(value)}"
        except (TypeError, ValueError):
            return value.__name__
    return repr(value)[:80]
