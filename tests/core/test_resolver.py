"""One test per rule of SPEC §3 (and the seed's worked examples)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ota_desktop.model import Cohort, ProjectKey
from ota_desktop.resolver import resolve
from ota_desktop.versions import get_scheme

from .builders import EVT, config, delta, device, full, on, query

V10, V11, V20 = full("1.0"), full("1.1"), full("2.0")


def test_highest_full_above_current_is_chosen() -> None:
    cfg = config([V10, V11, V20], [on(V10), on(V11), on(V20)])
    d = resolve(query("0.9"), device("0.9"), cfg)
    assert (d.update, d.kind, d.target_version) == (True, "full", "2.0")
    assert "highest" in d.reason


def test_trace_names_every_release_of_the_software_type_and_why() -> None:
    other = full("9.9", st="ble")
    cfg = config([V10, V11, V20, delta("2.0", "2.1"), other], [on(V10), on(V20)])
    d = resolve(query("0.9"), device("0.9"), cfg)
    by_subject = {e.subject: (e.outcome, e.reason) for e in d.trace}
    assert by_subject["Full 2.0"][0] == "taken"
    assert by_subject["Full 1.0"] == ("skipped", "2.0 is higher")
    assert by_subject["Full 1.1"] == ("skipped", "not activated in cohort default")
    assert by_subject["Delta 2.0→2.1"][0] == "skipped"
    assert "Full 9.9" not in by_subject  # another software type is not considered


def test_mpt_release_is_passed_through_then_the_next_hop_goes_higher() -> None:
    mpt = full("1.5", mpt=True)
    cfg = config([V10, mpt, V20], [on(V10), on(mpt), on(V20)])
    first = resolve(query("1.0"), device("1.0"), cfg)
    assert (first.target_version, first.kind) == ("1.5", "full")
    assert first.to_json()["must_pass_through"] is True
    second = resolve(query("1.5"), device("1.5"), cfg)
    assert second.target_version == "2.0"


def test_lowest_of_several_mpt_releases_wins() -> None:
    m15, m17 = full("1.5", mpt=True), full("1.7", mpt=True)
    cfg = config([m17, m15, V20], [on(m17), on(m15), on(V20)])
    assert resolve(query("1.0"), device("1.0"), cfg).target_version == "1.5"
    assert resolve(query("1.6"), device("1.6"), cfg).target_version == "1.7"


def test_a_delta_from_the_current_version_bypasses_the_mpt() -> None:
    mpt, d10_20 = full("1.5", mpt=True), delta("1.0", "2.0")
    cfg = config([mpt, V20, d10_20], [on(mpt), on(V20), on(d10_20)])
    d = resolve(query("1.0"), device("1.0"), cfg)
    assert (d.kind, d.target_version) == ("delta", "2.0")
    assert d.to_json()["from_version"] == "1.0"


def test_of_several_deltas_from_the_current_version_the_highest_target_wins() -> None:
    a, b = delta("2.0", "2.1"), delta("2.0", "2.2")
    cfg = config([a, b], [on(a), on(b)])
    assert resolve(query("2.0"), device("2.0"), cfg).target_version == "2.2"


def test_a_delta_from_another_version_is_not_applicable() -> None:
    d = delta("2.0", "2.1")
    cfg = config([d], [on(d)])
    decision = resolve(query("1.9"), device("1.9"), cfg)
    assert not decision.update
    assert "from version is not the current version" in decision.trace[-1].reason


def test_pulling_1_0_1_does_not_serve_1_0_0() -> None:
    old, new = full("1.0.0"), full("1.0.1")
    cfg = config([old, new], [on(old), on(new, pulled=True)])
    d = resolve(query("1.0.1"), device("1.0.1"), cfg)
    assert not d.update
    assert ("Full 1.0.1", "skipped", "pulled in cohort default") in [
        (e.subject, e.outcome, e.reason) for e in d.trace]


def test_downgrade_1_0_1_to_1_0_0_only_where_version_checking_is_disabled() -> None:
    old = full("1.0.0")
    cohorts = [Cohort("default", "Default", is_default=True),
               Cohort("rollback", "Rollback", disable_version_checking=True)]
    cfg = config([old], [on(old, "default"), on(old, "rollback")], cohorts=cohorts)
    normal = resolve(query("1.0.1"), device("1.0.1", "default"), cfg)
    assert not normal.update
    down = resolve(query("1.0.1"), device("1.0.1", "rollback"), cfg)
    assert (down.update, down.target_version) == (True, "1.0.0")
    assert "downgrade" in down.reason
    already = resolve(query("1.0.0"), device("1.0.0", "rollback"), cfg)
    assert not already.update  # a device already on it gets no update


def test_a_delta_never_downgrades_even_with_version_checking_disabled() -> None:
    # A delta 1.0→2.0 is never offered to a device on 2.1, whatever the cohort says.
    d = delta("1.0", "2.0")
    cohorts = [Cohort("default", "Default", is_default=True, disable_version_checking=True)]
    cfg = config([d], [on(d)], cohorts=cohorts)
    assert not resolve(query("2.1"), device("2.1"), cfg).update


def test_staged_activation_applies_only_to_staged_devices() -> None:
    d = delta("2.1", "2.2")
    cfg = config([d], [on(d, "beta", staged=11)])
    assert resolve(query("2.1"), device("2.1", "beta", staged=True), cfg).target_version == "2.2"
    unstaged = resolve(query("2.1"), device("2.1", "beta", staged=False), cfg)
    assert not unstaged.update
    assert any("staged rollout (11%) and the device is not staged" in e.reason
               for e in unstaged.trace)


def test_project_key_override_changes_the_effective_cohort() -> None:
    cfg = config([V10, V20], [on(V10, "beta"), on(V20, "default")],
                 keys=[ProjectKey("k-recovery", "default"), ProjectKey("k-plain")])
    beta_device = device("0.9", "beta")
    assert resolve(query("0.9", key="k-plain"), beta_device, cfg).target_version == "1.0"
    d = resolve(query("0.9", key="k-recovery"), beta_device, cfg)
    assert (d.effective_cohort, d.target_version) == ("default", "2.0")


def test_override_keeps_the_staged_mark_and_opens_staged_activations_there() -> None:
    d = delta("2.1", "2.2")
    cfg = config([d], [on(d, "default", staged=5)], keys=[ProjectKey("k", "default")])
    staged_in_beta = device("2.1", "beta", staged=True)
    decision = resolve(query("2.1", key="k"), staged_in_beta, cfg)
    assert (decision.staged, decision.target_version) == (True, "2.2")
    assert not resolve(query("2.1", key="k"), device("2.1", "beta"), cfg).update


def test_unknown_device_uses_the_default_cohort() -> None:
    cfg = config([V10, V20], [on(V10, "beta"), on(V20, "default")])
    d = resolve(query("0.9", serial="NEW"), None, cfg)
    assert (d.effective_cohort, d.target_version, d.staged) == ("default", "2.0", False)


def test_incompatible_hardware_version_is_treated_as_absent() -> None:
    dvt = full("3.0", hw="dvt")
    cfg = config([V20, dvt], [on(V20), on(dvt)])
    d = resolve(query("1.0"), device("1.0"), cfg)
    assert d.target_version == "2.0"  # 3.0 exists but only for dvt hardware
    assert any(e.subject == "Full 3.0" and "hardware_version=dvt (device: evt)" in e.reason
               for e in d.trace)
    nothing = resolve(query("1.0", attributes={}), device("1.0", attributes={}), cfg)
    assert not nothing.update  # no hardware version reported: nothing matches


def test_payload_attributes_absent_from_the_payload_match_anything() -> None:
    from ota_desktop.model import Payload, Release

    anyhw = Release("main", "4.0", payloads=(Payload("any.bin", attributes={}),))
    cfg = config([anyhw], [on(anyhw)])
    assert resolve(query("1.0", attributes={"hardware_version": "xyz"}), None, cfg).update


def test_payload_is_chosen_per_hardware_version() -> None:
    from ota_desktop.model import Payload, Release

    r = Release("main", "2.0", payloads=(Payload("evt.bin", attributes={"hardware_version": "evt"}),
                                         Payload("dvt.bin", attributes={"hardware_version": "dvt"})))
    cfg = config([r], [on(r)])
    d = resolve(query("1.0", attributes={"hardware_version": "dvt"}), None, cfg)
    assert d.payload is not None and d.payload.filename == "dvt.bin"


def test_no_current_version_answers_the_highest_applicable_full() -> None:
    mpt = full("1.5", mpt=True)
    cfg = config([V10, mpt, V20, delta("1.0", "3.0")], [on(V10), on(mpt), on(V20)])
    assert resolve(query(None), None, cfg).target_version == "2.0"


def test_unparseable_current_version_gets_no_update_with_the_reason() -> None:
    cfg = config([V20], [on(V20)], scheme="semver")
    d = resolve(query("garbage"), device("garbage"), cfg)
    assert not d.update and "not valid in the semver scheme" in d.reason


def test_other_software_type_is_not_considered() -> None:
    ble = full("5.0", st="ble")
    cfg = config([V20, ble], [on(V20), on(ble)])
    assert resolve(query("1.0", st="ble"), None, cfg).target_version == "5.0"
    assert resolve(query("1.0", st="main"), None, cfg).target_version == "2.0"


versions = st.sampled_from(["0.9", "1.0", "1.1", "1.5", "2.0", "2.1", "2.2", "3.0"])


@given(st.lists(st.tuples(versions, st.booleans(), st.booleans()), max_size=6, unique_by=lambda t: t[0]),
       st.lists(st.tuples(versions, versions), max_size=4), versions, st.booleans(), st.booleans())
def test_invariants_never_downgrade_deterministic_and_applicable(
    fulls: list[tuple[str, bool, bool]], deltas: list[tuple[str, str]], current: str,
    staged: bool, dvc: bool,
) -> None:
    scheme = get_scheme("natural")
    releases = [full(v, mpt=m) for v, m, _ in fulls]
    activations = [on(r, staged=10 if s else None) for r, (_, _, s) in zip(releases, fulls, strict=True)]
    ds = {(a, b) for a, b in deltas if scheme.precedence(b) > scheme.precedence(a)}
    for a, b in sorted(ds):
        releases.append(delta(a, b))
        activations.append(on(releases[-1]))
    cohorts = [Cohort("default", "D", is_default=True, disable_version_checking=dvc)]
    cfg = config(releases, activations, cohorts=cohorts)
    first = resolve(query(current), device(current, staged=staged), cfg)
    assert first == resolve(query(current), device(current, staged=staged), cfg)
    if first.update:
        assert first.target_version is not None
        if first.kind == "delta" or not dvc:
            assert scheme.precedence(first.target_version) > scheme.precedence(current)
        assert first.target_version != current
        offered = first.release
        active_ok = [a for a in activations if a.kind == "normal" or staged]
        assert any(a.release.version == getattr(offered, "version", None)
                   or a.release.to_version == getattr(offered, "to_version", None)
                   for a in active_ok)
    assert all(e.outcome in ("taken", "skipped", "note") for e in first.trace)
    assert sum(e.outcome == "taken" for e in first.trace) == (1 if first.update else 0)
    assert first.payload is None or first.payload.matches(EVT)
