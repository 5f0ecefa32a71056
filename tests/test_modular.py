import numpy as np
import pytest

from mathlens.config import resolve
from mathlens.errors import UserError
from mathlens.pipelines.modular import positions, symbols, token_ids
from mathlens.tasks import get
from mathlens.tasks.formula import parse
from mathlens.tasks.modular import PAPER_FORMULAS

P = 23
X, Y = np.divmod(np.arange(P * P), P)

# Independent references written as Python functions (the parser never sees these).
REFERENCE = {
    "x+y": lambda x, y: x + y, "x-y": lambda x, y: x - y, "x*y": lambda x, y: x * y,
    "2x-3y": lambda x, y: 2 * x - 3 * y, "xy+x+y": lambda x, y: x * y + x + y,
    "x^2+xy+y^2": lambda x, y: x**2 + x * y + y**2, "x^3+xy^2+y": lambda x, y: x**3 + x * y**2 + y,
    "(x+y)^4": lambda x, y: (x + y) ** 4, "(x-y)^3": lambda x, y: (x - y) ** 3,
    "(x+y)(x-y)": lambda x, y: (x + y) * (x - y), "-x + 5*y**2": lambda x, y: -x + 5 * y**2,
}


@pytest.mark.parametrize("text", list(REFERENCE))
def test_formula_values_match_python_arithmetic(text):
    values, valid = parse(text).evaluate(X, Y, P)
    assert valid.all()
    np.testing.assert_array_equal(values, REFERENCE[text](X, Y) % P)


def test_every_paper_formula_parses_and_stays_in_range():
    for text in PAPER_FORMULAS:
        values, valid = parse(text).evaluate(X, Y, P)
        assert values.min() >= 0 and values.max() < P, text


@pytest.mark.parametrize("bad, says", [
    ("__import__('os').system('ls')", "unexpected '_' at position 0"),
    ("x+z", "unexpected 'z' at position 2"),
    ("sin(x)", "unexpected 's'"),
    ("x^y", "non-negative integer exponent"),
    ("(x+y", "expected ')'"),
    ("x+", "ends there"),
    ("x+y)", "expected an operator or the end"),
    ("", "empty formula"),
    ("(" * 150 + "x" + ")" * 150, "nested more than 100 deep"),  # was a RecursionError
    ("-" * 300 + "x", "nested more than 100 deep"),
    ("x" * 400, "chains more than 100 operations"),  # a long implicit product: was a RecursionError
    ("x+" + "7" * 5000, "at most 1000"),  # an integer over 4,300 digits: was a ValueError
    ("x+" + "7" * 200, "integers have at most 100 digits"),
    ("x^" + "9" * 200, "integers have at most 100 digits"),
    ("x/2y", "ambiguous; write x/(2y) or (x/2)y"),  # was silently (x/2)*y
    ("(x+y)/x(y)", "ambiguous"),
    ("x+\u0663", "unexpected '\u0663' at position 2"),  # an Arabic-Indic 3: was read as x+3
    ("x+\uff13y", "unexpected"),  # a full-width 3
    ("2 3", "needs an explicit '*' (an implicit product starts with its integer: 2x, not x2), got '3' at "
            "position 2"),  # was read as 6
    ("x\u00a0+y", "unexpected '\\xa0' at position 1"),  # a no-break space
    ("x 2", "explicit '*'"),
    ("(x+y)2", "explicit '*'"),
    ("x^2 3", "explicit '*'"),
])
def test_parser_rejects_code_and_unknown_symbols_with_one_clear_line(bad, says):
    with pytest.raises(UserError) as e:
        parse(bad)
    msg = str(e.value)
    assert msg.startswith("task.formula:") and says in msg and "\n" not in msg


def test_long_and_explicit_forms_still_parse():
    x, y, p = np.arange(7), np.arange(7)[::-1], 7
    assert (parse("x/(2y)").evaluate(x[1:], y[:-1], p)[0] == parse("x*(2*y)^5").evaluate(x[1:], y[:-1], p)[0]).all()
    assert (parse("(x/2)y").evaluate(x, y, p)[0] == parse("x/2*y").evaluate(x, y, p)[0]).all()
    assert parse("(" * 90 + "x" + ")" * 90).evaluate(x, y, p)[0].tolist() == x.tolist()
    assert parse("+".join(["x"] * 100)).evaluate(x, y, p)[0].tolist() == (100 * x % p).tolist()


@pytest.mark.parametrize("formula", ["x/0", "x/(y-y)", "x/(x-x)+y", "y/7"])
def test_a_formula_that_always_divides_by_zero_is_one_line(formula):
    with pytest.raises(UserError, match="task.formula: .* divides by 0 mod 7 .*no examples are left"):
        get("modular", p=7, formula=formula)


def test_division_excludes_zero_divisors_and_inverts():
    t = get("modular", p=P, formula="div")
    d = t.dataset()
    assert len(d["answer"]) == P * (P - 1) and (d["y"] != 0).all()
    np.testing.assert_array_equal(d["answer"] * d["y"] % P, d["x"])


def test_division_needs_a_prime_modulus():
    with pytest.raises(UserError, match="task.p: 21 is not prime"):
        get("modular", p=21, formula="x/y")


def test_split_is_disjoint_seeded_and_of_the_right_size():
    t = get("modular", p=P, formula="x+y", frac=0.3)
    n = len(t.dataset()["answer"])
    a_train, a_test = t.split(n, np.random.default_rng(1))
    b_train, b_test = t.split(n, np.random.default_rng(1))
    c_train, _ = t.split(n, np.random.default_rng(2))
    assert not set(a_train) & set(a_test) and len(a_train) + len(a_test) == n
    assert len(a_train) == round(0.3 * n)
    np.testing.assert_array_equal(a_train, b_train)
    np.testing.assert_array_equal(a_test, b_test)
    assert not np.array_equal(a_train, c_train)


def test_mixture_has_one_op_token_per_operation_and_residue_operands_only():
    t = get("modular", p=P, formula="add+sub+mul")
    d = t.dataset()
    tokens = token_ids(t, d)
    assert len(d["answer"]) == 3 * P * P and len(symbols(t)) == P + 3
    assert set(np.unique(tokens[:, 1])) == {P, P + 1, P + 2}
    assert tokens[:, [0, 2]].max() < P  # operands are residues, never special tokens
    sub = d["op"] == 1
    np.testing.assert_array_equal(d["answer"][sub], (d["x"][sub] - d["y"][sub]) % P)


def test_nanda_layout_puts_the_op_token_last_and_keeps_examples_and_split():
    furuta, nanda = get("modular", p=P, formula="add+sub"), get("modular", p=P, formula="add+sub", layout="x y op")
    d = furuta.dataset()
    np.testing.assert_array_equal(token_ids(nanda, d), token_ids(furuta, d)[:, [0, 2, 1]])
    assert positions(nanda) == ("x", "y", "op") and set(np.unique(token_ids(nanda, d)[:, 2])) == {P, P + 1}
    rng = np.random.default_rng
    for a, b in zip(nanda.split(len(d["answer"]), rng(0)), furuta.split(len(d["answer"]), rng(0))):
        np.testing.assert_array_equal(a, b)  # only the token order differs
    with pytest.raises(UserError, match="task.layout: .*x op y.*x y op"):
        resolve("grok/add-p97", ["task.layout='y x op'"])


def test_multiplicative_basis_applies_to_products_only():
    assert get("modular", p=P, formula="x*y").multiplicative
    assert get("modular", p=P, formula="x/y").multiplicative
    assert not get("modular", p=P, formula="x*y+1").multiplicative
    assert not get("modular", p=21, formula="x*y").multiplicative


def test_config_names_the_field_for_a_bad_formula_or_model():
    with pytest.raises(UserError, match=r"task.formula: unexpected 'i'"):
        resolve("grok/add-p97", ["task.formula=import os"])
    with pytest.raises(UserError, match='model.arch: task .modular. is trained with model.arch="decoder"'):
        resolve("grok/add-p97", ["model.arch=seq2seq"])
    with pytest.raises(UserError, match="train.init_parts: 'head' is not allowed"):
        resolve("grok/add-p97", ["train.init_parts=['head']"])
