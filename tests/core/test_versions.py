from __future__ import annotations

import pytest
import semver
from hypothesis import given
from hypothesis import strategies as st

from ota_desktop.errors import InvalidVersion
from ota_desktop.versions import get_scheme, sort_key, sorted_versions

NATURAL_ORDER = ["1.0.0rc1", "1.0.0", "1.0.1-dev", "1.0.1-rc2", "1.0.1", "1.0.12", "1.0.20"]


def test_natural_gives_the_documented_order_from_any_start() -> None:
    scheme = get_scheme("natural")
    assert sorted_versions(scheme, reversed(NATURAL_ORDER)) == NATURAL_ORDER
    assert sorted_versions(scheme, sorted(NATURAL_ORDER)) == NATURAL_ORDER


def test_natural_numbers_compare_as_numbers_and_suffix_after_digits_is_post() -> None:
    scheme = get_scheme("natural")
    assert sorted_versions(scheme, ["2.10", "2.9", "2.1", "10.0", "2.9-1"]) == [
        "2.1", "2.9", "2.9-1", "2.10", "10.0"]


@pytest.mark.parametrize("bad", ["", " 1.0", "1.0 ", "a" * 129, "1.0\n"])
def test_natural_refuses_empty_overlong_and_whitespace(bad: str) -> None:
    with pytest.raises(InvalidVersion, match="natural"):
        get_scheme("natural").precedence(bad)


def test_semver_refuses_build_metadata_unless_opted_in() -> None:
    with pytest.raises(InvalidVersion, match="build metadata"):
        get_scheme("semver").precedence("1.0.0+abcd")
    allowed = get_scheme("semver", allow_build_metadata=True)
    assert allowed.precedence("1.0.0+abcd") == allowed.precedence("1.0.0+zz")
    # equal precedence; ties break by the plain string, deterministically
    assert sorted_versions(allowed, ["1.0.0+b", "1.0.0+a", "1.0.0"]) == [
        "1.0.0", "1.0.0+a", "1.0.0+b"]


@pytest.mark.parametrize("bad", ["1.0", "v1.0.0", "01.0.0", "1.0.0-", "1.0.0-01"])
def test_semver_is_strict(bad: str) -> None:
    with pytest.raises(InvalidVersion, match="semver"):
        get_scheme("semver").precedence(bad)


def test_semver_precedence_examples_from_the_standard() -> None:
    chain = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
             "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "2.0.0", "2.1.0", "2.1.1"]
    assert sorted_versions(get_scheme("semver"), reversed(chain)) == chain


def test_pep440_uses_packaging_order() -> None:
    scheme = get_scheme("pep440")
    assert sorted_versions(scheme, ["1.0.post1", "1.0", "1.0rc1", "1.0.dev0", "0.9"]) == [
        "0.9", "1.0.dev0", "1.0rc1", "1.0", "1.0.post1"]
    with pytest.raises(InvalidVersion, match="pep440"):
        scheme.precedence("not-a-version")


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown version scheme"):
        get_scheme("calver")


natural_text = st.from_regex(r"\A[0-9a-z.\-+_~]{1,20}\Z", fullmatch=True)
semver_text = st.builds(
    lambda a, b, c, pre: f"{a}.{b}.{c}" + (f"-{pre}" if pre else ""),
    st.integers(0, 30), st.integers(0, 30), st.integers(0, 30),
    st.one_of(st.none(), st.from_regex(r"\A(0|[1-9][0-9]?|[a-z][a-z0-9]{0,3})(\.(0|[1-9][0-9]?|[a-z]{1,3}))?\Z", fullmatch=True)),
)
pep440_text = st.builds(
    lambda a, b, pre, post, dev: f"{a}.{b}{pre}{post}{dev}",
    st.integers(0, 20), st.integers(0, 20),
    st.sampled_from(["", "a1", "b2", "rc1"]), st.sampled_from(["", ".post1"]),
    st.sampled_from(["", ".dev3"]),
)
SCHEMES = [("natural", natural_text), ("semver", semver_text), ("pep440", pep440_text)]


@pytest.mark.parametrize(("name", "strategy"), SCHEMES)
def test_sort_key_is_a_total_order_and_antisymmetric(name: str, strategy: st.SearchStrategy[str]) -> None:
    scheme = get_scheme(name)

    @given(strategy, strategy, strategy)
    def check(a: str, b: str, c: str) -> None:
        ka, kb, kc = (sort_key(scheme, v) for v in (a, b, c))
        assert (ka < kb) + (ka == kb) + (ka > kb) == 1  # trichotomy
        if ka <= kb and kb <= ka:
            assert a == b  # antisymmetric over distinct strings
        if ka <= kb and kb <= kc:
            assert ka <= kc  # transitive
        assert scheme.precedence(a) == scheme.precedence(a)  # parse is stable

    check()


@given(semver_text, semver_text)
def test_semver_precedence_agrees_with_the_semver_library(a: str, b: str) -> None:
    scheme = get_scheme("semver")
    ours = (scheme.precedence(a) > scheme.precedence(b)) - (scheme.precedence(a) < scheme.precedence(b))
    assert ours == semver.Version.parse(a).compare(b)
