"""What is secret, and how it is shown: the one redaction used by every output path (text and
JSON views, saved plans, ``--report`` files, the journal, errors and diagnose evidence).

Names. A name (env var, flag, label key, playbook var, JSON key) is secret when one of its
*words* is a secret word. Words are split on ``_``, ``-``, ``.`` and camelCase boundaries and
compared case-insensitively, so ``HF_TOKEN``, ``--api-key``, ``com.example.token``, ``apiKey``
are secret and ``TOKENIZERS_PARALLELISM``, ``KEYBOARD_LAYOUT``, ``MONKEY``, ``AUTHOR``, ``PASSAGE``
and ``--tokenizer`` are not (those are other words). Secret words: KEY, TOKEN, SECRET(S),
PASSWORD(S), PASSWD, PASS, PASSPHRASE, CREDENTIAL(S), CREDS, APIKEY, AUTHORIZATION and a few
run-together forms (APITOKEN, ACCESSKEY, ...). ``AWS_SECRET_ACCESS_KEY``, ``AWS_ACCESS_KEY_ID`` and
``AWS_SESSION_TOKEN`` are secret by those words; ``AWS_REGION`` is not. Two deliberate exceptions:

- TOKENS and KEYS (plural) are not secret words: a plural names a count or a set, not a held
  secret (``--max-num-batched-tokens 8192``, ``MAX_TOKENS``, ``CLOUD_CONNECTOR_SELF_SIGN_TOKENS=true``,
  ``--accept-new-host-keys``, ``AUTHORIZED_KEYS``).
- AUTH counts only as the last or next-to-last word (``BASIC_AUTH``, ``AUTH_HEADER``,
  ``DOCKER_AUTH_CONFIG``): earlier in a name it qualifies a setting that must stay visible
  (``AIGW_AUTH__BYPASS_EXTERNAL=true`` is what the auth-bypass check reports).

Values. A value of a secret name, and a :class:`Secret` value whatever its name (a decrypted
``!vault`` value), is shown as :data:`MASK`. Any other value, and any free text
(engine errors, HTTP bodies, logs), is shown with its secret *shapes* masked: the tokens of
:data:`TOKEN_SHAPES` wherever they stand (``glpat-***``-style prefixes, JWTs, AWS key ids and the
40-character secret beside one), URL userinfo passwords (``scheme://user:***@host``) and token
users (``https://***@host``), URL query secrets (``?sig=***``, ``X-Amz-Signature=***``),
``Authorization: <scheme> ***``, ``Bearer ***``,
``Basic ***`` (when base64 of ``user:pass``), PEM blocks (``-----BEGIN REDACTED-----***``) and PEM
bodies without their armour (base64 DER, ``MII...``), and pairs whose name is secret by the
rule above: ``NAME=value``, ``NAME: value`` (the name UPPER, snake, kebab, dotted or quoted; a
capitalised or lower-case prose word before a colon is left alone), ``--name value`` and
``--name=value``, quoted values masked whole; the value of a pair that is not secret is searched
in turn (``--url=https://h/api?private_token=***``). Plain words are never masked: "unknown host
key for gpu-01" stays as it is, and neither are model ids, digests, UUIDs or image ids.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: What a secret value is shown as.
MASK = "***"


class Secret(str):
    """A value that is secret whatever its name: a decrypted ``!vault`` value. It is shown as
    :data:`MASK`, is never saved, and its text is masked where it is rendered into other text."""

    __slots__ = ()

_SECRET_WORDS = frozenset({
    "KEY", "TOKEN", "SECRET", "SECRETS", "PASSWORD", "PASSWORDS", "PASSWD", "PASS",
    "PASSPHRASE", "CREDENTIAL", "CREDENTIALS", "CREDS", "AUTHORIZATION",
    "APIKEY", "APITOKEN", "AUTHTOKEN", "ACCESSTOKEN", "ACCESSKEY", "SECRETKEY",
    "PRIVATEKEY",
})
#: Secret only as one of a name's last two words (see the module docstring).
_TAIL_WORDS = frozenset({"AUTH"})
_SEPARATORS = re.compile(r"[_.\-]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def name_words(name: str) -> list[str]:
    """The upper-cased words of a name: ``"--hfApi_key"`` -> ``["HF", "API", "KEY"]``."""
    words: list[str] = []
    for chunk in _SEPARATORS.split(name):
        words.extend(part.upper() for part in _CAMEL.split(chunk) if part)
    return words


@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """True when an env var, flag, label key or var name holds a secret, by the word rule.

    >>> [is_secret_name(n) for n in ("HF_TOKEN", "--api-key", "TOKENIZERS_PARALLELISM", "--max-num-batched-tokens")]
    [True, True, False, False]
    """
    words = name_words(name)
    if not words:
        return False
    return any(w in _SECRET_WORDS for w in words) or any(w in _TAIL_WORDS for w in words[-2:])


# --------------------------------------------------------------------------- token shapes

@dataclass(frozen=True)
class TokenShape:
    """A credential recognisable by its form alone, whatever name it is given.

    Attributes:
        name: what it is (for tests and readers).
        pattern: a regular expression of the whole token (it must not start or end inside a word).
    """

    name: str
    pattern: str


#: The credentials masked wherever they stand. Prefixes after gitleaks' ``config/gitleaks.toml``;
#: each needs enough random characters after its prefix that ordinary words never match.
TOKEN_SHAPES: tuple[TokenShape, ...] = (
    TokenShape("GitLab token (personal, deploy, runner, trigger, feed, mail, agent, SCIM, OAuth, CI, ...)",
               r"gl(?:pat|dt|rt|rtr|ptt|ft|imt|agent|soat|oas|cbt|ffct|wt)-[\w\-.]{20,}"),
    TokenShape("GitLab runner registration token", r"GR1348941[\w\-]{20,}"),
    TokenShape("GitHub token", r"(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{22,})"),
    TokenShape("Hugging Face token", r"(?:hf|api_org)_[A-Za-z0-9]{30,}"),
    TokenShape("OpenAI / Anthropic key", r"sk-(?:proj|svcacct|admin|ant-(?:api|admin)\d\d)-[\w\-]{20,}"),
    TokenShape("OpenAI legacy key", r"sk-[A-Za-z0-9]{20,}"),
    TokenShape("Stripe secret key", r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"),
    TokenShape("Slack token", r"xox[abposr]-[A-Za-z0-9\-]{10,}"),
    TokenShape("Google API key", r"AIza[\w\-]{35}"),
    TokenShape("AWS access key id", r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}"),
    TokenShape("Amazon Bedrock API key", r"ABSK[A-Za-z0-9+/]{32,}={0,2}"),
    TokenShape("JSON Web Token", r"eyJ[\w\-]{8,}\.eyJ[\w\-]{8,}\.[\w\-]*"),
    TokenShape("npm token", r"npm_[A-Za-z0-9]{36}"),
    TokenShape("PyPI token", r"pypi-AgEIcHlwaS5vcmc[\w\-]{40,}"),
    TokenShape("Docker Hub token", r"dckr_pat_[\w\-]{20,}"),
    TokenShape("Groq key", r"gsk_[A-Za-z0-9]{40,}"),
    TokenShape("Replicate token", r"r8_[A-Za-z0-9]{30,}"),
    TokenShape("NVIDIA API key", r"nvapi-[\w\-]{30,}"),
    TokenShape("LangSmith key", r"lsv2_(?:pt|sk)_[A-Za-z0-9_]{30,}"),
    TokenShape("Perplexity key", r"pplx-[A-Za-z0-9]{40,}"),
    # A key or certificate pasted without its -----BEGIN/END----- lines (a JWT signing key in an
    # env value, say): base64 DER, which starts "MII" for any RSA key or certificate; its lines
    # (real or escaped \n breaks) are masked together.
    TokenShape("PEM body without its armour (base64 DER)",
               r"MII[A-Za-z0-9+/]{40,}(?:(?:\r?\n|\\n)[A-Za-z0-9+/]{16,})*={0,2}"),
)
_TOKEN = re.compile(r"(?<![A-Za-z0-9_])(?:" + "|".join(f"(?:{s.pattern})" for s in TOKEN_SHAPES)
                    + r")(?![A-Za-z0-9_\-])")
_AWS_KEY_ID = re.compile(r"(?<![A-Za-z0-9])(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}(?![A-Za-z0-9])")
#: The 40-character secret access key, masked only in text that also holds an AWS key id.
_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
#: URL query parameters that carry a credential under a name that is not secret elsewhere
#: (Azure SAS ``sig``, S3 / GCS presigned URLs).
_QUERY_SECRET = re.compile(
    r"(?<=[?&;])((?i:sig|signature|x-amz-signature|x-amz-credential|x-goog-signature|x-goog-credential)=)"
    r"([^&#\s\"'<>]+)")
#: A URL whose user is a token (``https://TOKEN@host``); a short or plain user name stays.
_URL_USER = re.compile(r"\b([A-Za-z][A-Za-z0-9+.\-]*://)([\w\-.~%]{32,})@")


def _token_user(m: re.Match[str]) -> str:
    user = m.group(2)
    if any(c.isdigit() for c in user) and any(c.isalpha() for c in user):
        return f"{m.group(1)}{MASK}@"
    return m.group(0)


def _tokens(text: str) -> str:
    if _AWS_KEY_ID.search(text):
        text = _AWS_SECRET.sub(MASK, text)
    text = _TOKEN.sub(MASK, text)
    text = _QUERY_SECRET.sub(lambda m: m.group(1) + MASK, text)
    return _URL_USER.sub(_token_user, text)


# --------------------------------------------------------------------------- shapes in values

_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?(?:-----END \1-----|\Z)", re.DOTALL)
#: A PEM block as shown: not even its label (``PRIVATE KEY``) is left.
_PEM_SHOWN = "-----BEGIN REDACTED-----" + MASK
_URL_USERINFO = re.compile(r"\b([A-Za-z][A-Za-z0-9+.\-]*://[^\s/?#@:\"']*):([^\s/?#\"']*)@")
_PROXY_USERINFO = re.compile(r"^([^\s:/@]+):([^\s/@]+)@([\w.\-]+(?::\d+)?/?)$")
_AUTH_HEADER = re.compile(
    r"(?<![A-Za-z0-9])((?i:(?:proxy-)?authorization))([\"']?\s*[:=]\s*[\"']?)"
    r"(?:((?i:basic|bearer|token|digest|negotiate|ntlm))(\s+))?"
    r"([^\s\"'][^\r\n]*)")
_SINGLE_TOKEN_SCHEMES = frozenset({"basic", "bearer", "token"})
_MULTI_PART_SCHEMES = frozenset({"digest"})  # username="u", response="..." up to the end of the line
_BEARER = re.compile(r"\b(Bearer\s+)([A-Za-z0-9._~+/=\-]{8,})")
_BASIC = re.compile(r"\b(Basic\s+)([A-Za-z0-9+/]{4,}={0,2})(?![A-Za-z0-9+/=])")
_VALUE = r"(?P<value>\"[^\"]*\"|'[^']*'|[^\s\"',;&|)}\]]+)"
_NAME_START = r"(?<![\w.\-/])"
_ASSIGN = re.compile(_NAME_START + r"(?P<name>-{0,2}[A-Za-z_][\w.\-]*)(?P<sep>=)" + _VALUE)
_COLON = re.compile(_NAME_START + r"(?P<q>[\"']?)(?P<name>[A-Za-z_][\w.\-]*)(?P=q)(?P<sep>:\s+|:(?=[\"']))"
                    + _VALUE)
_FLAG = re.compile(r"(?<![\w\-])(?P<name>--[A-Za-z][\w.\-]*)(?P<sep>\s+)(?P<value>\"[^\"]*\"|'[^']*'|[^\s\"'\-][^\s\"']*)")


def _mask_quoted(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[0] + MASK + value[0]
    return MASK


def _is_basic_credential(text: str) -> bool:
    try:
        return b":" in base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False


def _auth_header(m: re.Match[str]) -> str:
    scheme, credential = (m.group(3) or "").lower(), m.group(5)
    if scheme in _MULTI_PART_SCHEMES:
        end = len(credential)
    else:  # one token (Basic, Bearer, ...), or without a scheme up to a quote or the end of the line
        stop = re.search(r"[\s\"']" if scheme in _SINGLE_TOKEN_SCHEMES else r"[\"']", credential)
        end = stop.start() if stop else len(credential)
    return f"{m.group(1)}{m.group(2)}{m.group(3) or ''}{m.group(4) or ''}{MASK}{credential[end:]}"


def _bearer(m: re.Match[str]) -> str:
    token = m.group(2)
    return m.group(0) if token.isalpha() or MASK in token else m.group(1) + MASK


def _basic(m: re.Match[str]) -> str:
    return m.group(1) + MASK if _is_basic_credential(m.group(2)) else m.group(0)


def _pair(m: re.Match[str]) -> str:
    name, value = m.group("name"), m.group("value")
    head = m.group(0)[: m.start("value") - m.start()]
    # Authorization headers are masked by their own rule, which keeps the scheme visible.
    if "AUTHORIZATION" in name_words(name) or value in ("", MASK):
        return m.group(0)
    if not is_secret_name(name):  # a pair nested in the value: --url=https://h/api?private_token=x
        inner = value[1:-1] if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'" else value
        return head + (value.replace(inner, _pairs(inner), 1) if inner else value)
    return head + _mask_quoted(value)


def _colon_pair(m: re.Match[str]) -> str:
    name = m.group("name")
    # A capitalised or lower-case prose word before a colon ("Error: ...") is not a setting name.
    if not (m.group("q") or name.isupper() or _SEPARATORS.search(name)):
        return m.group(0)
    return _pair(m)


def redact_text(text: str) -> str:
    """Free text (an engine error, an HTTP body, a log line, a value) with its secret shapes masked.

    Plain words are never touched; see the module docstring for the shapes.

    >>> redact_text("proxy http://u:pw@proxy:3128 and HF_TOKEN=hf_x, unknown host key for gpu-01")
    'proxy http://u:***@proxy:3128 and HF_TOKEN=***, unknown host key for gpu-01'
    """
    if not text:
        return text
    text = _PEM.sub(_PEM_SHOWN, text)
    text = _tokens(text)
    text = _URL_USERINFO.sub(lambda m: f"{m.group(1)}:{MASK}@", text)
    text = _AUTH_HEADER.sub(_auth_header, text)
    text = _BEARER.sub(_bearer, text)
    text = _BASIC.sub(_basic, text)
    return _pairs(text)


def _pairs(text: str) -> str:
    text = _ASSIGN.sub(_pair, text)
    text = _COLON.sub(_colon_pair, text)
    return _FLAG.sub(_pair, text)


@functools.lru_cache(maxsize=4096, typed=True)  # a fleet's containers share most of their settings
def redact_value(name: str, value: str) -> str:
    """The value to show for a named setting: :data:`MASK` when the name is secret (but for a
    switch's ``true``/``false``/``none``..., no secret: ``DUO_WORKFLOW_AUTH__ENABLED=true``), else
    the value with its secret shapes masked (see :func:`redact_text`)."""
    if isinstance(value, Secret):
        return MASK if value else value
    if is_secret_name(name):
        return MASK if value and is_maskable(value) else value
    proxy = _PROXY_USERINFO.match(value)  # user:password@proxy:3128, a proxy setting without a scheme
    if proxy:
        return f"{proxy.group(1)}:{MASK}@{proxy.group(3)}"
    return redact_text(value)


def redact_args(args: Sequence[str]) -> list[str]:
    """A command (or entrypoint) with the values of secret flags masked and every other argument's
    secret shapes masked: ``--api-key X``, ``--api-key=X``, ``--hf-token X`` -> ``***``.

    >>> redact_args(["--api-key", "sk-1", "--token=t", "--tokenizer", "mistralai/M"])
    ['--api-key', '***', '--token=***', '--tokenizer', 'mistralai/M']
    """
    out: list[str] = []
    mask_next = False
    for arg in args:
        if mask_next and not arg.startswith("-"):
            out.append(MASK)
            mask_next = False
            continue
        mask_next = False
        if arg.startswith("-") and "=" in arg:
            name, _, value = arg.partition("=")
            out.append(f"{name}={redact_value(name, value)}")
        elif arg.startswith("--") and is_secret_name(arg):
            out.append(arg)
            mask_next = True
        else:
            out.append(redact_text(arg))
    return out


def redact_env(env: Iterable[str]) -> list[str]:
    """An API ``Env`` list (``KEY=value``) with values shown by :func:`redact_value`."""
    out = []
    for item in env:
        name, eq, value = item.partition("=")
        out.append(f"{name}={redact_value(name, value)}" if eq else item)
    return out


def redact_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """Labels with values shown by :func:`redact_value` (a secret key, or secret shapes in the value)."""
    return {key: redact_value(key, str(value)) for key, value in labels.items()}


def redact_mapping(values: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-like data with the values of secret keys masked and secret shapes masked in every string,
    recursively (mappings and lists)."""
    return {key: _redact_item(str(key), value) for key, value in values.items()}


def _redact_item(key: str, value: Any) -> Any:
    if isinstance(value, Mapping):
        return redact_mapping(value)
    if isinstance(value, (list, tuple)):
        return [_redact_item(key, v) for v in value]
    if is_secret_name(key) or isinstance(value, Secret):
        return value if value in (None, "") else MASK
    if isinstance(value, str):
        return redact_value(key, value)
    return value


def redact_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A container's API ``Config`` as it may be shown: env values, labels, command, entrypoint and
    healthcheck test redacted; every other string has its secret shapes masked."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key == "Env" and isinstance(value, list):
            out[key] = redact_env(value)
        elif key == "Labels" and isinstance(value, Mapping):
            out[key] = redact_labels(value)
        elif key in ("Cmd", "Entrypoint") and isinstance(value, list):
            out[key] = redact_args(value)
        elif key == "Healthcheck" and isinstance(value, Mapping):
            out[key] = {**value, "Test": redact_args(list(value.get("Test") or []))} if "Test" in value else dict(value)
        else:
            out[key] = _redact_item(key, value)
    return out


# --------------------------------------------------------------------------- values of secret vars

_NOT_SECRET_LITERALS = frozenset({"true", "false", "yes", "no", "on", "off", "null", "none"})
#: Shorter secret values are masked only as whole words, so they do not eat into other text.
_WHOLE_WORD_BELOW = 8


def secret_values(vars: Mapping[str, Any]) -> list[str]:
    """The literal values of the secret-named vars and every :class:`Secret` (nested ones too),
    longest first (for :func:`mask_values`)."""
    values = {str(v) for k, v in vars.items()
              if is_secret_name(str(k)) and v is not None and not isinstance(v, (bool, Mapping, list, tuple))}
    values.update(marked_secrets(vars))
    return sorted((v for v in values if v and is_maskable(v)), key=len, reverse=True)


def is_maskable(value: str) -> bool:
    """False for values that are never masked as literals elsewhere (``true``, ``no``, ``null``, ...)."""
    return value.lower() not in _NOT_SECRET_LITERALS


def marked_secrets(data: Any) -> list[str]:
    """Every :class:`Secret` in JSON-like data (mappings and lists, recursively)."""
    if isinstance(data, Secret):
        return [data]
    if isinstance(data, Mapping):
        data = list(data.values())
    if isinstance(data, (list, tuple)):
        return [found for item in data for found in marked_secrets(item)]
    return []


def secret_var_names(vars: Mapping[str, Any], secrets: Sequence[str] = ()) -> list[str]:
    """The vars that must not be written down (saved plans): a secret name, a value with a secret
    shape, a value holding a :class:`Secret`, or one holding any of ``secrets`` (the values a plan
    holds in secret places, see :func:`remediate.core.secret_flow.plan_secrets`)."""
    return sorted(str(k) for k, v in vars.items()
                  if is_secret_name(str(k)) or (isinstance(v, str) and redact_value(str(k), v) != v)
                  or marked_secrets(v) or (secrets and mask_json(v, secrets) != v))


def mask_values(text: str, secrets: Iterable[str]) -> str:
    """Text rendered from vars (verify lines, after-text, file content, messages) with the literal
    values of secret vars replaced by :data:`MASK`.

    >>> mask_values("GET /ok?key=abc123 then abc", ["abc123"])
    'GET /ok?key=*** then abc'
    """
    for secret in secrets:
        if not secret or secret not in text:
            continue
        if len(secret) >= _WHOLE_WORD_BELOW:
            text = text.replace(secret, MASK)
        else:
            text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", MASK, text)
    return text


def mask_json(data: Any, secrets: Sequence[str]) -> Any:
    """:func:`mask_values` applied to every string in JSON-like data (keys untouched)."""
    if not secrets:
        return data
    return each_string(data, lambda text: mask_values(text, secrets))


def each_string(data: Any, change: Callable[[str], str], *, keys: bool = False) -> Any:
    """JSON-like data (mappings, lists, tuples as lists) with ``change`` applied to every string
    in it, with ``keys`` to the string keys of mappings too; anything else as it is.

    >>> each_string({"a": ["x", 1], "b": None}, str.upper, keys=True)
    {'A': ['X', 1], 'B': None}
    """
    if isinstance(data, str):
        return change(data)
    if isinstance(data, Mapping):
        return {change(k) if keys and isinstance(k, str) else k: each_string(v, change, keys=keys)
                for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [each_string(v, change, keys=keys) for v in data]
    return data
