"""Anthropic's own prompt-injection classifiers run on a request only when it declares the
computer tool's type. Every tool flavour cua uses, through every provider, must keep it declared
in the body that goes out: the real SDK clients over HTTP against the fakes on 127.0.0.1."""

import pytest
from claude_cua.cli.demo.fakeapi import Reply
from claude_cua.core.model import context
from claude_cua.core.model.claude import ClaudeClient, ModelRequest
from claude_cua.core.model.context import FLAVOURS
from claude_cua.core.model.providers import resolve_endpoint
from claude_cua.core.vocab.actions import ScreenSpace
from fakecloud import FakeBedrock, FakeVertex

pytest.importorskip("botocore", reason="the bedrock extra is not installed")
pytest.importorskip("google.auth", reason="the vertex extra is not installed")

SPACE = ScreenSpace(1920, 1080, 1429, 804)
MODELS = {"anthropic": "claude-sonnet-4-6", "foundry": "claude-sonnet-4-6",
          "bedrock": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
          "vertex": "claude-sonnet-4-5@20250929"}
KEY_ID, SECRET = "AKIDCUATEST000000002", "cua/test/secret+key/1111111111111111111111"


@pytest.fixture
def providers(api, tmp_path, monkeypatch):
    """(provider, fake, env) for each provider, each fake answering every request."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK"):
        monkeypatch.delenv(name, raising=False)
    aws = {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET,
           "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_CONFIG_FILE": str(tmp_path / "c"), "AWS_SHARED_CREDENTIALS_FILE":
           str(tmp_path / "s")}
    for name, value in aws.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    with FakeBedrock(region="us-east-1", credentials={KEY_ID: SECRET}) as bedrock, \
            FakeVertex(project="cua-test-project") as vertex:
        key = vertex.write_service_account(tmp_path / "sa.json")
        yield [
            ("anthropic", api, {"ANTHROPIC_API_KEY": "k" * 20}, api.url),
            ("foundry", api, {"ANTHROPIC_FOUNDRY_API_KEY": "k" * 20,
                              "ANTHROPIC_FOUNDRY_BASE_URL": api.url}, None),
            ("bedrock", bedrock, aws, bedrock.url),
            ("vertex", vertex, {"GOOGLE_APPLICATION_CREDENTIALS": str(key),
                                "CLOUD_ML_REGION": "us-east5"}, vertex.base_url),
        ]


@pytest.mark.parametrize("version", sorted(FLAVOURS))
def test_every_provider_sends_the_computer_tool_type_of_every_flavour(providers, version):
    flavour = FLAVOURS[version]
    for provider, fake, env, base_url in providers:
        fake.queue(Reply([{"type": "text", "text": "ok"}]))
        endpoint = resolve_endpoint(provider=provider, model=MODELS[provider],
                                    model_is_default=False, region=None, project=None,
                                    base_url=base_url, headers={}, env=env)
        client = ClaudeClient(endpoint=endpoint, env=env, max_retries=0,
                              **({"api_key": env["ANTHROPIC_API_KEY"]}
                                 if provider == "anthropic" else {}))
        try:
            client.send(ModelRequest(
                model=MODELS[provider], system=[{"type": "text", "text": "x"}],
                messages=[{"role": "user", "content": "hi"}],
                tools=context.tools(flavour, SPACE),
                betas=[flavour.beta] if flavour.beta else [], max_tokens=16),
                on_text=lambda t: None)
        finally:
            client.close()
        body = [r for r in fake.requests if r.json is not None and "messages" in r.json][-1].json
        declared = [tool.get("type") for tool in body["tools"]]
        assert version in declared, (provider, declared)
