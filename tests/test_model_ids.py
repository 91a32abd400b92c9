"""The per-provider model table: every documented id form names the right Anthropic API model."""

import pytest
from claude_cua.core.model.context import (
    PROVIDER_MODELS,
    flavour_for,
    image_limits_for,
    parse_model_id,
    price_factor,
)
from claude_cua.core.vocab.record import price_for

PROFILES = ["us", "eu", "apac", "jp", "au", "global", "us-gov"]


@pytest.mark.parametrize("provider", ["bedrock", "vertex"])
def test_every_documented_id_names_its_family(provider):
    table = PROVIDER_MODELS[provider].ids
    assert table  # the documented ids are in the table
    for family, model_id in table.items():
        parsed = parse_model_id(provider, model_id)
        assert parsed.family == family, model_id
        assert parsed.is_known, model_id


@pytest.mark.parametrize(
    ("model_id", "canonical"),
    [
        ("anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5-20250929"),
        ("anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet-20241022"),
        ("anthropic.claude-opus-4-6-v1", "claude-opus-4-6"),
        ("anthropic.claude-sonnet-4-6", "claude-sonnet-4-6"),
        ("anthropic.claude-3-haiku-20240307-v1:0:200k", "claude-3-haiku-20240307"),
        ("anthropic.claude-opus-4-8", "claude-opus-4-8"),
    ],
)
def test_bedrock_base_ids(model_id, canonical):
    parsed = parse_model_id("bedrock", model_id)
    assert (parsed.canonical, parsed.profile) == (canonical, None)


@pytest.mark.parametrize("profile", PROFILES)
def test_bedrock_inference_profiles_keep_the_model_and_name_the_profile(profile):
    parsed = parse_model_id("bedrock", f"{profile}.anthropic.claude-sonnet-4-5-20250929-v1:0")
    assert parsed.canonical == "claude-sonnet-4-5-20250929"
    assert parsed.profile == profile
    assert flavour_for(parsed.canonical).version == "computer_20250124"


@pytest.mark.parametrize(
    ("arn", "canonical", "profile"),
    [
        ("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-opus-4-1-20250805-v1:0",
         "claude-opus-4-1-20250805", None),
        ("arn:aws:bedrock:eu-west-1:123456789012:inference-profile/"
         "eu.anthropic.claude-haiku-4-5-20251001-v1:0", "claude-haiku-4-5-20251001", "eu"),
        ("arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:inference-profile/"
         "us-gov.anthropic.claude-3-7-sonnet-20250219-v1:0", "claude-3-7-sonnet-20250219",
         "us-gov"),
    ],
)
def test_bedrock_arns_name_the_model_inside(arn, canonical, profile):
    parsed = parse_model_id("bedrock", arn)
    assert (parsed.canonical, parsed.profile) == (canonical, profile)
    assert parsed.id == arn  # sent to Bedrock exactly as written


@pytest.mark.parametrize(
    "opaque",
    [
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5",
        "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/xyz123",
        "claude-sonnet-4-5",  # an Anthropic API id, not a Bedrock one
        "meta.llama3-70b-instruct-v1:0",
    ],
)
def test_bedrock_ids_that_do_not_name_a_claude_model_are_unknown(opaque):
    parsed = parse_model_id("bedrock", opaque)
    assert parsed.canonical is None and not parsed.is_known


@pytest.mark.parametrize(
    ("model_id", "canonical"),
    [
        ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5-20250929"),
        ("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet-20241022"),
        ("claude-opus-4-6", "claude-opus-4-6"),
        ("claude-haiku-4-5@latest", "claude-haiku-4-5"),
        ("claude-sonnet-4@20250514", "claude-sonnet-4-20250514"),
    ],
)
def test_vertex_ids_with_and_without_date(model_id, canonical):
    assert parse_model_id("vertex", model_id).canonical == canonical


def test_the_canonical_model_decides_tool_version_images_and_price():
    vertex = parse_model_id("vertex", "claude-sonnet-4@20250514").canonical
    bedrock = parse_model_id("bedrock", "global.anthropic.claude-sonnet-4-20250514-v1:0").canonical
    assert vertex == bedrock == "claude-sonnet-4-20250514"
    assert flavour_for(vertex) == flavour_for("claude-sonnet-4-20250514")
    assert image_limits_for(vertex) == image_limits_for("claude-sonnet-4")
    assert price_for(vertex) == price_for("claude-sonnet-4")
    # The raw provider ids would have matched nothing in the Anthropic-keyed tables.
    assert price_for("global.anthropic.claude-sonnet-4-20250514-v1:0") is None


def test_unknown_ids_are_flagged_so_the_run_can_warn():
    for provider, model_id in [("anthropic", "gpt-5"), ("vertex", "gemini-3-pro"),
                               ("bedrock", "anthropic.titan-x")]:
        assert not parse_model_id(provider, model_id).is_known


@pytest.mark.parametrize(
    ("provider", "model_id", "region", "factor"),
    [
        ("bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", "us-east-1", 1.0),
        ("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "us-east-1", 1.1),
        ("bedrock", "anthropic.claude-opus-4-6-v1", "us-east-1", 1.1),
        ("bedrock", "us.anthropic.claude-sonnet-4-20250514-v1:0", "us-east-1", 1.0),
        ("bedrock", "us.anthropic.claude-opus-4-1-20250805-v1:0", "us-east-1", 1.0),
        ("vertex", "claude-sonnet-4-5@20250929", "global", 1.0),
        ("vertex", "claude-sonnet-4-5@20250929", "europe-west1", 1.1),
        ("vertex", "claude-3-7-sonnet@20250219", "us-east5", 1.0),
        ("anthropic", "claude-sonnet-4-5", None, 1.0),
    ],
)
def test_regional_endpoints_cost_more_from_sonnet_4_5_on(provider, model_id, region, factor):
    assert price_factor(parse_model_id(provider, model_id), region=region) == pytest.approx(factor)


def test_each_provider_default_is_in_its_own_id_form():
    for provider, table in PROVIDER_MODELS.items():
        assert parse_model_id(provider, table.default_model).is_known, provider
