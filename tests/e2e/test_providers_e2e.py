"""`cua run --provider bedrock|vertex` end to end: real Xvfb and Tk form, the real SDK clients
signing (SigV4) or fetching tokens (google-auth) for real, against the project's cloud fakes."""

import json
from pathlib import Path

import pytest
from claude_cua.cli.demo.policies import SUPPLIER_VALUES, supplier_form_policy
from claude_cua.core.vocab.record import Usage, price_for
from fakecloud import FakeBedrock, FakeVertex, bedrock_error, vertex_error

from .conftest import FORM, Cua, summary_of

pytest.importorskip("botocore", reason="the bedrock extra is not installed")
pytest.importorskip("google.auth", reason="the vertex extra is not installed")
pytestmark = pytest.mark.display

KEY_ID, SECRET = "AKIDCUAE2E0000000001", "cua/e2e/secret+key/00000000000000000000000"
NO_AWS = {name: None for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK",
                                  "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ACCESS_KEY_ID",
                                  "AWS_SECRET_ACCESS_KEY", "GOOGLE_APPLICATION_CREDENTIALS",
                                  "CLOUD_ML_REGION")}


def form_args(out: Path) -> list[str]:
    return ["--virtual-display", "1920x1080", "--app", " ".join([*FORM, "--out", str(out)])]


@pytest.fixture
def bedrock(tmp_path):
    with FakeBedrock(region="eu-central-1", credentials={KEY_ID: SECRET}) as fake:
        env = {**NO_AWS, "ANTHROPIC_API_KEY": None, "ANTHROPIC_BEDROCK_BASE_URL": fake.url,
               "AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET,
               "AWS_REGION": "eu-central-1", "AWS_EC2_METADATA_DISABLED": "true",
               "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
               "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
               "CUA_MAX_RETRIES": "2"}
        yield Cua(tmp_path, fake), fake, env


@pytest.fixture
def vertex(tmp_path):
    with FakeVertex(project="cua-e2e-project") as fake:
        key = fake.write_service_account(tmp_path / "service-account.json")
        env = {**NO_AWS, "ANTHROPIC_API_KEY": None, "ANTHROPIC_VERTEX_BASE_URL": fake.base_url,
               "GOOGLE_APPLICATION_CREDENTIALS": str(key), "NO_GCE_CHECK": "True",
               "CLOUDSDK_CONFIG": str(tmp_path / "no-gcloud"), "CUA_MAX_RETRIES": "2"}
        yield Cua(tmp_path, fake), fake, env


def everything_written(proc, summary) -> str:
    run_dir = Path(summary["run_dir"])
    files = [p.read_text(encoding="utf-8", errors="replace") for p in run_dir.iterdir()
             if p.suffix in (".json", ".jsonl", ".txt")]
    return proc.stdout + proc.stderr + "".join(files)


def test_bedrock_fills_the_form_after_throttling(bedrock, tmp_path):
    cua, fake, env = bedrock
    out = tmp_path / "submitted.json"
    model = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
    fake.queue(bedrock_error("ThrottlingException"), *[supplier_form_policy()] * 40)
    proc = cua.run("run", "--json", "--provider", "bedrock", "--model", model,
                   *form_args(out), "fill the supplier form", **env)
    summary = summary_of(proc)
    assert proc.returncode == 0, proc.stderr + "\n".join(fake.rejections)
    assert json.loads(out.read_text(encoding="utf-8")) == SUPPLIER_VALUES
    assert (summary["provider"], summary["region"], summary["model"]) == (
        "bedrock", "eu-central-1", model)
    assert summary["tool_version"] == "computer_20250124"
    # An eu. profile is a regional endpoint: Sonnet 4.5's list price plus 10%.
    list_price = price_for("claude-sonnet-4-5-20250929").cost(Usage.from_dict(summary["usage"]))
    assert summary["cost_usd"] == pytest.approx(list_price * 1.1, rel=1e-3)
    sent = [r for r in fake.requests if r.path.endswith("/invoke-with-response-stream")]
    assert len(sent) == 13  # the throttled request, then the 12 steps
    assert all(r.json["anthropic_beta"] == ["computer-use-2025-01-24"] for r in sent)
    assert all("/eu-central-1/bedrock/aws4_request" in r.headers["authorization"] for r in sent)
    assert not fake.rejections
    meta = json.loads((Path(summary["run_dir"]) / "run.json").read_text())
    assert (meta["provider"], meta["region"], meta["status"]) == ("bedrock", "eu-central-1",
                                                                  "success")
    assert meta["model_canonical"] == "claude-sonnet-4-5-20250929"
    assert SECRET not in everything_written(proc, summary)
    show = cua.run("runs", "show", summary["run_id"], COLUMNS="200", **env)
    assert f"with {model} (computer_20250124) on bedrock eu-central-1;" in show.stdout
    assert "finished: success after" in show.stdout


def test_bedrock_access_denied_exits_6_naming_the_console_step(bedrock):
    cua, fake, env = bedrock
    fake.queue(bedrock_error("AccessDeniedException"))
    proc = cua.run("run", "--json", "--provider", "bedrock", "--virtual-display", "800x600",
                   "anything", **env)
    assert proc.returncode == 6, proc.stderr
    assert "Model access" in proc.stderr and "eu-central-1" in proc.stderr
    summary = summary_of(proc)
    assert (summary["status"], summary["exit_code"], summary["provider"]) == ("error", 6,
                                                                              "bedrock")
    # With no --model, Bedrock gets its own default id, not the Anthropic API's.
    assert fake.requests[0].path == ("/model/global.anthropic.claude-opus-4-6-v1/"
                                     "invoke-with-response-stream")


def test_bedrock_without_region_or_credentials_exits_2_saying_what_to_set(bedrock):
    cua, _, env = bedrock
    proc = cua.run("run", "--json", "--provider", "bedrock", "x",
                   **{**env, "AWS_REGION": None})
    assert proc.returncode == 2
    assert "--region" in proc.stderr and "AWS_REGION" in proc.stderr
    proc = cua.run("run", "--json", "--provider", "bedrock", "x",
                   **{**env, "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None})
    assert proc.returncode == 2
    assert "no AWS credentials found" in proc.stderr and "AWS_PROFILE" in proc.stderr
    assert summary_of(proc)["exit_code"] == 2


def test_a_missing_extra_exits_2_naming_the_install_command(bedrock, tmp_path):
    cua, _, env = bedrock
    shadow = tmp_path / "shadow" / "botocore"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named botocore')\n")
    proc = cua.run("run", "--provider", "bedrock", "x",
                   **{**env, "PYTHONPATH": str(shadow.parent)})
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'claude-cua[bedrock]'" in proc.stderr


def test_vertex_fills_the_form_after_a_429(vertex, tmp_path):
    cua, fake, env = vertex
    out = tmp_path / "submitted.json"
    fake.queue(vertex_error(429), *[supplier_form_policy()] * 40)
    proc = cua.run("run", "--json", "--provider", "vertex", "--region", "us-east5",
                   "--model", "claude-sonnet-4-6", *form_args(out), "fill the supplier form",
                   **env)
    summary = summary_of(proc)
    assert proc.returncode == 0, proc.stderr + "\n".join(fake.rejections)
    assert json.loads(out.read_text(encoding="utf-8")) == SUPPLIER_VALUES
    assert (summary["provider"], summary["region"], summary["tool_version"]) == (
        "vertex", "us-east5", "computer_20251124")
    predicts = [r for r in fake.requests if r.path.endswith(":streamRawPredict")]
    assert len(predicts) == 13
    assert predicts[0].path == ("/v1/projects/cua-e2e-project/locations/us-east5/publishers/"
                                "anthropic/models/claude-sonnet-4-6:streamRawPredict")
    assert fake.token_requests == 1
    assert not fake.rejections
    tokens = {r.headers["authorization"] for r in predicts}
    written = everything_written(proc, summary)
    assert not any(token.removeprefix("Bearer ") in written for token in tokens)
    assert "PRIVATE KEY" not in written


def test_vertex_permission_denied_exits_6_naming_the_model_garden(vertex):
    cua, fake, env = vertex
    fake.queue(vertex_error(403))
    proc = cua.run("run", "--json", "--provider", "vertex", "--virtual-display", "800x600",
                   "anything", **{**env, "CLOUD_ML_REGION": "global"})
    assert proc.returncode == 6, proc.stderr
    assert "Model Garden" in proc.stderr and "cua-e2e-project" in proc.stderr
    assert summary_of(proc)["region"] == "global"


def test_a_gateway_gets_base_url_and_headers_and_its_token_never_shows(cua, api, tmp_path):
    from claude_cua.cli.demo.fakeapi import Error

    token = "gw-secret-token-8f7e6d5c"
    config = tmp_path / "config.toml"
    config.write_text(f'[headers]\n"X-Gateway-Token" = "{token}"\n')
    # A gateway that echoes the header back in its error, as some do.
    api.queue(Error(400, {"type": "error", "error": {
        "type": "invalid_request_error", "message": f"gateway refused token {token}"}}))
    proc = cua.run("run", "--json", "--config", str(config), "--base-url", api.url,
                   "--virtual-display", "800x600", "anything",
                   ANTHROPIC_BASE_URL="http://127.0.0.1:9/not-used")
    assert proc.returncode == 6, proc.stderr
    assert api.requests[0].headers["x-gateway-token"] == token
    summary = summary_of(proc)
    assert token not in everything_written(proc, summary)
    assert "[redacted $HEADER_X_GATEWAY_TOKEN]" in proc.stderr
    meta = json.loads((Path(summary["run_dir"]) / "run.json").read_text())
    assert meta["extra_headers"] == ["X-Gateway-Token"]
