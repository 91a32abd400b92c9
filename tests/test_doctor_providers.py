"""`cua doctor --provider …`: each provider's extra, region, project, credential chain and model id,
checked offline and without ever showing a credential."""

import json
import os
import socket

import pytest
from claude_cua.core.model.providers import doctor_checks
from fakecloud import FakeVertex

pytest.importorskip("botocore", reason="the bedrock extra is not installed")
pytest.importorskip("google.auth", reason="the vertex extra is not installed")

SECRET = "doctor/secret+key/000000000000000000000000"


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No connection may leave the machine; and nothing of the real user's cloud set-up counts."""
    attempts = []
    real_connect = socket.socket.connect

    def connect(sock, address):
        attempts.append(address)
        if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "::1", "localhost"):
            raise OSError(f"doctor tried the network: {address}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    for name in list(os.environ):
        if name.startswith(("AWS_", "GOOGLE_", "CLOUDSDK_", "CLOUD_ML_", "ANTHROPIC_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    yield attempts
    assert not [a for a in attempts if isinstance(a, tuple) and a[0] != "127.0.0.1"]


def by_name(checks):
    return {c.name: c for c in checks}


def shown(checks):
    return json.dumps([c.detail + c.fix for c in checks])


def test_bedrock_with_keys_and_region_passes_without_showing_them(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDDOCTOR0000000001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    checks = by_name(doctor_checks(os.environ, provider="bedrock"))
    assert all(c.ok for c in checks.values()), shown(checks.values())
    assert checks["credentials"].detail == "AWS credentials from env"
    assert checks["region"].detail == "region eu-west-1"
    assert checks["model"].detail.startswith("global.anthropic.claude-opus-4-6-v1 (default)")
    assert SECRET not in shown(checks.values()) and "AKIDDOCTOR" not in shown(checks.values())


def test_bedrock_profile_supplies_region_and_credentials(monkeypatch, tmp_path):
    (tmp_path / "aws-config").write_text("[profile work]\nregion = ap-southeast-2\n")
    (tmp_path / "aws-credentials").write_text(
        f"[work]\naws_access_key_id = AKIDPROFILE000000001\naws_secret_access_key = {SECRET}\n")
    monkeypatch.setenv("AWS_PROFILE", "work")
    checks = by_name(doctor_checks(os.environ, provider="bedrock"))
    assert checks["region"].detail == "region ap-southeast-2"
    assert checks["credentials"].detail == "AWS credentials from shared-credentials-file"


def test_bedrock_without_region_or_credentials_says_what_to_set():
    checks = by_name(doctor_checks(os.environ, provider="bedrock"))
    assert not checks["region"].ok and "AWS_REGION" in checks["region"].fix
    assert not checks["credentials"].ok
    assert "instance role is not checked" in checks["credentials"].detail
    assert "crontab" in checks["credentials"].fix


def test_an_anthropic_id_on_bedrock_fails_the_model_check(monkeypatch):
    monkeypatch.setenv("CUA_MODEL", "claude-sonnet-4-5-20250929")
    model = by_name(doctor_checks(os.environ, provider="bedrock", region="us-east-1"))["model"]
    assert not model.ok
    assert "anthropic.claude-sonnet-4-5-20250929-v1:0" in model.fix


def test_vertex_with_a_service_account_finds_its_project(monkeypatch, tmp_path):
    with FakeVertex(project="doctor-project") as fake:
        key = fake.write_service_account(tmp_path / "key.json")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    checks = by_name(doctor_checks(os.environ, provider="vertex", region="global"))
    assert all(c.ok for c in checks.values()), shown(checks.values())
    assert checks["project"].detail == "project doctor-project"
    assert "service_account" in checks["credentials"].detail
    assert "PRIVATE KEY" not in shown(checks.values())


def test_vertex_without_region_or_credentials_says_what_to_set():
    checks = by_name(doctor_checks(os.environ, provider="vertex"))
    assert not checks["region"].ok and "CLOUD_ML_REGION" in checks["region"].fix
    assert not checks["credentials"].ok
    assert "gcloud auth application-default login" in checks["credentials"].fix
    assert not checks["project"].ok and "ANTHROPIC_VERTEX_PROJECT_ID" in checks["project"].fix


def test_vertex_reads_gcloud_adc_from_its_config_folder(monkeypatch, tmp_path):
    adc = tmp_path / ".config" / "gcloud" / "application_default_credentials.json"
    adc.parent.mkdir(parents=True)
    adc.write_text(json.dumps({"type": "authorized_user", "client_id": "x", "client_secret": "y",
                               "refresh_token": SECRET, "quota_project_id": "adc-project"}))
    checks = by_name(doctor_checks(os.environ, provider="vertex", region="us-east5"))
    assert checks["credentials"].ok and "gcloud ADC" in checks["credentials"].detail
    assert checks["project"].detail == "project adc-project"
    assert SECRET not in shown(checks.values())


def test_foundry_needs_its_key_and_resource(monkeypatch):
    checks = by_name(doctor_checks(os.environ, provider="foundry"))
    assert not checks["credentials"].ok and not checks["resource"].ok
    monkeypatch.setenv("ANTHROPIC_FOUNDRY_API_KEY", SECRET)
    monkeypatch.setenv("ANTHROPIC_FOUNDRY_RESOURCE", "my-resource")
    checks = by_name(doctor_checks(os.environ, provider="foundry"))
    assert all(c.ok for c in checks.values()), shown(checks.values())
    assert SECRET not in shown(checks.values())


def test_an_unknown_provider_fails_naming_the_choices():
    [check] = doctor_checks(os.environ, provider="azure")
    assert not check.ok and "bedrock" in check.fix
