"""remediate.core.redaction both ways: what must be masked, and what must never be (tables of plain data)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from remediate.core.redaction import (
    MASK,
    TOKEN_SHAPES,
    Secret,
    each_string,
    is_secret_name,
    mask_json,
    mask_values,
    redact_args,
    redact_config,
    redact_env,
    redact_labels,
    redact_mapping,
    redact_text,
    redact_value,
    secret_values,
    secret_var_names,
)
from remediate.packs.gitlab_duo.bundle import redacted_json

PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nAAAEbm9uZQ==\n-----END OPENSSH PRIVATE KEY-----"

SECRET_NAMES = [
    "HF_TOKEN", "VLLM_API_KEY", "--api-key", "--hf-token", "--token", "--password", "DB_PASSWORD",
    "MYSQL_ROOT_PASSWD", "FTP_PASS", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID", "aws_secret_access_key", "com.example.token",
    "GOOGLE_APPLICATION_CREDENTIALS", "apiKey", "authToken", "X_APIKEY", "BASIC_AUTH", "PROXY_AUTH",
    "AUTH_HEADER", "AIGW_SELF_SIGNED_JWT__SIGNING_KEY", "SSH_PRIVATE_KEY", "CLIENT_SECRET",
    "HTTP_AUTHORIZATION", "--ssh-passphrase", "api_key", "Private-Key",
]
PLAIN_NAMES = [
    "TOKENIZERS_PARALLELISM", "KEYBOARD_LAYOUT", "MONKEY", "AUTHOR", "PASSAGE", "--tokenizer",
    "--tokenizer-mode", "--max-num-batched-tokens", "MAX_TOKENS", "CLOUD_CONNECTOR_SELF_SIGN_TOKENS",
    "AIGW_AUTH__BYPASS_EXTERNAL", "AIGW_AUTH__BYPASS_JWT_SIGNATURE", "BYPASS", "--accept-new-host-keys",
    "PATH", "PWD", "--served-model-name", "org.opencontainers.image.authors", "HTTPS_PROXY", "DATABASE_URL",
    "MONKEY_ISLAND", "KEYNOTE", "--", "", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL",
    "--stop-signal", "SIGNATURE_VERSION",
]


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", PLAIN_NAMES)
def test_plain_names(name: str) -> None:
    assert not is_secret_name(name)


# (text, what it is shown as): the secret shapes masked, everything else as it was.
TEXT_CASES = [
    # mask
    ("DATABASE_URL=https://user:s3cr3tpw@db.example", "DATABASE_URL=https://user:***@db.example"),
    ("HTTPS_PROXY=http://u:p@proxy", "HTTPS_PROXY=http://u:***@proxy"),
    ("clone https://oauth2:glpat-x1@gitlab.example/g/r.git failed",
     "clone https://oauth2:***@gitlab.example/g/r.git failed"),
    ("redis://:onlypw@cache:6379/0", "redis://:***@cache:6379/0"),
    ("mongodb://u:p@ss@h1:27017,h2/db", "mongodb://u:***@h1:27017,h2/db"),
    ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic ***"),
    ("curl -H 'Authorization: Bearer abc.def-123' http://x/v1", "curl -H 'Authorization: Bearer ***' http://x/v1"),
    ('{"Authorization": "Bearer sk-12345678"}', '{"Authorization": "Bearer ***"}'),
    ("proxy-authorization: Digest username=\"u\", response=\"abc\"", "proxy-authorization: Digest ***"),
    ("HTTP_AUTHORIZATION=Token abc123 rest", "HTTP_AUTHORIZATION=Token *** rest"),
    ("Authorization: sometoken123", "Authorization: ***"),
    ("sent Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig to the gateway", "sent Bearer *** to the gateway"),
    ("Basic dXNlcjpwYXNz was refused", "Basic *** was refused"),
    (PEM, "-----BEGIN REDACTED-----***"),
    ("key: -----BEGIN RSA PRIVATE KEY-----\nMIIE (cut)", "key: -----BEGIN REDACTED-----***"),
    (PEM + "\nnext line", "-----BEGIN REDACTED-----***\nnext line"),
    ("HF_TOKEN=hf_abcdef123456", "HF_TOKEN=***"),
    ("env HF_TOKEN=hf_x KEYBOARD_LAYOUT=us", "env HF_TOKEN=*** KEYBOARD_LAYOUT=us"),
    ("API_TOKEN=\"two words\" next", "API_TOKEN=\"***\" next"),
    ("--password='p w' --user bob", "--password='***' --user bob"),
    ("vllm serve m --api-key sk-verysecret --port 8000", "vllm serve m --api-key *** --port 8000"),
    ("--hf-token=hf_abc --tokenizer=mistralai/M", "--hf-token=*** --tokenizer=mistralai/M"),
    ("GET /v1?api_key=123&b=2", "GET /v1?api_key=***&b=2"),
    ('{"token": "tok-1", "max_tokens": 8}', '{"token": "***", "max_tokens": 8}'),
    ("{'client_secret':'abc'}", "{'client_secret':'***'}"),
    ("VLLM_API_KEY: sk-1 is set", "VLLM_API_KEY: *** is set"),
    ("db-password: hunter2", "db-password: ***"),
    ("-e AWS_SECRET_ACCESS_KEY=wJalr", "-e AWS_SECRET_ACCESS_KEY=***"),
    ("com.example.token=tok-12345abcdef", "com.example.token=***"),
    # never mask
    (("unknown host key for gpu-01 (SHA256:abcDEF); not in /root/.ssh/known_hosts. Verify it and add it, "
     "or pass --accept-new-host-keys"), None),
    ("gpu-01: host key CHANGED for gpu-01 (got 6a:1f:...); refusing.", None),
    ("/v1 requires an API key (from --api-key/VLLM_API_KEY); GitLab's self-hosted models send one", None),
    (("authentication failed for root@10.0.0.5:22: no key to offer (use --private-key, an IdentityFile, "
     "or ssh-agent)"), None),
    ("TOKENIZERS_PARALLELISM=false KEYBOARD_LAYOUT=us MONKEY=1", None),
    ("--tokenizer mistralai/Mistral-7B --max-num-batched-tokens 8192 --tokenizer-mode auto", None),
    ("CLOUD_CONNECTOR_SELF_SIGN_TOKENS=1 AIGW_AUTH__BYPASS_EXTERNAL=true", None),
    ("Basic authentication failed; Bearer authentication is needed", None),
    ("ssh://root@gpu-01:22 and git@gitlab.example:g/r.git", None),
    ("Error: the key was not found. Token: none given. Password: see the docs", None),
    ("the passage about the monkey's keyboard by the author", None),
    ("-----BEGIN nothing", None),
    ("a key value store; the token count is 12; password policy", None),
    ("HF_TOKEN=", None),
    ("docker rename vllm-remediate-backup-20240101T000000Z vllm", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "shown"), TEXT_CASES)
def test_redact_text(text: str, shown: str | None) -> None:
    assert redact_text(text) == (text if shown is None else shown)


# One row per token shape (TOKEN_SHAPES): (shape name, a harmless-named value holding it, shown).
GLPAT = "glpat-AbCdEf1234567890xyzW"
SHAPE_CASES = [
    ("GitLab token (personal, deploy, runner, trigger, feed, mail, agent, SCIM, OAuth, CI, ...)", GLPAT, MASK),
    ("GitLab token (personal, deploy, runner, trigger, feed, mail, agent, SCIM, OAuth, CI, ...)",
     "gitlab-runner register -t glrt-t1_AbCdEf1234567890xyz --url https://gitlab.example",
     "gitlab-runner register -t *** --url https://gitlab.example"),
    ("GitLab token (personal, deploy, runner, trigger, feed, mail, agent, SCIM, OAuth, CI, ...)",
     "deploy=gldt-Zx9_y8W7v6U5t4S3r2Q1 x", "deploy=*** x"),
    ("GitLab token (personal, deploy, runner, trigger, feed, mail, agent, SCIM, OAuth, CI, ...)",
     "glpat-AbCdEf1234567890xyzW.01.0s1abc2de", MASK),  # the routable form
    ("GitLab runner registration token", "GR1348941AbCdEf1234567890xyzW", MASK),
    ("GitHub token", "ghp_" + "a1B2" * 9, MASK),
    ("GitHub token", "github_pat_11ABCDEFG0abcdefghijkl_MNOPqrstuv", MASK),
    ("Hugging Face token", "hf_AbCdEfGhIjKlMnOpQrStUvWxYz12345678", MASK),
    ("Hugging Face token", "org=api_org_AbCdEfGhIjKlMnOpQrStUvWxYz123456", "org=***"),
    ("OpenAI / Anthropic key", "sk-proj-AbCdEf1234567890_xyzW-abcdefghij", MASK),
    ("OpenAI / Anthropic key", "key sk-ant-api03-AbCdEf1234567890_xyzW-abcdefghij end", "key *** end"),
    ("OpenAI legacy key", "sk-AbCdEf1234567890xyzWAbCdEf1234567890xyzW1234", MASK),
    ("Stripe secret key", "sk_live_AbCdEf1234567890xyzW", MASK),
    ("Slack token", "xoxb-1234567890-abcdefghij", MASK),
    ("Google API key", "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", MASK),
    ("AWS access key id", "AKIAIOSFODNN7EXAMPLE", MASK),
    ("AWS access key id", "AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "*** ***"),
    ("AWS access key id", "s3://AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY@bucket",
     "s3://***:***@bucket"),
    ("Amazon Bedrock API key", "ABSKQmVkcm9ja0FQSUtleS1hYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODk=", MASK),
    ("JSON Web Token", "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0",
     "jwt ***"),
    ("JSON Web Token", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.", MASK),  # alg none: no signature
    ("npm token", "npm_" + "a1B2" * 9, MASK),
    ("PyPI token", "pypi-AgEIcHlwaS5vcmc" + "A1b2C3d4" * 6, MASK),
    ("Docker Hub token", "dckr_pat_AbCdEf1234567890xyzW", MASK),
    ("Groq key", "gsk_" + "a1B2" * 12, MASK),
    ("Replicate token", "r8_" + "a1B2" * 9, MASK),
    ("NVIDIA API key", "nvapi-" + "a1B2-" * 8, MASK),
    ("LangSmith key", "lsv2_pt_" + "a1b2" * 8 + "_abc123", MASK),
    ("Perplexity key", "pplx-" + "a1B2" * 12, MASK),
    ("PEM body without its armour (base64 DER)", "MIIEowIBAAKCAQEA" + "q8Zr/+Tk" * 7, MASK),
    ("PEM body without its armour (base64 DER)",
     "key MIIEowIBAAKCAQEA" + "q8Zr/+Tk" * 6 + "\n" + "Ab+9" * 16 + "\n" + "Yx1w" * 5 + "zQ== end",
     "key *** end"),
    ("PEM body without its armour (base64 DER)", "MIIEvQIBADANBgkq" + "hkiG9w0B" * 6 + "\\n" + "AQEFAASC" * 8, MASK),
]


@pytest.mark.parametrize(("shape", "value", "shown"), SHAPE_CASES)
def test_token_shapes_under_harmless_names(shape: str, value: str, shown: str) -> None:
    assert redact_value("NOTE", value) == shown
    assert redact_text(f"NOTE={value}") == f"NOTE={shown}"
    assert redact_args(["--note", value]) == ["--note", shown]


def test_every_token_shape_has_a_row() -> None:
    assert {s.name for s in TOKEN_SHAPES} == {row[0] for row in SHAPE_CASES}


# Secrets in URLs and nested in other arguments, under harmless names.
NESTED_CASES = [
    ("https://glpat-AbCdEf1234567890xyzW@gitlab.example/g/r.git", "https://***@gitlab.example/g/r.git"),
    ("https://0123456789abcdef0123456789abcdef01234567@github.com/o/r", "https://***@github.com/o/r"),
    ("--url=https://g/api/v4/projects?private_token=abc123def&a=1", "--url=https://g/api/v4/projects?private_token=***&a=1"),
    ("--url https://g/api/v4/projects?private_token=abc123def", "--url https://g/api/v4/projects?private_token=***"),
    ("--header=Authorization: Bearer abcdefgh123", "--header=Authorization: Bearer ***"),
    ("--header=PRIVATE-TOKEN: abc123def", "--header=PRIVATE-TOKEN: ***"),
    ('--extra="X=1 API_KEY=abc123"', '--extra="X=1 API_KEY=***"'),
    ("https://acct.blob.core.windows.net/c/b?sv=2022-11-02&se=2025-01-01&sr=b&sp=r&sig=AbCd%2Bef%3D",
     "https://acct.blob.core.windows.net/c/b?sv=2022-11-02&se=2025-01-01&sr=b&sp=r&sig=***"),
    ("https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIAX%2F2024&X-Amz-Signature=abcdef0123&x=1",
     "https://b.s3.amazonaws.com/k?X-Amz-Credential=***&X-Amz-Signature=***&x=1"),
    ("https://storage.googleapis.com/b/o?X-Goog-Signature=abcdef0123", "https://storage.googleapis.com/b/o?X-Goog-Signature=***"),
]


@pytest.mark.parametrize(("value", "shown"), NESTED_CASES)
def test_nested_and_url_secrets(value: str, shown: str) -> None:
    assert redact_value("EXTRA_ARGS", value) == shown


# Look-alikes: never masked.
LOOK_ALIKES = [
    "us-east-1", "mistralai/Mistral-7B-Instruct-v0.3", "meta-llama/Llama-3.1-8B-Instruct",
    "sha256:" + "0123456789abcdef" * 4, "123e4567-e89b-12d3-a456-426614174000", "3f2a9c1d0b7e",
    "vllm/vllm-openai@sha256:" + "ab" * 32, "0123456789abcdef0123456789abcdef01234567",  # a git commit (no AWS id)
    "hf_transfer", "HF_HUB_ENABLE_HF_TRANSFER=1", "sk-learn", "task-sk-1", "desk-AbCdEf1234567890xyzW1234",
    "glpat-short", "glpat", "https://git@gitlab.example/g/r.git", "https://deploy-bot@gitlab.example",
    "https://registry.example/v2/?signature_version=4", "?sig=", "AKIA", "eyJhbGciOiJIUzI1NiJ9",
    "ABSK", "a signature was expected", "the token count is 12", "xoxo", "the skeleton key",
    "AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=eu-west-1", "--stop-signal SIGTERM",
    "/etc/remediate/vllm/chat_template.jinja", "custom_openai/mistral", "MIIE", "MII-version-2",
]


@pytest.mark.parametrize("value", LOOK_ALIKES)
def test_look_alikes_are_not_masked(value: str) -> None:
    assert redact_value("NOTE", value) == value
    assert redact_text(value) == value


# (name, value, shown)
VALUE_CASES = [
    ("DATABASE_URL", "https://user:s3cr3tpw@db.example", "https://user:***@db.example"),
    ("HTTPS_PROXY", "http://u:pr0xypw@proxy:3128", "http://u:***@proxy:3128"),
    ("http_proxy", "u:pr0xypw@proxy:3128", "u:***@proxy:3128"),
    ("AUTH_HEADER", "Authorization: Basic dXNlcjpwYXNz", MASK),
    ("EXTRA_HEADER", "Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic ***"),
    ("HF_TOKEN", "hf_abcdef123456", MASK),
    ("HF_TOKEN", "", ""),
    ("--api-key", "sk-verysecret", MASK),
    ("VLLM_ARGS", "--api-key sk-1 --tokenizer m/x", "--api-key *** --tokenizer m/x"),
    ("OPTS", "FOO=1 API_TOKEN='a b' BAR=2", "FOO=1 API_TOKEN='***' BAR=2"),
    ("CERT_PEM", PEM, "-----BEGIN REDACTED-----***"),
    ("TOKENIZERS_PARALLELISM", "false", "false"),
    ("KEYBOARD_LAYOUT", "us", "us"),
    ("--tokenizer", "mistralai/Mistral-7B", "mistralai/Mistral-7B"),
    ("--max-num-batched-tokens", "8192", "8192"),
    ("NO_PROXY", "localhost,127.0.0.1", "localhost,127.0.0.1"),
    ("GIT_URL", "ssh://git@gitlab.example:2222/g/r.git", "ssh://git@gitlab.example:2222/g/r.git"),
    ("EMAIL", "ops@example.com", "ops@example.com"),
]


@pytest.mark.parametrize(("name", "value", "shown"), VALUE_CASES)
def test_redact_value(name: str, value: str, shown: str) -> None:
    assert redact_value(name, value) == shown


ARGS_CASES = [
    (["--api-key", "sk-verysecret", "--port", "8000"], ["--api-key", MASK, "--port", "8000"]),
    (["--api-key=sk-verysecret"], ["--api-key=***"]),
    (["--hf-token", "hf_x", "--token=t", "--password", "p"], ["--hf-token", MASK, "--token=***", "--password", MASK]),
    (["--tokenizer", "mistralai/Mistral-7B", "--max-num-batched-tokens", "8192"], None),
    (["--tokenizer=mistralai/Mistral-7B", "--max-num-batched-tokens=8192", "--served-model-name", "m"], None),
    (["--token", "--verbose"], None),  # a secret flag given as a switch: nothing to mask
    (["--db", "postgres://app:pw1@db/app"], ["--db", "postgres://app:***@db/app"]),
    (["sh", "-c", "export HF_TOKEN=hf_x; exec vllm serve"], ["sh", "-c", "export HF_TOKEN=***; exec vllm serve"]),
    (["-e", "API_KEY=abc", "-e", "MODE=fast"], ["-e", "API_KEY=***", "-e", "MODE=fast"]),
    (["CMD-SHELL", "curl -fsS -H 'Authorization: Bearer sk-12345678' http://127.0.0.1:8000/health"],
     ["CMD-SHELL", "curl -fsS -H 'Authorization: Bearer ***' http://127.0.0.1:8000/health"]),
]


@pytest.mark.parametrize(("args", "shown"), ARGS_CASES)
def test_redact_args(args: list[str], shown: list[str] | None) -> None:
    assert redact_args(args) == (args if shown is None else shown)


def test_env_list() -> None:
    env = ["HF_TOKEN=hf_x", "TOKENIZERS_PARALLELISM=false", "BARE", "DATABASE_URL=https://u:pw@db", "EMPTY="]
    assert redact_env(env) == ["HF_TOKEN=***", "TOKENIZERS_PARALLELISM=false", "BARE", "DATABASE_URL=https://u:***@db",
                               "EMPTY="]


def test_labels_by_key_and_by_value() -> None:
    labels = {"com.example.token": "tok-12345abcdef", "app": "vllm", "com.example.url": "https://a:b@c",
              "com.example.keyboard": "us", "org.opencontainers.image.authors": "ops"}
    assert redact_labels(labels) == {"com.example.token": MASK, "app": "vllm", "com.example.url": "https://a:***@c",
                                     "com.example.keyboard": "us", "org.opencontainers.image.authors": "ops"}


def test_mapping_recursive() -> None:
    data: dict[str, Any] = {
        "hf_token": "hf_x", "served_model_name": "mistral", "count": 3, "flag": True, "none_token": None,
        "nested": {"password": "p", "url": "http://u:pw@h", "list": ["Bearer abcdef123456", "plain"]},
        "api_keys": ["k1", "k2"],  # plural KEYS is not secret, but each item is still shape-checked
        "secrets": ["k1", {"inner": "v"}],
    }
    assert redact_mapping(data) == {
        "hf_token": MASK, "served_model_name": "mistral", "count": 3, "flag": True, "none_token": None,
        "nested": {"password": MASK, "url": "http://u:***@h", "list": ["Bearer ***", "plain"]},
        "api_keys": ["k1", "k2"],
        "secrets": [MASK, {"inner": "v"}],
    }


def test_config_as_shown() -> None:
    config = {
        "Env": ["HF_TOKEN=hf_x", "KEYBOARD_LAYOUT=us"],
        "Labels": {"com.example.token": "tok-1", "app": "vllm"},
        "Cmd": ["--model", "m", "--api-key", "sk-1", "--tokenizer", "mistralai/M"],
        "Entrypoint": ["python3", "-m", "vllm", "--hf-token=hf_y"],
        "Healthcheck": {"Test": ["CMD-SHELL", "curl -H 'Authorization: Bearer sk-12345678' http://x"], "Retries": 3},
        "Hostname": "vllm", "Tty": True,
    }
    assert redact_config(config) == {
        "Env": ["HF_TOKEN=***", "KEYBOARD_LAYOUT=us"],
        "Labels": {"com.example.token": MASK, "app": "vllm"},
        "Cmd": ["--model", "m", "--api-key", MASK, "--tokenizer", "mistralai/M"],
        "Entrypoint": ["python3", "-m", "vllm", "--hf-token=***"],
        "Healthcheck": {"Test": ["CMD-SHELL", "curl -H 'Authorization: Bearer ***' http://x"], "Retries": 3},
        "Hostname": "vllm", "Tty": True,
    }
    assert config["Env"][0] == "HF_TOKEN=hf_x"  # the input is not changed


def test_secret_var_values_are_masked_where_rendered() -> None:
    vars = {"api_key": "sk-long-secret", "pin_token": "42", "use_token": "true", "served_model_name": "mistral",
            "proxy": "http://u:pw@proxy"}
    secrets = secret_values(vars)

    assert secrets == ["sk-long-secret", "42"]
    assert mask_values("Bearer-less header sk-long-secret; x-sk-long-secret-y", secrets) == "Bearer-less header ***; x-***-y"
    assert mask_values("http GET /v1/models?pin=42 on port 8042 -> 200", secrets) == (
        "http GET /v1/models?pin=*** on port 8042 -> 200")  # short values only as whole words
    assert mask_values("custom_openai/mistral, true", secrets) == "custom_openai/mistral, true"
    assert mask_json({"verify": ["contains 'sk-long-secret'"], "n": 1}, secrets) == {"verify": ["contains '***'"], "n": 1}
    assert secret_var_names(vars) == ["api_key", "pin_token", "proxy", "use_token"]


def test_each_string_walks_json_like_data_once_for_every_view() -> None:
    data = {"a": ["x", ("y", 1)], "k\x1b": {"deep": "z"}, 2: None, "n": 1.5}

    assert each_string(data, str.upper) == {"a": ["X", ["Y", 1]], "k\x1b": {"deep": "Z"}, 2: None, "n": 1.5}
    assert each_string(data, str.upper, keys=True) == {"A": ["X", ["Y", 1]], "K\x1b": {"DEEP": "Z"}, 2: None, "N": 1.5}
    assert mask_json({"sk-long-secret": "sk-long-secret"}, ["sk-long-secret"]) == {"sk-long-secret": MASK}  # keys untouched


def test_the_bundle_redacts_keys_and_values_alike() -> None:
    token = "glpat-" + "a" * 20
    shown = redacted_json({f"url https://u:pw@h/{token}": [f"Bearer {token}", 3]}).decode()

    assert token not in shown and "pw@" not in shown
    assert json.loads(shown) == {"url https://u:***@h/***": ["Bearer ***", 3]}


def test_a_secret_value_is_masked_whatever_its_name() -> None:
    vars = {"model_revision": Secret("rev-0123456789"), "pin": Secret("42"), "extra": {"deep": [Secret("deep-value-1")]},
            "served_model_name": "mistral"}

    assert redact_mapping(vars) == {"model_revision": MASK, "pin": MASK, "extra": {"deep": [MASK]},
                                    "served_model_name": "mistral"}
    assert redact_value("model_revision", Secret("rev-0123456789")) == MASK
    assert secret_values(vars) == ["rev-0123456789", "deep-value-1", "42"]
    assert secret_var_names(vars) == ["extra", "model_revision", "pin"]
    assert mask_values("--revision rev-0123456789 pin 42", secret_values(vars)) == "--revision *** pin ***"


def test_docker_run_view_is_redacted_before_rendering() -> None:
    from remediate.core.spec import ContainerSpec
    from remediate.output.plan import shown_run_view

    spec = ContainerSpec(
        name="vllm", image="vllm/vllm-openai:v0.6.3",
        config={"Env": ["HF_TOKEN=hf_abcdef123456", "DATABASE_URL=https://user:s3cr3tpw@db.example",
                        "TOKENIZERS_PARALLELISM=false"],
                "Labels": {"com.example.token": "tok-12345abcdef", "app": "vllm"},
                "Cmd": ["--api-key", "sk-verysecret", "--max-num-batched-tokens", "8192"]},
        host_config={"LogConfig": {"Type": "splunk", "Config": {"splunk-token": "spl-123456", "splunk-index": "main"}}},
    )

    text = "\n".join(shown_run_view(spec, secrets=["main"]).lines())

    for secret in ("hf_abcdef123456", "s3cr3tpw", "tok-12345abcdef", "sk-verysecret", "spl-123456"):
        assert secret not in text
    for shown in ("--env 'HF_TOKEN=***'", "user:***@db.example", "--env TOKENIZERS_PARALLELISM=false",
                  "--label app=vllm", "--api-key '***'", "--max-num-batched-tokens 8192", "'splunk-index=***'"):
        assert shown in text, text
    assert spec.config["Env"][0] == "HF_TOKEN=hf_abcdef123456"  # the spec itself is untouched


@pytest.mark.parametrize("value", ["true", "False", "no", "ON", "null", "none"])
def test_a_secret_named_switch_stays_readable(value: str) -> None:
    # no false masks: DUO_WORKFLOW_AUTH__ENABLED=true holds no secret
    assert redact_value("DUO_WORKFLOW_AUTH__ENABLED", value) == value
    assert redact_env([f"AIGW_AUTH__BYPASS_EXTERNAL={value}"]) == [f"AIGW_AUTH__BYPASS_EXTERNAL={value}"]
    assert redact_value("HF_TOKEN", "hf-not-a-switch") == MASK
