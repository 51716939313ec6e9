"""optrun's YAML errors are its own: the same words, line and column whatever
libyaml (or none) is installed, and optrun's limits hold before libyaml's."""

import pytest
import yaml

from optrun.core import safe_yaml
from optrun.core.errors import ConfigError
from optrun.core.safe_yaml import parse_yaml

DEEP = "[" * 1000 + "]" * 1000

# bad text -> what optrun says (each _SYNTAX entry has at least one sample: checked below)
SAMPLES = {
    "a:\n\tb: 1\n": "line 2, column 1: YAML error: found a tab that cannot start any token (YAML indents with spaces)",
    "a: @b\n": "line 1, column 4: YAML error: a value cannot start with '@' (quote it)",
    "problem: [trid\noptimizer: gd\n": "line 2, column 10: YAML error: a [ list is not closed with ] (or a ',' is missing)",
    "a: {b: 1": "line 1, column 9: YAML error: a { mapping is not closed with } (or a ',' is missing)",
    "a: b: c\n": "line 1, column 5: YAML error: a ':' here is not allowed",
    "a: |\n b\n  c\nd": "line 4, column 2: YAML error: a key without ':'",
    "a: *x\n": "line 1, column 4: YAML error: the alias *x names no anchor (&x) above it",
    "a: &x 1\nb: &x 2\n": "line 2, column 4: YAML error: the anchor &x is defined twice",
    "a: 'abc\n": "line 2, column 1: YAML error: a quoted string is not closed",
    "--- a\n--- b\n": "line 2, column 1: YAML error: more than one YAML document (a config is one document)",
    "a:\n  b: 1\n c: 2\n": "line 3, column 2: YAML error: the indentation does not match the lines above",
    "a: [1,,2]\n": "line 1, column 7: YAML error: an empty entry between two commas",
    "problem: [\n": "line 2, column 1: YAML error: the text ends where a value was expected",
    "{a: 1}}\n": "line 1, column 7: YAML error: text after the end of the document",
    "a: \x01\n": "line 1, column 4: YAML error: the control character U+0001 is not allowed in YAML text",
    "a: !!python/object:os.system x\n": "line 1, column 4: YAML error: the tag !!python/object:os.system is not allowed",
    "a: !<tag 1\n": "line 1, column 9: YAML error: not valid YAML (",
    f"x: {DEEP}\n": "line 1, column 53: YAML error: values are nested more than 50 levels deep",
    DEEP: "line 1, column 51: YAML error: values are nested more than 50 levels deep",
}


def error_of(text):
    with pytest.raises(ConfigError) as info:
        parse_yaml(text, "c.yaml")
    return str(info.value)


@pytest.mark.parametrize("text", list(SAMPLES), ids=lambda t: repr(t[:20]))
def test_each_yaml_error_in_optrun_words(text):
    assert error_of(text).startswith("c.yaml: " + SAMPLES[text])


def test_every_worded_syntax_error_has_a_sample():
    said = [error_of(text) for text in SAMPLES]
    for _, words in safe_yaml._SYNTAX:
        head = words.split("{0}")[0]
        assert any(head in line for line in said), f"no sample reaches {words!r}"


@pytest.mark.parametrize(
    "text", list(SAMPLES) + ["a: [1, 2]\nb: {c: 1e-8}\n", "x: " + "[" * 50 + "]" * 50], ids=lambda t: repr(t[:20])
)
@pytest.mark.slow
def test_the_answer_does_not_depend_on_libyaml(monkeypatch, text):
    def answer():
        try:
            return ("value", parse_yaml(text, "c.yaml"))
        except ConfigError as exc:
            return ("error", str(exc))

    with_libyaml = answer()
    monkeypatch.setattr(safe_yaml, "_LOADERS", (safe_yaml._ExactLoader,))  # PyYAML built without libyaml
    assert answer() == with_libyaml


def test_a_libyaml_that_refuses_first_is_overruled(monkeypatch):
    # libyaml 0.2.6 (PyYAML 6.0.4) refuses nesting past 1000 levels in its scanner, worded its own way at
    # column 1008; a later one may refuse at another depth, or refuse other text: whatever it says, optrun
    # answers with PyYAML's own parser and its own limit (the 51st level, here column 51).
    class RefusingLoader(safe_yaml._ExactLoader):
        def get_single_node(self):
            mark = yaml.Mark("<unicode string>", 1007, 0, 1007, None, None)
            raise yaml.scanner.ScannerError("while increasing flow level", mark, "exceeded maximum nesting depth", mark)

    monkeypatch.setattr(safe_yaml, "_LOADERS", (RefusingLoader, safe_yaml._ExactLoader))
    assert error_of(DEEP) == "c.yaml: line 1, column 51: YAML error: values are nested more than 50 levels deep"
    assert parse_yaml("a: [1, 2]\n", "c.yaml") == {"a": [1, 2]}  # text it refused but PyYAML reads is read
