"""Each cloud provider through the real SDK client, signing and fetching tokens for real,
against the project's fakes on 127.0.0.1 (Bedrock's event-stream runtime; Vertex and its OAuth)."""

import json

import pytest
from claude_cua.cli.demo.fakeapi import Reply
from claude_cua.core.errors import ConfigError, ModelError
from claude_cua.core.model.claude import ClaudeClient, ModelRequest
from claude_cua.core.model.providers import resolve_endpoint
from fakecloud import (
    BEDROCK_VERSION,
    VERTEX_VERSION,
    FakeBedrock,
    FakeVertex,
    bedrock_error,
    vertex_error,
)

pytest.importorskip("botocore", reason="the bedrock extra is not installed")
pytest.importorskip("google.auth", reason="the vertex extra is not installed")

KEY_ID, SECRET = "AKIDCUATEST000000001", "cua/test/secret+key/0000000000000000000000"
BEDROCK_MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


def request(model, betas=("computer-use-2025-01-24",)):
    return ModelRequest(model=model, system=[{"type": "text", "text": "be brief"}],
                        messages=[{"role": "user", "content": "hi"}], tools=[],
                        betas=betas, max_tokens=64)


def endpoint(provider, model, env, **kw):
    return resolve_endpoint(provider=provider, model=model, model_is_default=False,
                            region=kw.get("region"), project=kw.get("project"),
                            base_url=kw.get("base_url"), headers=kw.get("headers", {}), env=env)


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """Dummy keys in the environment, and nothing else of AWS's to find."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK", "AWS_REGION",
                 "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    import os

    return os.environ


@pytest.fixture
def bedrock():
    with FakeBedrock(region="us-east-1", credentials={KEY_ID: SECRET}) as fake:
        yield fake


def bedrock_client(fake, env, retries=0, **kw):
    return ClaudeClient(endpoint=endpoint("bedrock", kw.pop("model", BEDROCK_MODEL), env,
                                          base_url=fake.url, **kw), env=env, max_retries=retries)


def test_bedrock_streams_through_invoke_with_response_stream_signed_for_bedrock(bedrock, aws_env):
    bedrock.queue(Reply([{"type": "text", "text": "hello from bedrock"}]))
    reply = bedrock_client(bedrock, aws_env).send(request(BEDROCK_MODEL), on_text=lambda t: None)
    assert reply.text == "hello from bedrock"
    assert reply.usage.input_tokens > 0
    [sent] = bedrock.requests
    assert sent.path == f"/model/{BEDROCK_MODEL}/invoke-with-response-stream"
    assert f"Credential={KEY_ID}/" in sent.headers["authorization"]
    assert "/us-east-1/bedrock/aws4_request" in sent.headers["authorization"]
    assert sent.json["anthropic_version"] == BEDROCK_VERSION
    assert sent.json["anthropic_beta"] == ["computer-use-2025-01-24"]
    assert "model" not in sent.json and "stream" not in sent.json
    assert SECRET not in json.dumps(sent.headers) + sent.body.decode()
    assert not bedrock.rejections


def test_runs_in_one_process_sign_with_their_own_keys(aws_env, monkeypatch):
    """A later run (a batch task, an MCP call) with other keys in its environment signs with
    them, not with the keys of the first run in the process (the SDK keeps a session per set of
    arguments for the life of the process)."""
    for key_id, secret in [(KEY_ID, SECRET), ("AKIDCUATEST000000009", "another/secret+key/9")]:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        with FakeBedrock(region="us-east-1", credentials={key_id: secret}) as fake:
            fake.queue(Reply([{"type": "text", "text": "ok"}]))
            reply = bedrock_client(fake, aws_env).send(request(BEDROCK_MODEL),
                                                       on_text=lambda t: None)
            assert reply.text == "ok" and not fake.rejections
            assert f"Credential={key_id}/" in fake.requests[0].headers["authorization"]


def test_bedrock_arn_model_ids_are_sent_encoded_and_signed(bedrock, aws_env):
    arn = ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
           "global.anthropic.claude-opus-4-6-v1")
    bedrock.queue(Reply([{"type": "text", "text": "ok"}]))
    reply = bedrock_client(bedrock, aws_env, model=arn).send(request(arn, betas=()),
                                                             on_text=lambda t: None)
    assert reply.text == "ok"
    assert bedrock.requests[0].path.startswith("/model/arn:aws:bedrock:us-east-1:123456789012:"
                                               "inference-profile%2Fglobal.")
    assert "anthropic_beta" not in bedrock.requests[0].json


def test_a_signature_from_another_secret_is_refused_without_showing_it(aws_env):
    with FakeBedrock(region="us-east-1", credentials={KEY_ID: "the-real-secret"}) as fake:
        with pytest.raises(ModelError) as caught:
            bedrock_client(fake, aws_env).send(request(BEDROCK_MODEL), on_text=lambda t: None)
        assert fake.rejections == [
            "InvalidSignatureException: The request signature we calculated does not match the "
            "signature you provided."]
    assert "rejected the AWS credentials" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_a_request_signed_for_another_region_is_refused(bedrock, aws_env):
    with pytest.raises(ModelError, match="Bedrock"):
        bedrock_client(bedrock, aws_env, region="eu-west-1").send(request(BEDROCK_MODEL),
                                                                  on_text=lambda t: None)
    assert "eu-west-1" in bedrock.rejections[0]


def test_bedrock_throttling_is_retried(bedrock, aws_env):
    bedrock.queue(bedrock_error("ThrottlingException"), Reply([{"type": "text", "text": "ok"}]))
    reply = bedrock_client(bedrock, aws_env, retries=2).send(request(BEDROCK_MODEL),
                                                             on_text=lambda t: None)
    assert reply.text == "ok"
    assert len(bedrock.requests) == 2


def test_a_bedrock_exception_frame_mid_stream_is_retried(bedrock, aws_env):
    bedrock.queue(bedrock_error("ThrottlingException", in_stream=True),
                  Reply([{"type": "text", "text": "second time"}]))
    reply = bedrock_client(bedrock, aws_env, retries=1).send(request(BEDROCK_MODEL),
                                                             on_text=lambda t: None)
    assert reply.text == "second time"
    assert len(bedrock.requests) == 2


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (bedrock_error("AccessDeniedException"), "Model access"),
        (bedrock_error("ThrottlingException"), "throttled"),
        (bedrock_error("ValidationException"), "does not know model"),
        (bedrock_error("ValidationException", "Invocation of model ID anthropic.claude-x with "
                       "on-demand throughput isn't supported."), "inference profile"),
    ],
)
def test_bedrock_errors_say_what_to_do(bedrock, aws_env, error, says):
    bedrock.queue(error)
    with pytest.raises(ModelError) as caught:
        bedrock_client(bedrock, aws_env).send(request(BEDROCK_MODEL), on_text=lambda t: None)
    assert says in str(caught.value)


def test_bedrock_bearer_token_replaces_signing(bedrock, aws_env, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-abc123")
    bedrock.bearer_tokens.add("bedrock-api-key-abc123")
    bedrock.queue(Reply([{"type": "text", "text": "ok"}]))
    assert bedrock_client(bedrock, aws_env).send(request(BEDROCK_MODEL),
                                                 on_text=lambda t: None).text == "ok"
    assert bedrock.requests[0].headers["authorization"] == "Bearer bedrock-api-key-abc123"


def test_no_aws_credentials_is_a_config_error_naming_the_chain(aws_env, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    with pytest.raises(ConfigError, match="no AWS credentials found; tried AWS_BEARER_TOKEN"):
        ClaudeClient(endpoint=endpoint("bedrock", BEDROCK_MODEL, aws_env), env=aws_env)


def test_no_region_names_the_flag_and_the_variables(aws_env, monkeypatch):
    monkeypatch.delenv("AWS_REGION")
    with pytest.raises(ConfigError, match=r"--region .* AWS_REGION"):
        ClaudeClient(endpoint=endpoint("bedrock", BEDROCK_MODEL, aws_env), env=aws_env)
    with pytest.raises(ConfigError, match=r"--region .* CLOUD_ML_REGION"):
        endpoint("vertex", "claude-sonnet-4-5@20250929", {})


@pytest.mark.parametrize(
    ("provider", "model", "suggests"),
    [
        ("bedrock", "claude-sonnet-4-5-20250929", "anthropic.claude-sonnet-4-5-20250929-v1:0"),
        ("vertex", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5@20250929"),
    ],
)
def test_an_anthropic_api_id_on_a_cloud_provider_suggests_its_form(provider, model, suggests):
    with pytest.raises(ConfigError, match=suggests.replace(".", r"\.")):
        endpoint(provider, model, {"CLOUD_ML_REGION": "global", "AWS_REGION": "us-east-1"})


# --- Vertex ---------------------------------------------------------------------------------------


@pytest.fixture
def vertex(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # never ask a metadata server
    with FakeVertex(project="cua-test-project") as fake:
        key = fake.write_service_account(tmp_path / "service-account.json")
        env = {"GOOGLE_APPLICATION_CREDENTIALS": str(key), "CLOUD_ML_REGION": "us-east5"}
        yield fake, env


def vertex_client(fake, env, retries=0, model="claude-sonnet-4-5@20250929", **kw):
    return ClaudeClient(endpoint=endpoint("vertex", model, env, base_url=fake.base_url, **kw),
                        env=env, max_retries=retries)


def test_vertex_streams_with_a_token_from_the_service_account(vertex):
    fake, env = vertex
    fake.queue(Reply([{"type": "text", "text": "hello from vertex"}]),
               Reply([{"type": "text", "text": "again"}]))
    client = vertex_client(fake, env)
    assert client.send(request("claude-sonnet-4-5@20250929"),
                       on_text=lambda t: None).text == "hello from vertex"
    assert client.send(request("claude-sonnet-4-5@20250929"),
                       on_text=lambda t: None).text == "again"
    assert fake.token_requests == 1  # the token is reused until it expires
    first, _ = fake.requests[0], fake.requests[1]
    assert first.path == "/token"
    sent = fake.requests[1]
    assert sent.path == ("/v1/projects/cua-test-project/locations/us-east5/publishers/"
                         "anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict")
    assert sent.headers["authorization"].startswith("Bearer ya29.fake-")
    assert sent.json["anthropic_version"] == VERTEX_VERSION
    assert "model" not in sent.json and sent.json["stream"] is True
    assert not fake.rejections


def test_vertex_project_from_the_flag_wins_over_the_key_file(vertex):
    fake, env = vertex
    with pytest.raises(ModelError, match=r"denied access .* project other-project"):
        vertex_client(fake, env, project="other-project").send(
            request("claude-sonnet-4-5@20250929"), on_text=lambda t: None)


def test_vertex_429_is_retried_and_403_says_enable_the_model(vertex):
    fake, env = vertex
    fake.queue(vertex_error(429), Reply([{"type": "text", "text": "ok"}]), vertex_error(403))
    client = vertex_client(fake, env, retries=2)
    assert client.send(request("claude-sonnet-4-5@20250929"), on_text=lambda t: None).text == "ok"
    with pytest.raises(ModelError, match="Model Garden"):
        client.send(request("claude-sonnet-4-5@20250929"), on_text=lambda t: None)


def test_an_unknown_vertex_model_id_names_the_id_format(vertex):
    fake, env = vertex
    fake.queue(vertex_error(404))
    with pytest.raises(ModelError, match=r"does not know model claude-sonet-4-6 .* e\.g\. "
                                         r"claude-sonnet-4-5@20250929"):
        vertex_client(fake, env, model="claude-sonet-4-6").send(request("claude-sonet-4-6"),
                                                                on_text=lambda t: None)


def test_a_key_the_token_endpoint_does_not_know_is_a_model_error(vertex, tmp_path):
    fake, env = vertex
    other = FakeVertex(project="cua-test-project")
    with other:
        stranger = other.write_service_account(tmp_path / "stranger.json")
    info = json.loads(stranger.read_text())
    info["token_uri"] = f"{fake.url}/token"  # right endpoint, wrong key
    stranger.write_text(json.dumps(info))
    env = {**env, "GOOGLE_APPLICATION_CREDENTIALS": str(stranger)}
    with pytest.raises(ModelError, match="credentials could not be used") as caught:
        vertex_client(fake, env).send(request("claude-sonnet-4-5@20250929"),
                                      on_text=lambda t: None)
    assert "PRIVATE KEY" not in str(caught.value)
    assert "signature does not match" in fake.rejections[0]


def test_no_google_credentials_is_a_config_error_naming_the_chain(tmp_path):
    env = {"GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "missing.json"),
           "CLOUD_ML_REGION": "global", "ANTHROPIC_VERTEX_PROJECT_ID": "p"}
    with pytest.raises(ConfigError, match="no Google Cloud credentials found; tried "
                                          "GOOGLE_APPLICATION_CREDENTIALS"):
        ClaudeClient(endpoint=endpoint("vertex", "claude-opus-4-6", env), env=env)


def test_a_vertex_base_url_without_v1_is_refused():
    with pytest.raises(ConfigError, match="must end in /v1"):
        endpoint("vertex", "claude-opus-4-6", {"CLOUD_ML_REGION": "global",
                                               "ANTHROPIC_VERTEX_BASE_URL": "http://x:1"})


# --- Foundry and gateways ---------------------------------------------------------------


def test_foundry_sends_its_key_to_its_resource_url(api_fake):
    env = {"ANTHROPIC_FOUNDRY_API_KEY": "foundry-key-123456", "ANTHROPIC_FOUNDRY_BASE_URL":
           api_fake.url}
    api_fake.queue(Reply([{"type": "text", "text": "hello from foundry"}]))
    client = ClaudeClient(endpoint=endpoint("foundry", "claude-sonnet-4-6", env), env=env,
                          max_retries=0)
    assert client.send(request("claude-sonnet-4-6"), on_text=lambda t: None).text == (
        "hello from foundry")
    sent = api_fake.requests[0]
    assert sent.headers["api-key"] == sent.headers["x-api-key"] == "foundry-key-123456"
    assert sent.json["model"] == "claude-sonnet-4-6"
    assert "anthropic_version" not in sent.json


def test_foundry_without_key_or_resource_names_the_variables():
    with pytest.raises(ConfigError, match="ANTHROPIC_FOUNDRY_API_KEY"):
        ClaudeClient(endpoint=endpoint("foundry", "claude-sonnet-4-6", {}), env={})
    env = {"ANTHROPIC_FOUNDRY_API_KEY": "k" * 20}
    with pytest.raises(ConfigError, match="ANTHROPIC_FOUNDRY_RESOURCE"):
        ClaudeClient(endpoint=endpoint("foundry", "claude-sonnet-4-6", env), env=env)


def test_a_gateway_gets_the_base_url_and_the_extra_headers(api_fake):
    env = {"ANTHROPIC_BASE_URL": "http://127.0.0.1:9/not-this-one"}
    api_fake.queue(Reply([{"type": "text", "text": "via the gateway"}]))
    gateway = endpoint("anthropic", "claude-sonnet-4-6", env, base_url=api_fake.url,
                       headers={"X-Gateway-Token": "gw-token-abc", "X-Team": "qa"})
    client = ClaudeClient(endpoint=gateway, env=env, api_key="sk-test", max_retries=0)
    assert client.send(request("claude-sonnet-4-6"), on_text=lambda t: None).text == (
        "via the gateway")
    sent = api_fake.requests[0]
    assert (sent.headers["x-gateway-token"], sent.headers["x-team"]) == ("gw-token-abc", "qa")


@pytest.mark.parametrize(("provider", "variable"), [
    ("anthropic", "ANTHROPIC_BASE_URL"), ("bedrock", "ANTHROPIC_BEDROCK_BASE_URL"),
    ("vertex", "ANTHROPIC_VERTEX_BASE_URL"), ("foundry", "ANTHROPIC_FOUNDRY_BASE_URL")])
def test_each_provider_honours_the_sdk_base_url_variable_unless_a_flag_says_otherwise(
        provider, variable):
    env = {variable: "http://127.0.0.1:1/v1", "CLOUD_ML_REGION": "global"}
    model = {"bedrock": BEDROCK_MODEL, "vertex": "claude-opus-4-6"}.get(provider, "claude-opus-4-6")
    assert endpoint(provider, model, env).base_url == "http://127.0.0.1:1/v1"
    assert endpoint(provider, model, env, base_url="http://127.0.0.1:2/v1").base_url == (
        "http://127.0.0.1:2/v1")
    other = next(v for v in ("ANTHROPIC_BASE_URL", "ANTHROPIC_BEDROCK_BASE_URL") if v != variable)
    assert endpoint(provider, model, {other: "http://127.0.0.1:3", "CLOUD_ML_REGION": "global"}
                    ).base_url is None


@pytest.fixture
def api_fake():
    from claude_cua.cli.demo.fakeapi import FakeMessagesAPI

    with FakeMessagesAPI() as fake:
        yield fake
