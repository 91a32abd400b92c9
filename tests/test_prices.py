import pytest
from claude_cua.core.errors import ConfigError
from claude_cua.core.vocab.events import Usage
from claude_cua.core.vocab.record import Price, parse_price_overrides, price_for


def test_cost_counts_each_kind_of_token_at_its_own_price():
    price = Price(input=3, output=15, cache_write=3.75, cache_read=0.30)
    usage = Usage(input_tokens=1000, output_tokens=200, cache_read_input_tokens=10_000,
                  cache_creation_input_tokens=2000)
    assert price.cost(usage) == pytest.approx((3000 + 3000 + 3000 + 7500) / 1e6)


@pytest.mark.parametrize(
    ("model", "input_price"),
    [("claude-opus-5-5", 4), ("claude-opus-5", 5), ("claude-sonnet-4-6", 3),
     ("claude-sonnet-5-5", 2), ("claude-haiku-4-5-20251001", 1), ("claude-fable-5-2", 8)],
)
def test_longest_prefix_wins(model, input_price):
    assert price_for(model).input == input_price


def test_unknown_models_have_no_price_unless_configured():
    assert price_for("cua-demo-stand-in") is None
    overrides = parse_price_overrides(
        {"my-model": {"input": 1, "output": 2, "cache_write": 1.25, "cache_read": 0.1}},
        where="test")
    assert price_for("my-model", overrides) == Price(1, 2, 1.25, 0.1)


def test_bad_price_tables_are_config_errors():
    with pytest.raises(ConfigError, match="needs exactly"):
        parse_price_overrides({"m": {"input": 1}}, where="test")
    with pytest.raises(ConfigError, match="must be numbers"):
        parse_price_overrides({"m": {"input": "x", "output": 1, "cache_write": 1,
                                     "cache_read": 1}}, where="test")
