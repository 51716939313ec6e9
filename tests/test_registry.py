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


def test_builtin_registries_have_the_core_catalogue():
    from optrun.core.initializers import INITIALIZERS
    from optrun.core.optimizers import OPTIMIZERS
    from optrun.core.problems import PROBLEMS

    assert {"polynomial", "trid", "goldfield"} <= set(PROBLEMS)
    assert {"gd", "momentum", "adam"} <= set(OPTIMIZERS)
    assert set(INITIALIZERS) == {"default", "zeros", "ones", "constant", "normal", "uniform", "values"}
