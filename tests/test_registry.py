import pytest

from optrun.core.errors import ConfigError
from optrun.core.registry import Registry


def test_register_and_lookup():
    reg = Registry("widget")
    reg.register("alpha", 1)
    reg.register("beta", 2)
    assert reg.get("beta") == 2
    assert list(reg) == ["alpha", "beta"]
    assert "alpha" in reg


def test_duplicates_are_refused():
    reg = Registry("widget")
    reg.register("alpha", 1)
    with pytest.raises(ValueError, match="widget 'alpha' is already registered"):
        reg.register("alpha", 2)
    assert reg.get("alpha") == 1


def test_failed_lookup_suggests_and_lists():
    reg = Registry("widget")
    for name in ("momentum", "adam", "gd"):
        reg.register(name, name)
    with pytest.raises(ConfigError) as info:
        reg.get("momentun")
    assert str(info.value) == "unknown widget 'momentun'; did you mean 'momentum'? (known: adam, gd, momentum)"
    with pytest.raises(ConfigError) as info:
        reg.get("zzz")
    assert "did you mean" not in str(info.value)


def _registries():
    from optrun.core.initializers import INITIALIZERS
    from optrun.core.optimizers import OPTIMIZERS
    from optrun.core.optimizers.schedules import SCHEDULES
    from optrun.core.problems import PROBLEMS

    return {"problem": PROBLEMS, "optimizer": OPTIMIZERS, "initializer": INITIALIZERS, "schedule": SCHEDULES}


def test_builtin_registries_have_the_core_catalogue():
    """What the README's tour and every config in it use (a few names, not the whole catalogue: an
    entry added to a registry is found by the tests that iterate over the registry)."""
    registries = _registries()
    assert {"polynomial", "trid", "goldfield"} <= set(registries["problem"])
    assert {"gd", "momentum", "adam"} <= set(registries["optimizer"])
    assert {"default", "zeros", "values"} <= set(registries["initializer"])
    assert {"constant", "cosine"} <= set(registries["schedule"])


@pytest.mark.parametrize("kind", ["problem", "optimizer", "initializer", "schedule"])
def test_every_entry_is_named_described_and_has_an_options_model(kind):
    """Every entry of every registry, built-in or added: registered under its own
    name, with a description (list-* and describe show it) and an Options model
    whose defaults validate (a config that names the entry alone must load)."""
    from optrun.core.options import Options

    registry = _registries()[kind]
    assert list(registry), f"no {kind} is registered"
    for name, entry in registry.items():
        assert entry.name == name, (kind, name)
        assert isinstance(entry.description, str) and entry.description.strip(), f"{kind} '{name}' has no description"
        assert isinstance(entry.options, type) and issubclass(entry.options, Options), (kind, name)
        required = [key for key, field in entry.options.model_fields.items() if field.is_required()]
        if not required:  # (a schedule's `value`, the expression problem's `expr` have no default by design)
            entry.options()  # the declared defaults validate
