"""ServiceAccount JWTs: what TokenRequest signs and what the authenticator accepts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from orchestrator.api.errors import Unauthorized
from orchestrator.apiserver.serviceaccount_tokens import (
    BoundPod,
    ServiceAccountTokenAuthenticator,
    TokenIssuer,
    TokenKeyError,
    generate_signing_key_pem,
    load_private_key,
    load_public_keys,
)


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sa") / "sa.key"
    path.write_bytes(generate_signing_key_pem())
    return path


def pair(key_file: Path, **kw: object) -> tuple[TokenIssuer, ServiceAccountTokenAuthenticator]:
    return TokenIssuer(load_private_key(key_file), **kw), ServiceAccountTokenAuthenticator(load_public_keys(key_file), **kw)  # type: ignore[arg-type]


def test_a_bound_token_carries_kubernetes_claims_and_authenticates_as_the_service_account(key_file: Path) -> None:
    issuer, authn = pair(key_file)
    issued = issuer.issue(namespace="team", name="builder", uid="sa-uid", pod=BoundPod("web-1", "pod-uid"))
    claims = jwt.decode(issued.token, options={"verify_signature": False})
    assert claims["iss"] == "https://kubernetes.default.svc.cluster.local"
    assert claims["sub"] == "system:serviceaccount:team:builder"
    assert claims["aud"] == ["https://kubernetes.default.svc.cluster.local"]
    assert claims["exp"] - claims["iat"] == 3600 and claims["nbf"] == claims["iat"]
    assert claims["kubernetes.io"] == {"namespace": "team", "serviceaccount": {"name": "builder", "uid": "sa-uid"},
                                       "pod": {"name": "web-1", "uid": "pod-uid"}}
    assert jwt.get_unverified_header(issued.token)["alg"] == "RS256"
    user = authn.authenticate_token(issued.token)
    assert user is not None and user.name == "system:serviceaccount:team:builder" and user.uid == "sa-uid"
    assert user.groups == ("system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated")


def test_tokens_that_are_not_jwts_or_from_another_issuer_are_left_to_other_authenticators(key_file: Path) -> None:
    _, authn = pair(key_file)
    assert authn.authenticate_token("static-token-from-tokens-csv") is None
    other = jwt.encode({"iss": "https://accounts.example.com", "sub": "x"}, "k" * 32, algorithm="HS256")
    assert authn.authenticate_token(other) is None


def test_expired_wrong_audience_and_foreign_signatures_are_unauthorized(key_file: Path, tmp_path: Path) -> None:
    issuer, authn = pair(key_file)
    old = issuer.issue(namespace="a", name="b", uid="u", now=datetime.now(UTC) - timedelta(hours=3))
    with pytest.raises(Unauthorized, match="expired"):
        authn.authenticate_token(old.token)
    vault = issuer.issue(namespace="a", name="b", uid="u", audiences=["vault"])
    with pytest.raises(Unauthorized, match="audiences"):
        authn.authenticate_token(vault.token)
    other_key = tmp_path / "other.key"
    other_key.write_bytes(generate_signing_key_pem())
    forged = TokenIssuer(load_private_key(other_key)).issue(namespace="a", name="b", uid="u")
    with pytest.raises(Unauthorized, match="signature"):
        authn.authenticate_token(forged.token)


def test_a_deleted_service_account_or_pod_ends_its_tokens_when_a_cache_knows(key_file: Path) -> None:
    class Cache:
        def service_account_current(self, namespace: str, name: str, uid: str) -> bool | None:
            return uid == "live"

        def pod_current(self, namespace: str, name: str, uid: str) -> bool | None:
            return None if name == "unknown" else False

    issuer = TokenIssuer(load_private_key(key_file))
    authn = ServiceAccountTokenAuthenticator(load_public_keys(key_file), bound_objects=Cache())
    with pytest.raises(Unauthorized, match="no longer exists"):
        authn.authenticate_token(issuer.issue(namespace="a", name="b", uid="gone").token)
    with pytest.raises(Unauthorized, match="pod a/p"):
        authn.authenticate_token(issuer.issue(namespace="a", name="b", uid="live", pod=BoundPod("p", "x")).token)
    assert authn.authenticate_token(issuer.issue(namespace="a", name="b", uid="live", pod=BoundPod("unknown", "x")).token)


def test_key_files_public_and_private_both_verify_and_bad_files_say_which_flag(key_file: Path, tmp_path: Path) -> None:
    public = tmp_path / "sa.pub"
    public.write_bytes(load_private_key(key_file).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    token = TokenIssuer(load_private_key(key_file)).issue(namespace="a", name="b", uid="u").token
    assert ServiceAccountTokenAuthenticator(load_public_keys(public)).authenticate_token(token)
    junk = tmp_path / "junk"
    junk.write_text("nothing")
    with pytest.raises(TokenKeyError, match="--service-account-signing-key-file"):
        load_private_key(junk)
    with pytest.raises(TokenKeyError, match="--service-account-key-file"):
        load_public_keys(junk)


def test_a_token_seen_before_is_not_verified_again_but_a_deletion_still_ends_it(key_file: Path) -> None:
    from orchestrator.apiserver.serviceaccount_cache import DeletedObjects

    deleted = DeletedObjects()
    issuer = TokenIssuer(load_private_key(key_file))
    authn = ServiceAccountTokenAuthenticator(load_public_keys(key_file), bound_objects=deleted)
    token = issuer.issue(namespace="a", name="b", uid="u-1").token
    assert authn.authenticate_token(token) is not None
    authn._keys = []  # no key left: a second verification would fail, so a success came from the cache
    assert authn.authenticate_token(token) is not None
    deleted.forget_deleted("serviceaccounts", "u-1")
    with pytest.raises(Unauthorized, match="no longer exists"):
        authn.authenticate_token(token)
