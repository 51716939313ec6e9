"""Issue 13, round two: limits and messages that are not bad-input errors
(run names, literal user text in tables, sweep validation cost, the dense
Hessian estimate, --dask addresses, bounded reprs)."""

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from optrun.cli import app
from optrun.config import is_valid_name, load_config, name_from_stem, parse_yaml
from optrun.core import safe_yaml
from optrun.core.errors import ConfigError, short_repr

runner = CliRunner()
OK = "problem: trid\noptimizer: {name: gd, step_size: 0.1}\noutput: {plots: false}\nstop: {max_iter: 3}\n"


# ------------------------------------------------------------------ run names
@pytest.mark.parametrize(
    "stem, name",
    [
        ("Übung", "Übung"),
        ("Übung 2", "Übung_2"),
        ("实验", "实验"),
        ("été-1", "été-1"),
        ("-x", "x"),
        ("...", "run"),
        ("a/b", "a_b"),
        ("🚀launch", "launch"),
    ],
)
def test_a_default_name_keeps_the_letters_of_every_script(stem, name):
    assert name_from_stem(stem) == name


def test_a_decomposed_stem_is_composed_not_cut():
    assert name_from_stem("U\u0308bung") == "Übung"  # macOS file names are NFD


@pytest.mark.parametrize("name", ["run1\n", "run1\r\n", "a/b", "..", "_x", "", "x" * 101, "a\x00b", "a b"])
def test_names_that_cannot_be_folder_names_are_refused(name):
    assert not is_valid_name(name)
    with pytest.raises(ConfigError, match="name: a name becomes a folder"):
        load_config({"name": name, "problem": "trid", "optimizer": "gd"})


def test_a_unicode_name_is_allowed_and_made_nfc():
    assert load_config({"name": "U\u0308bung", "problem": "trid", "optimizer": "gd"}).name == "Übung"


def test_a_config_named_ubung_runs_into_a_folder_named_ubung(workdir):
    (workdir / "Übung.yaml").write_text(OK, encoding="utf-8")
    result = runner.invoke(app, ["run", "Übung.yaml", "--quiet"])
    assert result.exit_code == 0, result.stderr
    assert [p.name for p in (workdir / "outputs").iterdir()] == ["Übung"]


# ---------------------------------------------------- user text is printed as written
def test_markup_and_emoji_codes_in_user_text_are_printed_literally(workdir):
    (workdir / "c.yaml").write_text(OK.replace("output: {plots: false}", "output: {plots: false, dir: '[red]out:x:'}"))
    ran = runner.invoke(app, ["run", "c.yaml"], env={"COLUMNS": "200"})
    assert ran.exit_code == 0, ran.stderr
    assert "[red]out:x:/c/" in ran.stdout and "❌" not in ran.stdout
    run_dir = next((workdir / "[red]out:x:" / "c").iterdir())
    shown = runner.invoke(app, ["show", str(run_dir)], env={"COLUMNS": "200"})
    assert shown.exit_code == 0 and "[red]out:x:/c/" in shown.stdout
    compared = runner.invoke(app, ["compare", str(run_dir), "--out", "[b]cmp:x:.png"], env={"COLUMNS": "200"})
    assert compared.exit_code == 0, compared.stderr
    assert "wrote [b]cmp:x:.png and [b]cmp:x:.csv" in compared.stdout and "❌" not in compared.stdout


def test_swept_string_values_are_shown_literally_in_the_sweep_table(workdir):
    (workdir / "d.csv").write_text("[b]x,:x:\n1,2\n2,3\n3,5\n")
    (workdir / "s.yaml").write_text(
        "problem: {name: gaussian_mle, data: {path: d.csv, column: '[b]x'}}\n"
        "optimizer: {name: gd, step_size: 0.1}\nstop: {max_iter: 2}\n"
    )
    result = runner.invoke(
        app, ["sweep", "s.yaml", "--workers", "1", "--grid", "problem.data.column='[b]x',':x:'"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.stderr
    assert "│ '[b]x' " in result.stdout and "│ ':x:' " in result.stdout and "❌" not in result.stdout


def test_a_warning_with_an_emoji_code_is_literal(workdir):
    (workdir / "problems").mkdir()
    (workdir / "problems" / "p.py").write_text("raise RuntimeError(':x: [red]boom')\n")
    result = runner.invoke(app, ["list-problems"])
    assert "problems/p.py: not loaded: RuntimeError: :x: [red]boom (line 1)" in result.stderr


# ------------------------------------------------------------ sweep validation
def _count_prepares(monkeypatch):
    import optrun.engine.prepare

    calls = []
    real = optrun.engine.prepare.prepare
    monkeypatch.setattr(optrun.engine.prepare, "prepare", lambda cfg: (calls.append(cfg), real(cfg))[1])
    return calls


def test_a_large_sweep_validates_each_value_once_not_every_combination(workdir, monkeypatch):
    from optrun.engine.sweep_plan import FULL_CHECK_RUNS, make_plan

    calls = _count_prepares(monkeypatch)
    (workdir / "s.yaml").write_text(OK)
    steps = ",".join(f"0.0{i}" for i in range(1, 10))
    iters = ",".join(str(i) for i in range(1, 51))
    start = time.monotonic()
    plan, _ = make_plan(Path("s.yaml"), [], [f"optimizer.step_size={steps}", f"stop.max_iter={iters}"], [], 3, False)
    assert len(plan.runs) == 9 * 50 * 3 > FULL_CHECK_RUNS
    assert len(calls) == 1 + 8 + 49 + 1  # the first run, each other value, the highest seed
    assert time.monotonic() - start < 10


def test_a_small_sweep_still_validates_every_combination(workdir, monkeypatch):
    from optrun.engine.sweep_plan import make_plan

    calls = _count_prepares(monkeypatch)
    (workdir / "s.yaml").write_text(OK)
    plan, _ = make_plan(Path("s.yaml"), [], ["optimizer.step_size=0.01,0.02", "stop.max_iter=1,2,3"], [], 2, False)
    assert len(calls) == len(plan.runs) == 12


def test_a_bad_value_in_a_large_sweep_is_found_before_anything_is_written(workdir):
    (workdir / "s.yaml").write_text(OK)
    iters = ",".join(str(i) for i in range(1, 200))
    result = runner.invoke(
        app, ["sweep", "s.yaml", "--grid", f"stop.max_iter={iters}", "--grid", "optimizer.step_size=0.1,-1"]
    )
    assert result.exit_code == 2
    assert (
        "(run with stop.max_iter=1, optimizer.step_size=-1, seed=0): optimizer.step_size: input should be greater than 0"
        in result.stderr
    )
    assert not (workdir / "outputs").exists()


def test_the_run_limit_counts_zip_rows_and_seeds(workdir):
    from optrun.engine.sweep_plan import MAX_RUNS

    (workdir / "s.yaml").write_text(OK)
    result = runner.invoke(
        app, ["sweep", "s.yaml", "--zip", "stop.max_iter=" + ",".join(str(i) for i in range(1, 102)), "--seeds", "100"]
    )
    assert result.exit_code == 2
    assert (
        f"the sweep has 10100 runs (1 grid points x 101 zip rows x 100 seeds); the limit is {MAX_RUNS} runs"
        in result.stderr
    )


# -------------------------------------------------------------- dense Hessians
def test_newton_refuses_a_dense_hessian_that_cannot_fit(monkeypatch):
    from optrun.core.optimizers import newton

    monkeypatch.setattr(newton, "available_memory", lambda: 8_000_000_000)
    options = newton.NewtonOptions()
    newton.check_size(options, 10_000)  # 5 x 800 MB = 4 GB: half of 8 GB, allowed
    with pytest.raises(
        ConfigError,
        match=r"dense 10001 x 10001 Hessian .* about 4 GB of working memory, more than 50% of the 8 GB available; use solver: cg",
    ):
        newton.check_size(options, 10_001)
    newton.check_size(newton.NewtonOptions(solver="cg"), 10**9)  # CG never forms it


def test_the_dense_hessian_check_runs_before_the_run_directory_exists(workdir, monkeypatch):
    from optrun.core.optimizers import newton

    monkeypatch.setattr(newton, "available_memory", lambda: 1000)
    (workdir / "c.yaml").write_text("problem: {name: trid, dim: 4}\noptimizer: newton\n")
    result = runner.invoke(app, ["run", "c.yaml"])
    assert result.exit_code == 2 and "c.yaml: optimizer.solver: cholesky forms the dense 4 x 4 Hessian" in result.stderr
    assert not (workdir / "outputs").exists()
    assert (
        runner.invoke(
            app, ["run", "c.yaml", "--quiet", "--set", "optimizer.solver=cg", "--set", "output.plots=false"]
        ).exit_code
        == 0
    )


@pytest.mark.parametrize(
    "method, what", [("trust-exact", "Hessian and its factorizations"), ("bfgs", "inverse-Hessian estimate")]
)
def test_scipy_methods_with_dense_matrices_are_refused_when_they_cannot_fit(workdir, monkeypatch, method, what):
    from optrun.core.optimizers import newton

    monkeypatch.setattr(newton, "available_memory", lambda: 100)
    (workdir / "c.yaml").write_text(f"problem: {{name: trid, dim: 4}}\noptimizer: {method}\n")
    result = runner.invoke(app, ["run", "c.yaml"])
    assert result.exit_code == 2, result.stderr
    assert (
        f"c.yaml: optimizer.name: {method} keeps a dense 4 x 4 {what}" in result.stderr and "use lbfgs" in result.stderr
    )
    assert not (workdir / "outputs").exists()
    assert (
        runner.invoke(
            app, ["run", "c.yaml", "--quiet", "--set", "optimizer.name=lbfgs", "--set", "output.plots=false"]
        ).exit_code
        == 0
    )


def test_available_memory_is_a_positive_number_of_bytes():
    from optrun.core.optimizers.newton import available_memory

    assert 0 < available_memory()


# ----------------------------------------------------------------- --dask
@pytest.mark.parametrize(
    "address",
    [
        "local:1",
        "local:256",
        "tcp://127.0.0.1:8786",
        "127.0.0.1:8786",
        "tls://scheduler.example:8786",
        "[::1]:8786",
        "inproc://123/456",
    ],
)
def test_good_dask_addresses_pass(address):
    from optrun.engine.executors import check_dask_address

    check_dask_address(address)


@pytest.mark.parametrize(
    "address, message",
    [
        (":", "needs a host and a port number"),
        ("foo://bar", "unknown protocol 'foo'"),
        ("tcp://h", "needs a host and a port number"),
        ("tcp://:8786", "a port from 1 to 65535"),
        ("h:0", "a port from 1 to 65535"),
        ("local:", "local:N needs"),
        ("local:257", "from 1 to 256"),
        ("", "needs a host and a port number"),
    ],
)
def test_bad_dask_addresses_are_refused(address, message):
    from optrun.engine.executors import check_dask_address

    with pytest.raises(ConfigError, match=message):
        check_dask_address(address)


def test_a_bad_dask_address_with_resume_is_refused_before_the_plan_is_read(workdir):
    result = runner.invoke(app, ["sweep", "--resume", "nowhere", "--dask", "foo://bar"])
    assert result.exit_code == 2 and "unknown protocol 'foo'" in result.stderr


# ------------------------------------------------------ bounded reprs and YAML
def test_short_repr_is_bounded_in_length_and_time():
    value = ["x"] * 9
    for _ in range(8):
        value = [value] * 9  # 9**9 leaves, shared
    start = time.monotonic()
    text = short_repr(value)
    assert len(text) <= 60 and time.monotonic() - start < 1
    assert short_repr("many") == "'many'" and short_repr([1, 2]) == "[1, 2]"


def test_an_error_message_is_never_longer_than_the_cap():
    from optrun.core.errors import MAX_MESSAGE_CHARS

    assert len(str(ConfigError("x" * 100_000, source="c.yaml"))) == MAX_MESSAGE_CHARS


def test_the_yaml_limits_sit_where_documented():
    deep_ok = "[" * safe_yaml.MAX_YAML_DEPTH + "]" * safe_yaml.MAX_YAML_DEPTH  # 50 nested lists
    assert parse_yaml(deep_ok, "t") is not None
    with pytest.raises(ConfigError, match="nested more than 50 levels"):
        parse_yaml("[" + deep_ok + "]", "t")
    assert parse_yaml("1" * 4300, "t") == int("1" * 4300)
    with pytest.raises(ConfigError, match="more than 4300 digits"):
        parse_yaml("1" * 4301, "t")
    shared = "a: &a [" + ",".join(["1"] * 1000) + "]\nb: [" + ",".join(["*a"] * 900) + "]\n"  # 900k values: allowed
    assert len(parse_yaml(shared, "t")["b"]) == 900
    with pytest.raises(ConfigError, match="aliases expand to more than 1000000 values"):
        parse_yaml(shared.replace(",".join(["*a"] * 900), ",".join(["*a"] * 1000)), "t")


def test_yaml_keeps_its_float_rule_and_duplicate_key_check():
    assert parse_yaml("a: 1e-8\nb: !!float 3\nc: 0x10\nd: 2001-12-14", "t")["a"] == 1e-8
    with pytest.raises(ConfigError, match="line 2, column 1: YAML error: duplicate key 'a'"):
        parse_yaml("a: 1\na: 2\n", "t")
    with pytest.raises(ConfigError, match=r"line 2, column 1: YAML error: found a tab .*indents with spaces"):
        parse_yaml("a:\n\tb: 1\n", "t")
