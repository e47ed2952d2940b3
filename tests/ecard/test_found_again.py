"""A lost card found again (lost -> active, 解挂) gets back the e-cards its loss revoked, and nothing else."""
from __future__ import annotations

from holder_db import cards, queries
from holder_db import store as db
from holder_db.ecard import EcardStore

from .conftest import make_holders


def test_found_again_clears_the_loss_revocations_only(tmp_path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    h = make_holders(url, 1)[0]
    es = EcardStore(url)
    holder_id = es.find_holder(ssn=h.ssn).holder_id
    phone = es.bind_device(holder_id, "phone", {"kty": "OKP"}, "EdDSA", "phone")
    tablet = es.bind_device(holder_id, "tablet", {"kty": "OKP"}, "EdDSA", "tablet")
    old_phone = es.bind_device(holder_id, "old-phone", {"kty": "OKP"}, "EdDSA", "old phone")
    assert es.revoke_binding("old-phone", "e-card deactivated by holder", "test") == old_phone.status_idx
    before = es.revocation_version()

    loss = es.report_loss(holder_id, "test")
    assert sorted(loss.revoked) == sorted([phone.status_idx, tablet.status_idx])
    assert es.refusal(holder_id).code == "card_not_active"
    lost_version = es.revocation_version()
    assert lost_version != before
    assert es.revoked_indices()[0] == {phone.status_idx, tablet.status_idx, old_phone.status_idx}

    with db.session(url) as s:
        cards.transition(s, queries.card_by_no(s, h.card_no), "active", actor="counter", reason="found")

    assert es.refusal(holder_id) is None
    assert es.binding("phone").active and es.binding("tablet").active
    assert not es.binding("old-phone").active  # deactivated by the holder, not by the loss: stays revoked
    assert es.revoked_indices()[0] == {old_phone.status_idx}
    assert es.revocation_version() not in (before, lost_version)  # verifiers' cached lists are rebuilt

    # lost again: the same e-cards are revoked again, and a second finding clears them again
    es.report_loss(holder_id, "test")
    assert es.revoked_indices()[0] == {phone.status_idx, tablet.status_idx, old_phone.status_idx}
    with db.session(url) as s:
        cards.transition(s, queries.card_by_no(s, h.card_no), "active", actor="counter", reason="found")
    assert es.revoked_indices()[0] == {old_phone.status_idx}
    db.dispose(url)
