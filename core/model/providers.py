"""Where Claude is reached: the Anthropic API, Amazon Bedrock, Vertex AI or Microsoft Foundry.

`resolve_endpoint` is pure: settings and the environment in, an `Endpoint` out, or a ConfigError
that names the flag and the variable to set. `client_spec` turns an endpoint into the SDK client
to build (class name and arguments), loading cloud credentials through the providers' own chains
(botocore, google-auth) without ever reading them into a message. `core/model/claude.py` builds the
client from the spec, so it stays the only importer of the anthropic SDK.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import ConfigError
from .context import PROVIDER_MODELS, PROVIDERS, ModelId, parse_model_id

# The SDK's own base-URL variable for each provider; they keep working as the SDK documents.
BASE_URL_VARS = {
    "anthropic": "ANTHROPIC_BASE_URL",
    "bedrock": "ANTHROPIC_BEDROCK_BASE_URL",
    "vertex": "ANTHROPIC_VERTEX_BASE_URL",
    "foundry": "ANTHROPIC_FOUNDRY_BASE_URL",
}
REGION_VARS = {"bedrock": ("AWS_REGION", "AWS_DEFAULT_REGION"), "vertex": ("CLOUD_ML_REGION",)}
PROJECT_VARS = ("ANTHROPIC_VERTEX_PROJECT_ID", "GOOGLE_CLOUD_PROJECT")
EXTRAS = {"bedrock": ("boto3", "botocore"), "vertex": ("google.auth",)}
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
AWS_CHAIN = ("AWS_BEARER_TOKEN_BEDROCK, the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY variables, "
             "AWS_PROFILE and ~/.aws/credentials or ~/.aws/config (including SSO), then a "
             "container or instance role")
GOOGLE_CHAIN = ("GOOGLE_APPLICATION_CREDENTIALS, then gcloud's application default credentials "
                "(gcloud auth application-default login), then the metadata server on Google Cloud")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Everything about where requests go, except credentials (those never leave the chains)."""

    provider: str
    model: ModelId
    region: str | None = None
    project: str | None = None
    base_url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def anthropic_version(self) -> str | None:
        return PROVIDER_MODELS[self.provider].anthropic_version

    @property
    def label(self) -> str:
        return PROVIDER_MODELS[self.provider].name


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """The SDK client to build: `getattr(anthropic, class_name)(**kwargs)`."""

    class_name: str
    kwargs: dict[str, Any]
    extra_body: dict[str, Any]
    # Exceptions the provider's auth library raises while signing or fetching a token.
    auth_errors: tuple[type[BaseException], ...] = ()
    # The endpoint with what the chains found filled in (a profile's region, a key's project).
    endpoint: Endpoint | None = None


def resolve_endpoint(
    *,
    provider: str,
    model: str,
    model_is_default: bool,
    region: str | None,
    project: str | None,
    base_url: str | None,
    headers: Mapping[str, str],
    env: Mapping[str, str],
) -> Endpoint:
    """The endpoint from settings (flag, CUA_*, config) first, then the providers' own variables."""
    if provider not in PROVIDERS:
        raise ConfigError(f"--provider must be one of {', '.join(PROVIDERS)}, not {provider!r}")
    table = PROVIDER_MODELS[provider]
    model_id = parse_model_id(provider, table.default_model if model_is_default else model)
    _check_id_form(model_id)
    region = region or _first(env, REGION_VARS.get(provider, ()))
    if provider == "vertex":
        if not region:
            raise ConfigError("Vertex AI needs a region; pass --region (e.g. --region global or "
                              "--region us-east5) or set CLOUD_ML_REGION")
        project = project or _first(env, PROJECT_VARS)
    elif provider != "bedrock":
        region = project = None
    base_url = base_url or env.get(BASE_URL_VARS[provider]) or None
    if provider == "vertex" and base_url and not base_url.rstrip("/").endswith("/v1"):
        raise ConfigError(f"the Vertex AI base URL {base_url} must end in /v1 (the SDK appends "
                          "/projects/…); fix --base-url or ANTHROPIC_VERTEX_BASE_URL")
    return Endpoint(provider, model_id, region or None, project or None, base_url, dict(headers))


def _check_id_form(model: ModelId) -> None:
    """An Anthropic API id on a cloud provider fails there with a vague 400; say so up front."""
    table = PROVIDER_MODELS[model.provider]
    if model.provider == "bedrock" and model.canonical is None and model.id.startswith("claude-"):
        raise ConfigError(f"{model.id!r} is an Anthropic API model id; Bedrock writes ids like "
                          f"{table.suggest(_family(model.id))}, optionally with an inference-"
                          "profile prefix (us., eu., apac., global.) or as an ARN")
    if model.provider == "vertex" and _has_api_date(model.id):
        raise ConfigError(f"{model.id!r} is an Anthropic API model id; Vertex AI writes the date "
                          f"after an @, e.g. {table.suggest(_family(model.id))}")


def _family(model: str) -> str:
    parts = model.split("-")
    return "-".join(parts[:-1]) if parts[-1].isdigit() and len(parts[-1]) == 8 else model


def _has_api_date(model: str) -> bool:
    tail = model.rpartition("-")[2]
    return "@" not in model and tail.isdigit() and len(tail) == 8


def _first(env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        if env.get(name, "").strip():
            return env[name].strip()
    return None


def require_extra(provider: str) -> None:
    """Import the provider's optional libraries, or fail (exit 2) naming the install command."""

    for module in EXTRAS.get(provider, ()):
        try:
            importlib.import_module(module)
        except ImportError:
            raise ConfigError(missing_extra_message(provider)) from None


def missing_extra_message(provider: str) -> str:
    return (f"--provider {provider} needs the optional libraries of cua's {provider} extra; "
            f"install them with pip install 'claude-cua[{provider}]' (into the environment cua "
            f"runs from: {sys.executable} -m pip install 'claude-cua[{provider}]')")


def client_spec(endpoint: Endpoint, *, env: Mapping[str, str], api_key: str | None) -> ClientSpec:
    """The SDK client for this endpoint; cloud credentials are resolved now, so a missing one is
    a clear ConfigError before the run starts rather than an error inside the first request."""
    builders: dict[str, Callable[[Endpoint, Mapping[str, str], str | None], ClientSpec]] = {
        "anthropic": _anthropic_spec, "bedrock": _bedrock_spec,
        "vertex": _vertex_spec, "foundry": _foundry_spec,
    }
    spec = builders[endpoint.provider](endpoint, env, api_key)
    if endpoint.headers:
        spec.kwargs["default_headers"] = dict(endpoint.headers)
    if endpoint.anthropic_version:
        spec.extra_body["anthropic_version"] = endpoint.anthropic_version
    found = replace(endpoint, region=spec.kwargs.get("aws_region") or spec.kwargs.get("region")
                    or endpoint.region,
                    project=spec.kwargs.get("project_id") or endpoint.project)
    return replace(spec, endpoint=found)


def _anthropic_spec(endpoint: Endpoint, env: Mapping[str, str], api_key: str | None) -> ClientSpec:
    if not api_key:
        raise ConfigError("ANTHROPIC_API_KEY is not set; export your API key in that variable "
                          "(or try `cua demo`, which needs no key, or --provider bedrock|vertex|"
                          "foundry to use a cloud account)")
    return ClientSpec("Anthropic", {"api_key": api_key, "base_url": endpoint.base_url}, {})


def _foundry_spec(endpoint: Endpoint, env: Mapping[str, str], api_key: str | None) -> ClientSpec:
    key = env.get("ANTHROPIC_FOUNDRY_API_KEY", "").strip()
    resource = env.get("ANTHROPIC_FOUNDRY_RESOURCE", "").strip()
    if not key:
        raise ConfigError("Microsoft Foundry needs ANTHROPIC_FOUNDRY_API_KEY (the key of your "
                          "Foundry resource)")
    if not resource and not endpoint.base_url:
        raise ConfigError("Microsoft Foundry needs ANTHROPIC_FOUNDRY_RESOURCE (the resource name "
                          "in https://NAME.services.ai.azure.com), or ANTHROPIC_FOUNDRY_BASE_URL "
                          "or --base-url")
    kwargs: dict[str, Any] = {"api_key": key}
    if endpoint.base_url:
        kwargs["base_url"] = endpoint.base_url
    else:
        kwargs["resource"] = resource
    return ClientSpec("AnthropicFoundry", kwargs, {})


def _bedrock_spec(endpoint: Endpoint, env: Mapping[str, str], api_key: str | None) -> ClientSpec:
    require_extra("bedrock")
    # Imported here: an optional extra, needed only on this path.
    import botocore.exceptions
    import botocore.session

    profile = env.get("AWS_PROFILE") or None
    try:
        session = botocore.session.Session(profile=profile)
        region = endpoint.region or session.get_config_variable("region")
        has_token = bool(env.get("AWS_BEARER_TOKEN_BEDROCK", "").strip())
        credentials = None if has_token else session.get_credentials()
    except botocore.exceptions.BotoCoreError as exc:  # a bad profile or config file
        raise ConfigError(f"the AWS configuration could not be read: {_clean(exc)}") from exc
    if not region:
        raise ConfigError("Amazon Bedrock needs a region; pass --region (e.g. --region us-east-1) "
                          "or set AWS_REGION (or AWS_DEFAULT_REGION, or a region in your AWS "
                          "profile)")
    if not has_token and credentials is None:
        raise ConfigError(f"no AWS credentials found; tried {AWS_CHAIN}. Set one of them (for "
                          "cron, AWS_PROFILE or the AWS_* variables in the crontab)")
    kwargs: dict[str, Any] = {"aws_region": region, "base_url": endpoint.base_url}
    if has_token:
        kwargs["api_key"] = env["AWS_BEARER_TOKEN_BEDROCK"].strip()
    elif profile:
        kwargs["aws_profile"] = profile
    elif credentials is not None and credentials.method == "env":
        # Keys from the environment are passed as they are: the SDK keeps one boto3 session per
        # set of arguments for the life of the process, so a run (a batch task, an MCP call)
        # whose keys differ from an earlier run's must say so, or it would sign with the old
        # ones. Refreshable credentials (a role, SSO) stay with the session that refreshes them.
        frozen = credentials.get_frozen_credentials()
        kwargs.update(aws_access_key=frozen.access_key, aws_secret_key=frozen.secret_key,
                      aws_session_token=frozen.token)
    return ClientSpec("AnthropicBedrock", kwargs, {},
                      (botocore.exceptions.BotoCoreError,))


def _vertex_spec(endpoint: Endpoint, env: Mapping[str, str], api_key: str | None) -> ClientSpec:
    require_extra("vertex")
    # Imported here: an optional extra, needed only on this path.
    import google.auth
    import google.auth.exceptions

    try:
        credentials, found_project = _google_default(env)
    except google.auth.exceptions.DefaultCredentialsError as exc:
        raise ConfigError(f"no Google Cloud credentials found; tried {GOOGLE_CHAIN}: "
                          f"{_clean(exc)}") from exc
    project = endpoint.project or found_project
    if not project:
        raise ConfigError("Vertex AI needs a project; pass --project or set "
                          "ANTHROPIC_VERTEX_PROJECT_ID")
    kwargs = {"region": endpoint.region, "project_id": project, "credentials": credentials,
              "base_url": endpoint.base_url}
    return ClientSpec("AnthropicVertex", kwargs, {}, (google.auth.exceptions.GoogleAuthError,))


def _google_default(env: Mapping[str, str]) -> tuple[Any, str | None]:
    """Application default credentials, reading GOOGLE_APPLICATION_CREDENTIALS from `env`."""
    # Imported here: an optional extra, needed only on this path.
    import google.auth
    import google.auth.exceptions

    path = env.get("GOOGLE_APPLICATION_CREDENTIALS")
    if not path:
        return google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    try:
        with open(path, encoding="utf-8") as handle:
            info = json.load(handle)
    except (OSError, ValueError) as exc:
        raise google.auth.exceptions.DefaultCredentialsError(
            f"GOOGLE_APPLICATION_CREDENTIALS={path} cannot be read: "
            f"{getattr(exc, 'strerror', None) or type(exc).__name__}") from exc
    kind = info.get("type") if isinstance(info, dict) else None
    if kind == "service_account":
        # Imported here: an optional extra, needed only on this path.
        from google.oauth2 import service_account

        credentials = service_account.Credentials.from_service_account_info(
            info, scopes=[CLOUD_PLATFORM_SCOPE])
        return credentials, info.get("project_id")
    if kind == "authorized_user":
        # Imported here: an optional extra, needed only on this path.
        from google.oauth2 import credentials as user_credentials

        user = user_credentials.Credentials.from_authorized_user_info(
            info, scopes=[CLOUD_PLATFORM_SCOPE])
        return user, info.get("quota_project_id")
    # external_account and the other kinds: google-auth's own loader knows them
    return google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])


def _clean(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# --- errors, per provider: what failed and the console step that fixes it ------------------------


def advice_for(endpoint: Endpoint, status: int | None, message: str, kind: str) -> str | None:
    """A user-facing message for a provider's HTTP error, or None to use the generic one."""
    detail = f"{kind or status}: {message}" if message else str(kind or status)
    advise = {"bedrock": _bedrock_advice, "vertex": _vertex_advice,
              "foundry": _foundry_advice}.get(endpoint.provider)
    return advise(endpoint, status, detail, kind, message) if advise else None


def _bedrock_advice(endpoint: Endpoint, status: int | None, detail: str, kind: str,
                    message: str) -> str | None:
    where = f"model {endpoint.model.id} in {endpoint.region}"
    example = PROVIDER_MODELS["bedrock"].id_example
    if kind == "ThrottlingException" or status == 429:
        return (f"Amazon Bedrock throttled {where} ({detail}) and retries did not help; wait, "
                "raise CUA_MAX_RETRIES, use a cross-region inference profile (us., eu., global.), "
                "or ask for a higher quota in the Service Quotas console")
    if kind in ("UnrecognizedClientException", "InvalidSignatureException",
                "ExpiredTokenException") or status == 401:
        return (f"Amazon Bedrock rejected the AWS credentials ({detail}); check the chain "
                f"({AWS_CHAIN}) and that the keys or SSO session are current")
    if kind == "AccessDeniedException" or status == 403:
        return (f"Amazon Bedrock denied access to {where} ({detail}); in the Bedrock console "
                f"for {endpoint.region} open Model access and request access to the Anthropic "
                "model, and let your IAM identity call bedrock:InvokeModel and "
                "bedrock:InvokeModelWithResponseStream")
    if "on-demand throughput" in message:
        return (f"Amazon Bedrock serves {endpoint.model.id} only through an inference profile "
                f"({detail}); prefix the id with us., eu., apac. or global., e.g. "
                f"global.{endpoint.model.id}")
    if kind == "ResourceNotFoundException" or status == 404 or (
            kind == "ValidationException" and "model identifier" in message):
        return (f"Amazon Bedrock does not know {where} ({detail}); write the id as Bedrock does, "
                f"e.g. {example}, and check the model is offered in that region")
    return None


def _vertex_advice(endpoint: Endpoint, status: int | None, detail: str, kind: str,
                   message: str) -> str | None:
    where = (f"model {endpoint.model.id} in project {endpoint.project or '?'}, "
             f"region {endpoint.region}")
    if status == 429 or kind == "RESOURCE_EXHAUSTED":
        return (f"Vertex AI ran out of quota for {where} ({detail}) and retries did not help; "
                "wait, raise CUA_MAX_RETRIES, use --region global, or request more quota in the "
                "console (IAM & Admin, Quotas)")
    if status == 401 or kind == "UNAUTHENTICATED":
        return (f"Vertex AI rejected the access token ({detail}); check the credentials "
                f"({GOOGLE_CHAIN})")
    if status == 403 or kind == "PERMISSION_DENIED":
        return (f"Vertex AI denied access to {where} ({detail}); enable the Claude model for "
                "that project in the Vertex AI Model Garden (Enable on the model card), and give "
                "the account the Vertex AI User role (roles/aiplatform.user)")
    if status == 404 or kind == "NOT_FOUND":
        return (f"Vertex AI does not know {where} ({detail}); write the id as Vertex does, e.g. "
                f"{PROVIDER_MODELS['vertex'].id_example}, and check the model is offered in "
                "that region")
    return None


def _foundry_advice(endpoint: Endpoint, status: int | None, detail: str, kind: str,
                    message: str) -> str | None:
    if status in (401, 403):
        return (f"Microsoft Foundry refused the request ({detail}); check "
                "ANTHROPIC_FOUNDRY_API_KEY and that the Claude deployment exists in the resource")
    if status == 404:
        return (f"Microsoft Foundry has no deployment named {endpoint.model.id} ({detail}); pass "
                "the deployment name with --model")
    return None


def auth_failure(endpoint: Endpoint, exc: BaseException) -> str:
    """A signing or token failure, without the library's repr (which may carry request data)."""
    chain = AWS_CHAIN if endpoint.provider == "bedrock" else GOOGLE_CHAIN
    return (f"{endpoint.label} credentials could not be used ({type(exc).__name__}: "
            f"{_clean(exc)[:200]}); check the credentials ({chain})")


# --- doctor: is the chosen provider usable? (no network, no credential values shown) -------------


def doctor_checks(env: Mapping[str, str], *, provider: str, region: str | None = None,
                  project: str | None = None, model: str | None = None) -> list[Any]:
    """`cua doctor`'s checks for one provider: extra, region/project, credentials, model id."""
    # Imported here: keeps importing this module light (start-up time).
    from ..checks import Check

    if provider not in PROVIDERS:
        return [Check("provider", False, f"unknown provider {provider!r}",
                      f"use --provider {' | '.join(PROVIDERS)} (or CUA_PROVIDER)")]
    checks = [Check("provider", True, f"{PROVIDER_MODELS[provider].name} ({provider})")]
    if provider in EXTRAS:
        try:
            require_extra(provider)
        except ConfigError as exc:
            checks.append(Check("extra", False, f"the {provider} extra is not installed",
                                str(exc).partition("; ")[2]))
            return checks
        checks.append(Check("extra", True, f"{', '.join(EXTRAS[provider])} importable"))
    checker = {"anthropic": _doctor_anthropic, "bedrock": _doctor_bedrock,
               "vertex": _doctor_vertex, "foundry": _doctor_foundry}[provider]
    checks.extend(checker(env, region, project))
    checks.append(_doctor_model(env, provider, model))
    return checks


def _doctor_model(env: Mapping[str, str], provider: str, model: str | None) -> Any:
    # Imported here: keeps importing this module light (start-up time).
    from ..checks import Check

    chosen = model or env.get("CUA_MODEL", "").strip()
    model_id = parse_model_id(provider, chosen or PROVIDER_MODELS[provider].default_model)
    try:
        _check_id_form(model_id)
    except ConfigError as exc:
        return Check("model", False, str(exc).partition("; ")[0], str(exc).partition("; ")[2])
    source = "CUA_MODEL" if chosen else "default"
    if not model_id.is_known:
        return Check("model", False, f"{model_id.id} ({source}) is not in cua's model table",
                     f"write it as the provider does, e.g. {PROVIDER_MODELS[provider].id_example}"
                     ", or pass --tool-version")
    return Check("model", True, f"{model_id.id} ({source}) is {model_id.canonical}")


def _doctor_anthropic(env: Mapping[str, str], region: str | None, project: str | None) -> list[Any]:
    # Imported here: keeps importing this module light (start-up time).
    from ..checks import check_api_key

    return [check_api_key(env)]


def _doctor_foundry(env: Mapping[str, str], region: str | None, project: str | None) -> list[Any]:
    # Imported here: keeps importing this module light (start-up time).
    from ..checks import Check

    checks = []
    if env.get("ANTHROPIC_FOUNDRY_API_KEY", "").strip():
        checks.append(Check("credentials", True, "ANTHROPIC_FOUNDRY_API_KEY is set"))
    else:
        checks.append(Check("credentials", False, "ANTHROPIC_FOUNDRY_API_KEY is not set",
                            "export the Foundry resource's key in ANTHROPIC_FOUNDRY_API_KEY "
                            "(in the crontab, for cron)"))
    where = (env.get("CUA_BASE_URL") or env.get("ANTHROPIC_FOUNDRY_BASE_URL")
             or env.get("ANTHROPIC_FOUNDRY_RESOURCE"))
    checks.append(Check("resource", bool(where), f"resource {where}" if where else
                        "neither ANTHROPIC_FOUNDRY_RESOURCE nor ANTHROPIC_FOUNDRY_BASE_URL is set",
                        "" if where else "set ANTHROPIC_FOUNDRY_RESOURCE to the resource name"))
    return checks


def _doctor_bedrock(env: Mapping[str, str], region: str | None, project: str | None) -> list[Any]:
    # Imported here: an optional extra, needed only on this path.
    import botocore.exceptions
    import botocore.session

    from ..checks import Check

    profile = env.get("AWS_PROFILE") or None
    try:
        session = botocore.session.Session(profile=profile)
        found_region = (region or env.get("CUA_REGION") or _first(env, REGION_VARS["bedrock"])
                        or session.get_config_variable("region"))
    except botocore.exceptions.BotoCoreError as exc:
        return [Check("region", False, f"the AWS configuration could not be read: {_clean(exc)}",
                      "fix AWS_PROFILE or ~/.aws/config")]
    checks = [Check("region", True, f"region {found_region}") if found_region else
              Check("region", False, "no region: none of --region, CUA_REGION, AWS_REGION, "
                    "AWS_DEFAULT_REGION or the profile's region is set",
                    "pass `cua run --region us-east-1` or set AWS_REGION")]
    checks.append(_aws_credentials_check(env, session))
    return checks


def _aws_credentials_check(env: Mapping[str, str], session: Any) -> Any:
    """Which link of the AWS chain has credentials, without calling the network (the instance
    and container roles are only named, never contacted)."""
    # Imported here: an optional extra, needed only on this path.
    import botocore.credentials
    import botocore.exceptions

    from ..checks import Check

    if env.get("AWS_BEARER_TOKEN_BEDROCK", "").strip():
        return Check("credentials", True, "AWS_BEARER_TOKEN_BEDROCK is set (a Bedrock API key)")
    resolver = botocore.credentials.create_credential_resolver(session)
    for network_only in ("container-role", "iam-role"):
        resolver.remove(network_only)
    try:
        credentials = resolver.load_credentials()
    except botocore.exceptions.BotoCoreError as exc:
        return Check("credentials", False, f"AWS credentials could not be loaded: {_clean(exc)}",
                     "fix the profile (aws configure list), or run aws sso login")
    if credentials is not None:
        return Check("credentials", True, f"AWS credentials from {credentials.method}")
    if env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or env.get(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        return Check("credentials", True, "a container role (not contacted: doctor stays offline)")
    tried = AWS_CHAIN.rpartition(", then")[0]
    return Check("credentials", False, f"no AWS credentials found in {tried} (an instance "
                 "role is not checked: that needs the network)",
                 "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                 "AWS_BEARER_TOKEN_BEDROCK, in the crontab")


def _doctor_vertex(env: Mapping[str, str], region: str | None, project: str | None) -> list[Any]:
    # Imported here: keeps importing this module light (start-up time).
    from ..checks import Check

    found_region = region or env.get("CUA_REGION") or _first(env, REGION_VARS["vertex"])
    checks = [Check("region", True, f"region {found_region}") if found_region else
              Check("region", False, "no region: none of --region, CUA_REGION or CLOUD_ML_REGION "
                    "is set", "pass `cua run --region global` or set CLOUD_ML_REGION")]
    credentials, key_project = _google_credentials_check(env)
    found_project = project or env.get("CUA_PROJECT") or _first(env, PROJECT_VARS) or key_project
    checks.append(Check("project", True, f"project {found_project}") if found_project else
                  Check("project", False, "no project: none of --project, CUA_PROJECT, "
                        "ANTHROPIC_VERTEX_PROJECT_ID, GOOGLE_CLOUD_PROJECT or the credentials "
                        "name one", "pass `cua run --project ID` or set "
                        "ANTHROPIC_VERTEX_PROJECT_ID"))
    checks.append(credentials)
    return checks


def _google_credentials_check(env: Mapping[str, str]) -> tuple[Any, str | None]:
    """The application default credentials file that would be used, read but not refreshed."""
    # Imported here: keeps importing this module light (start-up time).
    from pathlib import Path

    from ..checks import Check

    path_text = env.get("GOOGLE_APPLICATION_CREDENTIALS", "").strip()
    if path_text:
        source, path = "GOOGLE_APPLICATION_CREDENTIALS", Path(path_text)
    else:
        config = env.get("CLOUDSDK_CONFIG") or str(Path(env.get("HOME", "~")) / ".config/gcloud")
        path = Path(config).expanduser() / "application_default_credentials.json"
        source = "gcloud ADC"
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if path_text:
            return Check("credentials", False, f"GOOGLE_APPLICATION_CREDENTIALS={path} does not "
                         "exist", "point it at the service-account key file"), None
        return Check("credentials", False, f"no application default credentials: "
                     f"GOOGLE_APPLICATION_CREDENTIALS is not set and {path} does not exist "
                     "(the metadata server on Google Cloud is not checked: that needs the "
                     "network)", "set GOOGLE_APPLICATION_CREDENTIALS to a service-account key "
                     "file in the crontab, or run gcloud auth application-default login"), None
    except (OSError, ValueError) as exc:
        return Check("credentials", False, f"{path} cannot be read as JSON "
                     f"({getattr(exc, 'strerror', None) or type(exc).__name__})",
                     "replace the file with a valid credentials file"), None
    kind = info.get("type") if isinstance(info, dict) else None
    if kind not in ("service_account", "authorized_user", "external_account",
                    "impersonated_service_account"):
        return Check("credentials", False, f"{path} is not a Google credentials file "
                     f"(type {kind!r})", "use a service-account key or gcloud ADC"), None
    who = info.get("client_email") or kind
    project = info.get("project_id") or info.get("quota_project_id")
    return Check("credentials", True, f"{kind} from {source} ({path}, {who})"), project
